"""The console in a real terminal: tmux runs `returns-tui demo` at 120×36, the test types as a
person would (real key sequences through a real pty), reads the screen with capture-pane and,
after ctrl+q, checks the demo's database (its path is printed on exit)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from returns_tui import domain as d
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

VENV_BIN = Path(sys.executable).parent
LOGIN = "tmux-tester"


def demo_command() -> str:
    return f"{VENV_BIN / 'returns-tui'} demo"


class Tmux:
    """One tmux server of our own (its own socket), one window of 120×36."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.socket = f"rt-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # The shell stays after the console exits so that its last words can be read.
        script = f"env {exports} {command}; echo '[exited' $?']'; sleep 600"
        self.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "36", script)
        # Esc reaches the app at once instead of waiting to see if a sequence follows.
        self.run("set-option", "-s", "escape-time", "0")

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t", "-S", "-50")

    def wait(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if match := re.search(pattern, text):
                return match
            if time.monotonic() > deadline or "[exited" in text:
                raise AssertionError(f"{pattern!r} did not appear; the screen:\n{text}")
            time.sleep(0.05)

    def wait_gone(self, pattern: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while re.search(pattern, text := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} stayed; the screen:\n{text}")
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    env = {
        "RETURNS_TUI_USER": LOGIN,  # root may name the login; anyone else is themselves
        "RETURNS_TUI_CONFIG": str(tmp_path / "none.toml"),
        "RETURNS_TUI_DEMO_PACE": "0.2",
        "TERM": "xterm-256color",
        "TZ": "UTC",
        "TMPDIR": str(tmp_path),
    }
    if os.geteuid() != 0:
        env.pop("RETURNS_TUI_USER")
    session = Tmux(demo_command(), env)
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
    path = tmux.wait(r"Demo database: (\S+)", timeout=15).group(1)
    tmux.wait(r"\[exited 0\]")
    svc = Returns(open_engine(f"sqlite:///{path}"))
    try:
        actor = svc.login(LOGIN) if os.geteuid() == 0 else None
        req = svc.get(actor or svc.login(_me()), rid)
        assert req.status in (d.Status.COMPLETED, d.Status.AWAITING_BUYER_SHIP)
        accepted = [
            r for r in svc.records(actor or svc.login(_me()), rid) if r.kind is d.Kind.ACCEPTED
        ]
        assert [r.actor for r in accepted] == [LOGIN if actor else _me()]
    finally:
        svc.engine.dispose()


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
