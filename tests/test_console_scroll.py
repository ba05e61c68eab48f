"""The highlighted row is always on screen and highlighted, read from a real terminal (tmux):
after moving past a screenful, past the edge of the window of rows the table holds
(console_data.PAGE), to the end and back, after a sort, and after another process changed the
rows, at 80×24, 120×36 and 200×50.

Textual 8.2.8 skips scrolling an axis whose CSS says `overflow-y: hidden` (the table's) unless
forced: the cursor moved on, the status line and the detail followed it, and the table stood
still with no row highlighted. Only the screen shows that; every attribute looked right.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable

import pytest

from returns_tui.console_data import PAGE
from tests.support.console import NOW, T0, new_service, submit
from tests.support.run_console import in_tmux, set_clock
from tests.support.tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

COUNT = 250  # two and a half windows
ROW = re.compile(r"row ([\d,]+) of ([\d,]+)")
ID = re.compile(r"R2\d{3}")


def rid(position: int) -> str:
    """The request at `position` (from 1) of To Proceed, most urgent first: they were made
    five minutes apart, so their deadlines are in the order of their ids."""
    return f"R{2000 + position - 1}"


@pytest.fixture
def svc(tmp_path):
    service = new_service(f"sqlite:///{tmp_path / 'scroll.db'}")
    for i in range(COUNT):
        submit(service, rid(i + 1), T0.add(minutes=5 * i), n=i)
    yield service
    service.engine.dispose()


@pytest.fixture
def start(svc, tmp_path):
    sessions: list[Tmux] = []

    def start(width: int, height: int) -> Tmux:
        clock = tmp_path / "clock"
        set_clock(clock, NOW)
        tmux = in_tmux(str(svc.engine.url), "alice", clock, width=width, height=height)
        sessions.append(tmux)
        tmux.wait(r"row 1 of 250", timeout=30)
        tmux.keys("2")
        tmux.wait(r"To Proceed · row 1 of 250")
        tmux.wait(rf"(?m)^ {rid(1)}\s+order ")  # the tab's own rows, not All's
        return tmux

    yield start
    for tmux in sessions:
        tmux.kill()


class Cursor:
    """What the screen says about the highlighted row: the status line's position, the id the
    detail panel shows, and the table lines drawn in the cursor's colour."""

    def __init__(self, tmux: Tmux, cursor_bg: str | None = None) -> None:
        lines = tmux.backgrounds()
        text = "\n".join(line for line, _ in lines)
        row = ROW.search(text)
        self.position = int(row.group(1).replace(",", "")) if row else None
        self.total = int(row.group(2).replace(",", "")) if row else None
        # The detail panel's first line starts with the id, then "order".
        detail = re.search(r"^ (R2\d{3})\s+order ", text, re.M)
        self.detail = detail.group(1) if detail else None
        self.rows: dict[str, str] = {}  # id → its background, for each table line
        for line, colours in lines:
            if (m := ID.search(line)) and re.match(r"^\s{3,}R2\d{3}\s", line):
                self.rows[m.group(0)] = colours[m.start()]
        self.highlighted = [r for r, bg in self.rows.items() if bg == cursor_bg]
        self.text = text


def cursor_colour(tmux: Tmux) -> str:
    """The cursor's background, learnt on the first screen: row 1 is highlighted there and
    the rows below it are not."""
    seen = Cursor(tmux)
    assert seen.position == 1 and seen.detail == rid(1), seen.text
    first, second = seen.rows[rid(1)], seen.rows[rid(2)]
    assert first != second, seen.text
    return first


def shows(
    tmux: Tmux,
    colour: str,
    position: int | None = None,
    at: Callable[[int], str] = rid,
    timeout: float = 15.0,
) -> Cursor:
    """Wait until the screen agrees with itself: the highlighted request (the detail's) is on
    screen, the one table line in the cursor's colour, at the status line's position (or at
    `position`); `at` says which request a position holds. That screen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = Cursor(tmux, colour)
        want = position or seen.position
        if (
            want is not None
            and seen.position == want
            and seen.detail == at(want)
            and seen.highlighted == [at(want)]
        ):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(
                f"row {want}: status {seen.position}, detail {seen.detail}, "
                f"highlighted {seen.highlighted}; the screen:\n{seen.text}"
            )
        time.sleep(0.05)


SIZES = [(80, 24), (120, 36), (200, 50)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_highlighted_row_is_always_on_screen(start, size):
    tmux = start(*size)
    colour = cursor_colour(tmux)

    # Past a screenful, in one burst of keys.
    tmux.keys(*["Down"] * 25)
    shows(tmux, colour, 26)

    # Down past the edge of the first window: the table reads the next one.
    tmux.keys(*["Down"] * (PAGE + 5 - 26))
    shows(tmux, colour, PAGE + 5)
    # And back up across it.
    tmux.keys(*["Up"] * 10)
    shows(tmux, colour, PAGE - 5)

    # Page by page, to past the second window's edge.
    while (seen := shows(tmux, colour)).position <= 2 * PAGE:
        tmux.keys("PageDown")
        tmux.wait(rf"row (?!{seen.position} of)[\d,]+ of 250")
    # To the end and back.
    tmux.keys("End")
    shows(tmux, colour, COUNT)
    tmux.keys("Home")
    shows(tmux, colour, 1)
    tmux.keys("End")
    shows(tmux, colour, COUNT)
    tmux.keys(*["PageUp"] * 3)
    tmux.wait(r"row (?!250 of)[\d,]+ of 250")
    seen = shows(tmux, colour)
    assert seen.position < COUNT - 3


def test_after_a_sort_the_highlighted_row_is_on_screen(start):
    tmux = start(80, 24)
    colour = cursor_colour(tmux)
    tmux.keys(*["Down"] * 30)
    shows(tmux, colour, 31)
    # Newest first: the last request made is now row 1, and the new order is read from its
    # first window, where the cursor lands on the first row: the table scrolls back up to it.
    tmux.keys("s")
    tmux.wait(r"sort: newest first")
    newest_first = lambda position: rid(COUNT - position + 1)  # noqa: E731
    shows(tmux, colour, 1, at=newest_first)
    # Down a screenful and more in the new order.
    tmux.keys(*["Down"] * 30)
    shows(tmux, colour, 31, at=newest_first)


def test_after_a_live_refresh_the_highlighted_row_is_on_screen(start, svc):
    tmux = start(120, 36)
    colour = cursor_colour(tmux)
    tmux.keys(*["Down"] * 40)
    shows(tmux, colour, 41)
    # Another process (this one) accepts the ten most urgent requests: they leave To Proceed,
    # the console sees the commit and reads its window again; the cursor stays on R2040,
    # which is now row 31, and stays in sight.
    alice = svc.login("alice")
    for i in range(1, 11):
        svc.accept(alice, rid(i), NOW)
    tmux.wait(r"row 31 of 240")
    seen = shows(tmux, colour, 31, at=lambda position: rid(position + 10))
    assert rid(1) not in seen.rows  # the accepted ones are gone from the screen
