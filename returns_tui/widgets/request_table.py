"""The table of one tab: a window of at most a page of rows, updated by row key.

The table never holds more than the window the screen gives it. Moving past either end of the
window (arrow, PageUp/PageDown, Home/End) posts `EdgeReached`, and the screen fetches the next
window in a worker. Refreshing the same window diffs by request id, so the cursor stays on its
request; the countdown column is repainted each second for the visible rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pendulum import DateTime
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from returns_tui.store.queries import ListRow
from returns_tui.textsafe import safe
from returns_tui.widgets.cells import amount_text, countdown_text, plain, status_label, type_label

MARK = "●"

# (key, header, width); buyer and product are cut to their width.
_COLUMNS = [
    ("mark", " ", 1),
    ("id", "Request", 10),
    ("order", "Order", 10),
    ("shop", "Shop", 8),
    ("buyer", "Buyer", 14),
    ("product", "Product", 15),
    ("type", "Type", 13),
    ("amount", "Amount", 12),
    ("status", "Status", 17),
    ("due", "Deadline", 8),
]
# With the shop column (agents, admins, operators of several shops) the free-text columns give
# way so that the table still fits 120 columns.
_NARROW_WITH_SHOP = {"shop": 10, "buyer": 9, "product": 10, "amount": 11}


class RequestTable(DataTable):
    """Rows of requests keyed by request id."""

    BINDINGS = [
        Binding("home,ctrl+home", "edge('first')", "First page", show=False),
        Binding("end,ctrl+end", "edge('last')", "Last page", show=False),
    ]

    class EdgeReached(Message):
        """The cursor tried to leave the window: `edge` is next, previous, first or last.
        `overshoot` is how many rows past the edge a PageDown/PageUp meant to go."""

        def __init__(self, edge: str, overshoot: int = 0) -> None:
            super().__init__()
            self.edge = edge
            self.overshoot = overshoot

    def __init__(self, *, show_shop: bool, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.show_shop = show_shop
        self.rows_by_id: dict[str, ListRow] = {}
        self.marked: set[str] = set()
        self.countdown_styles: dict[str, str] = {}
        self._due_shown: dict[str, str] = {}

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            if key == "shop" and not self.show_shop:
                continue
            if self.show_shop:
                width = _NARROW_WITH_SHOP.get(key, width)
            self.add_column(label, key=key, width=width)

    # ------------------------------------------------------------------------------------------
    # What the screen calls

    @property
    def highlighted_id(self) -> str | None:
        if not self.rows_by_id or self.row_count == 0:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value

    @property
    def highlighted_row(self) -> ListRow | None:
        rid = self.highlighted_id
        return self.rows_by_id.get(rid) if rid else None

    @property
    def ids(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    def show_rows(
        self, rows: Sequence[ListRow], now: DateTime, *, keep_id: str | None, cursor: int
    ) -> None:
        """Make the table hold exactly `rows`, in that order, changing only what differs, and
        put the cursor on `keep_id` if it is still there, else on row `cursor`."""
        new = {r.id: r for r in rows}
        gone = [rid for rid in self.rows_by_id if rid not in new]
        if len(gone) > len(self.rows_by_id) // 2:
            # Another tab or page: a fresh start is cheaper than removing row by row (each
            # removal renumbers every row). The cursor is set below, by request id.
            self.clear()
            self.rows_by_id = {}
            self._due_shown.clear()
            gone = []
        for rid in gone:
            self.remove_row(rid)
            self._due_shown.pop(rid, None)
        for row in rows:
            old = self.rows_by_id.get(row.id)
            if old is None:
                self.add_row(*self._cells(row, now).values(), key=row.id)
            elif old != row:
                for column, value in self._cells(row, now).items():
                    self.update_cell(row.id, column, value)
        self.rows_by_id = new
        wanted = [r.id for r in rows]
        if self.ids != wanted:
            # DataTable appends new rows at the end; put them in the page's order.
            order = {safe(rid): i for i, rid in enumerate(wanted)}
            self.sort("id", key=lambda cell: order.get(cell.plain, 0))
        if not rows:
            return
        target = wanted.index(keep_id) if keep_id in new else min(max(cursor, 0), len(rows) - 1)
        self.move_cursor(row=target, animate=False)

    def repaint_countdowns(self, now: DateTime) -> None:
        """Repaint the countdowns of the rows on screen: no database, a few cells."""
        if not self.rows_by_id:
            return
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height
        changed: list[tuple[str, Text]] = []
        for index in range(top, min(top + height + 1, self.row_count)):
            rid = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            row = self.rows_by_id.get(rid) if rid else None
            if row is None:
                continue
            text = countdown_text(row.deadline_at, now, self.countdown_styles)
            key = f"{text.plain}|{text.style}"
            if self._due_shown.get(row.id) != key:
                self._due_shown[row.id] = key
                changed.append((row.id, text))
        if changed:
            self._replace_due_cells(changed)

    def _replace_due_cells(self, changed: list[tuple[str, Text]]) -> None:
        """Put new countdowns in their cells, forgetting the rendering of those rows only.

        DataTable.update_cell bumps the table's update count, which is part of the key of every
        cached cell, row and line: one changed countdown (every second for those under an
        hour) made the table render every visible cell again through Rich, 25 ms of CPU a
        second (bench/run.py, py-spy). This reaches into Textual 8's DataTable caches; should
        they ever be missing, it falls back to update_cell."""
        try:
            data, locations = self._data, self._row_locations
            caches = self._cell_render_cache, self._row_render_cache
            renderables, lines = self._row_renderable_cache, self._line_cache
        except AttributeError:
            for rid, text in changed:
                self.update_cell(rid, "due", text)
            return
        rows, due = set(), ColumnKey("due")
        for rid, text in changed:
            row_key = RowKey(rid)
            data[row_key][due] = text
            rows.add(row_key)
        indexes = {locations.get(row_key) for row_key in rows}
        cells, row_lines = caches
        for key in [k for k in cells.keys() if k[0] in rows and k[1] == due]:  # (row, column, …)
            cells.discard(key)
        for key in [k for k in row_lines.keys() if k[0] in rows]:  # (row key, …)
            row_lines.discard(key)
        for key in [k for k in renderables.keys() if k[1] in indexes]:  # (count, row index)
            renderables.discard(key)
        lines.clear()  # lines are put together again from the rows' cached renderings
        self.refresh()

    def toggle_mark(self, request_id: str) -> None:
        if request_id in self.marked:
            self.marked.discard(request_id)
        else:
            self.marked.add(request_id)
        if request_id in self.rows_by_id:
            self.update_cell(request_id, "mark", self._mark(request_id))

    def clear_marks(self, ids: Iterable[str] | None = None) -> None:
        for rid in list(self.marked if ids is None else ids):
            self.marked.discard(rid)
            if rid in self.rows_by_id:
                self.update_cell(rid, "mark", self._mark(rid))

    # ------------------------------------------------------------------------------------------
    # Cells

    def _mark(self, request_id: str) -> Text:
        return Text(MARK if request_id in self.marked else " ", style="bold")

    def _cells(self, row: ListRow, now: DateTime) -> dict[str, Text]:
        due = countdown_text(row.deadline_at, now, self.countdown_styles)
        self._due_shown[row.id] = f"{due.plain}|{due.style}"
        amount = amount_text(row.amount_cents, row.currency)
        amount.justify = "right"
        cells = {
            "mark": self._mark(row.id),
            "id": plain(row.id),
            "order": plain(row.order_id),
            "shop": plain(row.shop),
            "buyer": plain(row.buyer),
            "product": plain(row.product),
            "type": plain(type_label(row.type)),
            "amount": amount,
            "status": plain(status_label(row.status)),
            "due": due,
        }
        if not self.show_shop:
            del cells["shop"]
        return cells

    # ------------------------------------------------------------------------------------------
    # Leaving the window

    def action_edge(self, edge: str) -> None:
        self.post_message(self.EdgeReached(edge))

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached("next"))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached("previous"))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached("next", self._page_height() - 1))
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached("previous", self._page_height() - 1))
        else:
            super().action_page_up()

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)
