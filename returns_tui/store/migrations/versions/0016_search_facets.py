"""SQLite: the search index holds each request's shop, reason, currency, type and amount
beside its search_text (store.facets), so that a search with those filters asks the index for
them and reads fewer candidates ("lima" in JPY: 2 536 instead of 25 209 at 1M).

`requests_search` becomes a contentless FTS5 table (it holds more than a column of
requests), its triggers write the facets too and fire when any of those columns changes, and
every request is indexed again (store.search.index_ddl, rebuild): 33-40 s at 1M here.
PostgreSQL: nothing (its pg_trgm index is over search_text, and its planner reads the
filters' own indexes).

Revision ID: 0016
Revises: 0015
"""

import importlib.util
from pathlib import Path

from alembic import op

from returns_tui.store import search

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FTS = search.FTS_TABLE


def _drop() -> None:
    for suffix in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {search.TRIGGER_PREFIX}{suffix}")
    op.execute(f"DROP TABLE IF EXISTS {FTS}")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    _drop()
    for statement in search.index_ddl():
        op.execute(statement)
    search.rebuild(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop()
    path = Path(__file__).with_name("0004_search_and_totals.py")  # its table and triggers
    spec = importlib.util.spec_from_file_location("returns_tui_migration_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for statement in module._SQLITE:
        op.execute(statement)
