"""The top line: who is looking at what, the clock, and when the data was last read."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from returns_tui.roles import Actor
from returns_tui.textsafe import safe


def shops_text(actor: Actor) -> str:
    if actor.visible_shops() is None:
        return "all shops"
    return "shop " + ", ".join(safe(s) for s in sorted(actor.shops)) if actor.shops else "no shops"


class ConsoleHeader(Static):
    """`returns-tui │ alice (operator) │ shop acme │ 10:02:13 │ refreshed 10:02:12`."""

    DEFAULT_CSS = """
    ConsoleHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, actor: Actor, title: str = "returns-tui", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.actor = actor
        self.title_text = title
        self.clock_text = ""
        self.refreshed_text = "loading…"

    def on_mount(self) -> None:
        self._render_line()

    def on_resize(self) -> None:
        self._render_line()

    def set_clock(self, text: str) -> None:
        if text != self.clock_text:
            self.clock_text = text
            self._render_line()

    def set_refreshed(self, text: str) -> None:
        self.refreshed_text = f"refreshed {text}"
        self._render_line()

    def _render_line(self) -> None:
        """Who and what on the left, the clock and the last read on the right. On a narrow
        terminal the last read goes first, then the left part is cut (the shops' list can
        be long): the clock stays."""
        sep = (" │ ", "dim")
        left = Text.assemble(
            (safe(self.title_text), "bold"),
            sep,
            (safe(self.actor.name), "bold"),
            f" ({self.actor.role.value})",
            sep,
            shops_text(self.actor),
            no_wrap=True,
        )
        right = Text.assemble(sep, self.clock_text, sep, (self.refreshed_text, "dim"))
        width = self.content_region.width or None  # None until laid out: nothing is cut
        if width is not None and left.cell_len + right.cell_len > width:
            right = Text.assemble(sep, self.clock_text)
            left.truncate(max(width - right.cell_len, 1), overflow="ellipsis")
        self.update(left + right, layout=False)  # one line, always: no layout pass each second
