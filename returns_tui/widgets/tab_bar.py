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


def tab_label(tab: Tab, count: int | None, *, numbered: bool = True) -> str:
    """`2 To Proceed 71`: the key that selects the tab, its name and its count (… until
    counted). Without the key when the bar is too narrow for all six with theirs."""
    shown = "…" if count is None else f"{count:,}"
    label = f"{tab.label} {shown}"
    return f"{TAB_ORDER.index(tab) + 1} {label}" if numbered else label


# Columns a tab takes beyond its label: one of padding each side.
TAB_PADDING = 2


class TabBar(Widget):
    """Tabs that the table's keys drive; it never takes the focus from the table. When the
    six labels with their keys do not fit the width (80 columns, large counts), the keys go
    (the footer still names them), so that no tab is cut off."""

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
        """The six labels as shown: with their keys when all six fit the width."""
        labels = [tab_label(t, self.counts.get(t)) for t in TAB_ORDER]
        if sum(cell_len(label) + TAB_PADDING for label in labels) > self.size.width:
            labels = [tab_label(t, self.counts.get(t), numbered=False) for t in TAB_ORDER]
        return labels

    def _spans(self) -> list[tuple[Tab, str, int, int]]:
        """Each tab, its label, and the columns it takes (from, to)."""
        spans, x = [], 0
        for tab, label in zip(TAB_ORDER, self.labels(), strict=True):
            width = cell_len(label) + TAB_PADDING
            spans.append((tab, label, x, x + width))
            x += width
        return spans

    def render(self) -> Text:
        style = self.get_component_rich_style
        tabs, underline = Text(no_wrap=True, overflow="crop"), Text(no_wrap=True, overflow="crop")
        for tab, label, start, end in self._spans():
            active = tab is self.active
            tabs.append(f" {label} ", style("tab-bar--active" if active else "tab-bar--tab"))
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
