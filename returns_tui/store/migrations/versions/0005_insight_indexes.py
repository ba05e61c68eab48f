"""Indexes for the Insights figures (DESIGN §9, store/insight_queries.py).

ix_requests_insight on requests(created_at, shop, status, reason, currency, amount_cents, sku):
the requests created in a period, counted by day and status, by reason and by SKU with their
money, read from the index alone, without the table's rows.

ix_records_kind_at on records(kind, at, to_status, request_id): the auto-approvals, the
completions (refunds), the appeals and mediations of a period, each one range of the index,
without reading every record.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

REQUESTS_INDEX = "ix_requests_insight"
RECORDS_INDEX = "ix_records_kind_at"
REQUESTS_COLUMNS = ["created_at", "shop", "status", "reason", "currency", "amount_cents", "sku"]
RECORDS_COLUMNS = ["kind", "at", "to_status", "request_id"]


def upgrade() -> None:
    op.create_index(REQUESTS_INDEX, "requests", REQUESTS_COLUMNS)
    op.create_index(RECORDS_INDEX, "records", RECORDS_COLUMNS)


def downgrade() -> None:
    op.drop_index(RECORDS_INDEX, table_name="records")
    op.drop_index(REQUESTS_INDEX, table_name="requests")
