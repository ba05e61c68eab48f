"""Tables kept by triggers (the Insights rollups, `handled`, `tab_counts`): their triggers
suspended for a bulk insert, and the table rebuilt once afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from returns_tui.store.engine import is_sqlite


@contextmanager
def suspended(
    conn: Connection, triggers: Mapping[str, str], rebuild: Callable[[Connection], None]
) -> Iterator[None]:
    """For a bulk insert within the caller's transaction: `triggers` (name: table) are off
    meanwhile, and `rebuild` makes their tables again from the data afterwards, once (a
    seed's million requests cost seconds so instead of a trigger's statements a row). On
    SQLite, which cannot disable a trigger, they are dropped and made again from their DDL;
    on PostgreSQL, ALTER TABLE takes the tables' lock until the caller commits."""
    if is_sqlite(conn):
        names = ", ".join("?" * len(triggers))
        ddl = conn.exec_driver_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})",
            tuple(triggers),
        ).all()
        for name, _sql in ddl:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield
        for _name, sql in ddl:
            conn.exec_driver_sql(sql)
    else:
        for name, table in triggers.items():
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        yield
        for name, table in triggers.items():
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
    rebuild(conn)
