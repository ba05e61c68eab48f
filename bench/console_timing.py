"""Time the console in a real terminal: launch to the first painted table, and tab switches.

    .venv/bin/python bench/console_timing.py --counts 10000 1000000 [--runs 3] [--dir DIR]

For each count it makes (once, kept in DIR) an SQLite database of that many seeded requests
(returns_tui.seed, the same as `returns-tui seed --count N`), then, for an agent (every shop)
and an operator of one shop, runs the console in tmux at 120×36 and watches the pane with
capture-pane:

- launch → table: from starting the process to the first request row on screen;
- launch → counts: until the status line says "row 1 of N" (the counts are read apart);
- tab switch (first visit): from send-keys to the new tab's first row and "row 1 of N";
- tab switch (again): the same when coming back to a tab already seen.

Each figure includes tmux's own latency (a capture every few milliseconds); medians are printed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TABS = [
    ("2", "To Proceed"),
    ("3", "In Process"),
    ("4", "Completed"),
    ("5", "Closed"),
    ("6", "Appeals"),
    ("1", "All"),
]
VIEWERS = [("bench-agent", "agent"), ("bench-operator", "operator")]
ROW = re.compile(r"│?\s+R\d{7}\s")


def make_db(directory: Path, count: int) -> str:
    """The database of `count` seeded requests, made once and kept."""
    from returns_tui.clock import utc_now
    from returns_tui.seed import seed_requests
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine, upgrade

    path = directory / f"requests-{count}.db"
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    tmp = path.with_suffix(".tmp")
    for leftover in directory.glob(tmp.name + "*"):
        leftover.unlink()
    engine = open_engine(f"sqlite:///{tmp}")
    upgrade(engine)
    svc = Returns(engine)
    now = utc_now()
    svc.add_user("bench-admin", "bench-admin", "admin", (), now)
    svc.add_user("bench-admin", "bench-agent", "agent", (), now)
    svc.add_user("bench-admin", "bench-operator", "operator", ("acme",), now)
    started = time.perf_counter()
    seed_requests(engine, count, seed=0, now=now)
    print(f"seeded {count:,} requests in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()
    tmp.rename(path)
    return url


def run_console(url: str, login: str) -> int:
    """What tmux runs: the console on `url` as `login`, with the default settings."""
    from returns_tui.app import run_console as run
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine

    service = Returns(open_engine(url))
    return run(service, service.login(login), Settings())


class Pane:
    def __init__(self, command: str, width: int = 120, height: int = 36) -> None:
        self.socket = f"bench-{uuid.uuid4().hex[:8]}"
        self.started = time.perf_counter()
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            str(width),
            "-y",
            str(height),
            f"env TERM=xterm-256color {command}; sleep 60",
        )
        self._tmux("set-option", "-s", "escape-time", "0")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "b")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "b", *keys)

    def until(self, test, timeout: float = 120.0) -> float:
        """Seconds from now until test(screen) holds."""
        start = time.perf_counter()
        while True:
            text = self.screen()
            if test(text):
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise TimeoutError(text)
            time.sleep(0.003)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def shows(label: str):
    status = re.compile(rf"{re.escape(label)} · (row 1 of [\d,]+|no requests)")
    return lambda text: bool(status.search(text)) and ("no requests" in text or ROW.search(text))


def measure(url: str, login: str) -> dict[str, float | list[float]]:
    command = f"{sys.executable} {Path(__file__).resolve()} --console {url} {login}"
    pane = Pane(command)
    try:
        pane.until(lambda text: bool(ROW.search(text)))
        launch_table = time.perf_counter() - pane.started
        pane.until(shows("All"))
        counts = time.perf_counter() - pane.started
        first, again = [], []
        for round_ in (first, again):
            for key, label in TABS:
                pane.keys(key)
                round_.append(pane.until(shows(label)))
        pane.keys("C-q")
        return {
            "launch_table": launch_table,
            "launch_counts": counts,
            "first": first,
            "again": again,
        }
    finally:
        pane.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/returns-tui-bench"))
    parser.add_argument("--console", nargs=2, metavar=("URL", "LOGIN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.console:
        return run_console(*args.console)
    if shutil.which("tmux") is None:
        print("tmux is needed", file=sys.stderr)
        return 2
    args.dir.mkdir(parents=True, exist_ok=True)
    print(
        "requests  viewer    launch→table  launch→counts  tab switch first (median/max)"
        "  tab switch again (median/max)"
    )
    for count in args.counts:
        url = make_db(args.dir, count)
        for login, role in VIEWERS:
            runs = [measure(url, login) for _ in range(args.runs)]
            table = statistics.median(r["launch_table"] for r in runs)
            counts = statistics.median(r["launch_counts"] for r in runs)
            for r in runs:
                print(
                    "          first visits:",
                    " ".join(
                        f"{label} {t * 1000:.0f}"
                        for (_, label), t in zip(TABS, r["first"], strict=True)
                    ),
                    flush=True,
                )
            first = [t for r in runs for t in r["first"]]
            again = [t for r in runs for t in r["again"]]
            print(
                f"{count:>9,}  {role:<8}  {table * 1000:>9.0f} ms  {counts * 1000:>10.0f} ms"
                f"  {statistics.median(first) * 1000:>8.0f} / {max(first) * 1000:.0f} ms"
                f"  {statistics.median(again) * 1000:>20.0f} / {max(again) * 1000:.0f} ms",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
