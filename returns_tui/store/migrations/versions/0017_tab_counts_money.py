"""tab_counts holds the money at stake too: the sum of the requests' amounts per tab, shop,
type, reason and currency (store/tab_counts.py), which the status line's totals of a tab with
filters on those fields (or none) then sum from a few hundred rows (queries.totals): at 1M,
"All, reason damaged" read a million index entries and looked up each row (4.1 s), "To
Proceed, refund" 0.9 s.

Adds tab_counts.amount_cents, fills it from the requests, and makes the two triggers (on
PostgreSQL their functions) again: a new request adds its amount with its count, a request
whose tab (or amount) changes moves both from its old row to its new one.

The statements are this migration's own copies: a migration keeps what it was written with.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_KEY = "tab, shop, type, reason, currency"
_TRIGGERS = ("tab_counts_added", "tab_counts_moved")


def _statements(money: bool, sqlite: bool) -> list[str]:
    """The triggers of migration 0013 (`money` False) or of this one."""
    add = (
        f"INSERT INTO tab_counts ({_KEY}, requests{', amount_cents' if money else ''}) "
        "VALUES ({new}.tab, {new}.shop, {new}.type, {new}.reason, {new}.currency, 1"
        + (", {new}.amount_cents) " if money else ") ")
        + f"ON CONFLICT ({_KEY}) DO UPDATE SET requests = tab_counts.requests + 1"
        + (", amount_cents = tab_counts.amount_cents + excluded.amount_cents" if money else "")
    )
    take = (
        "UPDATE tab_counts SET requests = requests - 1"
        + (", amount_cents = amount_cents - {old}.amount_cents" if money else "")
        + " WHERE tab = {old}.tab AND shop = {old}.shop AND type = {old}.type "
        "AND reason = {old}.reason AND currency = {old}.currency"
    )
    columns = _KEY.split(", ") + (["amount_cents"] if money else [])
    moved = " OR ".join(f"{{old}}.{c} {{op}} {{new}}.{c}" for c in columns)
    of = ", ".join(columns)
    if sqlite:
        return [
            f"CREATE TRIGGER tab_counts_added AFTER INSERT ON requests BEGIN "
            f"{add.format(new='new')}; END",
            f"CREATE TRIGGER tab_counts_moved AFTER UPDATE OF {of} ON requests "
            f"WHEN {moved.format(old='old', new='new', op='IS NOT')} "
            f"BEGIN {take.format(old='old')}; {add.format(new='new')}; END",
        ]
    return [
        "CREATE FUNCTION tab_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{add.format(new='NEW')}; RETURN NULL; END $$",
        "CREATE TRIGGER tab_counts_added AFTER INSERT ON requests FOR EACH ROW "
        "EXECUTE FUNCTION tab_counts_added()",
        "CREATE FUNCTION tab_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{take.format(old='OLD')}; {add.format(new='NEW')}; RETURN NULL; END $$",
        f"CREATE TRIGGER tab_counts_moved AFTER UPDATE OF {of} ON requests FOR EACH ROW "
        f"WHEN ({moved.format(old='OLD', new='NEW', op='IS DISTINCT FROM')}) "
        "EXECUTE FUNCTION tab_counts_moved()",
    ]


def _drop_triggers(sqlite: bool) -> None:
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON requests"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_triggers(sqlite)
    op.add_column(
        "tab_counts",
        sa.Column("amount_cents", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("DELETE FROM tab_counts")
    op.execute(
        f"INSERT INTO tab_counts ({_KEY}, requests, amount_cents) "
        f"SELECT {_KEY}, COUNT(*), SUM(amount_cents) FROM requests GROUP BY {_KEY}"
    )
    for ddl in _statements(money=True, sqlite=sqlite):
        op.execute(ddl)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_triggers(sqlite)
    with op.batch_alter_table("tab_counts") as batch:
        batch.drop_column("amount_cents")
    for ddl in _statements(money=False, sqlite=sqlite):
        op.execute(ddl)
