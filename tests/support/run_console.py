"""Run the console on a test's database in a real terminal (tests/support/tmux.py, or a pty):

    python -m tests.support.run_console DB_URL LOGIN CLOCK_FILE [input|app]

The console runs as `run_console` runs it for `returns-tui` (the same App, driver and exit
status), as the user LOGIN of the database, in UTC, with the tests' fast timers. Its clock is
the time written in CLOCK_FILE (ISO 8601), read again whenever the console asks: the test
moves time by writing the file, as tests/support/console.FakeClock does in-process. Nothing
here goes through the login checks of the command line: what is tested is the console.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pendulum
from pendulum import DateTime
from textual import events
from textual.app import App
from textual.message import Message

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
    url: str,
    login: str,
    clock_file: Path,
    *args: str,
    width: int = 120,
    height: int = 36,
    **env: str,
) -> Tmux:
    """The console of `login` in a tmux window of its own; a shell prints `[exited N]` after
    it, and the screen keeps what it printed when it left (a screenful of history: the
    terminal may scroll it up as the console leaves). `args`: "input" or "app" makes
    F12 fail there (fail_on_f12). `env`: more variables for it."""
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
        *args,
    ]
    return Tmux(
        ["sh", "-c", f'cd "{ROOT}" && "$@"; echo "[exited $?]"', "sh", *command],
        width=width,
        height=height,
        history=height,
    )


FAIL_KEY = "f12"


def fail_on_f12(where: str) -> Callable[[App], None]:
    """An `on_start` that makes F12 fail where a bug would: in the driver's input thread
    ("input": Textual then panics) or in a callback on the event loop ("app")."""

    def fail() -> None:
        raise RuntimeError(f"F12 failed in the {where}")

    def start(app: App) -> None:
        driver = app._driver
        assert driver is not None
        process = driver.process_message

        def process_message(message: Message) -> None:
            if isinstance(message, events.Key) and message.key == FAIL_KEY:
                if where == "input":
                    fail()
                app.call_later(fail)
                return
            process(message)

        driver.process_message = process_message  # type: ignore[method-assign]

    return start


def main(argv: list[str]) -> int:
    url, login, clock_file, *fail = argv
    service = Returns(open_engine(url))
    extras = {"on_start": fail_on_f12(fail[0])} if fail else {}
    try:
        return run_console(
            service,
            service.login(login),
            FAST,
            clock=FileClock(Path(clock_file)),
            tz="UTC",
            **extras,
        )
    finally:
        service.engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
