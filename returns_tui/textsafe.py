"""Text from outside (buyers' fields, notes, reasons, imports) made safe to put on a screen.

Rich and Textual strip only some control characters; ESC, C1 controls, DEL and bidi
overrides would reach the terminal or reorder what the operator reads. Each becomes a
visible placeholder instead. Markup is a separate matter: cells and labels that show this
text are built as `rich.text.Text` / `markup=False`, never parsed.
"""

from __future__ import annotations

import unicodedata

# Characters that change how the rest of a line is laid out or read.
_BIDI = {chr(c) for c in (0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# Invisible format characters, surrogates, private use, line and paragraph separators. The
# zero-width joiner stays: it only glues emoji together ("👩‍💻").
_HIDDEN = frozenset({"Cf", "Cs", "Co", "Zl", "Zp"})
_ZWJ = "\u200d"


def _placeholder(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture": ␛ for ESC, ␀ for NUL
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def safe(text: str, *, single_line: bool = True) -> str:
    """`text` with every control, bidi and invisible format character made visible.
    With `single_line`, newlines and tabs become placeholders too (a table cell)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\n\t" and not single_line:
            out.append(ch)
        elif code < 0x20 or 0x7F <= code < 0xA0 or ch in _BIDI:
            out.append(_placeholder(ch))
        elif code > 0x7F and ch != _ZWJ and unicodedata.category(ch) in _HIDDEN:
            out.append(_placeholder(ch))
        else:
            out.append(ch)
    return "".join(out)
