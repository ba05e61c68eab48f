"""What the console reads from a real terminal (tmux: a real pty): pastes, bytes that are not
UTF-8, and how it ends when something fails. returns_tui/terminal.py says what Textual 8.2.8
does with these on its own.

A paste is sent as a terminal sends it, between ESC[200~ and ESC[201~: `tmux paste-buffer -p`
wraps the buffer so once the console asked for bracketed pastes, and `send-keys -H` writes
exact bytes to the console's pty, split where the test says.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from returns_tui import domain as d
from tests.support.console import NOW, new_service, seed
from tests.support.run_console import in_tmux, set_clock
from tests.support.tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def svc(tmp_path):
    service = new_service(f"sqlite:///{tmp_path / 'terminal.db'}")
    seed(service)
    yield service
    service.engine.dispose()


@pytest.fixture
def start(svc, tmp_path):
    sessions: list[Tmux] = []

    def start(*args: str) -> Tmux:
        clock = tmp_path / "clock"
        set_clock(clock, NOW)
        tmux = in_tmux(str(svc.engine.url), "alice", clock, *args)
        sessions.append(tmux)
        tmux.wait(r"row 1 of \d+", timeout=30)
        return tmux

    yield start
    for tmux in sessions:
        tmux.kill()


def notes(svc, rid: str) -> list[str]:
    return [
        str(r.details.get("note"))
        for r in svc.records(svc.login("alice"), rid)
        if r.kind is d.Kind.NOTED
    ]


def open_note(tmux: Tmux) -> str:
    tmux.keys("n")
    rid = tmux.wait(r"Add a note to (R\d+)").group(1)
    tmux.wait(r"0/500")
    return rid


def paste(tmux: Tmux, data: bytes, tmp: Path) -> None:
    """Paste `data` as the terminal would: bracketed, line feeds kept (-r)."""
    buffer = tmp / "paste.bin"
    buffer.write_bytes(data)
    tmux.run("load-buffer", "-b", "p", str(buffer))
    tmux.run("paste-buffer", "-p", "-r", "-d", "-b", "p", "-t", "t")


def send_bytes(tmux: Tmux, data: bytes) -> None:
    tmux.run("send-keys", "-t", "t", "-H", *(f"{b:02x}" for b in data))


def field_line(tmux: Tmux) -> str:
    """The note field's text line, between its borders ▊ … ▎."""
    match = re.search(r"▊ ?(.*?)▎ *\d+/500", tmux.screen())
    assert match, tmux.screen()
    return match.group(1).strip()


def test_a_paste_holding_esc_cr_is_text_not_a_submit(start, svc, tmp_path):
    tmux = start()
    rid = open_note(tmux)
    paste(tmux, b"second paste\x1b\rmore", tmp_path)
    # The paste is in the field, its ESC shown as ␛ and its CR as a space; the dialog is
    # still open and nothing was saved.
    tmux.wait(r"18/500")
    assert field_line(tmux) == "second paste␛ more"
    assert "Add a note to" in tmux.screen()
    assert notes(svc, rid) == []
    # Enter, pressed, saves it as shown.
    tmux.keys("Enter")
    tmux.wait(rf"{rid} noted\.")
    assert notes(svc, rid) == ["second paste␛ more"]


def test_a_long_paste_keeps_its_order_and_its_break(start, svc, tmp_path):
    tmux = start()
    rid = open_note(tmux)
    text = "x" * 40 + "\x1b[A" + "y" * 40 + "\nline two\x1b\x1b[201"
    paste(tmux, text.encode(), tmp_path)
    shown = "x" * 40 + "␛[A" + "y" * 40 + " line two␛␛[201"
    tmux.wait(rf"{len(shown)}/500")
    tmux.keys("Enter")
    tmux.wait(rf"{rid} noted\.")
    assert notes(svc, rid) == [shown]


def test_the_bytes_of_a_paste_split_across_reads(start, svc):
    """The issue's exact bytes, written to the pty in three parts that cut both markers."""
    tmux = start()
    rid = open_note(tmux)
    send_bytes(tmux, b"\x1b[2")
    send_bytes(tmux, b"00~second paste\x1b\r\x1b[20")
    send_bytes(tmux, b"1~")
    tmux.wait(r"14/500")  # its CR is a space, which the note loses when saved
    time.sleep(0.3)  # what a second Enter or a late key would have done has been done
    assert field_line(tmux) == "second paste␛"
    assert notes(svc, rid) == []
    send_bytes(tmux, b"\r")
    tmux.wait(rf"{rid} noted\.")
    assert notes(svc, rid) == ["second paste␛"]


def test_a_byte_that_is_not_utf8_is_a_replacement_character(start):
    tmux = start()
    send_bytes(tmux, b"\xe9")  # é in Latin-1
    tmux.keys("x")
    # The console is still there, and types on: in the search field, é shows as �.
    tmux.keys("/")
    tmux.wait(r"Search: request id")
    send_bytes(tmux, b"caf\xe9")
    tmux.wait(r"caf�")
    tmux.keys("Escape")
    tmux.wait_gone(r"caf�")
    tmux.keys("C-q")
    tmux.wait(r"\[exited 0\]")


@pytest.mark.parametrize("where", ["input", "app"])
def test_a_failure_ends_the_console_with_status_1_and_one_line(start, where):
    """A bug in the driver's input thread (Textual panics) or on the event loop: status 1,
    one line on stderr, no traceback."""
    tmux = start(where)
    tmux.keys("F12")
    tmux.wait(r"\[exited 1\]")
    screen = tmux.screen()
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[:2] == [
        f"returns-tui: the console stopped on an error: RuntimeError: F12 failed in the {where}",
        "[exited 1]",
    ], screen
