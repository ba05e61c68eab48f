"""The console's dialogs and frame under what a working day does to them: a request with
thousands of notes, a terminal squeezed to 1×1 and back, a narrow terminal, a request that
changes while its dialog is open. In a real terminal (tmux) where the defect was seen in one.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.support.console import NOW, new_service, seed, submit
from tests.support.run_console import in_tmux, set_clock
from tests.support.tmux import Tmux

tmux_only = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

NOTES = 3000


@pytest.fixture
def start(tmp_path):
    sessions: list[Tmux] = []

    def start(svc, login: str = "alice", *, width: int = 120, height: int = 36) -> Tmux:
        clock = tmp_path / "clock"
        set_clock(clock, NOW)
        tmux = in_tmux(str(svc.engine.url), login, clock, width=width, height=height)
        sessions.append(tmux)
        tmux.wait(r"row 1 of \d+", timeout=30)
        return tmux

    yield start
    for tmux in sessions:
        tmux.kill()


@pytest.fixture
def many_notes(tmp_path):
    svc = new_service(f"sqlite:///{tmp_path / 'notes.db'}")
    submit(svc, "R1", NOW.subtract(hours=1))
    alice = svc.login("alice")
    for i in range(NOTES):
        svc.note(alice, "R1", NOW.subtract(minutes=59).add(seconds=i), f"note number {i}")
    yield svc
    svc.engine.dispose()


@pytest.fixture
def seeded(tmp_path):
    svc = new_service(f"sqlite:///{tmp_path / 'seeded.db'}")
    seed(svc)
    yield svc
    svc.engine.dispose()


def press_until(tmux: Tmux, key: str, pattern: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        tmux.keys(key)
        try:
            tmux.wait(pattern, timeout=0.5)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


@tmux_only
def test_the_records_of_3000_notes_open_at_once_and_reach_the_last(start, many_notes):
    tmux = start(many_notes)
    began = time.monotonic()
    tmux.keys("v")
    tmux.wait(r"Return records of R1: 3001 records(.|\n)*request submitted by the buyer")
    took = time.monotonic() - began
    # One widget per record took 2.1 s here (6 s on the red team's machine); the issue
    # asks for well under a second.
    assert took < 1.0, f"the records view took {took:.2f} s to open"
    # Pressed as soon as the records are on screen, a key may be held and then dropped as
    # "typed ahead" (typeahead.py marks the dialog shown a few ms after its first paint
    # reached the terminal): End again until it acts, as a person would press it again.
    press_until(tmux, "End", rf"note number {NOTES - 1}\s")
    assert f"note number {NOTES - 2}" in tmux.screen()
    tmux.keys("Home")
    tmux.wait(r"request submitted by the buyer")
    tmux.wait_gone(rf"note number {NOTES - 1}\s")
    # Page by page from the top, the notes come in order.
    tmux.keys("PageDown")
    tmux.wait(r"note number \d+")
    tmux.keys("Escape")
    tmux.wait_gone("Return records of")


@tmux_only
def test_a_1x1_resize_and_back_repaints_without_a_key(start, seeded):
    tmux = start(seeded)
    tmux.run("resize-window", "-t", "t", "-x", "1", "-y", "1")
    time.sleep(0.5)  # the console sees the 1×1 terminal and lays itself out for it
    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "36")
    screen = tmux.wait(r"returns-tui │ alice(.|\n)*R1002(.|\n)*\? Help\s+\^q Quit").string
    assert "row 1 of 16" in screen
