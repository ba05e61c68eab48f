"""What the export writers cost, without the database and the process start around them.

    .venv/bin/python bench/export_cost.py [--count 100000] [--data DIR]

Seeds a database of COUNT requests in DIR (once; seed 7), reads its export rows into
memory as an admin, and times `write_jsonl` and `write_csv` into memory: the median and the
best of seven runs, in CPU seconds of this process, and requests a second. Run it with
PYTHONPATH naming another checkout's top directory to time that checkout's writers on the
same rows (`git archive COMMIT returns_tui | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from returns_tui import export
from returns_tui.clock import utc_now
from returns_tui.seed import seed_requests
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade

RUNS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/returns-bench-export"))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"export-{args.count}.db"
    engine = open_engine(f"sqlite:///{path}")
    svc = Returns(engine)
    if not path.exists() or path.stat().st_size == 0:
        upgrade(engine)
        svc.add_user("bench", "bench", "admin", (), utc_now())
        seed_requests(engine, args.count, seed=7)
    rows = list(svc.export(svc.login("bench")))
    print(f"{export.__file__}: {len(rows):,} requests")
    for name, write in (("jsonl", export.write_jsonl), ("csv", export.write_csv)):
        times = []
        for _ in range(RUNS):
            out = io.StringIO()
            start = time.process_time()
            write(iter(rows), out)
            times.append(time.process_time() - start)
        median = statistics.median(times)
        print(f"{name:5}  median {median:.3f} s  best {min(times):.3f} s  "
              f"{len(rows) / median:,.0f} req/s")  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main()
