"""The first answer on the request row, for the Insights figures (DESIGN §9).

Adds to requests first_answer_at and first_answer_by: the time and the author of the
request's first `accepted`, `rejected` or `offered` record (a decision by a user or a rule;
the clock writes none of these), NULL while unanswered. The services write them in the same
transaction as that record (store/writes.note_first_answers); here the requests already there
get them from their records, in one UPDATE on both databases. Then the index
ix_requests_first_answer (created_at, shop, first_answer_by, first_answer_at), built once
after the backfill: the time to the first answer of a period's requests, per shop and per
user, read from the index alone.

Revision ID: 0007i
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007i"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_requests_first_answer"
INDEX_COLUMNS = ["created_at", "shop", "first_answer_by", "first_answer_at"]
# The records that answer a request, as store/insight_queries.ANSWER_KINDS has them today
# (a migration keeps the meaning it was written with).
_ANSWERS = "('accepted', 'rejected', 'offered')"

# Each request's first answer: the answer record with no earlier answer of the same request
# (one probe of uq_records_request_seq per answer record).
BACKFILL = (
    "UPDATE requests SET first_answer_at = f.at, first_answer_by = f.actor FROM ("
    "SELECT rec.request_id, rec.at, rec.actor FROM records rec "
    f"WHERE rec.kind IN {_ANSWERS} AND NOT EXISTS (SELECT 1 FROM records p "
    f"WHERE p.request_id = rec.request_id AND p.seq < rec.seq AND p.kind IN {_ANSWERS})"
    ") AS f WHERE requests.id = f.request_id"
)


def upgrade() -> None:
    op.add_column("requests", sa.Column("first_answer_at", sa.BigInteger()))
    op.add_column("requests", sa.Column("first_answer_by", sa.String(64)))
    op.execute(BACKFILL)
    op.create_index(INDEX, "requests", INDEX_COLUMNS)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="requests")
    for name in ("first_answer_by", "first_answer_at"):
        op.drop_column("requests", name)
