"""Search by a part of a buyer's name or of a product, through an index instead of a scan.

What matches is defined by one expression, the same on every path and both databases:
`lower(buyer) LIKE '%text%'` or the same on `product`, with `text` lowered by Python and the
LIKE wildcards in it escaped. The indexes only find the candidates quickly; that expression
then decides, so the results are the same with or without an index (tests/test_search_index.py
checks this against a plain Python filter).

- SQLite: `requests_search`, an external-content FTS5 table with the `trigram` tokenizer over
  requests(buyer, product), kept in step by triggers (migration 0002). It keeps no positions
  (detail=none: a third of the size, several times faster to write), so a search of three
  characters or more asks for the rows holding *every* trigram of the text (a superset of the
  rows that contain the text), and the LIKE above keeps the true matches. SQLite's own
  lower() folds ASCII only, so for text beyond ASCII the LIKE lowers with Python's str.lower
  (registered on each connection by store.engine); the trigram tokenizer folds letters
  beyond ASCII too, so the index finds at least what the LIKE finds: never fewer rows.
- PostgreSQL: `pg_trgm` GIN indexes on lower(buyer) and lower(product), when the server let
  migration 0002 create the extension; the planner uses them for the LIKE itself. Without
  them the LIKE scans, as before.
- Text of one or two characters has no trigram: the LIKE scans on both databases. A page of
  rows still stops at its LIMIT; counting every match scans the viewer's requests.

Where the two databases may still differ: PostgreSQL (C.UTF-8) and Python lower the same
letters, but for the dotted İ (one letter in PostgreSQL, two in Python) and the final sigma
(Python writes ς at the end of a word, PostgreSQL σ); and an ASCII text is compared with
SQLite's lower(), which leaves the Kelvin sign and İ as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from returns_tui.store.engine import UNICODE_LOWER
from returns_tui.store.schema import requests

FTS_TABLE = "requests_search"
# The prefix of the triggers that keep FTS_TABLE in step with requests (migration 0002).
TRIGGER_PREFIX = "requests_search_"
MIN_INDEXED = 3  # characters: the trigram tokenizer cannot find less
MAX_TRIGRAMS = 24  # of a long text, this many spread over it narrow the candidates enough

_fts = sa.table(FTS_TABLE, sa.column("rowid"))


def folded(text: str) -> str:
    """The text as the LIKE compares it."""
    return text.lower()


def like_pattern(text: str) -> str:
    escaped = folded(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def indexed(text: str) -> bool:
    """Whether an index can find `text` (three characters or more)."""
    return len(folded(text)) >= MIN_INDEXED


def trigrams(text: str) -> list[str]:
    """The distinct three-character pieces of the folded text, in order; at most
    MAX_TRIGRAMS of them, spread over the text (fewer only widen the candidates)."""
    low = folded(text)
    seen: dict[str, None] = {}
    for i in range(len(low) - 2):
        seen.setdefault(low[i : i + 3], None)
    pieces = list(seen)
    if len(pieces) > MAX_TRIGRAMS:
        step = (len(pieces) - 1) / (MAX_TRIGRAMS - 1)
        pieces = [pieces[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return pieces


def fts_query(text: str) -> str:
    """An FTS5 query for the rows holding every trigram of `text`: each trigram a quoted
    string (a `"` inside doubled), joined by AND."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams(text))


def like_clause(text: str) -> ColumnElement[bool]:
    """The definition of a match (see the module's doc): a scan when nothing else helps."""
    pattern = like_pattern(text)

    def matches(lower: Any) -> ColumnElement[bool]:
        return sa.or_(
            lower(requests.c.buyer).like(pattern, escape="\\"),
            lower(requests.c.product).like(pattern, escape="\\"),
        )

    if text.isascii():
        return matches(sa.func.lower)
    # Text beyond ASCII: SQLite's lower() would leave "ÉMILIE" as it is, so there it is
    # Python's str.lower, a function call per row (twice the cost of a scan, hence not for
    # ASCII text, where the two agree on every letter but the Kelvin sign and the dotted İ).
    return _PerDialect(matches(getattr(sa.func, UNICODE_LOWER)), matches(sa.func.lower))


def text_clause(text: str) -> ColumnElement[bool]:
    """Requests whose buyer or product contains `text`: through the FTS5 index on SQLite (for
    three characters or more), the LIKE elsewhere (PostgreSQL's planner finds its pg_trgm
    indexes for it)."""
    like = like_clause(text)
    if not indexed(text):
        return like
    candidates = sa.select(_fts.c.rowid).where(
        sa.literal_column(FTS_TABLE).op("MATCH")(sa.literal(fts_query(text), sa.String))
    )
    through_index = sa.and_(sa.literal_column("requests.rowid").in_(candidates), like)
    return _PerDialect(through_index, like)


def unindexed(column: sa.Column[Any]) -> ColumnElement[Any]:
    """`column`, which SQLite must not use an index for (a unary `+`). With an indexed search
    the viewer's shops and tab are a filter on the few candidates: without statistics SQLite
    takes `tab = ?` for a narrow range and walks a whole tab of the index instead (300 ms for
    an exact id in a tab of 150 000 requests, against 1 ms from the candidates)."""
    return _NoIndex(column)


class _PerDialect(ColumnElement[Any]):
    """`sqlite` on SQLite, `other` on every other database. Both are kept in the statement
    cache's key, so a cached statement never mixes two texts."""

    type = NullType()  # no `= 1` after it on SQLite: it is a condition, not a column
    inherit_cache = True
    _traverse_internals = [
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("other", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], other: ColumnElement[Any]) -> None:
        self.sqlite = sqlite
        self.other = other


@compiles(_PerDialect)
def _compile_other(element: _PerDialect, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.other, **kw) + ")"


@compiles(_PerDialect, "sqlite")
def _compile_sqlite(element: _PerDialect, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.sqlite, **kw) + ")"


class _NoIndex(ColumnElement[Any]):
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.Column[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_NoIndex)
def _compile_column(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_NoIndex, "sqlite")
def _compile_unindexed(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


# ---------------------------------------------------------------------------------------------
# Bulk writes (the seed)


def has_index(conn: Connection) -> bool:
    """Whether this SQLite database has the FTS5 search table."""
    if conn.dialect.name != "sqlite":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
    ).first()
    return found is not None


@contextmanager
def suspended(conn: Connection) -> Iterator[None]:
    """On SQLite, for a bulk insert into requests within the caller's transaction: the
    triggers that index each row as it comes are dropped, and afterwards created again from
    their own DDL and the whole index rebuilt from the table, which is twenty times faster
    than row by row. Elsewhere, nothing."""
    if not has_index(conn):
        yield
        return
    triggers = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'requests' "
        "AND name LIKE ? ESCAPE '\\'",
        (TRIGGER_PREFIX.replace("_", "\\_") + "%",),
    ).all()
    for name, _sql in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)
    rebuild(conn)


def rebuild(conn: Connection) -> None:
    """Index every request again (SQLite): after a bulk insert without the triggers, or to
    repair the index if the table was ever rebuilt around it."""
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
