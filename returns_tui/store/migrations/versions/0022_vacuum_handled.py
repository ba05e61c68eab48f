"""PostgreSQL: autovacuum visits `handled` after 1 % of it changed, not 20 %, as `requests`
since migration 0015, which left it out.

"Handled by me" is counted and summed in the viewer's range of ix_handled_actor (migrations
0012, 0018) with an index-only scan, which reads the table for every entry whose page vacuum
has not marked all-visible. By default autovacuum waits until a fifth of the table changed
(172 000 rows of `handled` at 1M). On the bench's database alice's range (67 344 entries)
read the table for 20 355 of them: counts 59 ms and money 70 ms, median; after a VACUUM
(0.8 s) 31 and 39 ms, and her page of All 21 -> 6. SQLite has no such map: nothing to do.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
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
        op.execute(f"ALTER TABLE handled SET ({pairs})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE handled RESET ({', '.join(SETTINGS)})")
