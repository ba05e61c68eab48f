"""Each statement behind the Insights figures (store/insight_queries.py), timed once, for the
DAYS ending today, every shop or the SHOPs given:

    RETURNS_TUI_CHAIN_KEY=… .venv/bin/python bench/insights_statements.py URL DAYS [SHOP ...]

The first answers are two steps: the counts per quarter hour (answer_buckets), then the exact
answers of the quarter hours where a median or p90 falls (answers_between, as insights.load
reads them). One run each, to stdout: run it twice, the first may find a cold cache.
"""

from __future__ import annotations

import sys
import time

from returns_tui import insights
from returns_tui.clock import utc_now
from returns_tui.store import insight_queries as iq
from returns_tui.store.engine import open_engine, read

STATEMENTS = ("requests_by_day", "reasons", "skus", "auto_approved", "answer_buckets",
              "refunds", "appeals")  # fmt: skip


def main(url: str, days: int, shops: frozenset[str] | None) -> None:
    span = insights.Period.ending(utc_now().date(), days).span(shops)
    with read(open_engine(url)) as conn:
        for name in STATEMENTS:
            start = time.perf_counter()
            rows = getattr(iq, name)(conn, span)
            print(f"{name:16s} {(time.perf_counter() - start) * 1000:8.1f} ms {len(rows):8d} rows")
            if name == "answer_buckets":
                start = time.perf_counter()
                answers = insights._answers_needed(conn, span, rows)
                ms = (time.perf_counter() - start) * 1000
                needed = len(insights.answer_buckets_needed(rows))
                print(f"{'answers_between':16s} {ms:8.1f} ms {len(answers):8d} rows "
                      f"({needed} quarter hours)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), frozenset(sys.argv[3:]) or None)
