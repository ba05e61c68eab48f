"""The six tabs, each label with its live count, the selected one underlined. Labels are our
own strings and numbers: no user text ever reaches a tab label.

One widget of a fixed size that draws both lines itself, rather than Textual's Tabs (a widget
per tab and one for the underline): a tab's label grows or shrinks with its count, and with a
widget per tab each new count laid the whole screen out again (15-50 ms at 200 columns, on
every paint of a filtered tab and every poll that changed a count). Here a new count, a new
tab or a new width only draws the bar again."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from returns_tui.domain import Tab

TAB_ORDER = [Tab.ALL, Tab.TO_PROCEED, Tab.IN_PROCESS, Tab.COMPLETED, Tab.CLOSED, Tab.APPEALS]


def tab_label(tab: Tab, count: int | None, *, numbered: bool = True, short: bool = False) -> str:
    """`2 To Proceed 71`: the key that selects the tab, its name and its count (… until
    counted). Without the key when the bar is too narrow for all six with theirs, and with
    the count `short` (`167k`) when even that is too wide (80 columns at 1M requests)."""
    shown = "…" if count is None else short_count(count) if short else f"{count:,}"
    label = f"{tab.label} {shown}"
    return f"{TAB_ORDER.index(tab) + 1} {label}" if numbered else label


def short_count(count: int) -> str:
    """A count in at most four characters: 999, 1.2k, 167k, 1.0M, 12M (the status line gives
    the exact one)."""
    if count < 1000:
        return str(count)
    whole = count
    for unit, size in (("k", 1_000), ("M", 1_000_000)):
        tenths = (count * 10 + size // 2) // size  # rounded half up, in integers
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10}{unit}"
        whole = (count + size // 2) // size
        if whole < 1000:
            return f"{whole}{unit}"
    return f"{whole}M"


# Columns a tab takes beyond its label: one of padding each side; when even short counts do
# not fit, one after it only (six labels with four-character counts then take 81 columns, the
# last one's space cut at 80).
TAB_PADDING = 2
TIGHT_PADDING = 1


class TabBar(Widget):
    """Tabs that the table's keys drive; it never takes the focus from the table. When the
    six labels with their keys do not fit the width (80 columns, large counts), the keys go
    (the footer still names them), then the counts are shortened, so that no tab is cut off."""

    DEFAULT_CSS = """
    TabBar { height: 2; }
    TabBar > .tab-bar--tab { color: $foreground 50%; }
    TabBar > .tab-bar--active { color: $foreground; }
    TabBar > .tab-bar--rule { color: $foreground 10%; }
    TabBar > .tab-bar--underline { color: $block-cursor-background; }
    """
    COMPONENT_CLASSES = {"tab-bar--tab", "tab-bar--active", "tab-bar--rule", "tab-bar--underline"}

    can_focus = False

    class Clicked(Message):
        """A tab was clicked."""

        def __init__(self, tab: Tab) -> None:
            super().__init__()
            self.tab = tab

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.counts: dict[Tab, int | None] = {}
        self.active = Tab.ALL

    def set_counts(self, counts: dict[Tab, int]) -> None:
        self.counts = dict(counts)
        self.refresh()

    def select(self, tab: Tab) -> None:
        self.active = tab
        self.refresh()

    def labels(self) -> list[str]:
        """The six labels as shown (see _layout)."""
        return self._layout()[0]

    def _layout(self) -> tuple[list[str], int]:
        """The six labels and the padding of each: with their keys when all six fit the
        width, else without them, else with short counts and tight padding (cut only on a
        terminal narrower than 80 columns)."""
        for numbered, short in ((True, False), (False, False), (False, True)):
            labels = [
                tab_label(t, self.counts.get(t), numbered=numbered, short=short)
                for t in TAB_ORDER
            ]
            if sum(cell_len(label) + TAB_PADDING for label in labels) <= self.size.width:
                return labels, TAB_PADDING
        return labels, TIGHT_PADDING

    def _spans(self) -> list[tuple[Tab, str, int, int]]:
        """Each tab, its label as drawn (with its padding), and the columns it takes."""
        spans, x = [], 0
        labels, pad = self._layout()
        for tab, label in zip(TAB_ORDER, labels, strict=True):
            drawn = f" {label} " if pad == TAB_PADDING else f"{label} "
            spans.append((tab, drawn, x, x + cell_len(drawn)))
            x += cell_len(drawn)
        return spans

    def render(self) -> Text:
        style = self.get_component_rich_style
        tabs, underline = Text(no_wrap=True, overflow="crop"), Text(no_wrap=True, overflow="crop")
        for tab, drawn, start, end in self._spans():
            active = tab is self.active
            tabs.append(drawn, style("tab-bar--active" if active else "tab-bar--tab"))
            bar = "tab-bar--underline" if active else "tab-bar--rule"
            underline.append("━" * (end - start), style(bar))
        rest = max(0, self.size.width - cell_len(underline.plain))
        underline.append("━" * rest, style("tab-bar--rule"))
        return Text("\n").join([tabs, underline])

    def on_resize(self) -> None:
        self.refresh()  # the keys may come or go with the width

    def on_click(self, event: events.Click) -> None:
        for tab, _label, start, end in self._spans():
            if start <= event.x < end:
                self.post_message(self.Clicked(tab))
                return
