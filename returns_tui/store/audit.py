"""What the invariant checker (check.py) reads besides the requests and their records: the
orders' shops, the tabs' counts, records without a request, and the append-only triggers as
the database holds them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from returns_tui.store.engine import is_sqlite
from returns_tui.store.schema import orders, records, requests


def order_shops(conn: Connection) -> dict[str, str]:
    """order id -> the shop the orders table records for it."""
    return dict(conn.execute(sa.select(orders.c.order_id, orders.c.shop)).all())


def tab_counts(conn: Connection) -> tuple[int, dict[str, int]]:
    """The number of requests, and of requests under each stored tab."""
    total = conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()
    per_tab = dict(
        conn.execute(sa.select(requests.c.tab, sa.func.count()).group_by(requests.c.tab)).all()
    )
    return total, per_tab


def orphan_records(conn: Connection) -> int:
    """The number of records whose request is not there."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(records.outerjoin(requests, records.c.request_id == requests.c.id))
        .where(requests.c.id.is_(None))
    ).scalar_one()


def any_request(conn: Connection) -> bool:
    return conn.execute(sa.select(requests.c.id).limit(1)).first() is not None


def record_triggers(conn: Connection) -> dict[str, Any]:
    """The triggers on the records table. SQLite: name -> its statement as written.
    PostgreSQL: name -> (enabled, definition, function's name, function's body)."""
    if is_sqlite(conn):
        return dict(
            conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'records'"
            ).all()
        )
    rows = conn.exec_driver_sql(
        "SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid), p.proname, p.prosrc "
        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = 'records'::regclass AND NOT t.tgisinternal"
    ).all()
    return {name: (enabled, ddl, fn, body) for name, enabled, ddl, fn, body in rows}
