"""What the Insights rollups' triggers cost a sweep: seed N requests into a fresh database
(URL: an empty SQLite file or PostgreSQL database), lived up to 2026-11-01, then one sweep
three days later (every deadline that lapsed meanwhile); prints the sweep's wall time.

    RETURNS_TUI_CHAIN_KEY=… .venv/bin/python bench/insights_write_cost.py 50000 sqlite:////tmp/s.db

Run it from another revision's tree (PYTHONPATH=<tree>) for the figure before, alternating.
"""

from __future__ import annotations

import sys
import time

import pendulum

from returns_tui.seed import seed_requests
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade

T = pendulum.datetime(2026, 11, 1, tz="UTC")


def main(count: int, url: str) -> None:
    engine = open_engine(url)
    upgrade(engine)
    seed_requests(engine, count, seed=1, now=T, workers=0)
    service = Returns(engine)
    start = time.perf_counter()
    done = service.sweep(T.add(days=3))
    ms = (time.perf_counter() - start) * 1000
    print(f"sweep of {len(done)} changes after a seed of {count}: {ms:.0f} ms", flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
