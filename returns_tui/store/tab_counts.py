"""The requests per tab, shop, type, reason and currency, and the sum of their amounts (DESIGN
§10, migrations 0013, 0017): the tab counts and the money at stake of the console's filters on
those fields, and of no filter at all, summed from a few hundred rows instead of counted from
a million (queries.counts, queries.totals).

Kept by the database itself, like the Insights rollups, in the transaction of each write,
whoever writes: a trigger adds each new request (and its amount) to its row, another moves it
from its old tab's row to its new one. A row whose requests all moved on keeps 0. A big seed
suspends the triggers and rebuilds the table once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection

from returns_tui.store import triggers

KEY = ("tab", "shop", "type", "reason", "currency")
TRIGGERS = {"tab_counts_added": "requests", "tab_counts_moved": "requests"}
# The table as it must be, from the requests: what the triggers add up to.
EXPECTED = (
    f"SELECT {', '.join(KEY)}, COUNT(*), SUM(amount_cents) FROM requests GROUP BY {', '.join(KEY)}"
)


def rebuild(conn: Connection) -> None:
    """The whole table again from the requests, in the caller's transaction."""
    conn.exec_driver_sql("DELETE FROM tab_counts")
    conn.exec_driver_sql(
        f"INSERT INTO tab_counts ({', '.join(KEY)}, requests, amount_cents) {EXPECTED}"
    )


def differences(conn: Connection) -> tuple[set, set]:
    """The rows stored but not expected (rows of no request and no money aside), and those
    expected but not stored: both empty when the table agrees with the requests."""
    columns = f"{', '.join(KEY)}, requests, amount_cents"
    stored = {
        tuple(r) for r in conn.exec_driver_sql(f"SELECT {columns} FROM tab_counts") if any(r[-2:])
    }
    expected = {tuple(r) for r in conn.exec_driver_sql(EXPECTED)}
    return stored - expected, expected - stored


def suspended(conn: Connection) -> AbstractContextManager[None]:
    """For a bulk insert within the caller's transaction: the triggers off meanwhile, the
    table rebuilt once afterwards (store/triggers.py)."""
    return triggers.suspended(conn, TRIGGERS, rebuild)
