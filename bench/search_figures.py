"""The search, money-at-stake and page figures of issue 10 alone, on one size, beside their
floors (the same SQL through the bare driver, in the same run):

    .venv/bin/python bench/search_figures.py                  # SQLite, 1 000 000 requests
    .venv/bin/python bench/search_figures.py --pg             # against RETURNS_TUI_TEST_PG
    .venv/bin/python bench/search_figures.py --sizes 10000 --quick

It builds (or reuses) bench/run.py's seeded databases and measures with bench/run.py's own
tools: bench/run.py's service figures (page fetch and search, as the console does them: the
first window plus the tab counts), then each search text below the same way, its page
statement through the bare driver, and its counts alone; the money at stake per tab and
currency; the page of Closed (the rejections, each asking whether a later request superseded
it). Results go to stdout only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py)

# What people typed in issue 10, and the bench's own texts.
TEXTS = ("lima", "li", "zoe", "muller", "lima ana", "9400ae", "acme", "spk-20", "damaged", "301")


def extra_figures(suite: run.Suite, size: int, url: str) -> None:
    from returns_tui import domain as d
    from returns_tui.console_data import FIRST, View, load_window
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine
    from returns_tui.store.queries import DEFAULT_SORT

    engine = open_engine(url)
    svc = Returns(engine)
    agent = svc.login("bench-agent")
    floor = suite.backend.floor(url)
    reps = suite.runs(15, 3)
    with engine.connect() as conn:
        middle = conn.exec_driver_sql(
            f"SELECT id FROM requests ORDER BY id LIMIT 1 OFFSET {size // 2}"
        ).scalar_one()
    texts = [*TEXTS, middle, middle.lower()]

    def page_floor(tab: d.Tab, text: str) -> list[float]:
        # Every statement the page sends about requests (a search on SQLite asks the index
        # how many candidates it has first: store.search.common), through the bare driver.
        with run.captured(engine) as statements:
            svc.page(agent, tab, DEFAULT_SORT[tab], text, limit=101)
        sent = [(s, p) for s, p in statements if "LIMIT" in s]
        return run.timed(lambda: [floor(sql, params) for sql, params in sent], reps)

    for text in texts:
        window = run.timed(
            lambda: load_window(svc, agent, View(d.Tab.ALL, DEFAULT_SORT[d.Tab.ALL], text), FIRST),  # noqa: B023
            reps,
        )
        counts = run.timed(lambda: svc.counts(agent, text), reps)  # noqa: B023
        found = svc.counts(agent, text)[d.Tab.ALL]
        suite.add(run.Figure(size, "s_window", f"search {text!r}: first window ({found:,} found)",
                             "ms", window, baseline="its page, bare SQL",
                             baseline_samples=page_floor(d.Tab.ALL, text)))  # fmt: skip
        suite.add(run.Figure(size, "s_counts", f"search {text!r}: tab counts", "ms", counts))

    closed = run.timed(lambda: svc.page(agent, d.Tab.CLOSED, DEFAULT_SORT[d.Tab.CLOSED],
                                        limit=101), reps)  # fmt: skip
    suite.add(run.Figure(size, "closed_page", "page fetch, Closed (service)", "ms", closed,
                         baseline="floor (bare SQL)",
                         baseline_samples=page_floor(d.Tab.CLOSED, "")))  # fmt: skip
    if hasattr(svc, "totals"):
        for tab in d.Tab:
            for text in ("", "lima"):
                with run.captured(engine) as statements:
                    svc.totals(agent, tab, text)
                sql, params = statements[-1]
                ours = run.timed(lambda: svc.totals(agent, tab, text), reps)  # noqa: B023
                bare = run.timed(lambda: floor(sql, params), reps)  # noqa: B023
                suite.add(run.Figure(size, "totals", f"money at stake, {tab.label} {text!r}",
                                     "ms", ours, baseline="bare SQL",
                                     baseline_samples=bare))  # fmt: skip
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--data", type=Path, default=run.DATA)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    backend: run.Backend = run.Backend(args.data)
    if args.pg:
        backend = run.PgBackend(args.data, os.environ["RETURNS_TUI_TEST_PG"])
    suite = run.Suite(args, backend)
    print(f"bench: {run.machine()}", flush=True)
    for size in args.sizes:
        url = run.database(suite, size)
        run.service_figures(suite, size, url)
        extra_figures(suite, size, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
