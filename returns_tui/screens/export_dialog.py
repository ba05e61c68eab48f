"""Export the console's view (a tab, a search) to a file: the dialog asks for the file's name.

It dismisses with the name as typed, or None. A name that cannot be a new file (it exists, its
folder does not) is refused in the dialog, in one line, by export_file.target (the very check
the export makes again when it writes); the writing itself runs in the console's worker.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from returns_tui.errors import Refused
from returns_tui.export_file import target
from returns_tui.screens.form import ErrorLine, FormDialog
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput


class ExportScreen(FormDialog[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, suggested: str) -> None:
        super().__init__()
        self._what = what  # "To Proceed", "All, search: ana" (plain text)
        self._suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Export {self._what}", classes="dialog-title", markup=False)
            yield Label(
                "File name (a new file; .jsonl for JSON Lines, else CSV)",
                classes="field-label",
                markup=False,
            )
            yield SafeInput(value=self._suggested, id="path")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel", id="cancel")
            yield Static("Enter exports · Esc cancels", classes="hint", markup=False)

    def on_mount(self) -> None:
        focus_now(self.query_one("#path", Input))

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def action_submit(self) -> None:
        path = self.query_one("#path", Input).value
        try:
            target(path)
        except Refused as exc:
            self.query_one(ErrorLine).show(exc.message)
            return
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
