"""An index for a currency or an amount range across every shop (DESIGN §10):
ix_requests_amount on requests(currency, amount_cents, tab, shop).

An agent's "USD from 500.00" (1 374 of 1 000 000 requests) or "at most 10.00" (52 000, in four
currencies) had no index led by the amount: the tab counts and the few matches read
ix_requests_filters or ix_requests_tab_money from end to end (SQLite 117 and 270 ms p95 to
paint at 1M). Here they read one range of each currency (queries.in_amount_index), and the
tab and shop are in the index, so no row of the table is read.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_requests_amount", "requests", ["currency", "amount_cents", "tab", "shop"]
    )


def downgrade() -> None:
    op.drop_index("ix_requests_amount", table_name="requests")
