"""Moving the focus at once.

Textual's `widget.focus()` does not move the focus: it queues the move behind the messages
already waiting, and keys read from the terminal in the same burst are among them. So after
`/` the search field got the focus only after the keys typed behind the `/` had gone to the
table. Every focus move in the console is `focus_now` (a test holds the code to it).
"""

from __future__ import annotations

from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Give `widget` the keys from the next one on."""
    widget.screen.set_focus(widget)
