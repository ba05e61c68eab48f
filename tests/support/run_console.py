"""Run the console on a test's database in a real terminal (tests/support/tmux.py, or a pty):

    python -m tests.support.run_console DB_URL LOGIN CLOCK_FILE

The console runs as `run_console` runs it for `returns-tui` (the same App, driver and exit
status), as the user LOGIN of the database, in UTC, with the tests' fast timers. Its clock is
the time written in CLOCK_FILE (ISO 8601), read again whenever the console asks: the test
moves time by writing the file, as tests/support/console.FakeClock does in-process. Nothing
here goes through the login checks of the command line: what is tested is the console.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pendulum
from pendulum import DateTime

from returns_tui.app import run_console
from returns_tui.services import Returns
from returns_tui.settings import Settings
from returns_tui.store.engine import open_engine
from tests.support.tmux import Tmux

ROOT = Path(__file__).resolve().parents[2]

FAST = Settings(poll_seconds=0.25, sweep_seconds=0.5)


class FileClock:
    """The time in a file, parsed again only when the file changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, DateTime] | None = None

    def __call__(self) -> DateTime:
        stamp = self.path.stat().st_mtime_ns
        if self._seen is None or self._seen[0] != stamp:
            at = pendulum.parse(self.path.read_text().strip())
            assert isinstance(at, DateTime)
            self._seen = (stamp, at.in_timezone("UTC"))
        return self._seen[1]


def set_clock(path: Path, at: DateTime) -> None:
    """Move a FileClock to `at` (written whole, then renamed: never read half-written)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(at.in_timezone("UTC").isoformat())
    tmp.replace(path)


def in_tmux(
    url: str, login: str, clock_file: Path, *, width: int = 120, height: int = 36, **env: str
) -> Tmux:
    """The console of `login` in a tmux window of its own; a shell prints `[exited N]` after
    it, and the window keeps what it printed when it left. `env`: more variables for it."""
    variables = {"TERM": "xterm-256color", "TZ": "UTC", **env}
    command = [
        "env",
        *(f"{k}={v}" for k, v in variables.items()),
        sys.executable,
        "-m",
        "tests.support.run_console",
        url,
        login,
        str(clock_file),
    ]
    return Tmux(
        ["sh", "-c", f'cd "{ROOT}" && "$@"; echo "[exited $?]"', "sh", *command],
        width=width,
        height=height,
    )


def main(argv: list[str]) -> int:
    url, login, clock_file = argv
    service = Returns(open_engine(url))
    try:
        return run_console(
            service, service.login(login), FAST, clock=FileClock(Path(clock_file)), tz="UTC"
        )
    finally:
        service.engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
