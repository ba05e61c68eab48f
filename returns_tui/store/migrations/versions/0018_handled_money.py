"""`handled` holds each request's currency and amount too (store/handled.py), and
ix_handled_actor ends with them: the money at stake of "handled by me" is then one range of
that index (queries.totals), where it looked up each of the person's requests (at 1M, 67 344
for the bench's operator: 330 ms on SQLite, 0.5-1.8 s on PostgreSQL).

The table is filled again from the records, the index made again, and the two triggers (on
PostgreSQL their functions) made again to write the two columns: a person's record adds the
row with them, a request's change of tab (or, by hand, of shop, time, currency or amount)
moves its rows.

The statements are this migration's own copies: a migration keeps what it was written with.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Who is not a person in the records, as roles.NOT_USERS and roles.RULE_PREFIX have it today.
_NOT_A_USER = ("'buyer'", "'marketplace'", "'system'")
_TRIGGERS = {"handled_record_added": "records", "handled_tab_moved": "requests"}


def _a_person(actor: str) -> str:
    return f"{actor} NOT IN ({', '.join(_NOT_A_USER)}) AND substr({actor}, 1, 5) <> 'rule:'"


def _statements(money: bool, sqlite: bool) -> tuple[str, list[str]]:
    """The fill and the triggers of migration 0012 (`money` False) or of this one."""
    copied = ["tab", "shop", "created_at"] + (["currency", "amount_cents"] if money else [])
    columns = ", ".join(copied)
    fill = (
        f"INSERT INTO handled (actor, request_id, {columns}) "
        f"SELECT DISTINCT rec.actor, r.id, {', '.join('r.' + c for c in copied)} FROM records rec "
        f"JOIN requests r ON r.id = rec.request_id WHERE {_a_person('rec.actor')}"
    )
    add = (
        f"INSERT INTO handled (actor, request_id, {columns}) "
        f"SELECT {{new}}.actor, id, {columns} FROM requests WHERE id = {{new}}.request_id "
        "ON CONFLICT (request_id, actor) DO NOTHING"
    )
    move = (
        f"UPDATE handled SET {', '.join(f'{c} = {{new}}.{c}' for c in copied)} "
        "WHERE request_id = {new}.id"
    )
    moved = " OR ".join(f"{{old}}.{c} {{op}} {{new}}.{c}" for c in copied)
    if sqlite:
        return fill, [
            "CREATE TRIGGER handled_record_added AFTER INSERT ON records "
            f"WHEN {_a_person('new.actor')} BEGIN {add.format(new='new')}; END",
            f"CREATE TRIGGER handled_tab_moved AFTER UPDATE OF {columns} ON requests "
            f"WHEN {moved.format(old='old', new='new', op='IS NOT')} "
            f"BEGIN {move.format(new='new')}; END",
        ]
    return fill, [
        "CREATE FUNCTION handled_record_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{add.format(new='NEW')}; RETURN NULL; END $$",
        "CREATE TRIGGER handled_record_added AFTER INSERT ON records FOR EACH ROW "
        f"WHEN ({_a_person('NEW.actor')}) EXECUTE FUNCTION handled_record_added()",
        "CREATE FUNCTION handled_tab_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{move.format(new='NEW')}; RETURN NULL; END $$",
        f"CREATE TRIGGER handled_tab_moved AFTER UPDATE OF {columns} ON requests "
        f"FOR EACH ROW WHEN ({moved.format(old='OLD', new='NEW', op='IS DISTINCT FROM')}) "
        "EXECUTE FUNCTION handled_tab_moved()",
    ]


def _drop_triggers(sqlite: bool) -> None:
    for name, table in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _remake(money: bool) -> None:
    """The rows, the index and the triggers of this migration (or of 0012), once the old
    triggers and index are gone."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    fill, triggers = _statements(money, sqlite)
    op.execute("DELETE FROM handled")
    op.execute(fill)
    money_columns = ["currency", "amount_cents"] if money else []
    op.create_index(
        "ix_handled_actor", "handled", ["actor", "tab", "shop", "request_id", *money_columns]
    )
    for ddl in triggers:
        op.execute(ddl)


def upgrade() -> None:
    _drop_triggers(op.get_bind().dialect.name == "sqlite")
    op.drop_index("ix_handled_actor", table_name="handled")
    op.add_column("handled", sa.Column("currency", sa.String(3), nullable=False, server_default=""))
    op.add_column(
        "handled", sa.Column("amount_cents", sa.BigInteger(), nullable=False, server_default="0")
    )
    _remake(money=True)
    if op.get_bind().dialect.name == "postgresql":
        # The planner's statistics of the table written again, rather than wait for
        # autovacuum (the bench's first round after this migration without it: 136 and 205 ms
        # p95 for "handled by me" in All and To Proceed; its second round 46 and 41).
        op.execute("ANALYZE handled")


def downgrade() -> None:
    _drop_triggers(op.get_bind().dialect.name == "sqlite")
    op.drop_index("ix_handled_actor", table_name="handled")
    with op.batch_alter_table("handled") as batch:
        batch.drop_column("amount_cents")
        batch.drop_column("currency")
    _remake(money=False)
