"""The reject dialog: a reason from the market's list and a note, both checked before it closes.

It dismisses with `(reason_code, note)` or None. The checks are the domain's
`check_reject_input` (or, for a returned package, `check_receipt_reject_input`), the very ones
the service applies, so what the dialog lets through the
service accepts (unless someone else changed the request meanwhile, which the caller shows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from returns_tui.domain import NOTE_MAX, Rules, check_reject_input
from returns_tui.errors import Refused
from returns_tui.screens.form import ErrorLine, FormDialog, NoteField
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now

NO_REASON = "Choose a reason from the list."
# The first nine reasons have a key each, 1 to 9, shown before them in the list. Not while the
# note has the focus: there a digit is part of the note (the Input takes printable keys first).
REASON_KEYS = "123456789"


class RejectScreen(FormDialog[tuple[str, str] | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Reject"),
        *(Binding(key, f"reason({n})", show=False) for n, key in enumerate(REASON_KEYS)),
    ]

    def __init__(
        self,
        request_id: str,
        rules: Rules,
        *,
        reasons: Mapping[str, str] | None = None,
        title: str | None = None,
        check: Callable[[Any, Any, Rules], None] = check_reject_input,
        note_required: bool = False,
    ) -> None:
        """A request's rejection by default; a returned package's with the receipt reasons,
        a title naming it, the receipt check and `note_required` (the label says so)."""
        super().__init__()
        self._request_id = request_id
        self._rules = rules
        self._reasons = dict(rules.reasons if reasons is None else reasons)
        self._title = title or f"Reject request {safe(request_id)}"
        self._check = check
        self._note_required = note_required

    def compose(self) -> ComposeResult:
        # Labels come from the config file: shown as text, never as markup.
        options = [
            (Text.assemble((f"{REASON_KEYS[n]} " if n < len(REASON_KEYS) else "  ", "bold"),
                           safe(label)), code)
            for n, (code, label) in enumerate(self._reasons.items())
        ]  # fmt: skip
        with Vertical(id="dialog"):
            yield Static(self._title, classes="dialog-title", markup=False)
            yield Label("Reason", classes="field-label", markup=False)
            yield Select(options, prompt="Choose a reason…", id="reason")
            other = self._reasons.get("other")
            required = f"required for {safe(other)}; " if other else ""
            if self._note_required:
                required = "required; "
            yield Label(
                f"Note to the buyer ({required}at most {NOTE_MAX} characters)",
                classes="field-label",
                markup=False,
            )
            yield NoteField("Why the request is rejected")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Reject", variant="error", id="reject")
                yield Button("Cancel", id="cancel")
            keys = min(len(self._reasons), len(REASON_KEYS))
            yield Static(
                f"1–{keys} choose a reason · Enter in the note or ctrl+s rejects · Esc cancels",
                classes="hint",
                markup=False,
            )

    def on_mount(self) -> None:
        focus_now(self.query_one("#reason", Select))

    def action_reason(self, index: int) -> None:
        """The reason of key `index + 1`, as if chosen from the list."""
        codes = list(self._reasons)
        if index < len(codes):
            self.query_one("#reason", Select).value = codes[index]

    @on(Select.Changed, "#reason")
    def _reason_chosen(self, event: Select.Changed) -> None:
        self.query_one(ErrorLine).clear()
        if event.value is not Select.NULL:
            # The next thing to do is the note; Enter there submits.
            focus_now(self.query_one(NoteField).input)

    @on(Input.Submitted)
    @on(Button.Pressed, "#reject")
    def action_submit(self) -> None:
        select = self.query_one("#reason", Select)
        note_field = self.query_one(NoteField)
        error = self.query_one(ErrorLine)
        if select.value is Select.NULL:
            # The domain's sentence quotes the bad value; with nothing chosen there is none.
            error.show(NO_REASON)
            focus_now(select)
            return
        reason = str(select.value)
        note = note_field.value
        try:
            self._check(reason, note, self._rules)
        except Refused as exc:
            error.show(exc.message)
            focus_now(note_field.input)
            return
        self.dismiss((reason, note.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
