"""The users and their shops (DESIGN §3): who may log in, as what, and for which shops."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui.store.engine import PLACEHOLDER
from returns_tui.store.schema import user_shops, users


def login_rows(conn: Connection, name: str) -> list[tuple[str, str | None]]:
    """(role, shop) of the user `name`, one row per shop (one with no shop for agents and
    admins); none for a name that is not a user."""
    return conn.exec_driver_sql(_login_sql(conn.dialect.paramstyle), (name,)).all()


@lru_cache(maxsize=4)
def _login_sql(paramstyle: str) -> str:
    # Sent as the driver's SQL, since every read of the console asks it again.
    return (
        "SELECT users.role, user_shops.shop FROM users "
        "LEFT OUTER JOIN user_shops ON user_shops.name = users.name "
        f"WHERE users.name = {PLACEHOLDER[paramstyle]}"
    )


def count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()


def any_user(conn: Connection) -> bool:
    return conn.execute(sa.select(users.c.name).limit(1)).first() is not None


def exists(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is not None


def add(conn: Connection, name: str, role: str, shops: tuple[str, ...], now: DateTime) -> None:
    conn.execute(sa.insert(users).values(name=name, role=role, created_at=now))
    if shops:
        conn.execute(sa.insert(user_shops), [{"name": name, "shop": s} for s in sorted(set(shops))])


def remove(conn: Connection, name: str) -> bool:
    """Remove the user `name` and their shops; False when there was no such user."""
    conn.execute(sa.delete(user_shops).where(user_shops.c.name == name))
    return conn.execute(sa.delete(users).where(users.c.name == name)).rowcount != 0


def every_user(conn: Connection) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, role, shops) of every user, by name; each one's shops in order."""
    shops: dict[str, list[str]] = {}
    for name, shop in conn.execute(sa.select(user_shops).order_by(user_shops.c.shop)):
        shops.setdefault(name, []).append(shop)
    rows = conn.execute(sa.select(users).order_by(users.c.name))
    return [(r.name, r.role, tuple(shops.get(r.name, ()))) for r in rows]
