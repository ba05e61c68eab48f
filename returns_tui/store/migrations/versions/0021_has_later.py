"""Each request says whether a later request on its order exists (requests.has_later), and the
deadline indexes hold it: "due within" then reads the open windows of Closed from them alone.

A rejection's deadline ends its buyer's window to ask again or appeal, unless a later request
on the order superseded it (writes.LATER_ON_ORDER). "Due within" keeps a Closed request only
while its window is open, and asked that of each rejection in its range: at 1M on PostgreSQL,
"All, due within 6 h" read 3 500 Closed rows and looked up each one's order (17 600 buffers,
45 of its counts' 57 ms, and the same again for its money). The answer is now a column,
written when a request joins the order (store/writes.mark_later) and checked by `check`, and
ix_requests_tab_deadline and ix_requests_shop_tab_deadline end with it.

Filled here from the requests as they stand, before the indexes are made again (the UPDATE
touches no indexed column then).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_requests_tab_deadline": ["tab", "deadline_at", "id", "currency", "amount_cents"],
    "ix_requests_shop_tab_deadline": [
        "shop", "tab", "deadline_at", "id", "currency", "amount_cents",
    ],
}  # fmt: skip
FILL = (
    "UPDATE requests SET has_later = TRUE WHERE EXISTS (SELECT 1 FROM requests AS later "
    "WHERE later.order_id = requests.order_id AND (later.attempt, later.created_at, later.id) "
    "> (requests.attempt, requests.created_at, requests.id))"
)


def _remake(extra: list[str]) -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="requests")
        op.create_index(name, "requests", columns + extra)


def upgrade() -> None:
    op.add_column(
        "requests",
        sa.Column("has_later", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(FILL)
    _remake(["has_later"])


def downgrade() -> None:
    _remake([])
    op.drop_column("requests", "has_later")
