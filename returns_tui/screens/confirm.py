"""A yes/no question before a change that cannot be undone (accept, accept the marked rows),
with an optional third answer (accept a return and let the buyer keep the item)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Static

from returns_tui.screens.form import Dialog
from returns_tui.widgets.focus import focus_now

# What the dialog dismisses with for its third answer (`extra`).
EXTRA = "extra"


class ConfirmScreen(Dialog[bool | str]):
    """Dismisses with True (Enter, y, the confirm button) or False (Esc, n, Cancel); with
    `extra`, a third button of that label, and its key k, dismiss with EXTRA.

    The body is shown as plain text: it may name a buyer or a product. `watch`, a request id
    and the status the question was asked about, lets the console close the dialog when that
    request changes meanwhile (ConsoleScreen._recheck_dialog): a confirm must not outlive what
    it asked about, such as a request auto-approved while the operator read it."""

    BINDINGS = [
        Binding("enter,y", "confirm", "Confirm"),
        Binding("escape,n", "cancel", "Cancel"),
        Binding("k", "extra", "Third answer", show=False),
    ]

    def __init__(
        self,
        title: str,
        body: str,
        confirm_label: str = "Confirm",
        watch: tuple[str, str] | None = None,
        extra: str | None = None,
    ) -> None:
        super().__init__()
        self.watch = watch
        self._title = title
        self._body = body
        self._confirm_label = confirm_label
        self._extra = extra

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self._title, classes="dialog-title", markup=False)
            yield Static(self._body, id="body", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(Content(self._confirm_label), variant="primary", id="confirm")
                if self._extra is not None:
                    yield Button(Content(self._extra), variant="warning", id="extra")
                yield Button("Cancel", id="cancel")
            extra = f" · k: {self._extra}" if self._extra is not None else ""
            yield Static(
                f"Enter or y confirms{extra} · Esc or n cancels", classes="hint", markup=False
            )

    def on_mount(self) -> None:
        # Enter on the focused button confirms; Tab then Enter on Cancel cancels.
        focus_now(self.query_one("#confirm", Button))

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._extra is not None if action == "extra" else True

    @on(Button.Pressed, "#extra")
    def action_extra(self) -> None:
        self.dismiss(EXTRA)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
