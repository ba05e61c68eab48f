"""Noticing other people's changes cheaply, so an idle console costs the database nothing.

SQLite: `PRAGMA data_version` on a connection of our own changes whenever another connection
commits; reading it touches no table. PostgreSQL: every write transaction sends a NOTIFY on
one channel (announce), and we LISTEN on a connection of our own; polling for
notifications is a socket read with no query.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from returns_tui.store.engine import is_sqlite

CHANGE_CHANNEL = "returns_tui_changes"
_NOTIFY = sa.select(sa.func.pg_notify(CHANGE_CHANNEL, ""))


def announce(conn: Connection) -> None:
    """Tell idle consoles on PostgreSQL that requests changed (delivered at commit, once per
    transaction however often it is called). SQLite consoles watch PRAGMA data_version
    instead, which costs nothing to write."""
    if not is_sqlite(conn):
        conn.execute(_NOTIFY)


class ChangeWatcher:
    """`changed()` is true when anyone committed a change since the last call. Not
    thread-safe: call it from one thread (the console's poll worker)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None
        self._last: Any = None

    def changed(self) -> bool:
        try:
            if self._conn is None:
                self._open()
                return True  # first look, or after a reconnect: assume everything moved
            return self._poll()
        except Exception:
            # The connection broke (server restarted, file gone): open a new one next time,
            # and say "changed" so the console re-reads and shows what is wrong.
            self.close()
            raise

    def _open(self) -> None:
        raw = self._engine.raw_connection()
        self._conn = raw
        if is_sqlite(self._engine):
            self._last = self._data_version()
        else:
            driver = raw.driver_connection
            driver.autocommit = True
            driver.execute(f"LISTEN {CHANGE_CHANNEL}")

    def _poll(self) -> bool:
        if is_sqlite(self._engine):
            now = self._data_version()
            moved, self._last = now != self._last, now
            return moved
        driver = self._conn.driver_connection
        # A zero timeout returns what has already arrived and never waits.
        return any(True for _ in driver.notifies(timeout=0))

    def _data_version(self) -> int:
        cur = self._conn.cursor()
        try:
            return cur.execute("PRAGMA data_version").fetchone()[0]
        finally:
            cur.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken; nothing more to release
                pass
        self._conn = None
