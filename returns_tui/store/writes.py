"""The writes of request changes, as the driver's SQL where they run for every change or in
loops of a hundred thousand: the compare-and-set UPDATE of one request, the executemany of the
sweep's moves, the records' INSERT, a new request, and the order's version. Every write
announces itself to idle consoles (changes.announce)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from returns_tui import domain as d
from returns_tui.store import chain
from returns_tui.store.changes import announce
from returns_tui.store.engine import PLACEHOLDER
from returns_tui.store.insight_queries import ANSWER_KINDS
from returns_tui.store.rows import record_values, request_values
from returns_tui.store.schema import UTCTime, orders, requests
from returns_tui.timefmt import to_micros


class Lost(Exception):
    """A compare-and-set found the row changed: the caller retries on fresh data."""


# Written once, by note_first_answers, not by an action's UPDATE: the domain's Request has
# no first answer, and an action must not clear one.
FIRST_ANSWER_COLUMNS = ("first_answer_at", "first_answer_by")
# Every column an action may change, in the order of update_request's UPDATE (the fixed
# fields never change, the chain's columns are written from the key, and has_later by
# mark_later); the times among them.
SAVED_COLUMNS = tuple(
    c.name
    for c in requests.columns
    if c.name not in chain.FIXED_FIELDS
    and c.name not in ("seal", "chain", "has_later", *FIRST_ANSWER_COLUMNS)
)
_SAVED_TIMES = tuple(
    i for i, name in enumerate(SAVED_COLUMNS) if isinstance(requests.c[name].type, UTCTime)
)
# A request's fixed fields in the values of request_values, and the times among them.
_FIXED_TIMES = tuple(
    i for i, name in enumerate(chain.FIXED_FIELDS) if isinstance(requests.c[name].type, UTCTime)
)


def update_request(
    conn: Connection, after: d.Request, head: bytes | None, version_read: int, rows: list[tuple]
) -> None:
    """Write a request as `after` with its records' `rows` (record_rows, chained: `head` is
    the last one's link), if it is still at `version_read`; else Lost."""
    values = request_values(after)
    params = [values[c] for c in SAVED_COLUMNS]
    for i in _SAVED_TIMES:
        if params[i] is not None:
            params[i] = to_micros(params[i])
    params += [head, after.id, version_read]
    result = conn.exec_driver_sql(_update_sql(conn.dialect.paramstyle), tuple(params))
    if result.rowcount != 1:
        raise Lost
    insert_records(conn, rows)
    note_first_answers(conn, rows)
    announce(conn)


@lru_cache(maxsize=4)
def _update_sql(paramstyle: str) -> str:
    """update_request's compare-and-set UPDATE, for the driver: built once, sent as it is."""
    mark = PLACEHOLDER[paramstyle]
    columns = ", ".join(f"{name} = {mark}" for name in (*SAVED_COLUMNS, "chain"))
    return f"UPDATE requests SET {columns} WHERE id = {mark} AND version = {mark}"


def fixed_values(values: Mapping[str, Any]) -> list[Any]:
    """The fixed fields of request_values, as stored (times in microseconds): what is sealed."""
    fixed = [values[name] for name in chain.FIXED_FIELDS]
    for i in _FIXED_TIMES:
        fixed[i] = to_micros(fixed[i])
    return fixed


def record_rows(request_id: str, version: int, recs: tuple[d.Record, ...]) -> list[tuple]:
    """The rows of a change's records made at `version`, numbered from version + 1."""
    return [_record_row(request_id, version + i + 1, r) for i, r in enumerate(recs)]


def _record_row(request_id: str, seq: int, rec: d.Record) -> tuple:
    """record_values as a row for the records' INSERT (the time in microseconds)."""
    values = record_values(request_id, seq, rec)
    values["at"] = to_micros(rec.at)
    return tuple(values.values())


def insert_request(
    conn: Connection, values: Mapping[str, Any], rows: list[tuple], *, announced: bool = True
) -> None:
    """A new request (request_values with its seal and chain) and its records' rows. A caller
    that writes many in one transaction may announce them once itself (`announced=False`)."""
    conn.execute(_INSERT_REQUEST, values)
    mark_later(conn, values["order_id"])
    insert_records(conn, rows)
    note_first_answers(conn, rows)
    if announced:
        announce(conn)


_INSERT_REQUEST = sa.insert(requests)
_later = requests.alias("later")
# Whether a later request on the same order exists, "later" as domain.summarize_order orders
# an order's requests (attempt, created_at, id): what requests.has_later holds.
LATER_ON_ORDER = sa.exists().where(
    _later.c.order_id == requests.c.order_id,
    sa.tuple_(_later.c.attempt, _later.c.created_at, _later.c.id)
    > sa.tuple_(requests.c.attempt, requests.c.created_at, requests.c.id),
)
_MARK_LATER = (
    sa.update(requests)
    .where(
        requests.c.order_id == sa.bindparam("m_order_id"),
        requests.c.has_later != LATER_ON_ORDER,
    )
    .values(has_later=LATER_ON_ORDER)
)


def mark_later(conn: Connection, order_id: str) -> None:
    """The order's requests.has_later made true to its requests, in the transaction that
    added one (which bumped the order, so no other adds one meanwhile): those before it have
    a later one now, and it has one itself if the marketplace brought it in after a later
    one. Only the rows that change are written: the one before, for a second request."""
    conn.execute(_MARK_LATER, {"m_order_id": order_id})


def insert_records(conn: Connection, rows: list[tuple]) -> None:
    """Records' rows in the columns of record_values and their chain."""
    if not rows:  # a synced request's fields may follow the marketplace without a record
        return
    conn.exec_driver_sql(_moves_sql(conn.dialect.paramstyle)[1], rows)


@lru_cache(maxsize=4)
def _moves_sql(paramstyle: str) -> tuple[str, str]:
    """The compare-and-set UPDATE of write_moves and the records' INSERT, for the driver."""
    mark = PLACEHOLDER[paramstyle]
    update = (
        f"UPDATE requests SET status = {mark}, tab = {mark}, deadline_at = {mark}, "
        f"status_since = {mark}, respond_by = {mark}, refund_cents = {mark}, "
        f"version = {mark}, chain = {mark} "
        f"WHERE id = {mark} AND version = {mark}"
    )
    insert = (
        f"INSERT INTO records ({', '.join(chain.RECORD_FIELDS)}, chain) "
        f"VALUES ({', '.join([mark] * (len(chain.RECORD_FIELDS) + 1))})"
    )
    return update, insert


def write_moves(conn: Connection, moves: list[tuple], recs: list[tuple]) -> None:
    """Automatic transitions through the driver's executemany: `moves` are (status, tab,
    deadline_at, status_since, respond_by, refund_cents, version, head, id, version read) with
    times in microseconds (respond_by moves after a lapsed offer, refund_cents with an
    approval: DESIGN §7), each a compare-and-set on the version read; `recs` the records'
    rows in the columns of record_values and their chain. A row that someone else changed
    meanwhile fails the whole batch (Lost)."""
    if not moves:
        return
    update, insert = _moves_sql(conn.dialect.paramstyle)
    result = conn.exec_driver_sql(update, moves)
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(moves):
        raise Lost
    conn.exec_driver_sql(insert, recs)
    note_first_answers(conn, recs)
    announce(conn)


# The first answer (DESIGN §9)

_AT, _ACTOR, _KIND = (chain.RECORD_FIELDS.index(name) for name in ("at", "actor", "kind"))


def note_first_answers(conn: Connection, rows: list[tuple]) -> None:
    """Store on each request the time and author of the first answer among records' `rows`
    (as insert_records takes them, in their order), in the caller's transaction, unless it
    has one already: the first answer stays what it was when a later decision comes."""
    firsts: dict[str, tuple] = {}
    for row in rows:
        if row[_KIND] in ANSWER_KINDS and row[0] not in firsts:
            firsts[row[0]] = (row[_AT], row[_ACTOR], row[0])
    if firsts:
        conn.exec_driver_sql(_first_answer_sql(conn.dialect.paramstyle), list(firsts.values()))


@lru_cache(maxsize=4)
def _first_answer_sql(paramstyle: str) -> str:
    mark = PLACEHOLDER[paramstyle]
    return (
        f"UPDATE requests SET first_answer_at = {mark}, first_answer_by = {mark} "
        f"WHERE id = {mark} AND first_answer_at IS NULL"
    )


_ORDER_VERSION = sa.select(orders.c.version).where(orders.c.order_id == sa.bindparam("order_id"))
_INSERT_ORDER = sa.insert(orders)
_BUMP_ORDER = (
    sa.update(orders)
    .where(
        orders.c.order_id == sa.bindparam("b_order_id"), orders.c.version == sa.bindparam("seen")
    )
    .values(version=sa.bindparam("next"))
)


def order_version(conn: Connection, order_id: str) -> int | None:
    """The order's version, read before its requests are read (None for a new order)."""
    row = conn.execute(_ORDER_VERSION, {"order_id": order_id}).first()
    return None if row is None else row.version


def bump_order(conn: Connection, order_id: str, shop: str, seen: int | None) -> None:
    """Compare-and-set on the order, for the rules that look at the whole order (submit,
    appeal), against the version `seen` before the order's requests were read. Of two
    transactions that read the same order, the second to write loses (Lost) and is retried.

    The version must be read first: on PostgreSQL (READ COMMITTED) each statement sees what
    was committed when it began, so a version read at write time may already include a rival's
    commit that the earlier read of the requests did not, and both would win. For a new order,
    a rival's insert collides on the primary key and is retried the same way."""
    if seen is None:
        conn.execute(_INSERT_ORDER, {"order_id": order_id, "shop": shop, "version": 1})
        return
    result = conn.execute(_BUMP_ORDER, {"b_order_id": order_id, "seen": seen, "next": seen + 1})
    if result.rowcount != 1:
        raise Lost
