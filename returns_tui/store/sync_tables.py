"""The SQL of the marketplace sync's tables (DESIGN §8, migration 0007): the shops' cursors,
the outbox of decisions waiting to be sent, the marketplace's reject reasons, the marketplace
records already stored, webhook notification ids seen, and the per-shop locks.

Each function runs inside the caller's transaction; sync/ledger.py and the services decide
what to write, this module only writes and reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui.store.changes import announce
from returns_tui.store.schema import (
    orders,
    records,
    requests,
    sync_cursors,
    sync_locks,
    sync_notifications,
    sync_outbox,
    sync_record_keys,
    sync_reject_reasons,
)
from returns_tui.store.writes import Lost

# ---------------------------------------------------------------------------------------------
# Cursors


def cursor(conn: Connection, shop: str) -> int | None:
    query = sa.select(sync_cursors.c.cursor).where(sync_cursors.c.shop == shop)
    return conn.execute(query).scalar()


def advance_cursor(conn: Connection, shop: str, value: int) -> None:
    """The shop's cursor moves to `value`, never back (a page brought in late cannot undo a
    later one's progress)."""
    current = cursor(conn, shop)
    if current is None:
        conn.execute(sa.insert(sync_cursors).values(shop=shop, cursor=value))
    elif value > current:
        conn.execute(
            sa.update(sync_cursors).where(sync_cursors.c.shop == shop).values(cursor=value)
        )


# ---------------------------------------------------------------------------------------------
# The outbox


@dataclass(frozen=True)
class OutboxRow:
    id: int
    shop: str
    request_id: str
    verb: str
    body: dict[str, Any]
    idempotency_key: str
    actor: str
    action: str
    fields: dict[str, Any]
    attempts: int
    created_at: DateTime


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        shop=row.shop,
        request_id=row.request_id,
        verb=row.verb,
        body=json.loads(row.body),
        idempotency_key=row.idempotency_key,
        actor=row.actor,
        action=row.action,
        fields=json.loads(row.fields),
        attempts=row.attempts,
        created_at=row.created_at,
    )


def add_outgoing(conn: Connection, row: OutboxRow) -> None:
    """A decision waiting to be sent. A second one for the same request collides on the
    request's unique key (the caller's retry then finds the first and refuses)."""
    conn.execute(
        sa.insert(sync_outbox).values(
            shop=row.shop,
            request_id=row.request_id,
            verb=row.verb,
            body=json.dumps(row.body, ensure_ascii=False, sort_keys=True),
            idempotency_key=row.idempotency_key,
            actor=row.actor,
            action=row.action,
            fields=json.dumps(row.fields, ensure_ascii=False, sort_keys=True),
            attempts=0,
            created_at=row.created_at,
        )
    )
    announce(conn)  # consoles show the request as sending


def outgoing_for(conn: Connection, request_id: str) -> OutboxRow | None:
    row = conn.execute(
        sa.select(sync_outbox).where(sync_outbox.c.request_id == request_id)
    ).first()
    return None if row is None else _outbox_row(row)


def outgoing(conn: Connection, outgoing_id: int) -> OutboxRow | None:
    row = conn.execute(sa.select(sync_outbox).where(sync_outbox.c.id == outgoing_id)).first()
    return None if row is None else _outbox_row(row)


def outbox(conn: Connection, shop: str, limit: int) -> list[OutboxRow]:
    query = (
        sa.select(sync_outbox)
        .where(sync_outbox.c.shop == shop)
        .order_by(sync_outbox.c.id)
        .limit(limit)
    )
    return [_outbox_row(row) for row in conn.execute(query)]


def count_attempt(conn: Connection, outgoing_id: int) -> bool:
    result = conn.execute(
        sa.update(sync_outbox)
        .where(sync_outbox.c.id == outgoing_id)
        .values(attempts=sync_outbox.c.attempts + 1)
    )
    return result.rowcount == 1


def remove_outgoing(conn: Connection, outgoing_id: int) -> None:
    conn.execute(sa.delete(sync_outbox).where(sync_outbox.c.id == outgoing_id))
    announce(conn)


def sending_among(conn: Connection, request_ids: list[str]) -> set[str]:
    """Which of these requests have a decision waiting in the outbox (the console's rows)."""
    if not request_ids:
        return set()
    query = sa.select(sync_outbox.c.request_id).where(sync_outbox.c.request_id.in_(request_ids))
    return set(conn.execute(query).scalars())


def all_outgoing(conn: Connection) -> list[tuple[str, str]]:
    """(request id, shop) of every decision waiting: for `check`."""
    return [tuple(r) for r in conn.execute(sa.select(sync_outbox.c.request_id, sync_outbox.c.shop))]


def hold_request(conn: Connection, request_id: str, version: int) -> None:
    """A compare-and-set that writes nothing: the request is still at `version` (else Lost),
    and on PostgreSQL its row is locked until the commit, so that a decision written to the
    outbox was checked against the request as it stands."""
    result = conn.execute(
        sa.update(requests)
        .where(requests.c.id == request_id, requests.c.version == version)
        .values(version=version)
    )
    if result.rowcount != 1:
        raise Lost


# ---------------------------------------------------------------------------------------------
# Reject reasons


def reasons(conn: Connection, request_id: str, stage: str) -> list[tuple[str, str]]:
    """(name, text) of the reasons the marketplace offers for this request at `stage`."""
    query = (
        sa.select(sync_reject_reasons.c.name, sync_reject_reasons.c.text)
        .where(
            sync_reject_reasons.c.request_id == request_id, sync_reject_reasons.c.stage == stage
        )
        .order_by(sync_reject_reasons.c.position)
    )
    return [(row.name, row.text) for row in conn.execute(query)]


def replace_reasons(
    conn: Connection, request_id: str, stage: str, pairs: list[tuple[str, str]]
) -> None:
    forget_reasons(conn, request_id, stage)
    if pairs:
        conn.execute(
            sa.insert(sync_reject_reasons),
            [
                {"request_id": request_id, "stage": stage, "position": i, "name": n, "text": t}
                for i, (n, t) in enumerate(pairs)
            ],
        )


def forget_reasons(conn: Connection, request_id: str, stage: str) -> None:
    conn.execute(
        sa.delete(sync_reject_reasons).where(
            sync_reject_reasons.c.request_id == request_id, sync_reject_reasons.c.stage == stage
        )
    )


def lacking_reasons(conn: Connection, shop: str, stages: dict[str, str]) -> list[tuple[str, str]]:
    """(request id, stage) of the shop's synced requests whose status is a key of `stages`
    (status → stage) with no reasons stored for that stage."""
    out = []
    for status, stage in stages.items():
        stored = sa.exists().where(
            sync_reject_reasons.c.request_id == requests.c.id,
            sync_reject_reasons.c.stage == stage,
        )
        query = (
            sa.select(requests.c.id)
            .where(
                requests.c.shop == shop,
                requests.c.source == "marketplace",
                requests.c.status == status,
                ~stored,
            )
            .order_by(requests.c.id)
        )
        out += [(rid, stage) for rid in conn.execute(query).scalars()]
    return out


# ---------------------------------------------------------------------------------------------
# Marketplace records stored, webhook notifications seen


# A page's lookups go in chunks of this many values (SQLite's limit on parameters is 32 766,
# and a statement with a fixed shape is compiled once).
CHUNK = 500
_KNOWN_KEYS = sa.select(sync_record_keys.c.key).where(
    sync_record_keys.c.key.in_(sa.bindparam("keys", expanding=True))
)
_REQUESTS_BY_ID = sa.select(requests).where(
    requests.c.id.in_(sa.bindparam("ids", expanding=True))
)


def known_record_keys(conn: Connection, keys: list[str]) -> set[str]:
    """Which of these marketplace record keys are stored already."""
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        found.update(conn.execute(_KNOWN_KEYS, {"keys": keys[i : i + CHUNK]}).scalars())
    return found


def request_rows(conn: Connection, request_ids: list[str]) -> dict[str, Any]:
    """The requests of these ids that exist, by id (mapping rows, as queries.request_row)."""
    rows: dict[str, Any] = {}
    ids = list(dict.fromkeys(request_ids))
    for i in range(0, len(ids), CHUNK):
        for row in conn.execute(_REQUESTS_BY_ID, {"ids": ids[i : i + CHUNK]}).mappings():
            rows[row["id"]] = row
    return rows


def add_record_keys(conn: Connection, keys: list[tuple[str, str]]) -> None:
    """(key, request id) of marketplace records now stored."""
    if keys:
        conn.execute(sa.insert(sync_record_keys), [{"key": k, "request_id": r} for k, r in keys])


_ORDER_VERSIONS = sa.select(orders.c.order_id, orders.c.version).where(
    orders.c.order_id.in_(sa.bindparam("ids", expanding=True))
)
_REJECTIONS = (
    sa.select(requests.c.order_id, sa.func.count(requests.c.rejected_at))
    .where(requests.c.order_id.in_(sa.bindparam("ids", expanding=True)))
    .group_by(requests.c.order_id)
)


def order_versions(conn: Connection, order_ids: list[str]) -> dict[str, int]:
    """The versions of those of these orders that exist (writes.order_version, for many)."""
    return dict(_chunked(conn, _ORDER_VERSIONS, order_ids))


def rejection_counts(conn: Connection, order_ids: list[str]) -> dict[str, int]:
    """How many requests on each of these orders were ever rejected (rejected_at set)."""
    return {order_id: n for order_id, n in _chunked(conn, _REJECTIONS, order_ids)}


def _chunked(conn: Connection, query: Any, ids: list[str]) -> list[tuple]:
    ids = list(dict.fromkeys(ids))
    out: list[tuple] = []
    for i in range(0, len(ids), CHUNK):
        out += [tuple(r) for r in conn.execute(query, {"ids": ids[i : i + CHUNK]})]
    return out


def notification_seen(conn: Connection, notification_id: str) -> bool:
    query = sa.select(sync_notifications.c.id).where(sync_notifications.c.id == notification_id)
    return conn.execute(query).first() is not None


def add_notification(conn: Connection, notification_id: str, at: DateTime) -> None:
    conn.execute(sa.insert(sync_notifications).values(id=notification_id, at=at))


# ---------------------------------------------------------------------------------------------
# Locks


def lock_holder(conn: Connection, shop: str) -> tuple[str, DateTime] | None:
    row = conn.execute(
        sa.select(sync_locks.c.holder, sync_locks.c.taken_at).where(sync_locks.c.shop == shop)
    ).first()
    return None if row is None else (row.holder, row.taken_at)


def take_lock(conn: Connection, shop: str, holder: str, at: DateTime) -> None:
    conn.execute(sa.delete(sync_locks).where(sync_locks.c.shop == shop))
    conn.execute(sa.insert(sync_locks).values(shop=shop, holder=holder, taken_at=at))


def release_lock(conn: Connection, shop: str, holder: str) -> None:
    conn.execute(
        sa.delete(sync_locks).where(sync_locks.c.shop == shop, sync_locks.c.holder == holder)
    )


# ---------------------------------------------------------------------------------------------
# What the console reads of the marketplace's refusals


def last_record_id(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.max(records.c.id))).scalar() or 0


def refusals_after(conn: Connection, after_id: int, limit: int = 50) -> list[Any]:
    """(id, request_id, shop, at, details) of the marketplace's refusals recorded after the
    record `after_id`, oldest first."""
    query = (
        sa.select(records.c.id, records.c.request_id, requests.c.shop, records.c.at,
                  records.c.details)
        .join(requests, requests.c.id == records.c.request_id)
        .where(records.c.kind == "push_refused", records.c.id > after_id)
        .order_by(records.c.id)
        .limit(limit)
    )  # fmt: skip
    return list(conn.execute(query))
