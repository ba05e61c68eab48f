"""Who handled which request: the console's "handled by me" filter (DESIGN §10, migration 0012).

`handled` holds a row (actor, request id) for each person with a record on the request, with
the request's tab, shop, creation time, currency and amount beside it, so that a person's
requests per tab are one range of an index: the tab counts and the money at stake of "mine"
read no request row (migration 0018), a tab with few of them finds them there, and the page
of All walks them newest first (store/queries.py). Through
the records alone the same counts probed a person's 67 344 request ids once per entry of
the filters' index (SQLite: 100 ms at 1M), and the page of All walked every request nobody
had answered yet before the first the person handled (docs/PERFORMANCE.md).

Kept by the database itself, in the transaction of each write, whoever writes (an action,
the sweep, `apply`, a rule, the marketplace's sync): a trigger on `records` adds the row when
a person's record arrives, one on `requests` follows the request's tab (and its shop, time
and money, changed only by hand). Only people: the
buyer, the clock, the marketplace and the rules (roles.NOT_USERS) have no row, as they are
never a viewer. A big seed suspends the triggers and rebuilds the table once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection

from returns_tui.roles import NOT_USERS, RULE_PREFIX
from returns_tui.store import triggers

TRIGGERS = {"handled_record_added": "records", "handled_tab_moved": "requests"}


def _a_person(actor: str) -> str:
    """SQL: whether the record's `actor` is a person (a user) rather than one of NOT_USERS."""
    names = ", ".join(f"'{name}'" for name in sorted(NOT_USERS))
    return f"{actor} NOT IN ({names}) AND substr({actor}, 1, {len(RULE_PREFIX)}) <> '{RULE_PREFIX}'"


COLUMNS = "actor, request_id, tab, shop, created_at, currency, amount_cents"
# Every row as it must be, from the tables: what the triggers add up to.
EXPECTED = (
    "SELECT DISTINCT rec.actor, r.id, r.tab, r.shop, r.created_at, r.currency, r.amount_cents "
    f"FROM records rec JOIN requests r ON r.id = rec.request_id WHERE {_a_person('rec.actor')}"
)


def rebuild(conn: Connection) -> None:
    """The whole table again from the records, in the caller's transaction."""
    conn.exec_driver_sql("DELETE FROM handled")
    conn.exec_driver_sql(f"INSERT INTO handled ({COLUMNS}) {EXPECTED}")


def differences(conn: Connection) -> tuple[set, set]:
    """The rows stored but not expected, and those expected but not stored: both empty when
    the table agrees with the records and the requests."""
    stored = set(map(tuple, conn.exec_driver_sql(f"SELECT {COLUMNS} FROM handled")))
    expected = set(map(tuple, conn.exec_driver_sql(EXPECTED)))
    return stored - expected, expected - stored


def suspended(conn: Connection) -> AbstractContextManager[None]:
    """For a bulk insert within the caller's transaction: the triggers off meanwhile, the
    table rebuilt once afterwards (store/triggers.py)."""
    return triggers.suspended(conn, TRIGGERS, rebuild)
