"""The automation rules' SQL (DESIGN §10; the table is schema.rules, migration 0008)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui.store.engine import PLACEHOLDER
from returns_tui.store.schema import records, requests, rules, user_shops, users
from returns_tui.timefmt import from_micros

_COLUMNS = ("id", "owner", "name", "conditions", "keep_item", "created_at", "disabled",
            "disabled_by")  # fmt: skip


def add(
    conn: Connection, owner: str, name: str, conditions: str, keep_item: bool, now: DateTime
) -> None:
    conn.execute(
        sa.insert(rules).values(
            owner=owner, name=name, conditions=conditions, keep_item=keep_item, created_at=now
        )
    )


def one(conn: Connection, owner: str, name: str) -> Any:
    """The rule `name` of `owner` (a mapping row), or None."""
    query = sa.select(rules).where(rules.c.owner == owner, rules.c.name == name)
    return conn.execute(query).mappings().first()


def every(conn: Connection, owner: str | None = None) -> list[Any]:
    """Every rule (of `owner`, when given), by owner, then oldest first."""
    query = sa.select(rules).order_by(rules.c.owner, rules.c.created_at, rules.c.id)
    if owner is not None:
        query = query.where(rules.c.owner == owner)
    return list(conn.execute(query).mappings())


def remove(conn: Connection, owner: str, name: str) -> bool:
    query = sa.delete(rules).where(rules.c.owner == owner, rules.c.name == name)
    return conn.execute(query).rowcount != 0


def disable(conn: Connection, owner: str, name: str, by: str) -> bool:
    query = (
        sa.update(rules)
        .where(rules.c.owner == owner, rules.c.name == name)
        .values(disabled=True, disabled_by=by)
    )
    return conn.execute(query).rowcount != 0


def acting_on(conn: Connection, shop: str, arrived_us: int) -> list[dict[str, Any]]:
    """The rules that may act on a request of `shop` arriving at `arrived_us`, oldest first:
    switched on, made before it arrived, and whose owner is a user now, who has the shop
    now, and who was made a user no later than the rule (a login removed and added again is
    someone new, who did not make the old rule). Each rule's own conditions are the
    caller's to check. Sent as the driver's SQL: every submit asks it."""
    sql = _acting_sql(conn.dialect.paramstyle)
    found = []
    for row in conn.exec_driver_sql(sql, (shop, arrived_us)).all():
        rule = dict(zip(_COLUMNS, row, strict=True))
        rule["created_at"] = from_micros(rule["created_at"])  # the driver's raw integer
        found.append(rule)
    return found


@lru_cache(maxsize=4)
def _acting_sql(paramstyle: str) -> str:
    p = PLACEHOLDER[paramstyle]
    return (
        "SELECT r.id, r.owner, r.name, r.conditions, r.keep_item, r.created_at, r.disabled, "
        "r.disabled_by FROM rules r "
        "JOIN users u ON u.name = r.owner AND u.created_at <= r.created_at "
        f"JOIN user_shops s ON s.name = r.owner AND s.shop = {p} "
        f"WHERE NOT r.disabled AND r.created_at < {p} "
        "ORDER BY r.created_at, r.id"
    )


def buyer_count(
    conn: Connection, owner: str, buyer: str, since_us: int, until_us: int, other_than: str
) -> int:
    """The buyer's requests in the owner's shops created in (since, until], but the request
    `other_than` (the one arriving, which may or may not be written yet)."""
    sql = _count_sql(conn.dialect.paramstyle)
    params = (buyer, since_us, until_us, other_than, owner)
    return conn.exec_driver_sql(sql, params).scalar_one()


@lru_cache(maxsize=4)
def _count_sql(paramstyle: str) -> str:
    p = PLACEHOLDER[paramstyle]
    return (
        f"SELECT count(*) FROM requests WHERE buyer = {p} AND created_at > {p} "
        f"AND created_at <= {p} AND id <> {p} "
        f"AND shop IN (SELECT shop FROM user_shops WHERE name = {p})"
    )


def owner_shops(conn: Connection, owner: str) -> list[str]:
    query = sa.select(user_shops.c.shop).where(user_shops.c.name == owner)
    return sorted(conn.execute(query).scalars())


def owner_exists(conn: Connection, owner: str) -> bool:
    return conn.execute(sa.select(users.c.name).where(users.c.name == owner)).first() is not None


_TRY_COLUMNS = (
    requests.c.id, requests.c.shop, requests.c.type, requests.c.reason, requests.c.currency,
    requests.c.amount_cents, requests.c.buyer, requests.c.created_at,
)  # fmt: skip


def arrivals(
    conn: Connection, shops: list[str], since: DateTime, until: DateTime | None = None
) -> Iterator[Any]:
    """The requests of `shops` created at or after `since` (and at or before `until`), in
    the order they arrived: (id, shop, type, reason, currency, amount_cents, buyer,
    created_at). Streamed: a long period's requests are never all in memory."""
    query = (
        sa.select(*_TRY_COLUMNS)
        .where(requests.c.shop.in_(shops), requests.c.created_at >= since)
        .order_by(requests.c.created_at, requests.c.id)
    )
    if until is not None:
        query = query.where(requests.c.created_at <= until)
    yield from conn.execution_options(yield_per=2000).execute(query)


def activity(conn: Connection, since: DateTime) -> list[Any]:
    """What the rules accepted since `since`: (actor, currency, amount in hundredths, time)
    of each accept record by a `rule:` actor. The caller keeps those made after the rule
    itself (a name used again is a new rule, which did not make the old one's)."""
    query = (
        sa.select(records.c.actor, requests.c.currency, requests.c.amount_cents, records.c.at)
        .join(requests, requests.c.id == records.c.request_id)
        .where(
            records.c.kind == "accepted",
            records.c.at >= since,
            records.c.actor.like("rule:%"),
        )
    )
    return list(conn.execute(query).all())
