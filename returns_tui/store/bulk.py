"""Loading many rows at once, for the seeder: the fastest way in on each database, a large
page cache on SQLite, the request indexes built once after the rows instead of row by row,
and the highest number among ids already there."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from returns_tui.store import handled, insight_rollups, search, tab_counts
from returns_tui.store.engine import PLACEHOLDER, is_sqlite

Writer = Callable[[Table, Sequence[str], list[tuple]], None]


def writer(conn: Connection) -> Writer:
    """How rows go in: PostgreSQL's COPY (one stream a table and chunk, several times faster
    than an INSERT a row however pipelined), else the driver's executemany."""
    if is_sqlite(conn):

        def insert(table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
            conn.exec_driver_sql(_insert_sql(conn, table, columns), rows)

        return insert

    def copy(table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)

    return copy


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    mark = PLACEHOLDER[conn.dialect.paramstyle]
    names = ", ".join(columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([mark] * len(columns))})"


@contextmanager
def big_cache(conn: Connection) -> Iterator[None]:
    """A large SQLite page cache for this connection while seeding: the request indexes are
    updated in random order, and the default 2 MB cache turns that into constant page
    reloads. The connection goes back to the pool with its old size."""
    if not is_sqlite(conn):
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


_CACHE_KIB = 256 * 1024


def request_count(conn: Connection) -> int:
    return conn.exec_driver_sql("SELECT count(*) FROM requests").scalar_one()


@contextmanager
def indexes_rebuilt(conn: Connection) -> Iterator[None]:
    """Drop the request table's own indexes and create them again from their own DDL
    afterwards, within the caller's transaction (so never lost): building an index once from
    the whole table costs a fraction of keeping it up to date row by row (docs/PERFORMANCE.md).
    The triggers of the Insights rollups, `handled` and `tab_counts` are suspended too, and on
    SQLite the search index's. On PostgreSQL, DROP INDEX (and ALTER TABLE for the triggers)
    locks the table until the caller commits, readers included: for an empty or a bench
    database."""
    ddl = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'requests' AND sql IS NOT NULL"
        if is_sqlite(conn)
        # Not the primary key: its index belongs to the constraint.
        else "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = 'requests' AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = 'requests'::regclass)"
    ).all()
    for name, _sql in ddl:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    # The search index too: its triggers index each row as it comes; one rebuild from the
    # table afterwards costs a tenth of that. And the Insights rollups, who handled which
    # request and the requests per tab, the same way.
    with (
        search.suspended(conn),
        insight_rollups.suspended(conn),
        handled.suspended(conn),
        tab_counts.suspended(conn),
    ):
        yield
    for _name, sql in ddl:
        conn.exec_driver_sql(sql)


def max_number(conn: Connection, table: str, column: str, pattern: re.Pattern[str]) -> int:
    """The largest number in ids that `pattern` matches whole, its group 1 the number (0 if
    none). The longest ids come first, and among ids of digits the longest is the largest;
    ids of another form (from `apply`, say) are skipped."""
    result = conn.exec_driver_sql(
        f"SELECT {column} FROM {table} ORDER BY length({column}) DESC, {column} DESC"
    )
    try:
        for (value,) in result:
            if m := pattern.fullmatch(value):
                return int(m.group(1))
        return 0
    finally:
        result.close()
