"""SafeInput: every Input of ours holds one line of text with no control character in it, so
that nothing pasted or typed reaches the terminal raw (test_hostile.py drives the dialogs and
the search box; these are the field's own promises)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input

from returns_tui.textsafe import safe
from returns_tui.widgets.safe_input import SafeInput, one_line
from returns_tui.widgets.search_bar import SearchBar

PACKAGE = Path(__file__).resolve().parents[1] / "returns_tui"


class Host(App):
    def __init__(self, field: Input) -> None:
        super().__init__()
        self.field = field

    def compose(self) -> ComposeResult:
        yield self.field


async def pasted(text: str, *, field: Input | None = None, before: str = "") -> Input:
    field = field or SafeInput()
    app = Host(field)
    async with app.run_test() as pilot:
        field.focus()
        if before:
            await pilot.press(*before)
        field.post_message(events.Paste(text))
        await pilot.pause()
    return field


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("first line\nsecond line", "first line second line"),  # Input kept "first line"
        ("windows\r\nline", "windows line"),
        ("old mac\rline", "old mac line"),
        ("cell\tcell", "cell cell"),
        ("para\u2028graph\u2029end\x85", "para graph end "),
        ("\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
        ("nul\x00 del\x7f csi\x9b", "nul␀ del␡ csi<U+009B>"),
        ("\u202eevil\u202c \u2066x\u2069", "<U+202E>evil<U+202C> <U+2066>x<U+2069>"),
        ("zero\u200bwidth\ufeff", "zero<U+200B>width<U+FEFF>"),
        ("👩‍💻 Zoë ｆｕｌｌ 日本", "👩‍💻 Zoë ｆｕｌｌ 日本"),  # text stays text
        ("[@click=app.quit]x[/]", "[@click=app.quit]x[/]"),
    ],
)
async def test_a_paste_is_kept_whole_as_one_clean_line(text, held):
    field = await pasted(text, before="ab")
    assert field.value == "ab" + held
    assert field.cursor_position == len(field.value)


async def test_a_paste_replaces_the_selection_and_the_cursor_follows_the_shown_text():
    field = SafeInput()
    app = Host(field)
    async with app.run_test() as pilot:
        field.value = "keep THIS end"
        field.focus()
        field.selection = (5, 9)
        field.post_message(events.Paste("\x1bthat"))
        await pilot.pause()
        assert field.value == "keep ␛that end"
        assert field.cursor_position == len("keep ␛that")


async def test_ctrl_v_from_the_apps_clipboard_is_cleaned_too():
    field = SafeInput()
    app = Host(field)
    async with app.run_test() as pilot:
        field.focus()
        app.copy_to_clipboard("a\x1bb\nc")
        field.action_paste()
        await pilot.pause()
        assert field.value == "a␛b c"


async def test_a_value_set_by_code_is_cleaned():
    field = SafeInput()
    app = Host(field)
    async with app.run_test():
        field.value = "x\x07y"
        assert field.value == "x␇y"
        field.value = "\u202e\tz"
        assert field.value == "<U+202E> z"


async def test_the_search_bar_is_safe_and_keeps_its_length_limit():
    bar = await pasted("id\x1b\nR1")
    assert bar.value == "id␛ R1"
    search = SearchBar()
    search = await pasted("x" * 199 + "\x1b", field=search)  # ␛ is one character: fits
    assert search.value == "x" * 199 + "␛"
    too_long = await pasted("\u202e" + "x" * 195, field=SearchBar())  # <U+202E> is eight
    # What fits is kept (the console says in a toast how much was left out: test_console.py).
    assert too_long.value == "<U+202E>" + "x" * 192


@given(st.text(st.characters(codec="utf-8"), max_size=60))
def test_one_line_is_what_every_screen_would_show_and_idempotent(text):
    once = one_line(text)
    assert one_line(once) == once
    assert safe(once) == once  # the field shows what the records will show
    assert not set(once) & {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x202E]}


def test_every_input_of_ours_is_a_safe_input():
    """No module builds a bare Textual Input, or subclasses it, except SafeInput itself."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "safe_input.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Input":
                offenders.append(f"{path.name}:{node.lineno} Input(...)")
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    if getattr(base, "id", None) == "Input":
                        offenders.append(f"{path.name}:{node.lineno} class {node.name}(Input)")
    assert offenders == []
