"""What one paint of the console reads at once: its window, its tab counts and its money
each come from a worker thread of their own (screens/main.py), asked at the same moment.

The counts and the money of a search are read in one statement for both (store.queries.
search_sums), by whichever of the two asks first: each read every match, on PostgreSQL
every row the trigram index found checked in the table (7 138 table pages for the 7 635
refunds of "lima" at 1M), and three such reads at once on two cores took longer than two.
A Paint lives for one paint: the next (after an action, a poll, a new filter) is another, so
nothing it holds outlives the moment it was asked for.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui.domain import Tab
from returns_tui.store import queries as q


class Paint:
    def __init__(self, now: DateTime) -> None:
        self.now = now  # the reads of a paint ask "due within" from the same moment
        self._lock = threading.Lock()
        self._sums: dict[q.Filter, q.Sums | None] = {}

    def sums(self, conn: Connection, flt: q.Filter) -> q.Sums | None:
        """The counts and money of `flt`'s search in every tab, read by the first read that
        asks (the other waits for it); None without a search (each reads its own way)."""
        key = replace(flt, tab=Tab.ALL)
        with self._lock:
            if key not in self._sums:
                self._sums[key] = q.search_sums(conn, key)
            return self._sums[key]
