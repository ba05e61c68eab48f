"""A program in a real terminal for the tests (tests/test_tmux.py, tests/test_ssh.py): a tmux
server of the test's own runs it in one window; the test types real key sequences into it and
reads the screen with capture-pane, polling with a deadline (never a bare sleep).

Only the standard library is imported, like tests/support/sshd.py.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid

_SGR_OR_TEXT = re.compile(r"\x1b\[(?P<sgr>[0-9;:]*)m|[^\x1b]+|\x1b")


def _background(sgr: str, bg: str) -> str:
    """The background after one SGR sequence whose parameters are `sgr`."""
    params = [p for p in sgr.replace(":", ";").split(";")]
    i = 0
    while i < len(params):
        p = params[i]
        if p in ("", "0", "49"):
            bg = ""
        elif p == "48" and i + 1 < len(params):
            width = 2 if params[i + 1] == "5" else 4  # 48;5;N or 48;2;R;G;B
            bg = ";".join(params[i + 1 : i + 1 + width])
            i += width
        elif p in ("38",) and i + 1 < len(params):
            i += 2 if params[i + 1] == "5" else 4  # a foreground colour's own numbers
        elif p.isdigit() and (40 <= int(p) <= 47 or 100 <= int(p) <= 107):
            bg = p
        i += 1
    return bg


class Tmux:
    """One tmux server of our own (its own socket, no config file) with one `width`×`height`
    window running `command` (an argument list, no shell in between: the pane's process is the
    command itself). The pane stays when the command exits, to read its last words (tmux 3.3
    does not always record a dead pane's exit status: a test that needs it runs the command
    under a shell that prints it). `history`: how many lines above the window the screen
    includes (what the command printed before it scrolled, e.g. after a full-screen program
    leaves)."""

    def __init__(
        self, command: list[str], *, width: int = 120, height: int = 36, history: int = 0
    ) -> None:
        self.socket = f"rt-{uuid.uuid4().hex[:8]}"
        self.history = history
        # Without COLUMNS and LINES: a tmux server started from a test run may hand its panes
        # COLUMNS=80 LINES=24, which programs (Python's shutil, so Textual) believe before the
        # terminal's real size. env execs the command: the pane's process is still the command.
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t",
                 "-x", str(width), "-y", str(height),
                 "env", "-u", "COLUMNS", "-u", "LINES", *command)  # fmt: skip
        # Esc reaches the app at once instead of waiting to see if a sequence follows.
        self.run("set-option", "-s", "escape-time", "0")
        # Keep the pane when the command exits, to read its last words.
        self.run("set-option", "-t", "t", "remain-on-exit", "on")

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def _pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "t", fmt).strip()

    def pane_pid(self) -> int:
        return int(self._pane("#{pane_pid}"))

    def pane_dead(self) -> bool:
        return self._pane("#{pane_dead}") == "1"

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        """The window's text (and `history` lines above it). A line the terminal wrapped at the
        window's edge comes back whole (-J), so a long path or message can be matched as one."""
        return self.run("capture-pane", "-p", "-J", "-t", "t", "-S", str(-self.history))

    def backgrounds(self) -> list[tuple[str, list[str]]]:
        """The window's lines, each with the background colour of every character in it (as
        its SGR parameters, e.g. "5;32", or "" for the default): how a test sees which row is
        highlighted. From capture-pane -e, which writes the attributes as SGR sequences."""
        lines = []
        bg = ""
        for raw in self.run("capture-pane", "-p", "-e", "-t", "t").splitlines():
            text, colours = [], []
            for part in _SGR_OR_TEXT.finditer(raw):
                if part.group("sgr") is not None:
                    bg = _background(part.group("sgr"), bg)
                else:
                    text.append(part.group(0))
                    colours.extend([bg] * len(part.group(0)))
            lines.append(("".join(text), colours))
        return lines

    def wait(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first match of `pattern` on the screen; fails after `timeout` seconds, or at once
        when the command has exited without showing it."""
        deadline = time.monotonic() + timeout
        while True:
            dead = self.pane_dead()  # before reading: a dead pane's screen is its last
            text = self.screen()
            if match := re.search(pattern, text):
                return match
            if dead or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen:\n{text}")
            time.sleep(0.05)

    def wait_gone(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait until `pattern` is no longer on the screen, in two captures in a row (one may
        catch the program halfway through repainting); that screen."""
        deadline = time.monotonic() + timeout
        absent = 0
        while absent < 2:
            text = self.screen()
            absent = 0 if re.search(pattern, text) else absent + 1
            if absent < 2 and time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} stayed; the screen:\n{text}")
            time.sleep(0.05)
        return text

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
