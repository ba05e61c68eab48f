"""The table of one tab: a window of at most a page of rows, painted line by line.

The table never holds more than the window the screen gives it. Moving past either end of the
window (arrow, PageUp/PageDown, Home/End) posts `EdgeReached`, and the screen fetches the next
window in a worker. Refreshing the same window keeps the cursor on its request.

It is a Line API widget (a `ScrollView` with `render_line`), not a `DataTable`: DataTable
renders every visible cell through Rich again after any change, because its update count is
part of every cache key, which made a tab switch cost ~150 ms and the one-second countdown tick
~15 ms of CPU (docs/PERFORMANCE.md). Here each row keeps the segments of its fixed cells, a line
is those segments plus the mark and the countdown, and a tick repaints only the lines whose
countdown text changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple

from pendulum import DateTime
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from returns_tui.store.queries import ListRow
from returns_tui.widgets.cells import amount_text, countdown_text, plain, status_label, type_label
from returns_tui.widgets.sync_marks import synced_id, synced_status

MARK = "●"
ELLIPSIS = "…"
PADDING = 1  # blank cells on each side of every column
WHEEL_ROWS = 3  # rows the cursor moves per notch of the mouse wheel


class Column(NamedTuple):
    key: str
    header: str
    width: int
    right: bool = False  # right-justified (amounts)


# Buyer and product are cut to their width, with an ellipsis; an amount is shortened, never
# cut (cells.amount_in), so its currency stays. Type and status fit their longest label.
_COLUMNS = [
    Column("mark", " ", 1),
    Column("id", "Request", 10),
    Column("order", "Order", 10),
    Column("shop", "Shop", 8),
    Column("buyer", "Buyer", 13),
    Column("product", "Product", 13),
    Column("type", "Type", 17),
    Column("amount", "Amount", 12, right=True),
    Column("status", "Status", 17),
    Column("due", "Deadline", 8),
]
# With the shop column (agents, admins, operators of several shops) the free-text columns give
# way so that the table still fits 120 columns.
_NARROW_WITH_SHOP = {"buyer": 9, "product": 8}
# On a terminal too narrow for every column, these go, in this order, until the rest fits: the
# countdown stays in sight at 80 columns, and the detail panel still shows what went.
_DROPPED_FIRST = ("order", "type", "product")
# On a terminal wider than the table, these columns take the room: each round, each its share
# of cells (the free text most), up to its widest: at 200 columns names and products read
# whole instead of 80 columns standing empty. (widest, share)
_WIDEST = {"product": (40, 3), "buyer": (32, 3), "shop": (24, 2), "status": (26, 1),
           "order": (16, 1), "id": (16, 1), "amount": (18, 1)}  # fmt: skip


def _span(columns: Sequence[Column]) -> int:
    return sum(c.width + 2 * PADDING for c in columns)


def _widened(columns: list[Column], room: int) -> list[Column]:
    """`columns` with `room` spare cells shared out, a cell at a time round the growing
    columns (_WIDEST), each up to its widest."""
    widths = {c.key: c.width for c in columns}
    growing = [key for key in _WIDEST if key in widths]
    while room > 0 and growing:
        for key in list(growing):
            widest, share = _WIDEST[key]
            more = min(share, widest - widths[key], room)
            widths[key] += more
            room -= more
            if widths[key] >= widest:
                growing.remove(key)
    return [c._replace(width=widths[c.key]) for c in columns]


def fit(text: str, width: int, right: bool = False) -> str:
    """`text` in exactly `width` terminal cells: padded, or cut with an ellipsis. Wide
    characters (CJK, emoji) count as two cells; `text` is already free of control
    characters (cells.plain)."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + ELLIPSIS if width > 1 else set_cell_size(text, 1)
    pad = " " * (width - length)
    return pad + text if right else text + pad


class RequestTable(ScrollView, can_focus=True):
    """Rows of requests, one line each, under a header line that does not scroll."""

    DEFAULT_CSS = """
    RequestTable {
        /* No vertical scrollbar: the table holds one window of a tab that may have a million
           rows, so a bar would show the place in the window, not in the tab; the status line
           says where the cursor is ("row 1,234 of 100,000"), and the wheel moves the cursor. */
        overflow-y: hidden;
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .request-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        &:dark > .request-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .request-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .request-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .request-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .request-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "request-table--header",
        "request-table--even-row",
        "request-table--cursor",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "edge('first')", "First page", show=False),
        Binding("end,ctrl+end", "edge('last')", "Last page", show=False),
        Binding("left", "sideways(-1)", "Column left", show=False),
        Binding("right", "sideways(1)", "Column right", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on another row (or the same request at another place)."""

        def __init__(self, request_id: str | None) -> None:
            super().__init__()
            self.request_id = request_id

    class Selected(Message):
        """Enter, or a click on the highlighted row."""

        def __init__(self, request_id: str) -> None:
            super().__init__()
            self.request_id = request_id

    class EdgeReached(Message):
        """The cursor tried to leave the window: `edge` is next, previous, first or last.
        `overshoot` is how many rows past the edge a PageDown/PageUp meant to go; `at_id` the
        request the cursor was on, which tells the screen which window the message is about
        (the next one may have been shown before it is read)."""

        def __init__(self, edge: str, overshoot: int = 0, at_id: str | None = None) -> None:
            super().__init__()
            self.edge = edge
            self.overshoot = overshoot
            self.at_id = at_id

    def __init__(self, *, show_shop: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_shop = show_shop
        self._every_column = [
            c._replace(width=_NARROW_WITH_SHOP.get(c.key, c.width) if show_shop else c.width)
            for c in _COLUMNS
            if show_shop or c.key != "shop"
        ]
        self.columns = self._every_column  # those that fit the width (_fit_columns)
        self.rows: list[ListRow] = []
        self.rows_by_id: dict[str, ListRow] = {}
        self.marked: set[str] = set()
        self.countdown_styles: dict[str, str] = {}
        self.cursor_row = 0
        self._middle: dict[str, list[Segment]] = {}  # id → the cells between mark and countdown
        self._due: dict[str, tuple[str, str]] = {}  # id → the countdown shown: text, style
        self._styles: dict[str, Style] = {}  # parsed countdown styles
        self._lines: dict[tuple, Strip] = {}  # painted lines, by what they show
        self._style_key: tuple = ()
        self._highlighted: tuple[int, str | None] = (0, None)
        self._now: DateTime | None = None
        self._base = Style()  # the widget's own style, read once per paint
        self._row_styles: dict[str, Style] = {}
        self._width = _span(self.columns)
        self._due_width = self.columns[-1].width + 2 * PADDING  # the countdown is the last
        self._due_x = self._width - self._due_width

    # ------------------------------------------------------------------------------------------
    # What the screen calls

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def highlighted_id(self) -> str | None:
        return self.rows[self.cursor_row].id if self.rows else None

    @property
    def highlighted_row(self) -> ListRow | None:
        return self.rows[self.cursor_row] if self.rows else None

    @property
    def ids(self) -> list[str]:
        return [row.id for row in self.rows]

    def show_rows(
        self, rows: Sequence[ListRow], now: DateTime, *, keep_id: str | None, cursor: int
    ) -> None:
        """Hold exactly `rows`, in that order, and put the cursor on `keep_id` if it is still
        there, else on row `cursor`."""
        new = {r.id: r for r in rows}
        for rid, old in self.rows_by_id.items():
            if new.get(rid) != old:  # gone or changed: paint it afresh when it is on screen
                self._middle.pop(rid, None)
        self._due.clear()  # counted again from `now` as the rows are painted
        self._now = now
        self.rows = list(rows)
        self.rows_by_id = new
        self.virtual_size = Size(self._width, len(self.rows) + 1)
        if rows:
            ids = self.ids
            target = ids.index(keep_id) if keep_id in new else cursor
            self.move_cursor(row=target)
        else:
            self.cursor_row = 0
            self._announce()
        self.refresh()

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on row `row` (clamped to the window) and scroll it into view."""
        self.cursor_row = min(max(row, 0), max(len(self.rows) - 1, 0))
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _scroll_to_cursor(self) -> None:
        visible = self.scrollable_content_region.height - 1  # less the header
        if visible < 1:
            return  # not laid out yet: on_resize comes back here
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self._scroll_rows_to(self.cursor_row)
        elif self.cursor_row >= top + visible:
            self._scroll_rows_to(self.cursor_row - visible + 1)

    def _scroll_rows_to(self, top: int) -> None:
        """Show the rows from `top`. `force`: the table has `overflow-y: hidden` (no scrollbar,
        see DEFAULT_CSS), and Textual (8.2.8) skips an axis the CSS does not let scroll unless
        forced, which left the cursor moving off screen while the table stood still."""
        self.scroll_to(y=top, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        self._fit_columns(self.size.width)
        self._scroll_to_cursor()

    def _fit_columns(self, width: int) -> None:
        columns = self._every_column
        for key in _DROPPED_FIRST:
            if _span(columns) <= width:
                break
            columns = [c for c in columns if c.key != key]
        columns = _widened(columns, width - _span(columns))
        if columns == self.columns:
            return
        self.columns = columns
        self._width = _span(columns)
        self._due_x = self._width - self._due_width
        self._middle.clear()  # every row's cells, and every painted line, change
        self._lines.clear()
        self.virtual_size = Size(self._width, len(self.rows) + 1)
        self.refresh()

    def repaint_countdowns(self, now: DateTime) -> None:
        """Repaint the countdowns of the rows on screen whose text changed: no database."""
        self._now = now
        top = int(self.scroll_y)
        for index in range(top, min(top + self.size.height, len(self.rows))):
            row = self.rows[index]
            due = self._countdown(row, now)
            if self._due.get(row.id, due) != due:  # not painted yet: it will be, with `now`
                self._due[row.id] = due
                # Only the countdown's cells: the rest of the line is as it was, and a
                # terminal (over SSH, too) is sent those few cells, not the whole line.
                y = index + 1 - top  # + the header
                self.refresh(Region(self._due_x - int(self.scroll_x), y, self._due_width, 1))

    def toggle_mark(self, request_id: str) -> None:
        if request_id in self.marked:
            self.marked.discard(request_id)
        else:
            self.marked.add(request_id)
        self._refresh_row(request_id)

    def clear_marks(self, ids: Iterable[str] | None = None) -> None:
        for rid in list(self.marked if ids is None else ids):
            self.marked.discard(rid)
            self._refresh_row(rid)

    def get_row(self, request_id: str) -> list[Text]:
        """The cells of a row as they read on screen, before cutting to width."""
        row = self.rows_by_id[request_id]
        return [self._cell(row, column.key) for column in self.columns]

    def get_cell(self, request_id: str, column: str) -> Text:
        return self._cell(self.rows_by_id[request_id], column)

    def shown_cell(self, request_id: str, column: str) -> str:
        """A cell exactly as painted: cut or shortened to its column's width."""
        spec = next(c for c in self.columns if c.key == column)
        cell = self._cell(self.rows_by_id[request_id], column, spec.width)
        return fit(cell.plain, spec.width, spec.right)

    # ------------------------------------------------------------------------------------------
    # Keys and the mouse

    def action_select(self) -> None:
        if rid := self.highlighted_id:
            self.post_message(self.Selected(rid))

    def action_edge(self, edge: str) -> None:
        self.post_message(self.EdgeReached(edge))

    def action_cursor_down(self) -> None:
        self._step(1, "next", 0)

    def action_cursor_up(self) -> None:
        self._step(-1, "previous", 0)

    def action_page_down(self) -> None:
        self._step(self._page_height(), "next", self._page_height() - 1)

    def action_page_up(self) -> None:
        self._step(-self._page_height(), "previous", self._page_height() - 1)

    def step(self, by: int) -> None:
        """Move the cursor `by` rows, down if positive; past the window's edge, ask the screen
        for the next window (EdgeReached), the rest of the step its overshoot."""
        if by > 0:
            self._step(by, "next", by - 1)
        elif by < 0:
            self._step(by, "previous", -by - 1)

    def _step(self, by: int, edge: str, overshoot: int) -> None:
        if not self.rows:
            return
        at_edge = self.cursor_row >= len(self.rows) - 1 if by > 0 else self.cursor_row <= 0
        if at_edge:
            self.post_message(self.EdgeReached(edge, overshoot, self.highlighted_id))
        else:
            self.move_cursor(row=self.cursor_row + by)

    def action_sideways(self, step: int) -> None:
        """On a terminal too narrow for every column: scroll by a whole column."""
        starts, x = [], 0
        for column in self.columns:
            starts.append(x)
            x += column.width + 2 * PADDING
        now = int(self.scroll_x)
        if step > 0:
            target = next((x for x in starts if x > now), self.max_scroll_x)
        else:
            target = max((x for x in starts if x < now), default=0)
        self.scroll_to(x=min(target, self.max_scroll_x), animate=False, immediate=True)

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # less the header

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if event.ctrl or event.shift:
            super()._on_mouse_scroll_down(event)  # sideways, on narrow terminals
        else:
            event.stop()
            self._step(WHEEL_ROWS, "next", WHEEL_ROWS - 1)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if event.ctrl or event.shift:
            super()._on_mouse_scroll_up(event)
        else:
            event.stop()
            self._step(-WHEEL_ROWS, "previous", WHEEL_ROWS - 1)

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y - 1
        if event.y < 1 or not 0 <= index < len(self.rows):
            return
        if index == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row=index)

    # ------------------------------------------------------------------------------------------
    # Painting

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles come from every ancestor and the theme: read them once per paint, and forget
        # the painted lines when they changed (theme, focus).
        base = self.rich_style
        key = (base, self.has_focus, self.app.current_theme.name)
        if key != self._style_key:
            self._style_key = key
            self._base = base
            header, even, cursor = (
                self.get_component_rich_style(f"request-table--{name}")
                for name in ("header", "even-row", "cursor")
            )
            self._row_styles = {
                "header": base + header,
                "even-row": base + even,
                "odd-row": base,
                "even-cursor": base + even + cursor,
                "odd-cursor": base + cursor,
            }
            self._lines.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, width = int(self.scroll_x), self.size.width
        if y == 0:
            key: tuple = ("header", scroll_x, width)
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, self._base)
            row = self.rows[index]
            if row.id not in self._middle:
                self._middle[row.id] = self._middle_segments(row)
            if row.id not in self._due:
                self._due[row.id] = self._countdown(row, self._now)
            look = ("even-" if index % 2 == 0 else "odd-") + (
                "cursor" if index == self.cursor_row else "row"
            )
            due, marked = self._due[row.id], row.id in self.marked
            # A row's version changes with every change to it: lines painted before stay good
            # when a refresh brings the same rows back, or a tab is visited again.
            key = (row.id, row.version, look, marked, due, scroll_x, width)
        strip = self._lines.get(key)
        if strip is None:
            if len(self._lines) > 4096:
                self._lines.clear()
            segments = self._header() if y == 0 else self._row(row, look)
            if scroll_x == 0 and width >= self._width:
                rest = Segment(" " * (width - self._width), self._base)
                strip = Strip([*segments, rest], width)
            else:
                strip = Strip(segments, self._width).crop_extend(scroll_x, scroll_x + width, None)
            self._lines[key] = strip
        return strip

    def _header(self) -> list[Segment]:
        pad = " " * PADDING
        text = "".join(pad + fit(c.header, c.width, c.right) + pad for c in self.columns)
        return [Segment(text, self._row_styles["header"])]

    def _row(self, row: ListRow, look: str) -> list[Segment]:
        base = self._row_styles[look]
        pad = " " * PADDING
        due_text, due_style = self._due[row.id]
        mark = MARK if row.id in self.marked else " "
        return [
            Segment(pad + fit(mark, self.columns[0].width) + pad, base + self._style("bold")),
            *(Segment(cell.text, base + cell.style) for cell in self._middle[row.id]),
            Segment(pad, base),
            Segment(fit(due_text, self.columns[-1].width), base + self._style(due_style)),
            Segment(pad, base),
        ]

    def _middle_segments(self, row: ListRow) -> list[Segment]:
        """The fixed cells of a row, padded: text and its own style (no row style yet)."""
        pad = " " * PADDING
        out = []
        for column in self.columns:
            if column.key in ("mark", "due"):
                continue
            cell = self._cell(row, column.key, column.width)
            out.append(Segment(pad + fit(cell.plain, column.width, column.right) + pad,
                               self._style(str(cell.style))))  # fmt: skip
        return out

    def _cell(self, row: ListRow, key: str, width: int | None = None) -> Text:
        match key:
            case "mark":
                return Text(MARK if row.id in self.marked else " ", style="bold")
            case "amount":
                return amount_text(row.amount_cents, row.currency, width)
            case "type":
                return plain(type_label(row.type))
            case "status":
                # In Completed, the refunds nobody answered in time are the ones to look at.
                label = "auto-approved" if row.auto_approved else status_label(row.status)
                return plain(synced_status(label, row))
            case "id":
                return plain(synced_id(row))
            case "due":
                if row.id not in self._due:  # not painted since the window came: count it now
                    self._due[row.id] = self._countdown(row, self._now)
                text, style = self._due[row.id]
                return Text(text, style=style)
            case "order" | "shop" | "buyer" | "product":
                return plain(getattr(row, "order_id" if key == "order" else key))
        raise KeyError(key)

    def _countdown(self, row: ListRow, now: DateTime) -> tuple[str, str]:
        text = countdown_text(
            row.deadline_at, row.status, now, self.countdown_styles, superseded=bool(row.superseded)
        )
        return text.plain, str(text.style)

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def _refresh_row(self, request_id: str) -> None:
        for index, row in enumerate(self.rows):
            if row.id == request_id:
                self.refresh_line(index + 1)

    def _announce(self) -> None:
        now = (self.cursor_row, self.highlighted_id)
        if now != self._highlighted:
            self._highlighted = now
            self.post_message(self.Highlighted(self.highlighted_id))
