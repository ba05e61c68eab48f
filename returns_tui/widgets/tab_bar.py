"""The six tabs, each label with its live count. Labels are our own strings and numbers:
no user text ever reaches a tab label (they are parsed as markup)."""

from __future__ import annotations

from textual.widgets import Tab as TabWidget
from textual.widgets import Tabs

from returns_tui.domain import Tab

TAB_ORDER = [Tab.ALL, Tab.TO_PROCEED, Tab.IN_PROCESS, Tab.COMPLETED, Tab.CLOSED, Tab.APPEALS]


def tab_id(tab: Tab) -> str:
    return f"tab-{tab.value}"


def tab_label(tab: Tab, count: int | None, *, numbered: bool = True) -> str:
    """`2 To Proceed 71`: the key that selects the tab, its name and its count (… until
    counted). Without the key when the bar is too narrow for all six with theirs."""
    shown = "…" if count is None else f"{count:,}"
    label = f"{tab.label} {shown}"
    return f"{TAB_ORDER.index(tab) + 1} {label}" if numbered else label


# Columns a tab takes beyond its label: Textual's Tab pads one column each side.
TAB_PADDING = 2


class TabBar(Tabs):
    """Tabs that the table's keys drive; it never takes the focus from the table. When the
    six labels with their keys do not fit the width (80 columns, large counts), the keys go
    (the footer still names them), so that no tab is scrolled out of sight."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(*[TabWidget(tab_label(t, None), id=tab_id(t)) for t in TAB_ORDER], id=id)
        self.counts: dict[Tab, int | None] = {}

    def set_counts(self, counts: dict[Tab, int]) -> None:
        self.counts = dict(counts)
        self._relabel()

    def on_resize(self) -> None:
        self._relabel()

    def _relabel(self) -> None:
        labels = [tab_label(t, self.counts.get(t)) for t in TAB_ORDER]
        if sum(len(label) + TAB_PADDING for label in labels) > self.size.width:
            labels = [tab_label(t, self.counts.get(t), numbered=False) for t in TAB_ORDER]
        for tab, label in zip(TAB_ORDER, labels, strict=True):
            widget = self.query_one(f"#{tab_id(tab)}", TabWidget)
            if widget.label_text != label:
                widget.label = label

    def select(self, tab: Tab) -> None:
        self.active = tab_id(tab)

    @staticmethod
    def tab_of(widget_id: str | None) -> Tab | None:
        for tab in TAB_ORDER:
            if tab_id(tab) == widget_id:
                return tab
        return None
