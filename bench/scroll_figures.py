"""Scrolling a filtered tab at 1 000 000 requests: what the console reads for the window
after the first (a step past its edge, ↓ or PgDn) and for the last one (End), for each view
of bench/filter_figures.py, and the count of the rows before that second window that a
read of it again after a change makes ("again": service.position). The first two used to
make that count too ("row N of M"), which read every row before the window.

    .venv/bin/python bench/scroll_figures.py --url sqlite:////tmp/rt-sq/requests-1000000.db
    RETURNS_TUI_CHAIN_KEY=… .venv/bin/python bench/scroll_figures.py --url postgresql+psycopg://…

(--only TEXT: only the views whose label holds it.)

The database is one that bench/filter_figures.py built (its users and "alice"). Each figure
is the median of --runs reads through console_data.load_window, as the console's worker
makes them; the first window is read once before. Results go to stdout only.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import filter_figures  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="only the cases whose label holds this text")
    args = parser.parse_args()

    from returns_tui.clock import utc_now
    from returns_tui.console_data import FIRST, LAST, Anchor, View, load_window
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine
    from returns_tui.store.queries import DEFAULT_SORT

    # A revision before Anchor.before steps as it did: counting (to compare the two).
    told = "before" in {f.name for f in dataclasses.fields(Anchor)}
    svc = Returns(open_engine(args.url))
    print(f"bench: {filter_figures.run.machine()}; {args.url.split('/')[-1]}; "
          f"median of {args.runs} ms")  # fmt: skip
    print(f"  {'view':<45} {'next window':>11} {'End':>8} {'again':>8}")
    for who, tab, text, narrow, label in filter_figures.cases():
        if args.only and args.only not in label:
            continue
        actor = svc.login(who)
        view = View(tab, DEFAULT_SORT[tab], text, narrow)
        now = utc_now()
        first = load_window(svc, actor, view, FIRST, 100, now)
        if not first.more_after:
            continue
        before = {"before": first.offset + len(first.rows) - 1} if told else {}
        step = Anchor(first.rows[-1], **before)
        nexts, ends, agains = [], [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            second = load_window(svc, actor, view, step, 100, now)
            middle = time.perf_counter()
            load_window(svc, actor, view, LAST, 100, now)
            ended = time.perf_counter()
            svc.position(actor, tab, view.sort, text, second.rows[0], narrow=narrow, now=now)
            nexts.append((middle - started) * 1000)
            ends.append((ended - middle) * 1000)
            agains.append((time.perf_counter() - ended) * 1000)
        medians = [statistics.median(x) for x in (nexts, ends, agains)]
        print(f"  {label:<45} {medians[0]:11.1f} {medians[1]:8.1f} {medians[2]:8.1f}",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
