"""The first schema: requests, their records, orders, users and idempotency keys.

Records are append-only: triggers refuse UPDATE and DELETE on them in the database itself,
so no program, ours or another, can rewrite a request's history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Micros = sa.BigInteger  # times: microseconds since the epoch, UTC


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("buyer", sa.Text, nullable=False),
        sa.Column("product", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("buyer_note", sa.Text, nullable=False),
        sa.Column("created_at", Micros, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("tab", sa.String(16), nullable=False),
        sa.Column("arbitration", sa.String(16)),
        sa.Column("respond_by", Micros, nullable=False),
        sa.Column("deadline_at", Micros),
        sa.Column("rejected_at", Micros),
        sa.Column("tracking", sa.String(64)),
        sa.Column("status_since", Micros, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    for name, cols in {
        "ix_requests_tab_deadline": ["tab", "deadline_at", "id"],
        "ix_requests_tab_created": ["tab", "created_at", "id"],
        "ix_requests_deadline": ["deadline_at", "id"],
        "ix_requests_created": ["created_at", "id"],
        "ix_requests_shop_tab_deadline": ["shop", "tab", "deadline_at", "id"],
        "ix_requests_shop_tab_created": ["shop", "tab", "created_at", "id"],
        "ix_requests_order": ["order_id"],
        "ix_requests_tracking": ["tracking"],
    }.items():
        op.create_index(name, "requests", cols)

    op.create_table(
        "records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(64), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", Micros, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("details", sa.Text),
        sa.UniqueConstraint("request_id", "seq", name="uq_records_request_seq"),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", Micros, nullable=False),
    )
    op.create_table(
        "user_shops",
        sa.Column(
            "name",
            sa.String(64),
            sa.ForeignKey("users.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("shop", sa.String(64), primary_key=True),
    )
    op.create_table(
        "applied_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("at", Micros, nullable=False),
    )
    _append_only_records()


def _append_only_records() -> None:
    message = "records are append-only"
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER records_no_{verb.lower()} BEFORE {verb} ON records "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records "
        "FOR EACH ROW EXECUTE FUNCTION records_append_only()"
    )
    op.execute(
        "CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records "
        "FOR EACH STATEMENT EXECUTE FUNCTION records_append_only()"
    )


def downgrade() -> None:
    for table in ("applied_keys", "user_shops", "users", "orders", "records", "requests"):
        op.drop_table(table)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS records_append_only()")
