"""The marketplace sync (DESIGN §8): where a request comes from, and the sync's own tables.

Adds to requests: source (`local` or `marketplace`; every request already there is local),
marketplace_status (the marketplace's raw return_status), can_keep_item and quick_refund
(the marketplace's limits on a synced request's decisions; NULL for a local one).

New tables: sync_cursors (per shop, the last update_time brought in), sync_outbox (decisions
on synced requests waiting to be sent, each with its idempotency key and what is needed to
write the operator's record once the marketplace confirms), sync_reject_reasons (the
marketplace's reasons per request and stage), sync_record_keys (the marketplace records
already stored, by hash), sync_notifications (webhook notification ids seen) and sync_locks
(one sync per shop).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _id_column() -> sa.Column:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
        autoincrement=True,
    )  # fmt: skip


def upgrade() -> None:
    op.add_column(
        "requests",
        sa.Column("source", sa.String(16), nullable=False, server_default="local"),
    )
    op.add_column("requests", sa.Column("marketplace_status", sa.String(64)))
    op.add_column("requests", sa.Column("can_keep_item", sa.Boolean()))
    op.add_column("requests", sa.Column("quick_refund", sa.Boolean()))
    op.create_table(
        "sync_cursors",
        sa.Column("shop", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "sync_outbox",
        _id_column(),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("verb", sa.String(8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_sync_outbox_key"),
        # One decision in flight per request: a second is refused ("a decision is being sent").
        sa.UniqueConstraint("request_id", name="uq_sync_outbox_request"),
    )
    op.create_index("ix_sync_outbox_shop", "sync_outbox", ["shop", "id"])
    op.create_table(
        "sync_reject_reasons",
        sa.Column("request_id", sa.String(64), sa.ForeignKey("requests.id"), primary_key=True),
        sa.Column("stage", sa.String(8), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_table(
        "sync_record_keys",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "sync_notifications",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "sync_locks",
        sa.Column("shop", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("taken_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "sync_locks", "sync_notifications", "sync_record_keys", "sync_reject_reasons",
        "sync_outbox", "sync_cursors",
    ):  # fmt: skip
        op.drop_table(table)
    for name in ("quick_refund", "can_keep_item", "marketplace_status", "source"):
        op.drop_column("requests", name)
