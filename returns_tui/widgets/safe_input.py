"""A one-line Input that never holds a control character, so none reaches the terminal.

Textual's `Input` paints its value as it is: a pasted ESC, NUL, C1 control, DEL or bidi
override would go to the terminal raw while the field is being edited. Every Input of ours is
a `SafeInput`, which cleans text as it comes in (typed, pasted, or set by code):

- line breaks and tabs become a space: a one-line field cannot show them, and a pasted
  paragraph or a tab-separated cell was meant as words with spaces between them (Textual's own
  Input would keep only the first line of a paste, and lose the rest without a word);
- every other control, bidi or invisible format character becomes the visible placeholder of
  `textsafe.safe` (␛ for ESC, ␀ for NUL, <U+202E> for a right-to-left override).

Placeholders rather than dropping: nothing the person pasted disappears without a trace, they
can see it and delete it, and what the field shows is exactly what is saved and what every
other screen shows later (`safe` of the cleaned text is the cleaned text).
"""

from __future__ import annotations

import re

from textual import events
from textual.widgets import Input

from returns_tui.textsafe import safe

# What ends a line or moves to the next column, in the eyes of str.splitlines and a terminal.
# CR LF, as a Windows clipboard has it, is one break: one space.
_BREAKS = re.compile("\r\n|[\n\r\t\v\f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` as a one-line field holds it: breaks and tabs as spaces, every other control,
    bidi or invisible format character as a visible placeholder. Idempotent."""
    if text.isprintable():
        # Every character safe() or a break would change is unprintable to Python: the
        # usual case (each keystroke cleans the whole value) costs one C-level scan.
        return text
    return safe(_BREAKS.sub(" ", text))


class SafeInput(Input):
    """An `Input` whose value is always `one_line` text."""

    def validate_value(self, value: str) -> str:
        # Textual calls this on every assignment to `value`, code's included.
        return one_line(value)

    def replace(self, text: str, start: int, end: int) -> None:
        # Typing, pasting (also ctrl+v from the app's clipboard) and deleting all come here.
        # Clean first, so that the cursor lands after the text as it is shown.
        super().replace(one_line(text), start, end)

    def _on_paste(self, event: events.Paste) -> None:
        # The whole paste, its line breaks as spaces (Input's own handler keeps the first line).
        event.stop()
        event.prevent_default()  # Input._on_paste would insert the first line a second time
        if event.text:
            self.replace(event.text, *self.selection)
