"""Filters and saved views in the console (DESIGN §10): the filter dialog and the save-view
dialog, and the console's keys that open them (`FiltersAndViews`, a part of ConsoleScreen
kept here so that screens/main.py only wires it). The dialogs only ask: the filters are
checked by `filters.narrowing_from_text` (a refusal is one sentence in the dialog, and
nothing changes), and the answer goes back through `dismiss`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.suggester import Suggester, SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from returns_tui.domain import RequestType, Tab
from returns_tui.errors import Refused
from returns_tui.filters import Narrowing, narrowing_from_text
from returns_tui.labels import BUYER_REASON
from returns_tui.money import format_amount
from returns_tui.roles import Actor
from returns_tui.saved_views import (
    SavedView,
    check_name,
    load_views,
    save_views,
    with_view,
    without_view,
)
from returns_tui.screens.form import ErrorLine, FormDialog
from returns_tui.store.queries import Sort
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput
from returns_tui.widgets.search_bar import SearchBar
from returns_tui.widgets.tab_bar import TabBar

# (field id, label, placeholder) of the dialog's text fields, in the order they show: two to
# a row, so that the whole dialog fits a terminal of 30 rows (and scrolls on a smaller one).
FIELDS = (
    ("shop", "Shop", "any shop"),
    ("type", "Type", "e.g. refund"),  # or return_and_refund: both showed as "refund," (cut)
    ("reason", "Reason code", "e.g. damaged"),
    ("currency", "Currency", "e.g. USD"),
    ("min_amount", "Amount from", "e.g. 0.50"),
    ("max_amount", "Amount to", "e.g. 10.00"),
    ("due_hours", "Due in hours", "e.g. 6"),
)


def _typed(narrow: Narrowing) -> dict[str, str]:
    """The filters as the dialog's fields show them."""
    cur = narrow.currency or "XXX"

    def amount(cents: int | None) -> str:
        return "" if cents is None else format_amount(cents, cur)

    return {
        "shop": narrow.shop or "",
        "type": narrow.type or "",
        "reason": narrow.reason or "",
        "currency": narrow.currency or "",
        "min_amount": amount(narrow.min_cents),
        "max_amount": amount(narrow.max_cents),
        "due_hours": "" if narrow.due_hours is None else str(narrow.due_hours),
    }


class FilterScreen(FormDialog[Narrowing | None]):
    """Dismisses with the filters (an empty Narrowing: none), or None when cancelled."""

    DEFAULT_CSS = """
    FilterScreen .filter-row { height: auto; }
    FilterScreen .filter-cell { width: 1fr; height: auto; }
    FilterScreen .filter-cell Label { width: 13; padding: 1 1 0 0; color: $text-muted; }
    FilterScreen .filter-cell Input { width: 1fr; }
    FilterScreen .filter-cell Checkbox { width: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Apply"),
    ]

    def __init__(self, current: Narrowing, shops: frozenset[str] | None = None) -> None:
        super().__init__()
        self._current = current
        self._shops = shops  # the viewer's (None: every shop), for the shop field

    def compose(self) -> ComposeResult:
        values = _typed(self._current)
        with Vertical(id="dialog"):
            yield Static("Filter the requests", classes="dialog-title", markup=False)
            for row in range(0, len(FIELDS), 2):
                with Horizontal(classes="filter-row"):
                    for name, label, placeholder in FIELDS[row : row + 2]:
                        with Horizontal(classes="filter-cell"):
                            yield Label(label, markup=False)
                            yield SafeInput(
                                values[name],
                                placeholder=placeholder,
                                id=name,
                                suggester=self._suggester(name),
                            )
                    if row + 2 > len(FIELDS):  # the last row's second place
                        with Horizontal(classes="filter-cell"):
                            yield Checkbox("Handled by me", self._current.mine, id="mine")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")
            yield Static(
                "Blank is any · → takes the grey suggestion · amounts in the currency's "
                "units, both ends included · handled by me: a request with a record of mine · "
                "Enter or ctrl+s applies · Esc cancels",
                classes="hint",
                markup=False,
            )

    def _suggester(self, name: str) -> Suggester | None:
        """What a field completes as it is typed (→ takes it): the viewer's shops (an agent's
        are every shop: none offered), the types and the buyers' reason codes. A code that no
        list holds (a marketplace's own reason) can still be typed whole."""
        words = {
            "shop": sorted(self._shops or ()),
            "type": [t.value for t in RequestType],
            "reason": list(BUYER_REASON),
        }.get(name)
        return SuggestFromList(words, case_sensitive=False) if words else None

    def on_mount(self) -> None:
        focus_now(self.query_one("#shop", Input))

    def field(self, name: str) -> Input:
        return self.query_one(f"#{name}", Input)

    @on(Checkbox.Changed)
    def _ticked(self) -> None:
        self.query_one(ErrorLine).clear()

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def action_submit(self) -> None:
        typed = {name: self.field(name).value for name, _label, _hint in FIELDS}
        try:
            mine = self.query_one("#mine", Checkbox).value
            narrow = narrowing_from_text(**typed, mine=mine, shops=self._shops)
        except Refused as exc:
            self.query_one(ErrorLine).show(exc.message)
            return
        self.dismiss(narrow)

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self.dismiss(Narrowing())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveViewScreen(FormDialog[str | None]):
    """Asks for a view's name; dismisses with it, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, names: list[str]) -> None:
        super().__init__()
        self._what = what
        self._names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Save this view", classes="dialog-title", markup=False)
            yield Static(self._what, classes="facts", markup=False)
            yield Label("Name (a saved view of the same name is replaced)",
                        classes="field-label", markup=False)  # fmt: skip
            yield SafeInput(placeholder="e.g. acme, due soon", id="name")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")
            hint = "Enter saves · Esc cancels"
            if self._names:
                hint = f"Saved: {', '.join(self._names)} · {hint}"
            yield Static(hint, classes="hint", markup=False)

    def on_mount(self) -> None:
        focus_now(self.query_one("#name", Input))

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_submit(self) -> None:
        try:
            name = check_name(self.query_one("#name", Input).value)
        except Refused as exc:
            self.query_one(ErrorLine).show(exc.message)
            return
        self.dismiss(name)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class FiltersAndViews(Screen):
    """The console's filter keys and saved views. ConsoleScreen holds the state it reads
    (`actor`, `tab`, `sorts`, `search`, `narrow`, `views`, `views_path`, `window`, `table`,
    `_places`) and `_view_changed`, which reads every tab again."""

    actor: Actor
    narrow: Narrowing
    views: list[SavedView]
    views_path: Path
    tab: Tab
    sorts: dict[Tab, Sort]
    search: str
    window: Any
    table: Any
    _places: dict[Tab, Any]
    _view_changed: Callable[[], None]

    def action_filter(self) -> None:
        def done(narrow: Narrowing | None) -> None:
            if narrow is not None:
                self._apply_filters(narrow)

        self.app.push_screen(FilterScreen(self.narrow, self.actor.visible_shops()), done)

    def action_clear_filters(self) -> None:
        self._apply_filters(Narrowing())

    def _apply_filters(self, narrow: Narrowing) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        self._view_changed()
        self.refresh_bindings()  # the clear key shows only while there are filters

    def _read_views(self) -> None:
        """The user's saved views (a small local file); a file that cannot be used is said
        once, and its views are left out."""
        try:
            self.views = load_views(self.views_path)
        except Refused as exc:
            self.notify(safe(exc.message), severity="warning", markup=False, timeout=10)
        self.refresh_bindings()

    def action_save_view(self) -> None:
        what = f"{self.tab.label}, {self.sorts[self.tab].label}"
        if self.search:
            what += f", search: {safe(self.search)}"
        if self.narrow:
            what += f", filters: {self.narrow.describe()}"
        current = SavedView("", 0, self.tab, self.sorts[self.tab], self.search, self.narrow)

        def done(name: str | None) -> None:
            if name is not None:
                self._save_view(replace(current, name=name))

        self.app.push_screen(SaveViewScreen(what, [v.name for v in self.views]), done)

    def _save_view(self, view: SavedView) -> None:
        if (views := self._rewrite_views(lambda views: with_view(views, view))) is not None:
            slot = next(v.slot for v in views if v.name == view.name)
            self.notify(safe(f"Saved the view {view.name} on F{slot}."), markup=False)

    def delete_view(self, name: str) -> None:
        if self._rewrite_views(lambda views: without_view(views, name)) is not None:
            self.notify(safe(f"Deleted the view {name}."), markup=False)

    def _rewrite_views(
        self, change: Callable[[list[SavedView]], list[SavedView]]
    ) -> list[SavedView] | None:
        """The views file changed and written, read again first: another console of the same
        user may have changed it meanwhile. None, and a toast, when it could not be."""
        try:
            views = change(load_views(self.views_path))
            save_views(self.views_path, views)
        except Refused as exc:
            self.notify(safe(exc.message), severity="error", markup=False, timeout=10)
            return None
        self.views = views
        self.refresh_bindings()
        return views

    def action_view(self, slot: int) -> None:
        view = next((v for v in self.views if v.slot == slot), None)
        if view is not None:
            self.apply_view(view)

    def apply_view(self, view: SavedView) -> None:
        """Show a saved view: its tab, that tab's sort, its search and its filters."""
        if self.window is not None:
            self._places[self.tab] = (self.window, self.table.highlighted_id)
        self.tab = view.tab
        self.sorts[view.tab] = view.sort
        self.search, self.narrow = view.search, view.narrow
        bar = self.query_one(SearchBar)
        bar.value = view.search
        bar.set_class(bool(view.search), "-shown")
        self.query_one(TabBar).select(view.tab)
        self.window = None
        self._view_changed()
        self.refresh_bindings()
        shops, shop = self.actor.visible_shops(), view.narrow.shop
        if shops is not None and shop is not None and shop not in shops:
            # Saved while the shop was theirs: it shows nothing now, and says why.
            warning = f"View {view.name}: {shop!r} is no longer one of your shops; it shows none."
            self.notify(safe(warning), severity="warning", markup=False, timeout=10)
        # No toast for a view shown: the tab, the search bar and the status line's filters
        # say which it is, and a toast coming and going laid the screen out three times more
        # (10-30 ms each at 200 columns, while the view's rows were being read).

    def view_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """The palette's entries for the saved views: show each, delete each."""
        shown = [
            (f"View: {v.name} (F{v.slot})", "Show this saved view", partial(self.apply_view, v))
            for v in self.views
        ]
        deleted = [
            (f"Delete view: {v.name}", f"Forget this saved view (F{v.slot})",
             partial(self.delete_view, v.name))
            for v in self.views
        ]  # fmt: skip
        return shown + deleted
