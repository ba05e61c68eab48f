"""The six tabs, each label with its live count. Labels are our own strings and numbers:
no user text ever reaches a tab label (they are parsed as markup)."""

from __future__ import annotations

from textual.widgets import Tab as TabWidget
from textual.widgets import Tabs

from returns_tui.domain import Tab

TAB_ORDER = [Tab.ALL, Tab.TO_PROCEED, Tab.IN_PROCESS, Tab.COMPLETED, Tab.CLOSED, Tab.APPEALS]


def tab_id(tab: Tab) -> str:
    return f"tab-{tab.value}"


def tab_label(tab: Tab, count: int | None) -> str:
    number = TAB_ORDER.index(tab) + 1
    shown = "…" if count is None else f"{count:,}"
    return f"{number} {tab.label} {shown}"


class TabBar(Tabs):
    """Tabs that the table's keys drive; it never takes the focus from the table."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(*[TabWidget(tab_label(t, None), id=tab_id(t)) for t in TAB_ORDER], id=id)
        self.counts: dict[Tab, int] = {}

    def set_counts(self, counts: dict[Tab, int]) -> None:
        self.counts = dict(counts)
        for tab in TAB_ORDER:
            widget = self.query_one(f"#{tab_id(tab)}", TabWidget)
            label = tab_label(tab, counts.get(tab))
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
