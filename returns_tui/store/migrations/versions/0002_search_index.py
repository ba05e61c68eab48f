"""Search by a part of a buyer's name or product through an index instead of a scan.

SQLite: `requests_search`, an external-content FTS5 table with the trigram tokenizer over
requests(buyer, product), without positions (detail=none) or per-row sizes (columnsize=0),
kept in step by three triggers, and built from the rows already there. The index is keyed by
the requests' rowid: a later migration that rebuilds the requests table (a batch ALTER) must
create these triggers again and rebuild the index (store.search.rebuild).

PostgreSQL: pg_trgm GIN indexes on lower(buyer) and lower(product), if the server lets us
create the extension (or it is there already). Where CREATE EXTENSION is not permitted the
migration still succeeds without them, and searches scan as before; an administrator can
later run `CREATE EXTENSION pg_trgm` and create the two indexes below by hand.

Revision ID: 0002
Revises: 0001
"""

import logging

from alembic import op

from returns_tui.store.engine import pg_extension

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FTS = "requests_search"
_SQLITE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(buyer, product, content='requests', "
    "content_rowid='rowid', tokenize='trigram', detail=none, columnsize=0)",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON requests BEGIN "
    f"INSERT INTO {FTS}(rowid, buyer, product) VALUES (new.rowid, new.buyer, new.product); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON requests BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, buyer, product) "
    "VALUES ('delete', old.rowid, old.buyer, old.product); END",
    # Every change of a request writes all its columns; only a new buyer or product matters.
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF buyer, product ON requests "
    "WHEN old.buyer IS NOT new.buyer OR old.product IS NOT new.product BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, buyer, product) "
    "VALUES ('delete', old.rowid, old.buyer, old.product); "
    f"INSERT INTO {FTS}(rowid, buyer, product) VALUES (new.rowid, new.buyer, new.product); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
_PG_INDEXES = {
    "ix_requests_buyer_trgm": "lower(buyer) gin_trgm_ops",
    "ix_requests_product_trgm": "lower(product) gin_trgm_ops",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        return
    if not _pg_trgm(bind):
        log.warning(
            "pg_trgm is not available (CREATE EXTENSION was refused): searches by a part of a "
            "name scan the requests table"
        )
        return
    for name, expression in _PG_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON requests USING gin ({expression})")


def _pg_trgm(bind) -> bool:
    """Whether pg_trgm is there, creating it if we may (engine.pg_extension)."""
    return pg_extension(bind, "pg_trgm")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
        return
    for name in _PG_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
