"""Indexes for the console's filters and the buyer's history (DESIGN §10).

ix_requests_buyer on requests(buyer, shop, created_at, order_id, rejected_at, arbitration):
the buyer's history in the detail panel is one range of it per shop the viewer may see, read
from the index alone (the last three columns say which order, whether it was rejected and
whether it was appealed), so a buyer with thousands of requests costs no table reads.

ix_requests_filters on requests(tab, shop, type, reason, currency, amount_cents, deadline_at,
created_at, id): every column a filter asks about, so that the tab counts of any combination
of filters read this index from end to end and no table row, and a filter that leaves few
requests in a tab finds them in its tab's range (store/queries.py, Filter.filters_index).

On PostgreSQL only, ix_requests_by_reason on requests(reason, tab, shop, type, currency,
amount_cents) and ix_requests_by_type on requests(type, tab, shop, reason, currency,
amount_cents): with them the tab counts of a reason or a type are one range of an index
(44 and 69 ms at 1M, against 150-200 ms for the parallel scan of the table or of
ix_requests_filters). SQLite counts from ix_requests_filters in 30 ms and would not use them
(a filter column never leads it to an index: queries.Filter.narrowed), so they are not made
there, where they would only cost every write.

ix_records_actor on records(actor, request_id): "handled by me" is the requests with a record
by the viewer, one range of this index, instead of a look at the records of every request.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
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


PG_INDEXES = {
    "ix_requests_by_reason": (
        "requests",
        ["reason", "tab", "shop", "type", "currency", "amount_cents"],
    ),
    "ix_requests_by_type": (
        "requests",
        ["type", "tab", "shop", "reason", "currency", "amount_cents"],
    ),
}


def _indexes() -> dict[str, tuple[str, list[str]]]:
    if op.get_bind().dialect.name == "postgresql":
        return {**INDEXES, **PG_INDEXES}
    return INDEXES


def upgrade() -> None:
    for name, (table, columns) in _indexes().items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _columns) in reversed(_indexes().items()):
        op.drop_index(name, table_name=table)
