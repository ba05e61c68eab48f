"""The search field: Enter applies it, Esc clears it and gives the table back the keys.
A `SafeInput`: pasted control characters show as placeholders, never reach the terminal."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message

from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput


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
            max_length=200,
            id=id,
        )

    def open(self, text: str) -> None:
        self.value = text
        self.add_class("-shown")
        focus_now(self)

    def close(self) -> None:
        self.remove_class("-shown")

    def action_clear_search(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())
