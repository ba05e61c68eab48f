"""PostgreSQL: autovacuum visits `requests` after 1 % of it changed, not 20 % (DESIGN §10).

The filters' counts read PostgreSQL's indexes alone ("Index Only Scan") only for the table
pages that vacuum has marked all-visible; for any other page each entry costs a read of the
table ("Heap Fetches"). By default autovacuum waits until a fifth of the table has changed,
200 000 rows at 1 000 000: the sweep's approvals and the operators' answers of a day or more,
all in the requests whose deadlines are near. On the bench's database, "at most 10.00" read
the table for 29 000 of its 52 000 entries and "due within 6 h" for 25 000. SQLite has no such
map: nothing to do there.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        pairs = ", ".join(f"{name} = {value}" for name, value in SETTINGS.items())
        op.execute(f"ALTER TABLE requests SET ({pairs})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE requests RESET ({', '.join(SETTINGS)})")
