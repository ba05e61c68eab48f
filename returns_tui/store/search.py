"""Search: what people type finds the requests they mean, through an index instead of a scan.

**What matches.** Each request stores `search_text`: its request id, order id, tracking
number, shop, buyer, product, SKU, the buyer's reason code and that reason's label, each
*folded* (below) and joined by spaces. A search text is folded the same way and cut into
words at white space; a request matches when **every word is a part of its search_text**,
in any order ("lima ana" finds Ana Lima; "r0000301", "301" and "R0000301" all find
R0000301; "9400ae" finds a tracking number by its start). A search with no word left (only
white space, or marks that fold to nothing) matches every request, like an empty one.
That is the one definition, on every path and both databases: `search_text LIKE '%word%'`
for each word (its wildcards escaped), a substring test on text that is already folded (so
that SQLite's LIKE, which ignores the case of ASCII letters, and PostgreSQL's, which does
not, agree); tests/test_search_index.py checks index = scan = a plain Python filter over
the fields themselves.

**Folding** (`fold`), so that text matches as people type it: compatibility decomposition
(NFKD: "ﬁ" is "fi", full-width "ＡＢ" is "AB", "é" is "e" + an accent), the diacritics
dropped (the combining marks of the Combining Diacritical Marks blocks: the accents of
Latin, Greek and Cyrillic letters; not the marks other scripts write words with, such as
Devanagari's virama or the Japanese voicing mark, which change the word), case folded
(casefold: "ß" is "ss", "Σ" and "ς" are "σ"), then the letters NFKD leaves whole but that
people type as plain Latin ones: ł→l, ø→o, đ→d, ħ→h, ŧ→t, ı→i, ð→d, þ→th, æ→ae, œ→oe,
ŋ→n (so "lukasz" finds Łukasz and "soren" Søren; "mueller" does not find Müller: no
transliteration beyond that table), and last NFC, which puts Hangul syllables back together
(NFKD splits them into letters, and a one-letter search would match inside a syllable).
The dotted İ folds to "i", like the dotless ı. Decomposition also folds some letters that
people do tell apart: the Cyrillic й is и with a breve, so "и" finds "й" (never the other
way round fails: the fold is the same on both sides).

**The index** only finds candidates quickly; the expression above then decides, so the
results are the same with or without it:
- SQLite: `requests_search`, a contentless FTS5 table with the `trigram` tokenizer over each
  request's search_text and facets (its shop, reason, currency, type and amount:
  store.facets), kept in step by triggers (migrations 0004, 0016). It keeps no positions
  (detail=none: a third of the size, several times faster to write), so a search asks for
  the rows holding *every* trigram of its words of three characters or more (a superset of
  the rows that contain them), and its filters' facets; the expression and the filters keep
  the true matches.
- PostgreSQL: a `pg_trgm` GIN index on search_text, when the server let migration 0004
  create the extension; the planner uses it for the LIKEs themselves. Without it they scan.
  It also holds each request's type, currency, reason and shop (btree_gin, migration
  0020), so that a search with those filters finds its candidates in it alone.
- A search whose words are all shorter than three characters has no trigram: the
  expression scans, on both databases. A page of rows still stops at its LIMIT; counting
  every match reads every search_text the viewer may see (see docs/PERFORMANCE.md).

search_text is written by the services with every request (store.rows.request_values), by
the seed's bulk insert, and for the rows already there by migration 0004 (`fill`). Change
`fold` or `search_text` only with a migration that calls `fill` again.
"""

from __future__ import annotations

import math
import unicodedata
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from returns_tui import labels
from returns_tui.store import facets, triggers
from returns_tui.store.schema import requests

FTS_TABLE = "requests_search"
# The prefix of the triggers that keep FTS_TABLE in step with requests (migration 0004).
TRIGGER_PREFIX = "requests_search_"
MIN_INDEXED = 3  # characters: the trigram tokenizer cannot find less
MAX_TRIGRAMS = 24  # of a long text, this many spread over it narrow the candidates enough
# From this many candidates on, a page of a search reads the rows in its own order and keeps
# the matches (store.queries.walks_search): where reading 101 matches in order (one row in
# N/C is one) costs as much as looking every candidate up and sorting them, at N = 1M. A row
# read in order costs 1.4 times a candidate looked up (3.5-3.9 against 2.5-2.7 µs at 1M,
# bench/search_walk_or_gather.py, bench/logs/walk-or-gather-*.log): 101 * N / C * 1.4 = C.
COMMON_FROM = 12_000

_fts = sa.table(FTS_TABLE, sa.column("rowid"))

# ---------------------------------------------------------------------------------------------
# Folding

# The Combining Diacritical Marks blocks: the accents NFKD takes off Latin, Greek and Cyrillic
# letters (and their supplements and extensions).
_DIACRITICS = frozenset(
    chr(c)
    for lo, hi in ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF),
                   (0xFE20, 0xFE2F))  # fmt: skip
    for c in range(lo, hi + 1)
)
_STRIP = str.maketrans(dict.fromkeys(map(ord, _DIACRITICS)))
# Letters that NFKD does not decompose, as people without them on their keyboard type them
# (after casefold, so only the lower case is needed).
_PLAIN = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ı": "i", "ð": "d", "þ": "th",
     "æ": "ae", "œ": "oe", "ŋ": "n"}  # fmt: skip
)


def fold(text: str) -> str:
    """`text` as search compares it (see the module's doc): no diacritics, case folded."""
    if text.isascii():  # NFKD, the marks and casefold change nothing in ASCII but its case
        return text.lower()
    # NFKD before casefold (İ is I + a dot, then i) and after it (casefold may compose).
    text = unicodedata.normalize("NFKD", text).translate(_STRIP).casefold()
    text = unicodedata.normalize("NFKD", text).translate(_STRIP).translate(_PLAIN)
    return unicodedata.normalize("NFC", text)


_fold_cached = lru_cache(maxsize=8192)(fold)  # names, products, shops and SKUs repeat


def words(text: str) -> list[str]:
    """The folded words of a search, each one that a request must contain."""
    return fold(text).split()


def search_text(
    request_id: str,
    order_id: str,
    tracking: str | None,
    shop: str,
    buyer: str,
    product: str,
    sku: str,
    reason: str,
) -> str:
    """What a request's search_text column holds (see the module's doc)."""
    return " ".join(
        (
            fold(request_id),
            fold(order_id),
            fold(tracking or ""),
            _fold_cached(shop),
            _fold_cached(buyer),
            _fold_cached(product),
            _fold_cached(sku),
            _fold_cached(reason),
            _fold_cached(labels.buyer_reason(reason)),
        )
    )


# The columns search_text is made of, in search_text's order of arguments.
SOURCE_COLUMNS = ("id", "order_id", "tracking", "shop", "buyer", "product", "sku", "reason")


# ---------------------------------------------------------------------------------------------
# The query


def indexed(text: str) -> bool:
    """Whether an index can find candidates for `text` (a word of three characters or more)."""
    return any(len(word) >= MIN_INDEXED for word in words(text))


def trigrams(text: str) -> list[str]:
    """The distinct three-character pieces of the search's words, in order; at most
    MAX_TRIGRAMS of them, spread over the text (fewer only widen the candidates)."""
    seen: dict[str, None] = {}
    for word in words(text):
        for i in range(len(word) - 2):
            seen.setdefault(word[i : i + 3], None)
    pieces = list(seen)
    if len(pieces) > MAX_TRIGRAMS:
        step = (len(pieces) - 1) / (MAX_TRIGRAMS - 1)
        pieces = [pieces[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return pieces


Facets = tuple[tuple[str, ...], ...]  # groups of trigrams, one of each (store.facets)


def fts_query(text: str, facets: Facets = ()) -> str:
    """An FTS5 query for the rows holding every trigram of `text` and at least one trigram
    of each group of `facets`: each trigram a quoted string (a `"` inside doubled), the
    groups' in parentheses joined by OR, all joined by AND."""
    asked = [_quoted(t) for t in trigrams(text)]
    asked += ["(" + " OR ".join(map(_quoted, group)) + ")" for group in facets]
    return " AND ".join(asked)


def _quoted(trigram: str) -> str:
    return '"' + trigram.replace('"', '""') + '"'


def common(conn: Connection, text: str, kept: float = 1.0, facets: Facets = ()) -> bool:
    """Whether the SQLite index holds at least COMMON_FROM / sqrt(kept) candidates for `text`
    (an indexed search) and `facets`, where `kept` is the share of them that a page's filters
    keep: the index stops counting there, a few milliseconds at most. A page that walks its
    order finds one match in N / (candidates * kept) rows, and gathering reads every
    candidate: the two cost the same where candidates² * kept is COMMON_FROM²."""
    if not trigrams(text) or kept <= 0:
        return False
    at_least = math.ceil(COMMON_FROM / math.sqrt(kept))
    sql = f"SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT 1 OFFSET {at_least - 1}"
    return conn.exec_driver_sql(sql, (fts_query(text, facets),)).first() is not None


def candidates(text: str, facets: Facets = (), within: Any = None) -> Any:
    """The rowids of the requests the SQLite index finds for `text` (an indexed search) and
    `facets`; of those, the ones that the rowids selected by `within` hold too, if given."""
    query = sa.literal(fts_query(text, facets), sa.String)
    found = sa.select(_fts.c.rowid).where(sa.literal_column(FTS_TABLE).op("MATCH")(query))
    return found if within is None else sa.intersect(found, within)


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def match_clause(text: str) -> ColumnElement[bool]:
    """The definition of a match (see the module's doc), without any index: a scan."""
    found = words(text)
    if not found:
        return sa.true()
    column = requests.c.search_text
    # SQLite's LIKE ignores the case of ASCII letters, PostgreSQL's does not: the same test
    # here, since folded text has no capital letter (tests/test_search_index.py).
    return sa.and_(*[column.like(_like_pattern(word), escape="\\") for word in found])


def text_clause(text: str, facets: Facets = (), within: Any = None) -> ColumnElement[bool]:
    """Requests that match `text`: on SQLite through the FTS5 index's candidates for its
    words (when one has three characters or more) and the filters' `facets`, and among the
    rowids `within` selects (candidates), the expression alone elsewhere (PostgreSQL's
    planner finds its pg_trgm index for it, and for the filters beside it: migration 0020)."""
    match = match_clause(text)
    if not indexed(text):
        return match
    found = candidates(text, facets, within)
    through_index = sa.and_(sa.literal_column("requests.rowid").in_(found), match)
    return _PerDialect(through_index, match)


def unindexed(column: sa.Column[Any]) -> ColumnElement[Any]:
    """`column`, which SQLite must not use an index for (a unary `+`). With an indexed search
    the viewer's shops and tab are a filter on the few candidates: without statistics SQLite
    takes `tab = ?` for a narrow range and walks a whole tab of the index instead (300 ms for
    an exact id in a tab of 150 000 requests, against 1 ms from the candidates)."""
    return _NoIndex(column)


def unordered(column: sa.Column[Any]) -> ColumnElement[Any]:
    """`column` for the ORDER BY of a page that gathers its few matches and sorts them
    (queries.Filter.ordered), which no index may serve: a unary `+` on SQLite, `column + 0`
    (`|| ''` for text) on PostgreSQL. PostgreSQL otherwise walked its order's index and
    tested each row: 40 000 requests newest first for the 101 of "lima" in JPY at 1M
    (310 ms), where its 2 536 matches are gathered and sorted in 30."""
    return _NoOrderIndex(column)


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


class _NoOrderIndex(_NoIndex):
    inherit_cache = True


@compiles(_NoOrderIndex)
def _compile_unordered(element: _NoOrderIndex, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.column, **kw)
    return f"({text} || '')" if isinstance(element.type, sa.String) else f"({text} + 0)"


# On SQLite the unary `+` of unindexed serves an ORDER BY as well.
compiles(_NoOrderIndex, "sqlite")(_compile_unindexed)


# ---------------------------------------------------------------------------------------------
# Writing search_text for rows already there (migration 0004), and the seed's bulk insert

FILL_BATCH = 5000


def fill(conn: Connection) -> int:
    """Write every request's search_text from its columns, a batch at a time, in the
    caller's transaction; returns the number of requests. On PostgreSQL each batch goes
    through a temporary table and one UPDATE (a million single-row UPDATEs took minutes)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS search_fill "
            "(id TEXT PRIMARY KEY, search_text TEXT) ON COMMIT DROP"
        )
    select = f"SELECT {', '.join(SOURCE_COLUMNS)} FROM requests WHERE id > {mark} ORDER BY id"
    select += f" LIMIT {FILL_BATCH}"
    after, done = "", 0
    while True:
        rows = conn.exec_driver_sql(select, (after,)).all()
        if not rows:
            return done
        values = [(search_text(*row), row[0]) for row in rows]
        if sqlite:
            conn.exec_driver_sql(f"UPDATE requests SET search_text = {mark} WHERE id = {mark}",
                                 values)  # fmt: skip
        else:
            _fill_batch_pg(conn, values)
        done += len(rows)
        after = rows[-1][0]


def _fill_batch_pg(conn: Connection, values: list[tuple[str, str]]) -> None:
    conn.exec_driver_sql("TRUNCATE search_fill")
    with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy("COPY search_fill (search_text, id) FROM STDIN") as stream:
            for row in values:
                stream.write_row(row)
    conn.exec_driver_sql(
        "UPDATE requests SET search_text = search_fill.search_text FROM search_fill "
        "WHERE requests.id = search_fill.id"
    )


def has_index(conn: Connection) -> bool:
    """Whether this SQLite database has the FTS5 search table."""
    if conn.dialect.name != "sqlite":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
    ).first()
    return found is not None


def suspended(conn: Connection) -> AbstractContextManager[None]:
    """On SQLite, for a bulk insert into requests within the caller's transaction: the
    triggers that index each row as it comes are off (store/triggers.py), and the whole
    index rebuilt from the table afterwards, which is twenty times faster than row by row.
    Elsewhere, nothing."""
    if not has_index(conn):
        return nullcontext()
    names = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'requests' "
        "AND name LIKE ? ESCAPE '\\'",
        (TRIGGER_PREFIX.replace("_", "\\_") + "%",),
    ).scalars()
    return triggers.suspended(conn, dict.fromkeys(names, "requests"), rebuild)


def rebuild(conn: Connection) -> None:
    """Index every request again (SQLite): after a bulk insert without the triggers, or to
    repair the index if the table was ever rebuilt around it."""
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
    conn.exec_driver_sql(
        f"INSERT INTO {FTS_TABLE}(rowid, indexed) "
        f"SELECT rowid, {facets.indexed_sql('requests')} FROM requests"
    )


def index_ddl() -> list[str]:
    """The SQLite index and the triggers that keep it in step with requests (migration
    0016): a contentless FTS5 table of trigrams (taken as stored, case_sensitive 1: the
    text is folded already), without positions or sizes, of each request's search_text and
    facets (store.facets). Contentless, since it holds more than a column of requests: a
    change removes the old text, which the triggers write again from the old row."""
    indexed = {row: facets.indexed_sql(row) for row in ("old", "new")}
    delete = (
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, indexed) "
        f"VALUES ('delete', old.rowid, {indexed['old']}); "
    )
    insert = f"INSERT INTO {FTS_TABLE}(rowid, indexed) VALUES (new.rowid, {indexed['new']}); "
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in facets.SOURCE_COLUMNS)
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(indexed, content='', "
        "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)",
        f"CREATE TRIGGER {TRIGGER_PREFIX}insert AFTER INSERT ON requests BEGIN {insert}END",
        f"CREATE TRIGGER {TRIGGER_PREFIX}delete AFTER DELETE ON requests BEGIN {delete}END",
        # Every change of a request writes all its columns; only these change what is indexed
        # (a shipment's tracking number changes search_text).
        f"CREATE TRIGGER {TRIGGER_PREFIX}update AFTER UPDATE OF {', '.join(facets.SOURCE_COLUMNS)} "
        f"ON requests WHEN {changed} BEGIN {delete}{insert}END",
    ]
