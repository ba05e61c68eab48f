"""Idempotency keys (DESIGN §4, *Exactly once*): each key's stored verdict and the digest of
the line it was first used for."""

from __future__ import annotations

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui.store.schema import applied_keys

_KEY_ROW = sa.select(applied_keys.c.verdict, applied_keys.c.digest).where(
    applied_keys.c.key == sa.bindparam("key")
)


def find(conn: Connection, key: str) -> tuple[str, str | None] | None:
    """(verdict as JSON text, digest) of a key used before, or None."""
    row = conn.execute(_KEY_ROW, {"key": key}).first()
    return None if row is None else (row.verdict, row.digest)


def store(conn: Connection, key: str, verdict: str, at: DateTime, digest: str) -> None:
    conn.execute(sa.insert(applied_keys).values(key=key, verdict=verdict, at=at, digest=digest))
