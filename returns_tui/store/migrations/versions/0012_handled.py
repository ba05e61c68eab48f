"""Who handled which request, for "handled by me" (DESIGN §10, store/handled.py).

The table `handled` (request_id, actor, tab, shop, created_at): a row for each person with a
record on the request, with the request's tab, shop and creation time; ix_handled_actor on
(actor, tab, shop, request_id), so that a person's requests of a tab are one range of it, and
ix_handled_created on (actor, created_at, request_id), all of them newest first. Two
triggers keep it in the transaction of each write: a person's record adds the row, a
request's new tab moves its rows. Filled here from the records in one INSERT ... SELECT.
ix_records_actor (migration 0009), which "handled by me" read before, has no reader left and
is dropped: it cost every record.

The statements are this migration's own copies: a migration keeps what it was written with.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Who is not a person in the records, as roles.NOT_USERS and roles.RULE_PREFIX have it today.
_NOT_A_USER = ("'buyer'", "'marketplace'", "'system'")


def _a_person(actor: str) -> str:
    return f"{actor} NOT IN ({', '.join(_NOT_A_USER)}) AND substr({actor}, 1, 5) <> 'rule:'"


_FILL = (
    "INSERT INTO handled (actor, request_id, tab, shop, created_at) "
    "SELECT DISTINCT rec.actor, r.id, r.tab, r.shop, r.created_at FROM records rec "
    f"JOIN requests r ON r.id = rec.request_id WHERE {_a_person('rec.actor')}"
)
_ADD = (
    "INSERT INTO handled (actor, request_id, tab, shop, created_at) "
    "SELECT {new}.actor, id, tab, shop, created_at FROM requests WHERE id = {new}.request_id "
    "ON CONFLICT (request_id, actor) DO NOTHING"
)
_MOVE = (
    "UPDATE handled SET tab = {new}.tab, shop = {new}.shop, created_at = {new}.created_at "
    "WHERE request_id = {new}.id"
)
# Only the tab changes in the course of things; the shop and the time are there for a row
# edited by hand, which `check` then reports for itself rather than as this table's.
_MOVED = " OR ".join(f"{{old}}.{c} {{op}} {{new}}.{c}" for c in ("tab", "shop", "created_at"))

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER handled_record_added AFTER INSERT ON records "
    f"WHEN {_a_person('new.actor')} BEGIN {_ADD.format(new='new')}; END",
    "CREATE TRIGGER handled_tab_moved AFTER UPDATE OF tab, shop, created_at ON requests "
    f"WHEN {_MOVED.format(old='old', new='new', op='IS NOT')} "
    f"BEGIN {_MOVE.format(new='new')}; END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION handled_record_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"{_ADD.format(new='NEW')}; RETURN NULL; END $$",
    "CREATE TRIGGER handled_record_added AFTER INSERT ON records FOR EACH ROW "
    f"WHEN ({_a_person('NEW.actor')}) EXECUTE FUNCTION handled_record_added()",
    "CREATE FUNCTION handled_tab_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"{_MOVE.format(new='NEW')}; RETURN NULL; END $$",
    "CREATE TRIGGER handled_tab_moved AFTER UPDATE OF tab, shop, created_at ON requests "
    f"FOR EACH ROW WHEN ({_MOVED.format(old='OLD', new='NEW', op='IS DISTINCT FROM')}) "
    "EXECUTE FUNCTION handled_tab_moved()",
]
_TRIGGERS = {"handled_record_added": "records", "handled_tab_moved": "requests"}


def upgrade() -> None:
    op.create_table(
        "handled",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("tab", sa.String(16), nullable=False),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "actor", name="pk_handled"),
        sqlite_with_rowid=False,
    )
    op.execute(_FILL)
    op.create_index("ix_handled_actor", "handled", ["actor", "tab", "shop", "request_id"])
    op.create_index("ix_handled_created", "handled", ["actor", "created_at", "request_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for ddl in _SQLITE_TRIGGERS if sqlite else _PG_TRIGGERS:
        op.execute(ddl)
    op.drop_index("ix_records_actor", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_actor", "records", ["actor", "request_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("handled")
