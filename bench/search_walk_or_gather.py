"""What a page of a search costs each way on SQLite, to set search.COMMON_FROM: walked (the
tab read in the page's order, keeping the matches) and gathered (the index's candidates
looked up and sorted), for searches with and without a filter at 1 000 000 requests:

    .venv/bin/python bench/search_walk_or_gather.py --data /tmp/rt-sq-new

It reuses bench/run.py's seeded database of the size (built if missing). For each case:
the index's candidates C, the share f of the newest of them that the filter keeps
(queries._kept_share), the median of each way over the rounds (alternately, in one
process), ms per row walked and per candidate gathered, and which way queries.page takes.
Results go to stdout only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py)


def cases():
    from returns_tui.domain import Tab
    from returns_tui.filters import Narrowing as N

    al, tp = Tab.ALL, Tab.TO_PROCEED
    return [
        (al, "lima", None), (al, "lima", N(currency="JPY")), (al, "lima", N(type="refund")),
        (al, "lima", N(max_cents=1000)), (al, "acme", None), (al, "acme", N(currency="JPY")),
        (al, "desk lamp", None), (al, "desk lamp", N(currency="JPY")), (tp, "lima", None),
        (tp, "lima", N(currency="JPY")),
    ]  # fmt: skip


def measure(url: str, rounds: int) -> None:
    import sqlalchemy as sa

    from returns_tui.store import queries as q
    from returns_tui.store import search
    from returns_tui.store.engine import open_engine

    engine = open_engine(url)
    taken: dict[tuple, list[float]] = {}
    with engine.connect() as conn:
        for _ in range(rounds):
            for case in cases():
                tab, text, narrow = case
                sort = q.DEFAULT_SORT[tab]
                for walked in (True, False):
                    flt = q.Filter(None, tab, text, narrow=narrow, in_order=walked)
                    shape = q._PageShape(flt, sort, False, False, sort is q.Sort.NEWEST, 101)
                    sql, names, values = q._page_sql(conn.dialect, shape)
                    params = values if names is None else tuple(values[n] for n in names)
                    started = time.perf_counter()
                    conn.exec_driver_sql(sql, params).fetchall()
                    taken.setdefault((case, walked), []).append(time.perf_counter() - started)
        total = conn.exec_driver_sql("SELECT count(*) FROM requests").scalar_one()
        for case in cases():
            tab, text, narrow = case
            flt, sort = q.Filter(None, tab, text, narrow=narrow), q.DEFAULT_SORT[tab]
            found = search.candidates(flt.search, flt.facets).subquery()
            n = conn.execute(sa.select(sa.func.count()).select_from(found)).scalar_one()
            share = q._kept_share(conn, flt) if narrow else 1.0
            walk = statistics.median(taken[(case, True)]) * 1000
            gather = statistics.median(taken[(case, False)]) * 1000
            # Rows walked for 101 matches: N / (C * f) rows per match (the search taken to be
            # as frequent in a tab as in All).
            rows = 101 * total / max(n * share, 1)
            filters = {k: v for k, v in vars(narrow).items() if v} if narrow else {}
            print(
                f"{tab.value:10} {text!r:11} {str(filters):22} C={n:7,} f={share:.2f}"
                f"  walked {walk:7.1f} ms ({walk / rows * 1000:.1f} µs/row)"
                f"  gathered {gather:7.1f} ms ({gather / n * 1000:.1f} µs/candidate)"
                f"  page: {'walks' if q.walks_search(conn, flt, sort) else 'gathers'}",
                flush=True,
            )
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=run.DATA)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    run._chain_key(args.data)
    suite = run.Suite(argparse.Namespace(quick=True, sizes=[args.size]), run.Backend(args.data))
    print(f"bench: {run.machine()}", flush=True)
    measure(run.database(suite, args.size), args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
