"""The filter figures of issue 16 alone (DESIGN §10: a filtered tab paints in under 100 ms,
p95, at 1 000 000 requests), beside their floors (the same SQL through the bare driver):

    .venv/bin/python bench/filter_figures.py --data /tmp/rt-bench-filters          # SQLite
    .venv/bin/python bench/filter_figures.py --data /tmp/rt-bench-filters --pg     # PostgreSQL
    .venv/bin/python bench/filter_figures.py --sizes 10000 --quick

It builds (or reuses) bench/run.py's seeded database of each size (`returns-tui seed`'s
seeder, swept up to now) and, for each filter below, measures what the console reads to paint
a filtered tab: the first window (load_window: the page of 101 rows) and the tab counts, each
alone and their sum per run ("paint": the console reads both before the tab is complete), and
the same statements through the bare driver; and "paint, as the console reads": the window,
the counts and the money at stake read at once, each in a thread of its own as the console's
workers read them, until the last is done. The counts and the money of a paint share a Paint
as the console's do (a search's read once for both: paint.py). Results go to stdout only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py)

# The seeded data's operator who handled requests of acme (seed.py's actors), for "mine".
HANDLER = ("alice", "operator", ("acme",))


def cases():
    from returns_tui import domain as d
    from returns_tui.filters import Narrowing as N

    tp, al = d.Tab.TO_PROCEED, d.Tab.ALL
    return [
        ("bench-agent", al, "", N(shop="acme"), "All, shop acme"),
        ("bench-agent", tp, "", N(type="refund"), "To Proceed, refund"),
        ("bench-agent", al, "", N(reason="damaged"), "All, reason damaged"),
        ("bench-agent", al, "", N(currency="JPY"), "All, JPY"),
        ("bench-agent", al, "", N(max_cents=1000), "All, at most 10.00"),
        ("bench-agent", al, "", N(min_cents=50000, currency="USD"), "All, USD from 500.00"),
        ("bench-agent", tp, "", N(due_hours=6), "To Proceed, due within 6 h"),
        ("bench-agent", al, "", N(due_hours=6), "All, due within 6 h"),
        ("alice", al, "", N(mine=True), "All, handled by me (alice)"),
        ("alice", tp, "", N(mine=True), "To Proceed, handled by me (alice)"),
        ("bench-agent", tp, "", N(shop="acme", type="refund", reason="damaged",
                                  max_cents=5000), "To Proceed, acme+refund+damaged+≤50.00"),
        ("bench-agent", al, "lima", N(reason="damaged"), "All, search lima + damaged"),
        ("bench-agent", al, "lima", N(currency="JPY"), "All, search lima + JPY"),
        ("bench-agent", al, "lima", N(max_cents=1000), "All, search lima + at most 10.00"),
        ("bench-agent", tp, "lima", N(due_hours=6), "To Proceed, search lima + due within 6 h"),
        ("bench-agent", al, "lima", N(type="refund"), "All, search lima + refund"),
        ("bench-operator", al, "", N(type="refund", currency="USD"),
         "operator acme: All, refund USD"),
        ("bench-operator", al, "", N(), "operator acme: All, no filter"),
        ("bench-operator", tp, "", N(), "operator acme: To Proceed, no filter"),
        ("bench-agent", d.Tab.CLOSED, "", N(shop="wonka", currency="EUR"),
         "Closed, wonka EUR"),
    ]  # fmt: skip


def filter_figures(suite: run.Suite, size: int, url: str) -> None:
    from returns_tui.clock import utc_now
    from returns_tui.console_data import FIRST, View, load_window
    from returns_tui.paint import Paint
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine
    from returns_tui.store.queries import DEFAULT_SORT

    engine = open_engine(url)
    svc = Returns(engine)
    admin = run.USERS[0][0]
    if HANDLER[0] not in {name for name, _r, _s in svc.list_users(admin)}:
        svc.add_user(admin, *HANDLER, utc_now())
    floor = suite.backend.floor(url)
    workers = ThreadPoolExecutor(3)
    reps = suite.runs(30, 5)
    for who, tab, text, narrow, label in cases():
        actor = svc.login(who)
        view = View(tab, DEFAULT_SORT[tab], text, narrow)
        now = utc_now()

        def window(view=view, actor=actor, now=now):
            return load_window(svc, actor, view, FIRST, 100, now)

        # The counts and the money of one paint share a Paint, as the console's do.
        def counts(paint=None, actor=actor, text=text, narrow=narrow, now=now):
            return svc.counts(actor, text, narrow=narrow, now=now, paint=paint or Paint(now))

        def totals(paint, actor=actor, tab=tab, text=text, narrow=narrow, now=now):
            return svc.totals(actor, tab, text, narrow=narrow, now=now, paint=paint)

        def together(now=now):
            # As the console reads a tab: each in a worker thread of its own, all at once
            # (screens/main.py: _read_rows, _read_counts, _read_totals); done when all are.
            paint = Paint(now)
            reads = [workers.submit(window), workers.submit(counts, paint)]
            for future in [*reads, workers.submit(totals, paint)]:
                future.result()

        with run.captured(engine) as statements:
            window()
            counts()
        sent = [(s, p) for s, p in statements if "requests" in s or "handled" in s]
        paint, windows, countings, bare, concurrent = [], [], [], [], []
        for _ in range(reps):
            started = time.perf_counter()
            together()
            concurrent.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            window()
            middle = time.perf_counter()
            counts()
            ended = time.perf_counter()
            windows.append((middle - started) * 1000)
            countings.append((ended - middle) * 1000)
            paint.append((ended - started) * 1000)
            started = time.perf_counter()
            for sql, params in sent:
                floor(sql, params)
            bare.append((time.perf_counter() - started) * 1000)
        found = counts()[tab]
        suite.add(run.Figure(size, "f_paint", f"{label}: paint ({found:,} found)", "ms", paint,
                             baseline="bare SQL", baseline_samples=bare))  # fmt: skip
        suite.add(run.Figure(size, "f_together", f"{label}: paint, as the console reads",
                             "ms", concurrent))  # fmt: skip
        suite.add(run.Figure(size, "f_window", f"{label}: first window", "ms", windows))
        suite.add(run.Figure(size, "f_counts", f"{label}: tab counts", "ms", countings))
    workers.shutdown()
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--data", type=Path, default=run.DATA)
    parser.add_argument("--only", help="only the cases whose label holds this text")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    run._chain_key(args.data)
    backend: run.Backend = run.Backend(args.data)
    if args.pg:
        backend = run.PgBackend(args.data, os.environ["RETURNS_TUI_TEST_PG"])
    suite = run.Suite(args, backend)
    print(f"bench: {run.machine()}", flush=True)
    if args.only:
        global cases
        every = cases
        cases = lambda: [c for c in every() if args.only in c[-1]]  # noqa: E731
    for size in args.sizes:
        url = run.database(suite, size)
        filter_figures(suite, size, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
