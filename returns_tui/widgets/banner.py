"""A banner across the top while the database cannot be reached; hidden otherwise."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from returns_tui.textsafe import safe


class Banner(Static):
    DEFAULT_CSS = """
    Banner {
        height: auto; display: none; padding: 0 1;
        background: $error; color: $text; text-style: bold;
    }
    Banner.-shown { display: block; }
    """

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def show(self, message: str) -> None:
        # The message may quote a driver's error text: shown as text, never as markup.
        self.update(Text(safe(f"Database unreachable: {message} — retrying")))
        self.add_class("-shown")

    def hide(self) -> None:
        self.remove_class("-shown")
