"""Indexes for the console's filters and the buyer's history (DESIGN §10).

ix_requests_buyer on requests(buyer, shop, created_at, order_id, rejected_at, arbitration):
the buyer's history in the detail panel is one range of it per shop the viewer may see, read
from the index alone (the last three columns say which order, whether it was rejected and
whether it was appealed), so a buyer with thousands of requests costs no table reads.

ix_requests_filters on requests(tab, shop, type, reason, currency, amount_cents, deadline_at,
created_at, id): every column a filter asks about, so that the tab counts of any combination
of filters read this index from end to end and no table row, and a filter that leaves few
requests in a tab finds them in its tab's range (store/queries.py, Filter.filters_index).

ix_records_actor on records(actor, request_id): "handled by me" is the requests with a record
by the viewer, one range of this index, instead of a look at the records of every request.

Revision ID: 0007f
Revises: 0006
"""

from alembic import op

revision = "0007f"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_requests_filters": (
        "requests",
        ["tab", "shop", "type", "reason", "currency", "amount_cents", "deadline_at",
         "created_at", "id"],
    ),  # fmt: skip
    "ix_requests_buyer": (
        "requests",
        ["buyer", "shop", "created_at", "order_id", "rejected_at", "arbitration"],
    ),
    "ix_records_actor": ("records", ["actor", "request_id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _columns) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
