"""Tamper-evident records and idempotency keys bound to their lines (issue 11).

Adds requests.seal and requests.chain, records.chain (store/chain.py says what they hold),
the table chain_key (the fingerprint of the key the chains are made with), and
applied_keys.digest (the hash of a keyed line, services._check_key). Then seals and chains
every request and record already there, with the key `init` hands in (or the one in the key
file): records are append-only by trigger, so the trigger that refuses an UPDATE is lifted
for that and put back, within this migration's transaction, so it is never left off.

Keys stored before this revision have no digest (NULL): services._check_key refuses a line
that reuses one, since nothing can tell whether it is the line the key was first used for.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import context, op

from returns_tui.store import chain

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("seal", sa.LargeBinary))
    op.add_column("requests", sa.Column("chain", sa.LargeBinary))
    op.add_column("records", sa.Column("chain", sa.LargeBinary))
    op.add_column("applied_keys", sa.Column("digest", sa.String(64)))
    op.create_table(
        "chain_key",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT 1 FROM requests LIMIT 1").first() is None:
        return  # nothing to chain: the first write records the key's fingerprint
    key = context.config.attributes.get("chain_key") or chain.load_key()
    chain.require_key(bind, key)
    with _update_trigger_lifted(bind):
        chain.chain_all(bind, key)


@contextmanager
def _update_trigger_lifted(bind) -> Iterator[None]:
    """The append-only trigger that refuses UPDATE on records, off while the chains are
    written and back afterwards, as it was (a database whose trigger is already gone stays
    without: `check` reports it)."""
    if bind.dialect.name == "sqlite":
        row = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'records_no_update'"
        ).first()
        if row is not None:
            bind.exec_driver_sql("DROP TRIGGER records_no_update")
        yield
        if row is not None:
            bind.exec_driver_sql(row[0])
        return
    present = bind.exec_driver_sql(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = 'records'::regclass "
        "AND tgname = 'records_append_only'"
    ).first()
    if present:
        bind.exec_driver_sql("ALTER TABLE records DISABLE TRIGGER records_append_only")
    yield
    if present:
        bind.exec_driver_sql("ALTER TABLE records ENABLE TRIGGER records_append_only")


def downgrade() -> None:
    op.drop_table("chain_key")
    # Plain ALTER TABLE (SQLite 3.35 and later): a batch would rebuild records without its
    # triggers.
    for table, column in (
        ("applied_keys", "digest"), ("records", "chain"), ("requests", "chain"),
        ("requests", "seal"),
    ):  # fmt: skip
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
