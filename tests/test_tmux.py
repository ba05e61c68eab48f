"""The console in a real terminal: tmux runs `returns-tui demo` at 120×36 (tests/support/tmux.py),
the test types as a person would (real key sequences through a real pty), reads the screen with
capture-pane and, after ctrl+q, checks the demo's exit status and its database (its path is
printed on exit)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from returns_tui import domain as d
from returns_tui.identity import login_name
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine
from tests.support.tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

VENV_BIN = Path(sys.executable).parent
LOGIN = login_name()  # the demo's console user is the login of the account that runs it


@pytest.fixture
def tmux(tmp_path):
    env = {
        "RETURNS_TUI_CONFIG": str(tmp_path / "none.toml"),
        "RETURNS_TUI_DEMO_PACE": "0.2",
        "TERM": "xterm-256color",
        "TZ": "UTC",
        "TMPDIR": str(tmp_path),
    }
    demo = ["env", *(f"{k}={v}" for k, v in env.items()), str(VENV_BIN / "returns-tui"), "demo"]
    demo.append("--keep")  # the test reads the database after the demo has ended
    # A shell prints the demo's exit status after it (the arguments pass through as "$@", no
    # quoting); the screen keeps what the demo printed after its full-screen console left.
    session = Tmux(["sh", "-c", '"$@"; echo "[exited $?]"', "sh", *demo], history=50)
    yield session
    session.kill()


def test_the_demo_in_a_real_terminal(tmux):
    tmux.wait(r"To Proceed \d+", timeout=30)
    tmux.wait(r"row 1 of \d+")
    # Tabs: To Proceed, most urgent first; then Appeals; then back.
    tmux.keys("2")
    tmux.wait(r"row 1 of \d+ · sort: most urgent first")
    tmux.keys("6")
    tmux.wait(r"sort: longest waiting first")
    tmux.keys("2")
    tmux.wait(r"sort: most urgent first")
    # The reject dialog opens and Esc cancels it.
    tmux.keys("r")
    tmux.wait(r"Reject request R\d+")
    tmux.keys("Escape")
    tmux.wait_gone(r"Reject request R\d+")
    # Accept the highlighted request.
    tmux.keys("a")
    rid = tmux.wait(r"Accept request (R\d+)\?").group(1)
    tmux.keys("Enter")
    tmux.wait(rf"{rid} accepted\.")
    tmux.keys("C-q")
    # The path is long under pytest's (and xdist's) tmp dirs and may wrap in the window: the
    # screen joins a wrapped line back, so \S+ is the whole path.
    path = tmux.wait(r"Demo database kept: (\S+)", timeout=15).group(1)
    tmux.wait(r"\[exited 0\]")
    assert Path(path).is_file(), path
    svc = Returns(open_engine(f"sqlite:///{path}"))
    try:
        actor = svc.login(LOGIN)
        req = svc.get(actor, rid)
        assert req.status in (d.Status.COMPLETED, d.Status.AWAITING_BUYER_SHIP)
        accepted = [r for r in svc.records(actor, rid) if r.kind is d.Kind.ACCEPTED]
        assert [r.actor for r in accepted] == [LOGIN]
    finally:
        svc.engine.dispose()
