"""Daily rollups for the Insights figures (DESIGN §9, migration 0010), kept by the database
itself: triggers on `requests` and `records` add each new row to them in the transaction that
writes it, whoever writes it (an action, the sweep, `apply`, a rule, the marketplace's sync),
so they can never lag the data. Days are UTC days since the epoch (DAY_SQL).

- insight_status (day created, shop, status, requests): how many requests created that day
  are in each status now. A record that moves a request takes one from its `from` status
  and adds one to its `to` status (the `submitted` record only adds).
- insight_reasons (day created, shop, reason, requests) and insight_skus (day created,
  shop, SKU, currency, requests, amount): a request's fixed fields, added once; and
  insight_sku_totals, the same without the shop, for every shop at once: a SKU sold in many
  shops is one row a day instead of one a shop (203 359 rows against 523 277 in the
  benchmark's million).
- insight_events (day of the record, shop, currency, kind, status after, records, amount,
  refund): every record, with the request's amount asked and its refund at that moment
  (refund_cents, else the amount: what a completion refunded, DESIGN §7).
- insight_answers (day created, shop, who answered, bucket, requests): the requests answered,
  by the quarter hour their first answer took (BUCKET_US): where the median and the p90
  fall, so that only the answers of those quarter hours are read (returns_tui.insights).

A rollup row is never removed: a status all of whose requests moved on keeps 0.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection

from returns_tui.store import triggers

DAY_US = 86_400_000_000
BUCKET_US = 900_000_000  # insight_answers: the time to the first answer in quarter hours
TABLES = (
    "insight_status", "insight_reasons", "insight_skus", "insight_sku_totals", "insight_events",
    "insight_answers",
)  # fmt: skip
TRIGGERS = {  # name: table
    "insight_request_added": "requests",
    "insight_request_answered": "requests",
    "insight_record_moved": "records",
    "insight_record_added": "records",
}


def day_sql(column: str) -> str:
    """The UTC day of microseconds `column`, floored (both databases truncate toward 0)."""
    return (
        f"(CASE WHEN {column} >= 0 THEN {column} / {DAY_US} ELSE ({column} + 1) / {DAY_US} - 1 END)"
    )


# Each rollup as it must be, from the tables: what the triggers add up to.
EXPECTED = {
    "insight_status": (
        "day, shop, status, requests",
        f"SELECT {day_sql('created_at')}, shop, status, COUNT(*) FROM requests GROUP BY 1, 2, 3",
    ),
    "insight_reasons": (
        "day, shop, reason, requests",
        f"SELECT {day_sql('created_at')}, shop, reason, COUNT(*) FROM requests GROUP BY 1, 2, 3",
    ),
    "insight_skus": (
        "day, shop, sku, currency, requests, amount",
        f"SELECT {day_sql('created_at')}, shop, sku, currency, COUNT(*), SUM(amount_cents) "
        "FROM requests GROUP BY 1, 2, 3, 4",
    ),
    "insight_sku_totals": (
        "day, sku, currency, requests, amount",
        f"SELECT {day_sql('created_at')}, sku, currency, COUNT(*), SUM(amount_cents) "
        "FROM requests GROUP BY 1, 2, 3",
    ),
    "insight_events": (
        "day, shop, currency, kind, to_status, records, amount, refund",
        f"SELECT {day_sql('rec.at')}, r.shop, r.currency, rec.kind, rec.to_status, COUNT(*), "
        "SUM(r.amount_cents), SUM(COALESCE(r.refund_cents, r.amount_cents)) "
        "FROM records rec JOIN requests r ON r.id = rec.request_id GROUP BY 1, 2, 3, 4, 5",
    ),
    "insight_answers": (
        "day, shop, answered_by, bucket, requests",
        f"SELECT {day_sql('created_at')}, shop, first_answer_by, "
        f"(first_answer_at - created_at) / {BUCKET_US}, COUNT(*) FROM requests "
        "WHERE first_answer_at IS NOT NULL GROUP BY 1, 2, 3, 4",
    ),
}


def rebuild(conn: Connection) -> None:
    """Every rollup again from the tables, in the caller's transaction."""
    for table, (columns, select) in EXPECTED.items():
        conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) {select}")


def differences(conn: Connection) -> dict[str, tuple[set, set]]:
    """Per rollup, the rows that are stored but not expected and those expected but not
    stored (rows of 0 aside); empty when the rollups agree with the tables. The events'
    refunds are compared for the records that leave a request completed only: a request's
    refund changes along its life (an approval sets it, an offer agreed to replaces it),
    and the rollup keeps it as it was at each record, while completed is for good."""
    found = {}
    for table, (columns, select) in EXPECTED.items():
        count = len(columns.split(", ")) - (3 if table == "insight_events" else 1)
        stored = {
            _comparable(table, row)
            for row in conn.exec_driver_sql(f"SELECT {columns} FROM {table}")
            if row[count] != 0
        }
        expected = {_comparable(table, row) for row in conn.exec_driver_sql(select)}
        if stored != expected:
            found[table] = (stored - expected, expected - stored)
    return found


def _comparable(table: str, row) -> tuple:
    # PostgreSQL's SUM of BIGINT is NUMERIC (a Decimal), SQLite's an int: both as int.
    values = [v if isinstance(v, str) or v is None else int(v) for v in row]
    if table == "insight_events" and values[4] != "completed":
        values[-1] = None
    return tuple(values)


def suspended(conn: Connection) -> AbstractContextManager[None]:
    """For a bulk insert within the caller's transaction: the triggers off meanwhile, the
    table rebuilt once afterwards (store/triggers.py)."""
    return triggers.suspended(conn, TRIGGERS, rebuild)
