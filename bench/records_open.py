"""Time the records view of a request with many notes (issue 11 item 9: 3 000 notes, ~6 s).

    .venv/bin/python bench/records_open.py [--notes 3000] [--runs 3]

A fresh SQLite database in a temporary folder holds one request and `--notes` notes on it.
Printed, as medians over the runs: the database read (`Returns.records`), and in a real
terminal (tmux at 120×36, tests/support/run_console.py) the time from sending `v` to the
records view on screen (its title and first record painted), polled with capture-pane every
50 ms (tests/support/tmux.py), so up to 50 ms of polling is in the figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_db(directory: Path, notes: int):
    from returns_tui.store.chain import KEY_ENV, create_key

    os.environ.setdefault(KEY_ENV, str(directory / "chain.key"))
    create_key(Path(os.environ[KEY_ENV]))
    from tests.support.console import NOW, new_service, submit

    svc = new_service(f"sqlite:///{directory / 'records.db'}")
    submit(svc, "R1", NOW.subtract(hours=1))
    alice = svc.login("alice")
    for i in range(notes):
        svc.note(alice, "R1", NOW.subtract(minutes=59).add(seconds=i), f"note number {i}")
    return svc


def open_records(svc, directory: Path) -> float:
    from tests.support.console import NOW
    from tests.support.run_console import in_tmux, set_clock

    clock = directory / "clock"
    set_clock(clock, NOW)
    tmux = in_tmux(str(svc.engine.url), "alice", clock)
    try:
        tmux.wait(r"row 1 of 1", timeout=60)
        start = time.perf_counter()
        tmux.keys("v")
        tmux.wait(r"Return records of R1(.|\n)*request submitted by the buyer", timeout=60)
        return time.perf_counter() - start
    finally:
        tmux.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = make_db(Path(tmp), args.notes)
        reads, opens = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            svc.records(svc.login("alice"), "R1")
            reads.append(time.perf_counter() - start)
            opens.append(open_records(svc, Path(tmp)))
        svc.engine.dispose()
    print(
        f"{args.notes} notes: records read {statistics.median(reads):.3f} s, "
        f"v to records view {statistics.median(opens):.3f} s (median of {args.runs})"
    )


if __name__ == "__main__":
    main()
