"""Search finds what people type: a folded search_text per request, indexed; and an index
that sums the money at stake in a tab without reading the table.

Adds requests.search_text (store.search: the request's ids, tracking number, shop, buyer,
product, SKU and reason, folded), fills it for every request already there (store.search.fill,
in batches), and indexes it in place of migration 0002's buyer and product indexes:

SQLite: `requests_search` becomes an external-content FTS5 table with the trigram tokenizer
over requests(search_text), without positions or sizes, kept in step by three triggers and
built from the rows. The trigrams are taken as stored (case_sensitive 1): the text is
already folded. ALTER TABLE ADD COLUMN keeps every rowid, which the index is keyed by.

PostgreSQL: a pg_trgm GIN index on search_text, if the server lets us create the extension
(or it is there already); where CREATE EXTENSION is not permitted the migration still
succeeds without it, and searches scan. An administrator can later run
`CREATE EXTENSION pg_trgm` and create the index below by hand.

Both: ix_requests_tab_money on requests(tab, currency, shop, amount_cents), from which
store.queries.totals sums a tab's amounts per currency (an operator's shops filtered in it).

At a million requests this migration takes tens of seconds (it reads and writes every
request); the console and the commands refuse the database until it is done.

Revision ID: 0004
Revises: 0003
"""

import importlib.util
import logging
from pathlib import Path

from alembic import op

from returns_tui.store import search

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FTS = search.FTS_TABLE
_SQLITE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(search_text, content='requests', "
    "content_rowid='rowid', tokenize='trigram case_sensitive 1', detail=none, columnsize=0)",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON requests BEGIN "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON requests BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
    "VALUES ('delete', old.rowid, old.search_text); END",
    # Every change of a request writes all its columns; only a new search_text matters (a
    # shipment's tracking number).
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF search_text ON requests "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
    "VALUES ('delete', old.rowid, old.search_text); "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
PG_INDEX = "ix_requests_search_trgm"
MONEY_INDEX = "ix_requests_tab_money"


def _revision_0002():
    """Migration 0002's module: what it created is dropped here, and made again on the way
    down."""
    path = Path(__file__).with_name("0002_search_index.py")
    spec = importlib.util.spec_from_file_location("returns_tui_migration_0002", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    bind = op.get_bind()
    old = _revision_0002()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        for name in old._PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE requests ADD COLUMN search_text TEXT NOT NULL DEFAULT ''")
    filled = search.fill(bind)
    log.info("search_text written for %d requests", filled)
    op.execute(f"CREATE INDEX {MONEY_INDEX} ON requests (tab, currency, shop, amount_cents)")
    if sqlite:
        for statement in _SQLITE:
            op.execute(statement)
        return
    # The planner's statistics of the new column and index, which it weighs them by: without
    # them it may scan until autovacuum gets round to the table.
    op.execute("ANALYZE requests")
    if not old._pg_trgm(bind):
        log.warning(
            "pg_trgm is not available (CREATE EXTENSION was refused): searches scan the "
            "requests table"
        )
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON requests USING gin (search_text gin_trgm_ops)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP INDEX IF EXISTS {MONEY_INDEX}")
    if bind.dialect.name == "sqlite":
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    op.execute("ALTER TABLE requests DROP COLUMN search_text")
    _revision_0002().upgrade()
