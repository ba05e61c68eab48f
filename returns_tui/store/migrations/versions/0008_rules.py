"""Automation rules (DESIGN §10): an operator's rules that accept a request as it arrives.

One table, `rules`: the owner (a user's login) and the rule's name, unique together; its
conditions as JSON text (shops, type, reasons, currency, max_amount in hundredths,
max_buyer_requests); whether it accepts keeping the item; when it was made (microseconds,
UTC, as every time); and whether an admin switched it off, and who. No foreign key to
users: a removed owner's rule stays, to be listed and to name its past records, and does
nothing (automation.on_arrival joins the owner's current shops). The id orders two rules
made at the same moment.

A rule with a limit on the buyer's requests counts them on each arrival it may take, by
0009's ix_requests_buyer (buyer, shop, created_at, ...), which the buyer's history reads too.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("keep_item", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("disabled_by", sa.String(64)),
        sa.UniqueConstraint("owner", "name", name="uq_rules_owner_name"),
    )


def downgrade() -> None:
    op.drop_table("rules")
