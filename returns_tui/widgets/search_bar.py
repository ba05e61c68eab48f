"""The search field: Enter applies it, Esc clears it and gives the table back the keys.
A `SafeInput`: pasted control characters show as placeholders, never reach the terminal."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message

from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput, one_line

SEARCH_MAX = 200  # characters: a search is a few words, never a document


class SearchBar(SafeInput):
    DEFAULT_CSS = """
    SearchBar { display: none; height: 3; }
    SearchBar.-shown { display: block; }
    """

    BINDINGS = [Binding("escape", "clear_search", "Clear search", show=False)]

    class Cleared(Message):
        """Esc: the search is over."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="Search: request id, order id, buyer, product or tracking number",
            max_length=SEARCH_MAX,
            id=id,
        )

    def replace(self, text: str, start: int, end: int) -> None:
        # Textual's Input drops a paste that would pass max_length, whole and without a word:
        # keep what fits, and say why the rest went.
        text = one_line(text)
        start, end = sorted((max(0, start), min(len(self.value), end)))
        room = SEARCH_MAX - (len(self.value) - (end - start))
        if len(text) > room:
            self.notify(
                f"A search holds at most {SEARCH_MAX} characters: the last "
                f"{len(text) - max(room, 0)} of what was pasted were left out.",
                severity="warning",
                markup=False,
            )
            text = text[: max(room, 0)]
        super().replace(text, start, end)

    def open(self, text: str) -> None:
        self.value = text
        self.add_class("-shown")
        focus_now(self)

    def close(self) -> None:
        self.remove_class("-shown")

    def action_clear_search(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())
