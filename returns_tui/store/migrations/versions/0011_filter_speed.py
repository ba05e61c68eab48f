"""An index for "due within N hours" on a tab sorted newest first (DESIGN §10).

ix_requests_created_due on requests(created_at, id, deadline_at): the page of All (newest
first) with "due within N hours" walks the newest requests and keeps those due soon; the newest
have the furthest deadlines, so it walks ~150 000 of them at 1M before its hundred. With the
deadline in the index that walk reads the index alone and only the matches' rows (SQLite: 336
-> 16 ms for the page at 1M); through ix_requests_created it read each row it passed.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requests_created_due", "requests", ["created_at", "id", "deadline_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_created_due", table_name="requests")
