"""Decisions as the marketplace has them (DESIGN §7): five new fields on every request.

Adds to requests: refund_cents (what was refunded, or will be once a return is back),
offer_cents and offer_by (a partial refund offered and the buyer's deadline to answer),
keep_item (the buyer kept the item) and reject_stage (`request` or `receipt`: the stage of
the latest rejection). The requests already there get what the rules of §7 give them: none
was ever offered anything or kept an item, so refund_cents is the amount asked for a
completed request or an approved return on its way (awaiting_buyer_ship, buyer_shipped),
and reject_stage is `request` for every request that was rejected (every rejection before
§7 was of the request). One UPDATE each, on both databases.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_REFUNDED = ("completed", "awaiting_buyer_ship", "buyer_shipped")


def upgrade() -> None:
    op.add_column("requests", sa.Column("refund_cents", sa.BigInteger()))
    op.add_column("requests", sa.Column("offer_cents", sa.BigInteger()))
    op.add_column("requests", sa.Column("offer_by", sa.BigInteger()))
    op.add_column(
        "requests",
        sa.Column("keep_item", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("requests", sa.Column("reject_stage", sa.String(8)))
    statuses = ", ".join(f"'{status}'" for status in _REFUNDED)
    op.execute(f"UPDATE requests SET refund_cents = amount_cents WHERE status IN ({statuses})")
    op.execute("UPDATE requests SET reject_stage = 'request' WHERE rejected_at IS NOT NULL")


def downgrade() -> None:
    for name in ("reject_stage", "keep_item", "offer_by", "offer_cents", "refund_cents"):
        op.drop_column("requests", name)
