"""The requests per tab, shop, type, reason and currency, for the console's tab counts
(DESIGN §10, store/tab_counts.py).

The table `tab_counts` (tab, shop, type, reason, currency, requests), filled here from the
requests in one INSERT ... SELECT, and two triggers on `requests` that keep it in the
transaction of each write: a new request adds one to its row, a request whose tab changes
moves from its old row to its new one. The tab counts with filters on those fields (or none)
then sum a few hundred rows: at 1M they counted 125 000 to a million entries of an index, a
quarter of a second on a slow moment of a 2-core machine.

The statements are this migration's own copies: a migration keeps what it was written with.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEY = "tab, shop, type, reason, currency"
_ADD = (
    f"INSERT INTO tab_counts ({_KEY}, requests) "
    "VALUES ({new}.tab, {new}.shop, {new}.type, {new}.reason, {new}.currency, 1) "
    f"ON CONFLICT ({_KEY}) DO UPDATE SET requests = tab_counts.requests + 1"
)
_TAKE = (
    "UPDATE tab_counts SET requests = requests - 1 WHERE tab = {old}.tab AND shop = {old}.shop "
    "AND type = {old}.type AND reason = {old}.reason AND currency = {old}.currency"
)
# Only the tab changes in the course of things; the other fields are there for a row edited
# by hand, which `check` then reports for itself rather than as this table's.
_MOVED = " OR ".join(f"{{old}}.{c} {{op}} {{new}}.{c}" for c in _KEY.split(", "))
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER tab_counts_added AFTER INSERT ON requests BEGIN "
    f"{_ADD.format(new='new')}; END",
    f"CREATE TRIGGER tab_counts_moved AFTER UPDATE OF {_KEY} ON requests "
    f"WHEN {_MOVED.format(old='old', new='new', op='IS NOT')} "
    f"BEGIN {_TAKE.format(old='old')}; {_ADD.format(new='new')}; END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION tab_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"{_ADD.format(new='NEW')}; RETURN NULL; END $$",
    "CREATE TRIGGER tab_counts_added AFTER INSERT ON requests FOR EACH ROW "
    "EXECUTE FUNCTION tab_counts_added()",
    "CREATE FUNCTION tab_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"{_TAKE.format(old='OLD')}; {_ADD.format(new='NEW')}; RETURN NULL; END $$",
    f"CREATE TRIGGER tab_counts_moved AFTER UPDATE OF {_KEY} ON requests FOR EACH ROW "
    f"WHEN ({_MOVED.format(old='OLD', new='NEW', op='IS DISTINCT FROM')}) "
    "EXECUTE FUNCTION tab_counts_moved()",
]
_TRIGGERS = {"tab_counts_added": "requests", "tab_counts_moved": "requests"}


def upgrade() -> None:
    op.create_table(
        "tab_counts",
        sa.Column("tab", sa.String(16), nullable=False),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tab", "shop", "type", "reason", "currency", name="pk_tab_counts"),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO tab_counts ({_KEY}, requests) "
        f"SELECT {_KEY}, COUNT(*) FROM requests GROUP BY {_KEY}"
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for ddl in _SQLITE_TRIGGERS if sqlite else _PG_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("tab_counts")
