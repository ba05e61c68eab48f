"""textsafe.safe: outside text made harmless to put on a terminal, and nothing more."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from returns_tui.textsafe import safe

BIDI = {0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def dangerous(ch: str, *, single_line: bool = True) -> bool:
    """A character that would move the cursor, change colours, reach the terminal as a
    control, reorder the line or hide itself."""
    code = ord(ch)
    if ch in "\n\t":
        return single_line
    if code < 0x20 or 0x7F <= code < 0xA0 or code in BIDI:
        return True
    return ch != "\u200d" and unicodedata.category(ch) in {"Cf", "Cs", "Co", "Zl", "Zp"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred", "␛[31mred"),
        ("\x1b]8;;http://x\x07link", "␛]8;;http://x␇link"),
        ("a\x00b", "a␀b"),
        ("a\x7fb", "a␡b"),
        ("\x9b31m", "<U+009B>31m"),  # C1 CSI: one byte that starts an escape sequence
        ("\x85", "<U+0085>"),
        ("pay\u202egnp.exe", "pay<U+202E>gnp.exe"),  # right-to-left override
        ("\u2066x\u2069", "<U+2066>x<U+2069>"),
        ("a\rb", "a␍b"),
        ("line\nbreak\tand tab", "line␊break␉and tab"),
        ("soft\u00adhyphen", "soft<U+00AD>hyphen"),
        ("\u2028", "<U+2028>"),
        ("\ufeffbom", "<U+FEFF>bom"),
        ("\ud800", "<U+D800>"),  # a lone surrogate (from a bad decode) cannot be printed
        ("\ue000", "<U+E000>"),  # private use: looks like anything, or nothing
    ],
)
def test_controls_become_visible(raw, shown):
    assert safe(raw) == shown


def test_multi_line_keeps_newlines_and_tabs_only():
    assert safe("one\ntwo\tthree\x1b", single_line=False) == "one\ntwo\tthree␛"


@pytest.mark.parametrize(
    "text",
    [
        "Ana Lima",
        "Crème brûlée — ½ off, naïve façade",
        "Zoë Ångström, Łódź, İstanbul",
        "陶器のマグカップ",
        "مرحبا بالعالم",  # right-to-left script on its own is ordinary text
        "👍🏽 🎉 ❤️ 👩‍💻 👨‍👩‍👧",  # skin tone, variation selector, zero-width joiners
        "[bold]not markup[/] [@click=app.quit]x[/] [00]",  # markup is not this module's job
        "e\u0301",  # a combining accent
        "",
    ],
)
def test_ordinary_text_is_unchanged(text):
    assert safe(text) == text


@given(st.text())
def test_output_has_no_dangerous_character(text):
    assert not any(dangerous(ch) for ch in safe(text))


@given(st.text())
def test_multi_line_output_has_no_dangerous_character(text):
    assert not any(dangerous(ch, single_line=False) for ch in safe(text, single_line=False))


@given(st.text())
def test_safe_is_idempotent(text):
    once = safe(text)
    assert safe(once) == once
    multi = safe(text, single_line=False)
    assert safe(multi, single_line=False) == multi


@given(st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"])))
def test_text_without_controls_passes_through(text):
    if not any(ord(ch) in BIDI for ch in text):
        assert safe(text) == text
