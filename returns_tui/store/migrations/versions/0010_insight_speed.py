"""The first answer on the request row, for the Insights figures (DESIGN §9).

Adds to requests first_answer_at and first_answer_by: the time and the author of the
request's first `accepted`, `rejected` or `offered` record (a decision by a user or a rule;
the clock writes none of these), NULL while unanswered. The services write them in the same
transaction as that record (store/writes.note_first_answers); here the requests already there
get them from their records, in one UPDATE on both databases. Then the index
ix_requests_answer_after ((first_answer_at - created_at), created_at, shop, first_answer_by),
built once after the backfill: the exact times to the first answer within one stretch of
time.

And the daily rollups of store/insight_rollups.py (insight_status, insight_reasons,
insight_skus, insight_sku_totals, insight_events, insight_answers) with the triggers that
keep them, on `requests` and `records`, in the transaction of each new row; filled here from
the tables, in one INSERT ... SELECT each. The statements are this migration's own copies: a
migration keeps what it was written with.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "ix_requests_answer_after"
# The time to the first answer first: the exact answers of one stretch of time (a bucket of
# insight_answers), whenever the request was created, are one range of it.
INDEX_COLUMNS = [sa.text("(first_answer_at - created_at)"), "created_at", "shop", "first_answer_by"]
# The records that answer a request, as store/insight_queries.ANSWER_KINDS has them today
# (a migration keeps the meaning it was written with).
_ANSWERS = "('accepted', 'rejected', 'offered')"

# Each request's first answer: the answer record with no earlier answer of the same request
# (one probe of uq_records_request_seq per answer record).
BACKFILL = (
    "UPDATE requests SET first_answer_at = f.at, first_answer_by = f.actor FROM ("
    "SELECT rec.request_id, rec.at, rec.actor FROM records rec "
    f"WHERE rec.kind IN {_ANSWERS} AND NOT EXISTS (SELECT 1 FROM records p "
    f"WHERE p.request_id = rec.request_id AND p.seq < rec.seq AND p.kind IN {_ANSWERS})"
    ") AS f WHERE requests.id = f.request_id"
)


DAY_US = 86_400_000_000
BUCKET_US = 900_000_000  # insight_answers: the time to the first answer in quarter hours
_BUCKET = f"(first_answer_at - created_at) / {BUCKET_US}"


def _day(column: str) -> str:
    """The UTC day of microseconds `column`, floored (both databases truncate toward 0)."""
    return (
        f"(CASE WHEN {column} >= 0 THEN {column} / {DAY_US} ELSE ({column} + 1) / {DAY_US} - 1 END)"
    )


_ROLLUPS = {  # table: (key columns, counted columns)
    "insight_status": (("day", "shop", "status"), ("requests",)),
    "insight_reasons": (("day", "shop", "reason"), ("requests",)),
    "insight_skus": (("day", "shop", "sku", "currency"), ("requests", "amount")),
    "insight_sku_totals": (("day", "sku", "currency"), ("requests", "amount")),
    "insight_events": (
        ("day", "shop", "currency", "kind", "to_status"),
        ("records", "amount", "refund"),
    ),
    "insight_answers": (("day", "shop", "answered_by", "bucket"), ("requests",)),
}
_TEXT = {
    "shop": 64, "status": 24, "currency": 3, "kind": 16, "to_status": 24, "answered_by": 64,
}  # fmt: skip

_FILL = {
    "insight_status": f"SELECT {_day('created_at')}, shop, status, COUNT(*) FROM requests "
    "GROUP BY 1, 2, 3",
    "insight_reasons": f"SELECT {_day('created_at')}, shop, reason, COUNT(*) FROM requests "
    "GROUP BY 1, 2, 3",
    "insight_skus": f"SELECT {_day('created_at')}, shop, sku, currency, COUNT(*), "
    "SUM(amount_cents) FROM requests GROUP BY 1, 2, 3, 4",
    "insight_sku_totals": f"SELECT {_day('created_at')}, sku, currency, COUNT(*), "
    "SUM(amount_cents) FROM requests GROUP BY 1, 2, 3",
    "insight_events": f"SELECT {_day('rec.at')}, r.shop, r.currency, rec.kind, rec.to_status, "
    "COUNT(*), SUM(r.amount_cents), SUM(COALESCE(r.refund_cents, r.amount_cents)) "
    "FROM records rec JOIN requests r ON r.id = rec.request_id GROUP BY 1, 2, 3, 4, 5",
    "insight_answers": f"SELECT {_day('created_at')}, shop, first_answer_by, {_BUCKET}, "
    "COUNT(*) FROM requests WHERE first_answer_at IS NOT NULL GROUP BY 1, 2, 3, 4",
}


def _column(name: str) -> sa.Column:
    if name == "day":
        return sa.Column(name, sa.BigInteger(), nullable=False)
    if name in ("reason", "sku"):
        return sa.Column(name, sa.Text(), nullable=False)
    if name in _TEXT:
        return sa.Column(name, sa.String(_TEXT[name]), nullable=False)
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _sqlite_answered(row: str) -> str:
    """Count `row`'s first answer (none while it has none) in insight_answers."""
    return (
        "INSERT INTO insight_answers (day, shop, answered_by, bucket, requests) "
        f"SELECT {_day(row + '.created_at')}, {row}.shop, {row}.first_answer_by, "
        f"({row}.first_answer_at - {row}.created_at) / {BUCKET_US}, 1 "
        f"WHERE {row}.first_answer_at IS NOT NULL "
        "ON CONFLICT (day, shop, answered_by, bucket) DO UPDATE SET requests = requests + 1"
    )


_PG_ANSWERED = (
    "IF NEW.first_answer_at IS NOT NULL THEN "
    "INSERT INTO insight_answers AS t (day, shop, answered_by, bucket, requests) "
    f"VALUES ({_day('NEW.created_at')}, NEW.shop, NEW.first_answer_by, "
    f"(NEW.first_answer_at - NEW.created_at) / {BUCKET_US}, 1) "
    "ON CONFLICT (day, shop, answered_by, bucket) DO UPDATE SET requests = t.requests + 1; "
    "END IF; "
)


def _sqlite_triggers() -> list[str]:
    day = _day("created_at")
    return [
        "CREATE TRIGGER insight_request_added AFTER INSERT ON requests BEGIN "
        "INSERT INTO insight_reasons (day, shop, reason, requests) "
        f"VALUES ({_day('new.created_at')}, new.shop, new.reason, 1) "
        "ON CONFLICT (day, shop, reason) DO UPDATE SET requests = requests + 1; "
        "INSERT INTO insight_skus (day, shop, sku, currency, requests, amount) "
        f"VALUES ({_day('new.created_at')}, new.shop, new.sku, new.currency, 1, "
        "new.amount_cents) ON CONFLICT (day, shop, sku, currency) DO UPDATE SET "
        "requests = requests + 1, amount = amount + excluded.amount; "
        "INSERT INTO insight_sku_totals (day, sku, currency, requests, amount) "
        f"VALUES ({_day('new.created_at')}, new.sku, new.currency, 1, new.amount_cents) "
        "ON CONFLICT (day, sku, currency) DO UPDATE SET "
        "requests = requests + 1, amount = amount + excluded.amount; "
        f"{_sqlite_answered('new')}; END",
        "CREATE TRIGGER insight_request_answered AFTER UPDATE OF first_answer_at ON requests "
        "WHEN old.first_answer_at IS NULL AND new.first_answer_at IS NOT NULL BEGIN "
        f"{_sqlite_answered('new')}; END",
        "CREATE TRIGGER insight_record_moved AFTER INSERT ON records "
        "WHEN new.from_status IS NOT new.to_status BEGIN "
        "UPDATE insight_status SET requests = requests - 1 WHERE status = new.from_status "
        f"AND (day, shop) = (SELECT {day}, shop FROM requests WHERE id = new.request_id); "
        "INSERT INTO insight_status (day, shop, status, requests) "
        f"SELECT {day}, shop, new.to_status, 1 FROM requests WHERE id = new.request_id "
        "ON CONFLICT (day, shop, status) DO UPDATE SET requests = requests + 1; END",
        "CREATE TRIGGER insight_record_added AFTER INSERT ON records BEGIN "
        "INSERT INTO insight_events "
        "(day, shop, currency, kind, to_status, records, amount, refund) "
        f"SELECT {_day('new.at')}, shop, currency, new.kind, new.to_status, 1, amount_cents, "
        "COALESCE(refund_cents, amount_cents) FROM requests WHERE id = new.request_id "
        "ON CONFLICT (day, shop, currency, kind, to_status) DO UPDATE SET "
        "records = records + 1, amount = amount + excluded.amount, "
        "refund = refund + excluded.refund; END",
    ]


def _pg_triggers() -> list[str]:
    return [
        "CREATE FUNCTION insight_request_added() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"DECLARE d_ bigint := {_day('NEW.created_at')}; BEGIN "
        "INSERT INTO insight_reasons AS t (day, shop, reason, requests) "
        "VALUES (d_, NEW.shop, NEW.reason, 1) "
        "ON CONFLICT (day, shop, reason) DO UPDATE SET requests = t.requests + 1; "
        "INSERT INTO insight_skus AS t (day, shop, sku, currency, requests, amount) "
        "VALUES (d_, NEW.shop, NEW.sku, NEW.currency, 1, NEW.amount_cents) "
        "ON CONFLICT (day, shop, sku, currency) DO UPDATE SET "
        "requests = t.requests + 1, amount = t.amount + EXCLUDED.amount; "
        "INSERT INTO insight_sku_totals AS t (day, sku, currency, requests, amount) "
        "VALUES (d_, NEW.sku, NEW.currency, 1, NEW.amount_cents) "
        "ON CONFLICT (day, sku, currency) DO UPDATE SET "
        "requests = t.requests + 1, amount = t.amount + EXCLUDED.amount; "
        f"{_PG_ANSWERED}RETURN NULL; END $$",
        "CREATE TRIGGER insight_request_added AFTER INSERT ON requests "
        "FOR EACH ROW EXECUTE FUNCTION insight_request_added()",
        "CREATE FUNCTION insight_request_answered() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {_PG_ANSWERED}RETURN NULL; END $$",
        "CREATE TRIGGER insight_request_answered AFTER UPDATE OF first_answer_at ON requests "
        "FOR EACH ROW WHEN (OLD.first_answer_at IS NULL AND NEW.first_answer_at IS NOT NULL) "
        "EXECUTE FUNCTION insight_request_answered()",
        "CREATE FUNCTION insight_record_moved() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE d_ bigint; shop_ text; BEGIN "
        f"SELECT {_day('created_at')}, shop INTO d_, shop_ FROM requests "
        "WHERE id = NEW.request_id; "
        "UPDATE insight_status SET requests = requests - 1 "
        "WHERE day = d_ AND shop = shop_ AND status = NEW.from_status; "
        "INSERT INTO insight_status AS t (day, shop, status, requests) "
        "VALUES (d_, shop_, NEW.to_status, 1) "
        "ON CONFLICT (day, shop, status) DO UPDATE SET requests = t.requests + 1; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER insight_record_moved AFTER INSERT ON records FOR EACH ROW "
        "WHEN (NEW.from_status IS DISTINCT FROM NEW.to_status) "
        "EXECUTE FUNCTION insight_record_moved()",
        "CREATE FUNCTION insight_record_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO insight_events AS t "
        "(day, shop, currency, kind, to_status, records, amount, refund) "
        f"SELECT {_day('NEW.at')}, r.shop, r.currency, NEW.kind, NEW.to_status, 1, "
        "r.amount_cents, COALESCE(r.refund_cents, r.amount_cents) FROM requests r "
        "WHERE r.id = NEW.request_id "
        "ON CONFLICT (day, shop, currency, kind, to_status) DO UPDATE SET "
        "records = t.records + 1, amount = t.amount + EXCLUDED.amount, "
        "refund = t.refund + EXCLUDED.refund; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER insight_record_added AFTER INSERT ON records "
        "FOR EACH ROW EXECUTE FUNCTION insight_record_added()",
    ]


def upgrade() -> None:
    op.add_column("requests", sa.Column("first_answer_at", sa.BigInteger()))
    op.add_column("requests", sa.Column("first_answer_by", sa.String(64)))
    op.execute(BACKFILL)
    op.create_index(INDEX, "requests", INDEX_COLUMNS)
    for table, (key, counted) in _ROLLUPS.items():
        op.create_table(
            table,
            *(_column(name) for name in (*key, *counted)),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{table}"),
            sqlite_with_rowid=False,  # a day's rows are one range of the key, read in place
        )
        columns = ", ".join((*key, *counted))
        op.execute(f"INSERT INTO {table} ({columns}) {_FILL[table]}")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for ddl in _sqlite_triggers() if sqlite else _pg_triggers():
        op.execute(ddl)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for table in _ROLLUPS:
        op.drop_table(table)
    op.drop_index(INDEX, table_name="requests")
    for name in ("first_answer_by", "first_answer_at"):
        op.drop_column("requests", name)


_TRIGGERS = {
    "insight_request_added": "requests",
    "insight_request_answered": "requests",
    "insight_record_moved": "records",
    "insight_record_added": "records",
}
