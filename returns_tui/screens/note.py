"""Add a note to a request's records: 1 to 500 characters, checked before the dialog closes."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from returns_tui.domain import NOTE_MAX, check_note
from returns_tui.errors import Refused
from returns_tui.screens.form import ErrorLine, FormDialog, NoteField
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now


class NoteScreen(FormDialog[str | None]):
    """Dismisses with the note, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Add note"),
    ]

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self._request_id = request_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(
                f"Add a note to {safe(self._request_id)}", classes="dialog-title", markup=False
            )
            yield Label(
                f"Note (1 to {NOTE_MAX} characters; it joins the request's records for good)",
                classes="field-label",
                markup=False,
            )
            yield NoteField("What happened, for the next person who looks")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Add note", variant="primary", id="add")
                yield Button("Cancel", id="cancel")
            yield Static("Enter or ctrl+s adds · Esc cancels", classes="hint", markup=False)

    def on_mount(self) -> None:
        focus_now(self.query_one(NoteField).input)

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def action_submit(self) -> None:
        note = self.query_one(NoteField).value
        try:
            check_note(note)
        except Refused as exc:
            self.query_one(ErrorLine).show(exc.message)
            focus_now(self.query_one(NoteField).input)
            return
        self.dismiss(note.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
