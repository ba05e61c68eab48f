"""The invariant checker: reads the whole database and reports every broken invariant.

It changes nothing. `returns-tui check` prints what it finds and exits 1 on any violation;
the torture, crash and property tests call `check()` after every run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pendulum
import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Engine

from returns_tui import domain as d
from returns_tui.store import queries as q
from returns_tui.store.engine import read
from returns_tui.store.rows import to_record, to_request
from returns_tui.store.schema import orders, records, requests


@dataclass(frozen=True)
class Violation:
    request_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.request_id}: {self.problem}"


def check(engine: Engine, now: DateTime, grace: float = 0) -> list[Violation]:
    """Every violation in the database as it stands at `now`. A timed request counts as
    missed only when its deadline is more than `grace` seconds before `now` (a sweep that
    runs every minute leaves requests up to a minute past their deadline)."""
    late_before = now - pendulum.duration(seconds=grace)
    found: list[Violation] = []
    open_per_order: Counter[str] = Counter()
    with read(engine) as conn:
        order_shops = dict(conn.execute(sa.select(orders.c.order_id, orders.c.shop)).all())
        for row, rec_rows in q.export_rows(conn, None, d.Tab.ALL):
            req = to_request(row)
            recs = [to_record(r) for r in rec_rows]
            found += [Violation(req.id, p) for p in _request_problems(row, req, recs, late_before)]
            if order_shops.get(req.order_id) != req.shop:
                found.append(
                    Violation(req.id, f"order {req.order_id} is not recorded for {req.shop}")
                )
            if req.status in d.OPEN_STATUSES:
                open_per_order[req.order_id] += 1
        found += [
            Violation(order_id, f"the order has {n} open requests")
            for order_id, n in open_per_order.items()
            if n > 1
        ]
        found += _count_problems(conn)
    return found


def _request_problems(row, req: d.Request, recs: list[d.Record], late_before: DateTime):
    if row["tab"] != d.TAB_OF_STATUS[req.status].value:
        yield f"status {req.status} is shown under tab {row['tab']}"
    if req.version != len(recs):
        yield f"version {req.version} but {len(recs)} records"
    yield from d.path_violations(req.status, recs)
    # A doubled transition would also break the path; this names it plainly.
    doubled = Counter(
        (r.at, r.actor, r.kind, r.from_status, r.to_status, repr(r.details)) for r in recs
    )
    for (at, actor, kind, *_), n in doubled.items():
        if n > 1:
            yield f"the record {kind} by {actor} at {at} appears {n} times"
    due = d.next_due(req)
    if due is not None and due < late_before:
        yield f"{req.status} past its deadline {due} (not swept)"


def _count_problems(conn) -> list[Violation]:
    total = conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()
    per_tab = dict(
        conn.execute(sa.select(requests.c.tab, sa.func.count()).group_by(requests.c.tab)).all()
    )
    known = {t.value for t in d.Tab if t is not d.Tab.ALL}
    problems = []
    if unknown := set(per_tab) - known:
        problems.append(Violation("*", f"rows under unknown tabs {sorted(unknown)}"))
    if sum(n for tab, n in per_tab.items() if tab in known) != total:
        problems.append(Violation("*", f"the tabs count {per_tab} but All has {total}"))
    orphans = conn.execute(
        sa.select(sa.func.count())
        .select_from(records.outerjoin(requests, records.c.request_id == requests.c.id))
        .where(requests.c.id.is_(None))
    ).scalar_one()
    if orphans:
        problems.append(Violation("*", f"{orphans} records belong to no request"))
    return problems
