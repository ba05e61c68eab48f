"""The console's input parser (returns_tui/terminal.py) on its own: a bracketed paste is one
Paste event holding exactly its text, in its place among the keys, however the input is cut
into reads; keys outside pastes parse as Textual parses them."""

from __future__ import annotations

import itertools

import pytest
from textual import events
from textual._xterm_parser import XTermParser

from returns_tui.terminal import ConsoleParser

START, END = "\x1b[200~", "\x1b[201~"


def parse(parser: XTermParser, chunks: list[str]) -> list[tuple[str, str]]:
    out = []
    for chunk in chunks:
        out += parser.feed(chunk)
    out += parser.feed("")  # the end of input: a pending ESC is the Escape key
    return [
        ("paste", e.text) if isinstance(e, events.Paste) else ("key", e.key)
        for e in out
        if isinstance(e, (events.Paste, events.Key))
    ]


@pytest.mark.parametrize(
    "text",
    [
        "second paste\x1b\r",  # the issue's: ESC CR was "^" and Enter, before the paste
        "x" * 40 + "\x1b[A" + "y" * 40 + "\nline two",  # a sequence, then more than 32
        "\x1b",
        "\x1b\x1b[201",  # the start of an end marker, inside the paste
        "\x1b[200~nested",
        "",
    ],
)
def test_a_paste_is_one_event_with_its_text_whole(text):
    data = "a" + START + text + END + "b"
    expected = [("key", "a"), ("paste", text), ("key", "b")]
    assert parse(ConsoleParser(), [data]) == expected
    # Cut into reads at every pair of places (the markers included).
    for i, j in itertools.combinations(range(1, len(data)), 2):
        assert parse(ConsoleParser(), [data[:i], data[i:j], data[j:]]) == expected, (i, j)


def test_textual_alone_turns_the_paste_into_keys():
    """Why ConsoleParser exists: Textual 8.2.8's parser on the issue's bytes."""
    got = parse(XTermParser(), ["a" + START + "second paste\x1b\r" + END])
    assert ("key", "enter") in got


def test_keys_outside_pastes_parse_as_textual_parses_them():
    data = "q\x1b[A\x1b[1;5C\r\x7f\x1b[<0;10;5M\x1b[<0;10;5mé\x1b"
    assert parse(ConsoleParser(), [data]) == parse(XTermParser(), [data])


def test_nul_is_removed_from_a_paste_as_textual_does():
    assert parse(ConsoleParser(), [START + "a\x00b" + END]) == [("paste", "ab")]


@pytest.mark.parametrize(
    "data, keys",
    [
        ("\x1bv", ["escape", "v"]),  # Textual: alt+v (a dialog stayed open)
        ("\x1b\r", ["escape", "enter"]),  # Textual: enter alone (it confirmed the dialog)
        ("\x1b2", ["escape", "2"]),  # Textual: "™"
        ("\x1bq\x1bR", ["escape", "q", "escape", "R"]),
        ("\x1bé", ["escape", "é"]),
        ("\x1b\x7f", ["escape", "backspace"]),  # Textual: ctrl+w
        ("\x1b\x1b", ["escape", "escape"]),
    ],
)
def test_escape_and_the_key_after_it_are_two_keys(data, keys):
    """However close together they come (one read, as over SSH), Escape is Escape: no
    command is on Alt, and an Escape lost closed no dialog."""
    assert parse(ConsoleParser(), [data]) == [("key", k) for k in keys]
    assert parse(ConsoleParser(), list(data)) == [("key", k) for k in keys]


@pytest.mark.parametrize("data", ["\x1b[A", "\x1bOA", "\x1b[1;5C", "\x1b[<0;10;5M", "\x1b[I"])
def test_sequences_after_escape_are_still_textuals(data):
    """Arrow keys, mouse reports, focus: what begins ESC [ or ESC O is Textual's to read."""
    assert parse(ConsoleParser(), [data]) == parse(XTermParser(), [data])
