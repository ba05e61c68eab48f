"""The filter dialog and the save-view dialog (DESIGN §10). They only ask: the filters are
checked by `filters.narrowing_from_text` (a refusal is one sentence in the dialog, and
nothing changes), and the answer goes back through `dismiss`."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from returns_tui.errors import Refused
from returns_tui.filters import Narrowing, narrowing_from_text
from returns_tui.money import format_amount
from returns_tui.saved_views import check_name
from returns_tui.screens.form import ErrorLine, FormDialog
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput

# (field id, label, placeholder) of the dialog's text fields, in the order they show.
FIELDS = (
    ("shop", "Shop", "any shop"),
    ("type", "Type", "refund or return_and_refund"),
    ("reason", "Buyer's reason code", "e.g. damaged"),
    ("currency", "Currency", "e.g. USD"),
    ("min_amount", "Lowest amount", "e.g. 0.50"),
    ("max_amount", "Highest amount", "e.g. 10.00"),
    ("due_hours", "Due within (hours)", "e.g. 6"),
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
    FilterScreen .filter-row Label { width: 22; padding: 1 1 0 0; color: $text-muted; }
    FilterScreen .filter-row Input { width: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Apply"),
    ]

    def __init__(self, current: Narrowing) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        values = _typed(self._current)
        with Vertical(id="dialog"):
            yield Static("Filter the requests", classes="dialog-title", markup=False)
            for name, label, placeholder in FIELDS:
                with Horizontal(classes="filter-row"):
                    yield Label(label, markup=False)
                    yield SafeInput(values[name], placeholder=placeholder, id=name)
            yield Checkbox("Handled by me (a request with a record of mine)", self._current.mine,
                           id="mine")  # fmt: skip
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")
            yield Static(
                "Blank is any · amounts in the currency's units, both ends included · "
                "Enter or ctrl+s applies · Esc cancels",
                classes="hint",
                markup=False,
            )

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
            narrow = narrowing_from_text(**typed, mine=self.query_one("#mine", Checkbox).value)
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
