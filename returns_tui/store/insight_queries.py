"""The aggregates behind the Insights screen and `returns-tui report` (DESIGN §9), one statement
each, as plain rows; returns_tui.insights turns them into the figures.

Every statement takes a `Span`: the period as integer microseconds `[start, end)` (whole UTC
days) and the shops the viewer may see (None: every shop). The figures read the daily rollups
the database keeps (store/insight_rollups.py: a few rows per day and shop instead of every
request and record of the period), and the time to the first answer the first answer stored
on each request (one covering range of an index). A rollup's day is the UTC day since the
epoch; the rows give the day within the period (0 = the period's first), the same on SQLite
and PostgreSQL. Weeks are folded from days in Python (there are at most a few hundred days).
Money is summed per currency, never across.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

DAY_US = 86_400 * 1_000_000
BUCKET_US = 900_000_000  # insight_answers' buckets: quarter hours (store/insight_rollups.py)

# The records that answer a request (DESIGN §9: "a decision by a user or a rule"); `offered`
# is the partial-refund offer of §7, counted when the store holds it.
ANSWER_KINDS = ("accepted", "rejected", "offered")
# The records that complete a request, each once in its life (notes keep `completed` as both
# their from and to, and are not among these kinds).
COMPLETING_KINDS = ("accepted", "auto_approved", "received", "auto_refunded", "mediated", "agreed")


@dataclass(frozen=True)
class Span:
    start_us: int
    end_us: int  # exclusive: the first microsecond after the period
    shops: frozenset[str] | None  # None: every shop

    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "start": self.start_us,
            "end": self.end_us,
            "first_day": self.start_us // DAY_US,  # whole days: exact
            "end_day": self.end_us // DAY_US,
        }
        if self.shops is not None:
            values["shops"] = sorted(self.shops)
        return values


def _run(
    conn: Connection, sql: str, span: Span, values: dict[str, Any] | None = None, **lists: Any
) -> list[tuple]:
    """`sql` with `{shops}` replaced by the shop condition on `r.shop` (none for every
    shop), run with the span's parameters, `values` and `lists` (expanded for IN)."""
    where = "" if span.shops is None else "AND r.shop IN :shops"
    stmt = sa.text(sql.format(shops=where))
    if span.shops is not None:
        stmt = stmt.bindparams(sa.bindparam("shops", expanding=True))
    if lists:
        stmt = stmt.bindparams(*(sa.bindparam(k, expanding=True) for k in lists))
    params = {**span.params(), **(values or {}), **lists}
    return [tuple(row) for row in conn.execute(stmt, params)]


def requests_by_day(conn: Connection, span: Span) -> list[tuple[int, str, str, int]]:
    """(day, shop, status now, requests) of the requests created in the period (the shops
    name the screen's choices)."""
    return _run(
        conn,
        "SELECT r.day - :first_day, r.shop, r.status, SUM(r.requests) FROM insight_status r "
        "WHERE r.day >= :first_day AND r.day < :end_day {shops} "
        "GROUP BY r.day, r.shop, r.status HAVING SUM(r.requests) <> 0",
        span,
    )


def reasons(conn: Connection, span: Span) -> list[tuple[str, int]]:
    """(buyer's reason code, requests) of the requests created in the period."""
    return _run(
        conn,
        "SELECT r.reason, SUM(r.requests) FROM insight_reasons r "
        "WHERE r.day >= :first_day AND r.day < :end_day {shops} GROUP BY r.reason",
        span,
    )


def skus(conn: Connection, span: Span) -> list[tuple[str, str, int, int]]:
    """(SKU, currency, requests, amount asked) of the requests created in the period; for
    every shop from the rollup without shops, fewer rows than the one with them (a SKU sold
    in several shops is one row a day)."""
    table = "insight_sku_totals" if span.shops is None else "insight_skus"
    return _run(
        conn,
        f"SELECT r.sku, r.currency, SUM(r.requests), SUM(r.amount) FROM {table} r "
        "WHERE r.day >= :first_day AND r.day < :end_day {shops} GROUP BY r.sku, r.currency",
        span,
    )


def auto_approved(conn: Connection, span: Span) -> list[tuple[str, str, int, int, int]]:
    """(shop, currency, day of the approval, requests, amount) of the `auto_approved`
    records in the period (a request is approved by the clock at most once)."""
    return _run(
        conn,
        "SELECT r.shop, r.currency, r.day - :first_day, SUM(r.records), SUM(r.amount) "
        "FROM insight_events r WHERE r.kind = 'auto_approved' "
        "AND r.day >= :first_day AND r.day < :end_day {shops} "
        "GROUP BY r.shop, r.currency, r.day",
        span,
    )


def answer_buckets(conn: Connection, span: Span) -> list[tuple[str, str, int, int]]:
    """(shop, who answered, bucket, requests) of the requests created in the period that were
    answered (the answer may fall after the period): how many first answers took each
    quarter hour (insight_rollups.BUCKET_US)."""
    return _run(
        conn,
        "SELECT r.shop, r.answered_by, r.bucket, SUM(r.requests) FROM insight_answers r "
        "WHERE r.day >= :first_day AND r.day < :end_day {shops} "
        "GROUP BY r.shop, r.answered_by, r.bucket",
        span,
    )


def answers_between(
    conn: Connection, span: Span, low: int, high: int
) -> list[tuple[str, str, int]]:
    """(shop, who answered, microseconds from creation to the first answer) of the requests
    created in the period whose first answer took from `low` to before `high` microseconds:
    one range of ix_requests_answer_after. The shops are kept here, not in SQL: with a shop
    in the WHERE, SQLite reads the shop's whole range of ix_requests_shop_tab_created
    instead (1.3 s for a 30-day period at a million requests, against milliseconds)."""
    rows = _run(
        conn,
        "SELECT r.shop, r.first_answer_by, r.first_answer_at - r.created_at FROM requests r "
        "WHERE (r.first_answer_at - r.created_at) >= :low "
        "AND (r.first_answer_at - r.created_at) < :high "
        "AND r.created_at >= :start AND r.created_at < :end",
        replace(span, shops=None),
        values={"low": low, "high": high},
    )
    return rows if span.shops is None else [row for row in rows if row[0] in span.shops]


def refunds(conn: Connection, span: Span) -> list[tuple[str, int, int, int]]:
    """(currency, day the request was completed, requests, amount refunded) of the requests
    completed in the period. The refund is what the request refunded (`refund_cents`: the
    offer when the buyer agreed to one, DESIGN §7), else the amount asked: the rollup keeps
    it as it was when the completing record was written, and completed is for good."""
    return _run(
        conn,
        "SELECT r.currency, r.day - :first_day, SUM(r.records), SUM(r.refund) "
        "FROM insight_events r WHERE r.kind IN :kinds AND r.to_status = 'completed' "
        "AND r.day >= :first_day AND r.day < :end_day {shops} GROUP BY r.currency, r.day",
        span,
        kinds=list(COMPLETING_KINDS),
    )


def appeals(conn: Connection, span: Span) -> list[tuple[str, str, int]]:
    """(kind, status after it, records) of the appeals and mediations in the period. A
    mediation for the seller leaves the request `rejected`; one for the buyer does not."""
    return _run(
        conn,
        "SELECT r.kind, r.to_status, SUM(r.records) FROM insight_events r "
        "WHERE r.kind IN ('appealed', 'mediated') "
        "AND r.day >= :first_day AND r.day < :end_day {shops} GROUP BY r.kind, r.to_status",
        span,
    )
