"""What the dialogs share: the modal frame, an inline error line and a note field with a live
"n/500" counter.

The dialogs only show and ask. They check what the person typed with the domain's own checks
(so the dialog and the services can never disagree), and hand the answer back through
`dismiss`; the caller calls the services.
"""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from returns_tui.domain import NOTE_MAX
from returns_tui.widgets.safe_input import SafeInput

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A centred frame over the dimmed console. Subclasses compose a `#dialog` container."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        background: $background 60%;
    }
    Dialog #dialog {
        width: 86;
        max-width: 96%;
        height: auto;
        max-height: 94%;
        overflow-y: auto;  /* a short terminal scrolls the dialog rather than cut it */
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    Dialog .dialog-title {
        width: 1fr;
        text-style: bold;
        margin-bottom: 1;
    }
    Dialog .field-label {
        margin-top: 1;
        color: $text-muted;
    }
    Dialog .facts {
        height: auto;
        margin-bottom: 1;
    }
    Dialog .buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    Dialog .buttons Button {
        margin-left: 2;
    }
    Dialog .hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    _answered = False

    def dismiss(self, result: ResultT | None = None) -> AwaitComplete:
        """Close with `result`, once. Keys in one burst (Enter Enter), a double click, or
        Enter in a field and on a button all reach the dialog before it has closed: the
        first answers, the rest do nothing. (Textual 8.2.8 would hand the caller the answer
        again, and then fail to pop the screen it had popped already.)"""
        if self._answered:
            return AwaitComplete.nothing()
        self._answered = True
        return super().dismiss(result)

    def on_mount(self) -> None:
        # Textual runs this as well as a subclass's own on_mount. When a short terminal makes
        # the dialog scroll, focusing a field scrolls it; show the title first all the same.
        self.call_after_refresh(self._show_top)

    def _show_top(self) -> None:
        dialogs = self.query("#dialog")
        if dialogs:
            dialogs.first().scroll_home(animate=False)


class ErrorLine(Static):
    """One line for a refusal, empty until there is one. Never markup: the sentence may quote
    what the person typed."""

    DEFAULT_CSS = """
    ErrorLine {
        color: $text-error;
        height: auto;
        min-height: 1;
        margin-top: 1;
    }
    """

    def __init__(self, *, id: str = "error") -> None:  # noqa: A002 - Textual's own name
        super().__init__("", markup=False, id=id)

    def show(self, message: str) -> None:
        self.update(message)
        # A dialog taller than the terminal scrolls: the sentence must come into view, even
        # when the field typed in is far from it.
        self.call_after_refresh(self.scroll_visible, animate=False)

    def clear(self) -> None:
        self.update("")

    @property
    def text(self) -> str:
        return str(self.content)


class FormDialog(Dialog[ResultT]):
    """A dialog that asks for text and answers a refusal in its ErrorLine: the line says what
    is wrong until the text is edited again."""

    @property
    def error_text(self) -> str:
        return self.query_one(ErrorLine).text

    @on(Input.Changed)
    def _edited(self) -> None:
        self.query_one(ErrorLine).clear()


class NoteField(Horizontal):
    """A one-line note (Enter submits the dialog) and its "n/500" counter, which turns red
    past the limit. The limit is not enforced by the Input: a pasted 501-character note must
    reach the check, which then says why it cannot be saved. The field is a `SafeInput`: a
    pasted line break or tab becomes a space, any other control character a visible
    placeholder (␛), so what it shows is what is saved."""

    DEFAULT_CSS = """
    NoteField {
        height: auto;
    }
    NoteField Input {
        width: 1fr;
    }
    NoteField .counter {
        width: auto;  /* "10000/500" (a long paste) on one line, not cut or wrapped */
        min-width: 9;
        padding: 1 0 0 1;
        color: $text-muted;
    }
    NoteField .counter.over {
        color: $text-error;
        text-style: bold;
    }
    """

    def __init__(self, placeholder: str, *, id: str = "note") -> None:  # noqa: A002
        super().__init__(id=id)
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield SafeInput(placeholder=self._placeholder, id=f"{self.id}-input")
        yield Label(f"0/{NOTE_MAX}", id=f"{self.id}-count", classes="counter", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    @property
    def counter_text(self) -> str:
        return str(self.query_one(".counter", Label).content)

    @on(Input.Changed)
    def _count(self, event: Input.Changed) -> None:
        length = len(event.value)
        counter = self.query_one(".counter", Label)
        counter.update(f"{length}/{NOTE_MAX}")
        counter.set_class(length > NOTE_MAX, "over")
