"""The reads the console and the exports need, a page at a time.

Pages use keyset pagination on (sort column, id): the next page starts after the last row's
key, so page 1 000 costs what page 1 costs. Each tab is one range of a (tab, column, id)
index; an operator's shops are one range each of the (shop, tab, column, id) indexes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from returns_tui.domain import Kind, Status, Tab, storable
from returns_tui.filters import Narrowing
from returns_tui.store import facets, search
from returns_tui.store.engine import PLACEHOLDER
from returns_tui.store.schema import (
    UTCTime,
    handled,
    records,
    requests,
    sync_outbox,
    tab_counts,
)
from returns_tui.timefmt import from_micros


class Sort(StrEnum):
    DEADLINE = "deadline"  # next deadline soonest first; requests with none come last
    NEWEST = "newest"
    OLDEST = "oldest"
    WAITING = "waiting"  # longest in its status first: the Appeals queue, oldest appeal first

    @property
    def label(self) -> str:
        return {
            Sort.DEADLINE: "most urgent first",
            Sort.NEWEST: "newest first",
            Sort.OLDEST: "oldest first",
            Sort.WAITING: "longest waiting first",
        }[self]


DEFAULT_SORT = {
    Tab.ALL: Sort.NEWEST,
    Tab.TO_PROCEED: Sort.DEADLINE,
    Tab.IN_PROCESS: Sort.DEADLINE,
    Tab.COMPLETED: Sort.NEWEST,
    Tab.CLOSED: Sort.NEWEST,
    Tab.APPEALS: Sort.WAITING,
}

# The filters that tab_counts holds the requests by (store/tab_counts.py).
ROLLUP_FIELDS = ("shop", "type", "reason", "currency")

_SORT_COLUMN = {
    Sort.DEADLINE: requests.c.deadline_at,
    Sort.NEWEST: requests.c.created_at,
    Sort.OLDEST: requests.c.created_at,
    Sort.WAITING: requests.c.status_since,
}


class _StoredListRow(NamedTuple):
    id: str
    order_id: str
    shop: str
    buyer: str
    product: str
    type: str
    amount_cents: int
    currency: str
    status: str
    deadline_us: int | None
    created_us: int
    status_since_us: int
    tracking: str | None
    version: int
    # 1 for a rejection that a later request on its order superseded: its buyer can no longer
    # appeal it (domain.buyer_options), so it has no window to count down. 0 otherwise.
    superseded: int = 0
    # 1 for a completed request that the clock approved (its 48 hours ran out unanswered).
    auto_approved: int = 0
    # DESIGN §8: `marketplace` for a synced request, and 1 while a decision on it waits to be
    # sent (the row shows "sending").
    source: str = "local"
    sending: int = 0
    # The marketplace's limit on keeping the item (None for a local request): the accept
    # question of a synced return offers "keep the item" only when it allows it.
    can_keep_item: bool | None = None


class ListRow(_StoredListRow):
    """What a table row shows, and the key that pages after it. The times are kept as they
    are stored (integer microseconds, UTC) and become DateTimes when read: a page is read far
    more often than its times are shown, and building 300 DateTimes was a third of a page."""

    __slots__ = ()

    @property
    def deadline_at(self) -> DateTime | None:
        us = self.deadline_us
        return None if us is None else from_micros(us)

    @property
    def created_at(self) -> DateTime:
        return from_micros(self.created_us)

    @property
    def status_since(self) -> DateTime:
        return from_micros(self.status_since_us)


# The attribute of a ListRow that holds a time column's value as stored.
_STORED_ATTR = {
    "deadline_at": "deadline_us",
    "created_at": "created_us",
    "status_since": "status_since_us",
}
_COLUMN_OF = {attr: column for column, attr in _STORED_ATTR.items()}
# A rejection that a later request superseded (requests.has_later).
SUPERSEDED = sa.case(
    (sa.and_(requests.c.status == Status.REJECTED.value, requests.c.has_later), 1),
    else_=0,
).label("superseded")
# Whether the clock approved a completed request: one look at its records (by request id).
# The kind must not lead SQLite to ix_records_kind_at: without statistics it took that index
# and read every auto-approval's entry for each completed row (104 000 at 1M: 0.74 s for a
# page of the Completed tab, 0.14 s for "handled by me"; 1-20 ms by the request's records).
# A scalar subquery with LIMIT 1, not EXISTS: PostgreSQL may turn an EXISTS into one hash of
# every auto-approval (93 000 at 1M, 25 ms of every page that shows a completed row) when it
# expects many rows before the page's LIMIT; a scalar subquery it can only look up per row.
AUTO_APPROVED = sa.case(
    (
        sa.and_(
            requests.c.status == Status.COMPLETED.value,
            sa.select(sa.literal(1))
            .where(
                records.c.request_id == requests.c.id,
                search.unindexed(records.c.kind) == Kind.AUTO_APPROVED.value,
            )
            .limit(1)
            .scalar_subquery()
            .is_not(None),
        ),
        1,
    ),
    else_=0,
).label("auto_approved")
# Whether a decision on the request waits in the outbox: one look at its unique key.
SENDING = sa.case(
    (sa.exists().where(sync_outbox.c.request_id == requests.c.id), 1), else_=0
).label("sending")
_COMPUTED = {"superseded": SUPERSEDED, "auto_approved": AUTO_APPROVED, "sending": SENDING}
LIST_COLUMNS = [
    _COMPUTED[f] if f in _COMPUTED else requests.c[_COLUMN_OF.get(f, f)]
    for f in _StoredListRow._fields
]


_HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class Filter:
    """Which requests: the viewer's shops (None = every shop), a tab, and a search text."""

    shops: frozenset[str] | None
    tab: Tab = Tab.ALL
    search: str = ""
    # Read the rows in the page's order and keep those that match, rather than gather the
    # search index's candidates and sort them: for a search the index finds many of (page).
    in_order: bool = False
    # The console's filters (DESIGN §10), with what they need from outside: who "mine" is,
    # and the latest deadline of "due within", in stored microseconds.
    narrow: Narrowing | None = None
    viewer: str = ""
    due_by_us: int | None = None
    # Gather the few requests the filters leave from the filters' index and sort them,
    # rather than walk the page's order looking for them (page: FEW_MATCHES).
    by_matches: bool = False
    # Walk the viewer's handled requests newest (or oldest) first, rather than every
    # request: the page of All with "mine" (page).
    by_handled: bool = False
    # Keep of the search's candidates those that the ranges of "due within" hold, before a
    # row is read (due_rowids): when those ranges are short (within_due).
    within_due: bool = False
    # "Due within" written as one range of ix_requests_tab_deadline per tab (_due_per_tab).
    due_per_tab: bool = False
    # Read a page from a range of (shop, tab, sort column) per shop and tab, each cut at the
    # page's size, and merge them (page: walks_segments).
    by_segments: bool = False

    @property
    def facets(self) -> search.Facets:
        """What a search asks of the SQLite index for the filter's shop, reason, currency,
        type and amount (store.facets): its candidates narrowed by them too. At 1M, "lima"
        has 25 000 candidates, and 3 081 with the reason "damaged", which a page gathers and
        sorts instead of walking 27 000 requests newest first for its hundred."""
        return facets.asked(self.narrow) if self.search.strip() else ()

    @property
    def indexed_search(self) -> bool:
        """Whether the search's candidates come from the search index."""
        text = self.search.strip()
        return bool(text) and storable(text) and search.indexed(text) and not self.in_order

    def filtered(self, column: Any) -> Any:
        """`column` for a condition of this filter. With an indexed search the candidates
        are few, and the shops, the tab and the page's key only filter them: SQLite must not
        be led by them into walking one of their indexes instead (search.unindexed). The
        same for the page's key and order when the filters' matches are few (by_matches)."""
        return search.unindexed(column) if self.indexed_search or self.by_matches else column

    @property
    def filters_index(self) -> bool:
        """Whether SQLite should read this filter's requests from ix_requests_filters:
        filters without a search (a search has its own index). That index holds every
        column a filter asks about, so a count reads no table row; no filter column may
        then lead SQLite to an index of its own (the viewer's shops included), which it
        would walk reading each row (2.3 s for one reason's counts at 1M)."""
        return bool(self.narrow) and not self.search.strip()

    def ordered(self, column: Any) -> Any:
        """`column` for the page's ORDER BY: not an index's order when the matches are few."""
        return search.unordered(column) if self.by_matches else column

    def grouped(self, column: Any) -> Any:
        """`column` for a GROUP BY. A search without a trigram reads every row the viewer
        may see: SQLite must read them in the table's own order, not walk an index of
        `column` and look each row up (5.6 s for the tab counts at 1M, against 0.9 s)."""
        text = self.search.strip()
        if text and not search.indexed(text):
            return search.unindexed(column)
        return column

    def where(
        self,
        *,
        by_shop_index: bool = True,
        walk: bool = False,
        by_deadline: bool = False,
        seek: bool = False,
    ) -> list[Any]:
        """The conditions of the filter. Without `by_shop_index`, SQLite must not read the
        viewer's shops from a shop index (totals: the money index holds the shop). `walk`:
        for a page that walks its order's index and keeps the rows that match. `by_deadline`:
        "due within" and the viewer's shops may lead (counts_by_deadline). `seek`: for a
        statement read through the index it names (in_filters_index, in_amount_index),
        whose leading columns the conditions may then seek in."""
        clauses: list[Any] = []
        text = self.search.strip()
        # NUL or a lone surrogate cannot be in any stored text (PostgreSQL refuses to even
        # compare with NUL; no driver can send a lone surrogate).
        searchable = bool(text) and storable(text)
        shop, tab = self.filtered(requests.c.shop), self.filtered(requests.c.tab)
        if self.filters_index:  # the tab is the filters' index's first column
            shop, tab = search.unindexed(requests.c.shop), requests.c.tab
            if not by_shop_index:  # totals: but the money index holds every tab
                tab = search.unindexed(requests.c.tab)
        if self.narrow and self.narrow.mine and not walk:  # the viewer's ids lead (narrowed)
            shop, tab = search.unindexed(requests.c.shop), search.unindexed(requests.c.tab)
        if by_deadline:  # one range of (shop, tab, deadline_at) per shop
            shop = requests.c.shop
        if seek:
            shop, tab = requests.c.shop, requests.c.tab
            if self.tab is Tab.ALL:  # every tab: a seek in each, for the columns after it
                clauses.append(tab.in_([t.value for t in Tab if t is not Tab.ALL]))
        if not by_shop_index:
            shop = search.unindexed(requests.c.shop)
        if self.shops is not None:
            clauses.append(shop.in_(sorted(self.shops)))
        if self.tab is not Tab.ALL:
            clauses.append(tab == self.tab.value)
        if text:
            # Every word a part of the request's ids, tracking, shop, buyer, product, SKU or
            # reason, folded (an FTS5 trigram index on SQLite, pg_trgm on PostgreSQL, for a
            # word of three characters or more; a scan otherwise: see store.search).
            if not searchable:
                clauses.append(sa.false())
            elif self.in_order:
                clauses.append(search.match_clause(text))
            else:
                due = self.due_rowids() if self.within_due else None
                clauses.append(search.text_clause(text, facets=self.facets, within=due))
        if self.narrow:
            clauses += self.narrowed(walk=walk, by_deadline=by_deadline, seek=seek)
        return clauses

    @property
    def counts_by_rollup(self) -> bool:
        """Whether the tab counts are summed from tab_counts: no search, and no filter or
        filters on its fields alone (ROLLUP_FIELDS)."""
        n = self.narrow
        no_other = n is None or not replace(n, **dict.fromkeys(ROLLUP_FIELDS))
        return no_other and not self.search.strip()

    @property
    def seeks_filters(self) -> bool:
        """Whether SQLite reads the counts and the few matches from ix_requests_filters with
        `seek`: filters other than "mine", no search, and a shop fixed (the viewer's or
        the filter's), the index's column after the tab. Without a shop nothing after the
        tab can be sought: an amount range then seeks its own index (seeks_amount), and
        other filters leave SQLite to scan the smallest index that holds their columns."""
        n = self.narrow
        return (
            self.filters_index
            and n is not None
            and not n.mine
            and (self.shops is not None or n.shop is not None)
        )

    @property
    def seeks_amount(self) -> bool:
        """Whether the counts and the few matches read ix_requests_amount (in_amount_index),
        a range of each currency: a currency, an amount range or both, and no other filter,
        no shop fixed (with one, seeks_filters), no search. Its every condition is then in
        that index."""
        n = self.narrow
        return (
            self.filters_index
            and n is not None
            and (n.min_cents is not None or n.max_cents is not None or n.currency is not None)
            and not replace(n, min_cents=None, max_cents=None, currency=None)
            and self.shops is None
        )

    @property
    def mine_alone(self) -> bool:
        """Whether "mine" is the only filter, with no search: its counts and its money are
        then one range of ix_handled_actor, no request read (migrations 0012, 0018)."""
        return self.narrow == Narrowing(mine=True) and not self.search.strip()

    @property
    def counts_by_deadline(self) -> bool:
        """Whether the tab counts read "due within" as ranges of the (shop,) tab, deadline
        indexes, which hold all they ask: no other filter (the shop aside), no search."""
        n = self.narrow
        return (
            n is not None
            and n.due_hours is not None
            and not replace(n, due_hours=None, shop=None)
            and not self.search.strip()
        )

    def narrowed(
        self, *, walk: bool = False, by_deadline: bool = False, seek: bool = False
    ) -> list[Any]:
        """The filters' conditions. None of them leads SQLite to an index of its own: a
        page walks its order's index and keeps the rows that match (a few hundred rows for
        a filter that keeps one in ten), the counts read ix_requests_filters, which holds
        every column a filter asks about, from end to end (no table row), or with `seek`
        only its ranges that the tab, the shop and the filters after them fix.

        "Mine" is the requests the viewer handled (store/handled.py). A page that walks its
        order looks each row up there (one probe of its key); anything else is led by the
        viewer's request ids, one range of ix_handled_actor (of the tab, when there is one),
        and looks up only those requests: 800 in To Proceed instead of its 60 000 entries
        of ix_requests_filters, 67 000 in All instead of a million."""
        n = self.narrow
        col = (lambda column: column) if seek else search.unindexed
        assert n is not None
        clauses: list[Any] = []
        for name in ("shop", "type", "reason", "currency"):
            value = getattr(n, name)
            if value is not None:
                clauses.append(col(requests.c[name]) == value if storable(value) else sa.false())
        if n.min_cents is not None:
            clauses.append(col(requests.c.amount_cents) >= n.min_cents)
        if n.max_cents is not None:
            clauses.append(col(requests.c.amount_cents) <= n.max_cents)
        if n.due_hours is not None:
            if self.due_by_us is None:
                raise ValueError("a due-within filter needs due_by_us")
            column = requests.c.deadline_at if by_deadline else col(requests.c.deadline_at)
            deadline = sa.type_coerce(column, sa.BigInteger)
            if self.due_per_tab:
                clauses.append(self._due_per_tab(deadline))
            else:
                clauses.append(deadline <= self.due_by_us)
                clauses += self._window_open(deadline)
        if n.mine:
            clauses.append(self._handled(walk))
        return clauses

    @property
    def tabs(self) -> list[Tab]:
        """The tabs the filter's requests are in: its own, or each of them for All."""
        return [t for t in Tab if t is not Tab.ALL] if self.tab is Tab.ALL else [self.tab]

    @property
    def asked_at_us(self) -> int:
        """The moment "due within" is asked at (due_by_us less its hours): a rejection's
        window whose deadline is not after it has closed."""
        assert self.narrow is not None and self.narrow.due_hours is not None
        assert self.due_by_us is not None
        return self.due_by_us - self.narrow.due_hours * _HOUR_US

    def due_rowids(self) -> Any:
        """The rowids of the requests of the filter's tab (each tab for All) whose deadline
        falls in "due within": a range of ix_requests_tab_deadline per tab, no row read. A
        superset of what the filter keeps (_window_open has the rest); Closed's range starts
        now, past the deadlines of every window that ended."""
        deadline = sa.type_coerce(requests.c.deadline_at, sa.BigInteger)
        ranges = []
        for tab in self.tabs:
            clauses = [requests.c.tab == tab.value, deadline <= self.due_by_us]
            if tab is Tab.CLOSED:
                clauses.append(deadline > self.asked_at_us)
            ranges.append(
                sa.select(_ROWID.label("due"))
                .select_from(requests)
                .where(*clauses)
                .with_hint(requests, "INDEXED BY ix_requests_tab_deadline", "sqlite")
            )
        # One SELECT of them: SQLite takes no compound in parentheses after INTERSECT.
        return sa.select(sa.column("due")).select_from(sa.union_all(*ranges).subquery())

    def _window_open(self, deadline: Any) -> list[Any]:
        """A rejection's deadline ends the buyer's window to ask again or appeal: once it has
        passed, or a later request on its order superseded it, nothing is due on it (the
        table shows a dash), so "due within" keeps a Closed request only while its window is
        open. Closed holds no other deadline; in the other tabs a deadline passed is due,
        until the sweep moves the request."""
        window_open = sa.and_(deadline > self.asked_at_us, ~requests.c.has_later)
        if self.tab is Tab.CLOSED:
            return [window_open]
        if self.tab is Tab.ALL:
            return [sa.or_(requests.c.tab != Tab.CLOSED.value, window_open)]
        return []

    def _due_per_tab(self, deadline: Any) -> Any:
        """The "due within" condition as an OR of one range per tab of the filter (each tab
        for All), the same requests as the deadline bound and _window_open keep: PostgreSQL
        then ANDs a search's candidates with a BitmapOr of those ranges of
        ix_requests_tab_deadline (20 000 entries for All, due within 6 h at 1M) rather than
        with every deadline up to the bound in ix_requests_deadline (131 000, most of them
        windows long closed). The Closed range's bound is written `< due_by + 1` (the same,
        in integer microseconds): a bound that every branch shares, PostgreSQL takes out of
        the OR and reads from ix_requests_deadline again."""
        assert self.due_by_us is not None
        branches = []
        for tab in self.tabs:
            if tab is Tab.CLOSED:
                due = [
                    deadline < self.due_by_us + 1,
                    deadline > self.asked_at_us,
                    ~requests.c.has_later,
                ]
            else:
                due = [deadline <= self.due_by_us]
            branches.append(sa.and_(requests.c.tab == tab.value, *due))
        return sa.or_(*branches)

    def _handled(self, walk: bool) -> Any:
        """The condition "the viewer handled it": on the page that walks `handled` itself,
        that it is the viewer's; a probe per row when `walk`; else the viewer's ids leading."""
        if self.by_handled:
            return handled.c.actor == self.viewer
        if walk:
            return sa.exists().where(
                handled.c.request_id == requests.c.id, handled.c.actor == self.viewer
            )
        return requests.c.id.in_(sa.select(handled.c.request_id).where(*self.handled_range()))

    def handled_range(self) -> list[Any]:
        """The viewer's requests in `handled` of this tab and the viewer's shops: one range
        of ix_handled_actor, a superset of what the filter keeps."""
        clauses = [handled.c.actor == self.viewer]
        if self.tab is not Tab.ALL:
            clauses.append(handled.c.tab == self.tab.value)
        if self.shops is not None:
            clauses.append(handled.c.shop.in_(sorted(self.shops)))
        return clauses


def counts(
    conn: Connection, shops: frozenset[str] | None, search: str = "", *, flt: Filter | None = None
) -> dict[Tab, int]:
    """Requests per tab, All included: of the shops and search, or of `flt` (its tab aside)
    when given. Summed from tab_counts when it holds every filter asked; else counted, in
    `handled` for "mine" alone, a tab at a time for "due within" alone, or in one GROUP BY."""
    flt = Filter(shops, Tab.ALL, search) if flt is None else replace(flt, tab=Tab.ALL)
    plan_for_values(conn, flt)
    flt = _within_due(conn, flt)
    if flt.counts_by_rollup:
        # No filter, or filters on these fields alone: summed from tab_counts' few rows.
        query = sa.select(tab_counts.c.tab, sa.func.sum(tab_counts.c.requests)).group_by(
            tab_counts.c.tab
        )
        query = query.where(*_rollup_conditions(flt))
    elif flt.mine_alone:
        # "Mine" alone: counted in the viewer's range of ix_handled_actor, no request read.
        query = (
            sa.select(handled.c.tab, sa.func.count())
            .where(handled.c.actor == flt.viewer)
            .group_by(handled.c.tab)
        )
        if flt.shops is not None:
            query = query.where(handled.c.shop.in_(sorted(flt.shops)))
    elif flt.counts_by_deadline:
        # "Due within" alone (or with a shop): each tab's count one range of its (tab,
        # deadline_at) index, or (shop, tab, deadline_at) for the viewer's shops. Grouped
        # in one statement, SQLite read every entry of an index in tab order (90 ms at 1M,
        # where the five ranges take 20).
        query = sa.union_all(
            *_by_deadline(flt, lambda tab: [sa.literal(tab.value), sa.func.count()])
        )
    else:
        query = sa.select(requests.c.tab, sa.func.count()).group_by(flt.grouped(requests.c.tab))
        query = _seeking(conn, query, flt)
    return _with_all({tab: int(n) for tab, n in conn.execute(query)})


def _with_all(per_tab: dict[str, int]) -> dict[Tab, int]:
    """Every tab's count (0 where `per_tab`, by tab name, has none), and All's, their sum."""
    result = {tab: per_tab.get(tab.value, 0) for tab in Tab if tab is not Tab.ALL}
    result[Tab.ALL] = sum(result.values())
    return result


# A search's requests per tab and currency, with their money: (tab, currency, count, cents).
Sums = list[tuple[str, str, int, int]]


def search_sums(conn: Connection, flt: Filter) -> Sums | None:
    """The counts and the money of the filter's search in every tab (its tab aside), in one
    statement for both (paint.py), or None without a search: its counts and its money each
    read every match (on PostgreSQL every row the trigram index finds, checked in the table).
    Its conditions are those of the counts."""
    if not flt.search.strip():
        return None
    flt = replace(flt, tab=Tab.ALL)
    plan_for_values(conn, flt)
    flt = _within_due(conn, flt)
    tab, currency = requests.c.tab, requests.c.currency
    query = sa.select(tab, currency, sa.func.count(), sa.func.sum(requests.c.amount_cents))
    query = query.where(*flt.where()).group_by(flt.grouped(tab), currency)
    return [(t, c, int(n), int(cents)) for t, c, n, cents in conn.execute(query)]


def counts_of(sums: Sums) -> dict[Tab, int]:
    """The tab counts of `sums`, as `counts` gives them."""
    per_tab: Counter[str] = Counter()
    for tab, _currency, n, _cents in sums:
        per_tab[tab] += n
    return _with_all(per_tab)


def totals_of(sums: Sums, tab: Tab) -> dict[str, int]:
    """The money of `sums` in `tab`, as `totals` gives it (in currency order)."""
    money: Counter[str] = Counter()
    for in_tab, currency, _n, cents in sums:
        if tab is Tab.ALL or in_tab == tab.value:
            money[currency] += cents
    return dict(sorted(money.items()))


def plan_for_values(conn: Connection, flt: Filter) -> None:
    """On PostgreSQL, with a search: plan the transaction's statements for their own
    values. psycopg prepares a statement that a connection ran five times, and PostgreSQL
    may then plan it once for any values, a search's LIKE the same whatever its words: the
    counts of "lima, at most 10.00" read every candidate of "lima" (121 ms median at 1M,
    against 37 planned for its values). Other statements keep the plan cache: nothing
    showed their plans going wrong, and planning is not free (docs/PERFORMANCE.md)."""
    if conn.dialect.name == "postgresql" and flt.search.strip():
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _rollup_conditions(flt: Filter) -> list[Any]:
    """tab_counts' rows of the viewer's shops and the filter's values of its fields."""
    conditions = []
    if flt.shops is not None:
        conditions.append(tab_counts.c.shop.in_(sorted(flt.shops)))
    for name in ROLLUP_FIELDS:
        value = getattr(flt.narrow, name, None)
        if value is not None:
            conditions.append(tab_counts.c[name] == value if storable(value) else sa.false())
    return conditions


def _money(currency: Any, amount: Any) -> Any:
    """The sum of `amount` per `currency`, in currency order."""
    return sa.select(currency, sa.func.sum(amount)).group_by(currency).order_by(currency)


def totals(conn: Connection, flt: Filter) -> dict[str, int]:
    """The money the filter's requests ask for, in minor units per currency (never summed
    across currencies), in currency order: what is at stake in a tab or a search. Without a
    filter, or with filters on its fields alone, summed from tab_counts (migration 0017: at
    1M, "All, reason damaged" looked up every row from the money index, 4.1 s); "mine" alone
    from the viewer's range of `handled` (migration 0018; 330 ms on SQLite); with other
    filters, from the index their counts read (ix_requests_filters or ix_requests_amount, both
    with the amount), or the ranges of "due within" alone; with a search, from the (tab,
    currency, shop, amount_cents) index (migration 0004), an operator's shops filtered in it
    (through a shop index SQLite read every row of the shops for All, 0.9 s for one shop)."""
    plan_for_values(conn, flt)
    flt = _within_due(conn, flt)
    if flt.counts_by_rollup:
        # No filter, or filters on tab_counts' fields alone: summed from its few rows.
        query = _money(tab_counts.c.currency, tab_counts.c.amount_cents)
        query = query.where(*_rollup_conditions(flt))
        if flt.tab is not Tab.ALL:
            query = query.where(tab_counts.c.tab == flt.tab.value)
        query = query.having(sa.func.sum(tab_counts.c.requests) > 0)  # rows of 0 kept
    elif flt.mine_alone:
        # "Mine" alone: the viewer's range of ix_handled_actor, which holds the money.
        query = _money(handled.c.currency, handled.c.amount_cents).where(*flt.handled_range())
    elif flt.counts_by_deadline:
        ranges = sa.union_all(
            *_by_deadline(flt, lambda _tab: [requests.c.currency, requests.c.amount_cents])
        ).subquery()
        query = _money(ranges.c.currency, ranges.c.amount_cents)
    else:
        query = _money(requests.c.currency, requests.c.amount_cents)
        if flt.filters_index:
            query = _seeking(conn, query.select_from(requests), flt)
        else:
            query = query.where(*flt.where(by_shop_index=False))
    return {currency: int(total) for currency, total in conn.execute(query)}


def page(
    conn: Connection,
    flt: Filter,
    sort: Sort,
    *,
    after: ListRow | None = None,
    limit: int = 100,
    backwards: bool = False,
) -> list[ListRow]:
    """Up to `limit` rows of the filter in `sort` order, after the row `after` (or from the
    start). With `backwards`, the rows before `after` (or the last page), still returned in
    `sort` order: that is how the table pages up and jumps to the end.

    Each statement is built and compiled once per shape (_PageShape) and sent as the
    driver's SQL, the rows taken from the driver's cursor: the console reads a page on every
    scroll past its window, and SQLAlchemy's building, caching and row processing of the
    statement cost three times the query itself.

    A search that the index finds many candidates for (walks_search, SQLite) reads the rows
    in the page's order and keeps those that match: the first hundred come after a few
    hundred rows, where gathering and sorting every candidate took 250 ms for `acme` at 1M
    (167 000 of them)."""
    plan_for_values(conn, flt)
    matches = None  # the few matches' rowids, as one JSON array (SQLite)
    if walks_search(conn, flt, sort):
        flt = replace(flt, in_order=True)
    elif flt.indexed_search and conn.dialect.name == "sqlite":
        # The search's candidates gathered, ordered and cut by their keys alone, the page's
        # rows read after (_PageShape.query): each candidate read whole with its computed
        # columns before the sort took 54 ms for lima's 7 635 refunds at 1M.
        flt = replace(_within_due(conn, flt), by_matches=True)
    elif flt.indexed_search and few_by_estimate(conn, flt, sort):  # PostgreSQL
        flt = replace(flt, by_matches=True)
    elif walks_handled(flt, sort):
        flt = replace(flt, by_handled=True)
    elif walks_segments(conn, flt, sort):
        flt = replace(flt, by_segments=True)
    elif flt.narrow and not flt.search.strip():
        # PostgreSQL plans by its statistics, except for "mine": it cannot know how few of
        # a tab's requests the viewer handled (it walked 10 267 rows of To Proceed for 101).
        if flt.narrow.mine:
            if few_matches(conn, flt):
                flt = replace(flt, by_matches=True)
        elif conn.dialect.name == "sqlite" and (found := matched_ids(conn, flt)) is not None:
            flt, matches = replace(flt, by_matches=True), json.dumps(found)
    descending = (sort is Sort.NEWEST) != backwards
    # Rows without a deadline come after every row with one, in id order.
    nullable = sort is Sort.DEADLINE
    rows: list[ListRow] = []
    segments = [False, True] if nullable else [False]
    if nullable and backwards:
        segments.reverse()
    for null_segment in segments:
        if after is not None and nullable:
            after_null = after.deadline_us is None
            # Moving forwards we never go back to the dated segment from the undated one,
            # and backwards never forwards into it.
            if not backwards and after_null and not null_segment:
                continue
            if backwards and not after_null and null_segment:
                continue
        keyed = after is not None and (not nullable or (after.deadline_us is None) == null_segment)
        shape = _PageShape(flt, sort, null_segment, keyed, descending, limit - len(rows))
        sql, names, values = _page_sql(conn.dialect, shape)
        if after is not None and keyed:
            key = [getattr(after, _STORED_ATTR.get(c.name, c.name)) for c in shape.key_columns]
            values = {**values, **dict(zip(_KEY_NAMES, key, strict=False))}
        if matches is not None:
            values = {**values, _MATCHES: matches}
        params = values if names is None else tuple(values[n] for n in names)
        result = conn.exec_driver_sql(sql, params)
        try:
            rows.extend(map(ListRow._make, result.cursor.fetchall()))
        finally:
            result.close()
        if len(rows) >= limit:
            break
    if backwards:
        rows.reverse()
    return rows


# How many of a search's newest candidates tell what share of them the filters keep.
SAMPLE = 200


def walks_search(conn: Connection, flt: Filter, sort: Sort) -> bool:
    """Whether a page of an indexed search walks its order and keeps the matches, rather than
    gather the index's candidates and sort them (SQLite; PostgreSQL plans by itself): when
    the candidates are many for the share of them that the filters keep (search.common).
    The share is sampled from the newest candidates in the tab and the viewer's shops: a
    currency that one request in ten has makes the walk read ten times the rows (lima + JPY
    at 1M: 133 ms newest first, against 64 for gathering its 25 000 candidates). "Due
    within" is left out of it when the page is most urgent first: what is due comes first."""
    if not (flt.indexed_search and conn.dialect.name == "sqlite"):
        return False
    if not search.common(conn, flt.search, facets=flt.facets):
        return False
    narrow = flt.narrow
    if narrow and sort is Sort.DEADLINE:
        narrow = replace(narrow, due_hours=None)
    if not narrow:
        return True
    kept = _kept_share(conn, replace(flt, narrow=narrow))
    return search.common(conn, flt.search, kept, flt.facets)


def _kept_share(conn: Connection, flt: Filter) -> float:
    """The share of the search's newest SAMPLE candidates, of those in the filter's tab and
    shops, that its filters keep; 1 when none of them is in the tab (nothing to tell by)."""
    found = search.candidates(flt.search, flt.facets)
    newest = found.order_by(sa.desc("rowid")).limit(SAMPLE)
    seen = []  # a filter on the few rows sampled: no index of their own (search.unindexed)
    if flt.shops is not None:
        seen.append(search.unindexed(requests.c.shop).in_(sorted(flt.shops)))
    if flt.tab is not Tab.ALL:
        seen.append(search.unindexed(requests.c.tab) == flt.tab.value)
    kept = sa.case((sa.and_(*flt.narrowed(walk=True)), 1))
    query = (
        sa.select(sa.func.count(), sa.func.count(kept))
        .select_from(requests)
        .where(_ROWID.in_(newest), *seen)
    )
    in_tab, filtered = conn.execute(query).one()
    return filtered / in_tab if in_tab else 1.0


# "Due within" with a search: fewer requests than this in its ranges (due_rowids), and the
# search keeps of its candidates those the ranges hold before it reads a row.
DUE_FEW = 50_000


def _within_due(conn: Connection, flt: Filter) -> Filter:
    """`flt`, made to keep of its search's candidates those due (Filter.within_due) when it
    has "due within" and the ranges of that hold fewer than DUE_FEW requests (SQLite, a search
    the index finds candidates for): the rows read are then those both hold, where every
    candidate was read (25 000 for "lima" at 1M; 85 ms of the counts of To Proceed's "due
    within 6 h", whose ranges hold 12 000 requests). On PostgreSQL, "due within" written a
    range per tab (Filter.due_per_tab): the counts of that case read 453 table pages instead
    of 3 127, 22-40 ms instead of 56-109."""
    narrow = flt.narrow
    if not (narrow and narrow.due_hours is not None and flt.indexed_search):
        return flt
    if conn.dialect.name != "sqlite":
        return replace(flt, due_per_tab=True)
    ranges = flt.due_rowids().limit(DUE_FEW).subquery()
    held = conn.execute(sa.select(sa.func.count()).select_from(ranges)).scalar_one()
    return replace(flt, within_due=True) if held < DUE_FEW else flt


_KEY_NAMES = ("key_0", "key_1")
_MATCHES = "matches"  # the page parameter of matched_ids' rowids
_ROWID = sa.literal_column("requests.rowid")
# Fewer matches than this in a tab, and a page gathers them from ix_requests_filters and sorts
# them; more, and it walks its order's index and keeps the rows that match (a hundred of them
# come after at most a few thousand rows). SQLite has no statistics to choose by itself.
FEW_MATCHES = 2000


def matched_ids(conn: Connection, flt: Filter) -> list[int] | None:
    """The rowids of the filter's requests (SQLite, no search, not "mine") if there are
    fewer than FEW_MATCHES, else None: read from an index alone (the smallest that holds the
    filter's columns: every index holds the rowid), stopping at FEW_MATCHES. One pass:
    counting them first and gathering them after read the index twice, end to end for All
    (a million entries each at 1M)."""
    if flt.counts_by_deadline:  # "due within": the ranges of its counts, not a scan
        query = sa.union_all(*_by_deadline(flt, lambda _tab: [_ROWID])).limit(FEW_MATCHES)
    else:
        query = _seeking(conn, sa.select(_ROWID).select_from(requests), flt).limit(FEW_MATCHES)
    found = list(conn.execute(query).scalars())
    return found if len(found) < FEW_MATCHES else None


def _by_deadline(flt: Filter, columns: Any) -> list[Any]:
    """For "due within" alone (or with a shop, counts_by_deadline): a SELECT of `columns(tab)`
    per tab of the filter (each tab for All), each one range of the (shop,) tab, deadline
    index. Read as one, SQLite scanned ix_requests_tab_deadline in tab order, through the
    412 000 requests of Completed that have no deadline (50-110 ms for All's few matches)."""
    return [
        sa.select(*columns(tab)).select_from(requests).where(
            *replace(flt, tab=tab).where(by_deadline=True)
        )
        for tab in flt.tabs
    ]


def _seeking(conn: Connection, query: Any, flt: Filter) -> Any:
    """`query` with the filter's conditions, read through the index that they may seek in,
    if one does (seeks_filters: SQLite only, PostgreSQL chose a slower plan given every tab;
    seeks_amount). Otherwise the database plans by itself."""
    if flt.seeks_filters and conn.dialect.name == "sqlite":
        return in_filters_index(query.where(*flt.where(seek=True)))
    if flt.seeks_amount:
        return in_amount_index(conn, query.where(*flt.where(seek=True)), flt)
    return query.where(*flt.where())


def in_amount_index(conn: Connection, query: Any, flt: Filter) -> Any:
    """`query` read through ix_requests_amount (SQLite's INDEXED BY), for conditions made
    with `seek`: one range of the amount in each currency. Without a currency filter, the
    currencies are those tab_counts holds (a few of its rows), so that each is sought
    rather than the index read end to end: SQLite has no statistics to skip-scan by, nor
    PostgreSQL 15 a skip scan (it read ix_requests_tab_money whole, 213 against 179 ms)."""
    if flt.narrow is not None and flt.narrow.currency is None:
        held = sa.select(tab_counts.c.currency).distinct()
        currencies = sorted(conn.execute(held).scalars())
        query = query.where(requests.c.currency.in_(currencies))
    return query.with_hint(requests, "INDEXED BY ix_requests_amount", "sqlite")


@compiles(sa.Table, "sqlite")
def _table_with_hint(table: sa.Table, compiler: Any, **kw: Any) -> str:
    """A table in FROM followed by its hint for SQLite (`with_hint(requests, "INDEXED BY
    ix", "sqlite")`): SQLAlchemy's SQLite compiler drops table hints (its
    get_from_hint_text returns None), so in_filters_index asked for an index that SQLite
    never heard of, and chose by itself, differently as indexes came and went."""
    text = compiler.visit_table(table, **kw)
    hint = (kw.get("fromhints") or {}).get(table)
    return f"{text} {hint}" if hint else text


def in_filters_index(query: Any) -> Any:
    """`query` read through ix_requests_filters (SQLite's INDEXED BY; nothing elsewhere), for
    conditions made with `seek`: fixed, they could lead SQLite to a narrower index of their
    own (the shop's), which it would walk reading each row (2.3 s for one reason at 1M)."""
    return query.with_hint(requests, "INDEXED BY ix_requests_filters", "sqlite")


def few_matches(conn: Connection, flt: Filter) -> bool:
    """Whether the viewer handled fewer than FEW_MATCHES requests of the filter's tab ("mine"):
    counted in ix_handled_actor, stopping at FEW_MATCHES (what the other filters keep of them
    is fewer still)."""
    inner = sa.select(handled.c.tab).where(*flt.handled_range()).limit(FEW_MATCHES)
    query = sa.select(sa.func.count()).select_from(inner.subquery())
    return conn.execute(query).scalar_one() < FEW_MATCHES


# A search on PostgreSQL that its planner guesses fewer matches than this for gathers them
# and sorts them (few_by_estimate); more, and the planner chooses, walking the page's order.
# The walk finds a page's 101 among N matches after about 101 × requests / N rows: at 1M,
# about as many rows as gathering all N near 10 000.
PG_FEW = 10_000


def few_by_estimate(conn: Connection, flt: Filter, sort: Sort) -> bool:
    """Whether PostgreSQL's planner guesses fewer than PG_FEW requests for the filter (its
    EXPLAIN, no row read: a millisecond). Left to itself, it walks the page's order for a
    search with a filter when the walk's cost comes out a hair under the gathering's: it
    guesses the matches well (2 758 for the 2 536 of "lima" in JPY at 1M) but not that they
    are spread over the whole table, so the walk read 40 000 rows for 101 (310 ms). Not for
    "due within" most urgent first, whose walk meets what is due first (To Proceed, "lima",
    due within 6 h: 62-76 ms p95 walked, 104-105 gathered)."""
    if conn.dialect.name != "postgresql":
        return False
    if sort is Sort.DEADLINE and flt.narrow and flt.narrow.due_hours is not None:
        return False
    query = sa.select(requests.c.id).where(*flt.where())
    compiled = query.compile(conn, compile_kwargs={"render_postcompile": True})
    explain = "EXPLAIN (FORMAT JSON) " + compiled.string
    (plan,) = conn.exec_driver_sql(explain, compiled.params).scalar_one()
    return plan["Plan"]["Plan Rows"] < PG_FEW


def walks_handled(flt: Filter, sort: Sort) -> bool:
    """Whether the page walks the viewer's handled requests in ix_handled_created: All with
    "mine" (and no search), newest or oldest first. Walking every request instead passes
    all those nobody answered yet before the first the viewer handled (92 ms at 1M)."""
    return (
        bool(flt.narrow)
        and flt.narrow.mine  # type: ignore[union-attr]
        and not flt.search.strip()
        and flt.tab is Tab.ALL
        and sort in (Sort.NEWEST, Sort.OLDEST)
    )


def walks_segments(conn: Connection, flt: Filter, sort: Sort) -> bool:
    """Whether a page merges a range per shop and tab of the index in its order (ix_requests_
    shop_tab_created, _deadline or _waiting; tab_waiting for every shop), rather than read
    every request of the tab or the viewer's shops and sort them: when no index holds the
    page's order across its tabs or shops, with no search or filter (they have their own
    ways). On SQLite for an operator's All, or several shops: an operator of one shop paged
    All newest first in 456-619 ms at 1M (its 166 627 requests sorted for 101), 3 ms now.
    On both databases for "longest waiting first" across tabs (0.5 s at 1M on either).
    PostgreSQL plans the others well by itself."""
    if flt.search.strip() or flt.narrow or flt.shops == frozenset():
        return False
    across = flt.tab is Tab.ALL or (flt.shops is not None and len(flt.shops) > 1)
    if sort is Sort.WAITING:
        return across
    return conn.dialect.name == "sqlite" and flt.shops is not None and across


@dataclass(frozen=True)
class _PageShape:
    """What decides a page's statement; the page key's values are its only parameters."""

    flt: Filter
    sort: Sort
    null_segment: bool
    keyed: bool
    descending: bool
    limit: int

    @property
    def key_columns(self) -> list[Any]:
        if self.null_segment:
            return [requests.c.id]
        return [_SORT_COLUMN[self.sort], requests.c.id]

    def query(self) -> Any:
        if self.flt.by_handled:
            joined = handled.join(requests, requests.c.id == handled.c.request_id)
            return self._rows(sa.select(*LIST_COLUMNS).select_from(joined))
        if self.flt.by_segments:
            return self._merged()
        if not self.flt.by_matches:
            return self._rows(sa.select(*LIST_COLUMNS))
        # The few matches: the page's ids ordered and cut among them, and only then the
        # page's rows read with what they show. The computed columns (superseded,
        # auto-approved) cost a look each: for a page's rows, never for every match (1.3 s
        # for 1 374 matches at 1M). The matches are the rowids matched_ids found already,
        # given as one JSON array, or for "mine" the viewer's ids in ix_handled_actor that the
        # filter keeps, or a search's candidates in its index. The subquery's `requests` is
        # its own (not correlated).
        among = None
        if not (self.flt.narrow and self.flt.narrow.mine) and not self.flt.indexed_search:
            listed = sa.select(sa.column("value")).select_from(
                sa.func.json_each(sa.bindparam(_MATCHES, type_=sa.String, required=False))
            )
            among = [_ROWID.in_(listed)]
        ids = self._rows(sa.select(requests.c.id), among)
        order = self._order(search.unindexed)
        return (
            sa.select(*LIST_COLUMNS).where(requests.c.id.in_(ids.correlate(None))).order_by(*order)
        )

    def _merged(self) -> Any:
        """The page of walks_segments: the first rows of each (shop, tab) in the page's
        order (an index range each), merged and cut, then the page's rows read by id."""
        tabs = [t for t in Tab if t is not Tab.ALL and self.flt.tab in (Tab.ALL, t)]
        parts = []
        shops = [None] if self.flt.shops is None else sorted(self.flt.shops)
        for shop in shops:
            for tab in tabs:
                where = [requests.c.tab == tab.value]
                if shop is not None:
                    where.append(requests.c.shop == shop)
                part = self._rows(sa.select(*self.key_columns), where).subquery()
                parts.append(sa.select(*part.c))
        merged = sa.union_all(*parts).subquery()
        keys = [merged.c[c.name] for c in self.key_columns]
        ids = sa.select(merged.c.id).order_by(*[k.desc() if self.descending else k for k in keys])
        ids = ids.limit(self.limit)
        return (
            sa.select(*LIST_COLUMNS)
            .where(requests.c.id.in_(ids))
            .order_by(*self._order(search.unindexed))
        )

    def _order(self, wrap: Any) -> list[Any]:
        columns = self.key_columns
        if self.null_segment:
            # The rows without a deadline, by id: ordered by the deadline (all NULL) too, so
            # that PostgreSQL reads them from the (shop,) tab, deadline_at, id index in order.
            # By id alone it walked the primary key backwards and kept those of the tab with
            # no deadline, past all 1M rows when a tab has none (To Proceed's last page, 0.26 s).
            columns = [_SORT_COLUMN[self.sort], *columns]
        cols = [wrap(self._walked(c)) for c in columns]
        return [c.desc() if self.descending else c.asc() for c in cols]

    def _walked(self, column: Any) -> Any:
        """The column the page is ordered and keyed on: the key's own, or the same values
        in `handled` when the page walks it."""
        if not self.flt.by_handled:
            return column
        return {"created_at": handled.c.created_at, "id": handled.c.request_id}[column.name]

    def _rows(self, query: Any, conditions: list[Any] | None = None) -> Any:
        """`query` with the page's conditions (the filter's, unless given), order and limit."""
        flt, column = self.flt, _SORT_COLUMN[self.sort]
        if conditions is None:
            conditions = flt.where(walk=not flt.by_matches)
        query = query.where(*conditions)
        if self.null_segment:
            query = query.where(flt.filtered(column).is_(None))
        elif self.sort is Sort.DEADLINE:
            query = query.where(flt.filtered(column).is_not(None))
        key_cols = self.key_columns
        if self.keyed:
            cols = sa.tuple_(*[flt.filtered(self._walked(c)) for c in key_cols])
            # A time goes to the database as the microseconds it is stored as.
            key = sa.tuple_(
                *[
                    sa.bindparam(
                        name,
                        required=False,  # given at each execution (see page)
                        type_=sa.BigInteger if c.name in _STORED_ATTR else c.type,
                    )
                    for name, c in zip(_KEY_NAMES, key_cols, strict=False)
                ]
            )
            query = query.where(cols < key if self.descending else cols > key)
        return query.order_by(*self._order(flt.ordered)).limit(self.limit)


@lru_cache(maxsize=512)
def _page_sql(dialect: Any, shape: _PageShape) -> tuple[str, tuple[str, ...] | None, dict]:
    """A page's statement compiled for the driver: the SQL, the order of its parameters
    (None for a driver that takes them by name) and the values of every parameter but the
    page key's. No parameter of a page needs a conversion (the times are bound as integers)."""
    compiled = shape.query().compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    if any(compiled._bind_processors.get(name) for name in values):
        raise TypeError("a page parameter needs a conversion")  # pragma: no cover
    names = tuple(compiled.positiontup) if compiled.positional else None
    return compiled.string, names, values


def _key_of(row: ListRow, columns: Sequence[Any]) -> Any:
    """The row's values of `columns` as one tuple, each bound with its column's type (so a
    time goes to the database as the microseconds it is stored as)."""
    return sa.tuple_(*[sa.literal(getattr(row, c.name), type_=c.type) for c in columns])


def position(conn: Connection, flt: Filter, sort: Sort, row: ListRow) -> int:
    """How many rows come before `row` in this order (for "row 1 234 of 98 765"): counted
    the way a page of the filter reads, where it has a way of its own. Counted through the
    page's order, the rows before a window of a filter were every row of the tab before it:
    at 1M on SQLite, 156-161 ms for the second window of "USD from 500.00" (1 374 matches, now
    counted among them) and 131-135 ms for "handled by me" in All (now the viewer's range of
    `handled` before the row; bench/scroll_figures.py's "again")."""
    plan_for_values(conn, flt)
    if walks_handled(flt, sort):
        return conn.execute(_before_query(replace(flt, by_handled=True), sort, row)).scalar_one()
    narrow = flt.narrow
    if conn.dialect.name == "sqlite" and narrow and not narrow.mine and not flt.search.strip():
        found = matched_ids(conn, flt)
        if found is not None:  # the few matches: the row's key compared in each
            listed = sa.select(sa.column("value")).select_from(sa.func.json_each(json.dumps(found)))
            query = _before_query(replace(flt, by_matches=True), sort, row)
            return conn.execute(query.where(_ROWID.in_(listed))).scalar_one()
    return conn.execute(_before_query(flt, sort, row)).scalar_one()


def _before_query(flt: Filter, sort: Sort, row: ListRow) -> Any:
    column = _SORT_COLUMN[sort]
    if flt.by_handled:  # the viewer's handled requests, keyed on their copy of the key
        query = sa.select(sa.func.count()).select_from(
            handled.join(requests, requests.c.id == handled.c.request_id)
        )
        conditions = flt.where(walk=True)
        column, key_id = handled.c[column.name], handled.c.request_id
    else:
        query = sa.select(sa.func.count()).select_from(requests)
        conditions = flt.where()
        key_id = requests.c.id
    for clause in conditions:
        query = query.where(clause)
    keyed = [_SORT_COLUMN[sort], requests.c.id]  # the row's key, as requests store it
    value = getattr(row, column.name)
    where_column, where_id = flt.filtered(column), flt.filtered(key_id)
    if sort is Sort.DEADLINE and value is None:
        return query.where(
            sa.or_(where_column.is_not(None), sa.and_(where_column.is_(None), where_id < row.id))
        )
    key_cols = sa.tuple_(where_column, where_id)
    key = _key_of(row, keyed)
    newest = sort is Sort.NEWEST
    if flt.narrow and flt.narrow.due_hours is not None:
        # The key's first column bounded alone too: PostgreSQL estimates a comparison of row
        # values without its statistics, and with "due within" it read the deadline index's
        # 160 000 entries up to the bound for a window of All (200 ms at 1M) instead of the
        # range before the key (13 ms). Not for the other filters: each has its own index,
        # and the bound led PostgreSQL away from it (a search's 9 -> 15 ms).
        bound = _key_of(row, keyed[:1])
        query = query.where(where_column >= bound if newest else where_column <= bound)
    return query.where(key_cols > key if newest else key_cols < key)


_REQUEST = sa.select(requests).where(requests.c.id == sa.bindparam("id"))
_ORDER = sa.select(requests).where(requests.c.order_id == sa.bindparam("order_id"))


def request_row(conn: Connection, request_id: str) -> Any:
    return conn.execute(_REQUEST, {"id": request_id}).mappings().first()


def order_rows(conn: Connection, order_id: str) -> list[Any]:
    return list(conn.execute(_ORDER, {"order_id": order_id}).mappings())


def record_rows(conn: Connection, request_id: str) -> list[Any]:
    query = sa.select(records).where(records.c.request_id == request_id).order_by(records.c.seq)
    return list(conn.execute(query).mappings())


def last_record(conn: Connection, request_ids: Sequence[str]) -> Any:
    """The newest record of these requests (notes included): what an action's time must not
    come before. Records are written in time order, so within a request the highest seq is
    the newest."""
    query = (
        sa.select(records)
        .where(records.c.request_id.in_(list(request_ids)))
        .order_by(records.c.at.desc(), records.c.seq.desc())
        .limit(1)
    )
    return conn.execute(query).mappings().first()


_NEWEST_AT = sa.select(sa.func.max(sa.type_coerce(records.c.at, sa.BigInteger)))
_LAST_AT = _NEWEST_AT.where(records.c.request_id == sa.bindparam("id"))
_LAST_AT_OF_MANY = _NEWEST_AT.where(records.c.request_id.in_(sa.bindparam("ids", expanding=True)))


def last_record_at(conn: Connection, request_ids: Sequence[str]) -> int | None:
    """The time of last_record, in microseconds (None when there is none): what every
    action checks, in one cheap query; the record itself is read only for a refusal."""
    if len(request_ids) == 1:
        return conn.execute(_LAST_AT, {"id": request_ids[0]}).scalar()
    return conn.execute(_LAST_AT_OF_MANY, {"ids": list(request_ids)}).scalar()


def last_move(conn: Connection, request_id: str) -> Any:
    """The last record that changed the request's status (notes change none)."""
    query = (
        sa.select(records)
        .where(records.c.request_id == request_id, records.c.kind != "noted")
        .order_by(records.c.seq.desc())
        .limit(1)
    )
    return conn.execute(query).mappings().first()


# The tabs whose requests have a deadline that moves them, in the order the sweep takes them.
_TIMED_TABS = (Tab.TO_PROCEED.value, Tab.IN_PROCESS.value)


def micros(column: Any) -> Any:
    """A time column as the integer microseconds it is stored as: read and compared without
    the UTCTime conversion, for the loops that run over many rows (sweep, export, pages)."""
    return sa.type_coerce(column, sa.BigInteger).label(column.name)


def due_tuples(conn: Connection, now_us: int, limit: int) -> list[Any]:
    """At most `limit` requests whose deadline has come, as plain rows of (id, shop, type,
    status, deadline_at in microseconds, version, chain, amount_cents, respond_by,
    created_at), locked for this transaction (on PostgreSQL; rows another sweep holds are
    skipped, not waited for); the chain is the head the records the sweep writes follow
    (store/chain.py), the amount is the refund of an approval, respond_by moves after a lapsed
    offer, and created_at orders deadlines at the same moment (DESIGN §7: the sweep sorts a
    batch by it). To Proceed's, then In Process's, each tab oldest deadline first: one query a
    tab walks its (tab, deadline_at, id) index in order and stops at the limit, where one
    query for both tabs would gather and sort every due request of both first. Sent as the
    driver's SQL: `apply` asks it before every line, and SQLAlchemy's statement building cost
    more than the query."""
    sql = _due_sql(conn.dialect.name, conn.dialect.paramstyle)
    rows: list[Any] = []
    for tab in _TIMED_TABS:
        rows += conn.exec_driver_sql(sql, (tab, now_us, limit - len(rows))).all()
        if len(rows) >= limit:
            break
    return rows


@lru_cache(maxsize=4)
def _due_sql(dialect: str, paramstyle: str) -> str:
    mark = PLACEHOLDER[paramstyle]
    sql = (
        "SELECT id, shop, type, status, deadline_at, version, chain, amount_cents, respond_by, "
        "created_at FROM requests "
        # A synced request moves by the marketplace's clock, never by the sweep (DESIGN §8).
        f"WHERE tab = {mark} AND deadline_at <= {mark} AND source = 'local' "
        f"ORDER BY deadline_at, id LIMIT {mark}"
    )
    return sql if dialect == "sqlite" else sql + " FOR UPDATE SKIP LOCKED"


def due_soon(
    conn: Connection,
    shops: frozenset[str] | None,
    start: DateTime,
    end: DateTime,
    limit: int | None = None,
) -> list[tuple[str, DateTime]]:
    """Pending requests whose 48 h run out in [start, end), the soonest first (at most
    `limit`): the "an hour from auto-approval" warnings."""
    query = sa.select(requests.c.id, requests.c.deadline_at).where(
        requests.c.tab == Tab.TO_PROCEED.value,
        requests.c.deadline_at >= start,
        requests.c.deadline_at < end,
    )
    if shops is not None:
        query = query.where(requests.c.shop.in_(sorted(shops)))
    query = query.order_by(requests.c.deadline_at, requests.c.id).limit(limit)
    return [(r.id, r.deadline_at) for r in conn.execute(query)]


def auto_approved_among(
    conn: Connection, shops: frozenset[str] | None, ids: Sequence[str]
) -> list[str]:
    """Those of `ids` (in the shops) that the clock approved, in id order."""
    if not ids:
        return []
    query = sa.select(requests.c.id).where(
        requests.c.id.in_(sorted(set(ids))),
        sa.exists().where(
            records.c.request_id == requests.c.id,
            records.c.kind == Kind.AUTO_APPROVED.value,
        ),
    )
    if shops is not None:
        query = query.where(requests.c.shop.in_(sorted(shops)))
    return [rid for (rid,) in conn.execute(query.order_by(requests.c.id))]


def export_rows(
    conn: Connection, shops: frozenset[str] | None, tab: Tab, batch: int = 2000
) -> Iterator[tuple[Any, list[Any]]]:
    """Every request of the filter in id order with its records, read a batch at a time."""
    after: str | None = None
    while True:
        query = sa.select(*_exported(requests), _SENDING).order_by(requests.c.id).limit(batch)
        for clause in Filter(shops, tab).where():
            query = query.where(clause)
        if after is not None:
            query = query.where(requests.c.id > after)
        chunk = list(conn.execute(query).mappings())
        if not chunk:
            return
        ids = [r["id"] for r in chunk]
        recs: dict[str, list[Any]] = {i: [] for i in ids}
        rec_query = (
            sa.select(records)
            .where(records.c.request_id.in_(ids))
            .order_by(records.c.request_id, records.c.seq)
        )
        for rec in conn.execute(rec_query).mappings():
            recs[rec["request_id"]].append(rec)
        for row in chunk:
            yield row, recs[row["id"]]
        after = ids[-1]


class StoredRow(tuple):
    """A row as stored, times as integer microseconds, read without SQLAlchemy's per-value
    conversion (the export reads a million requests). Unpacked or indexed by position it is
    the plain tuple of the table's columns; row["name"] is what a mapping row of the table
    gives (a time as a pendulum DateTime), so that code written for export_rows reads it."""

    __slots__ = ()
    _index: dict[str, int]
    _times: frozenset[int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            i = self._index[key]
            value = tuple.__getitem__(self, i)
            return from_micros(value) if i in self._times and value is not None else value
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._index else default


def _exported(table: Any) -> list[Any]:
    """The columns of `table` that an export reads: all but search_text, which only repeats
    the others, folded, for the search."""
    return [c for c in table.columns if c.name != "search_text"]


def _stored_row(table: Any, extra: tuple[str, ...] = ()) -> type[StoredRow]:
    columns = _exported(table)
    times = frozenset(i for i, c in enumerate(columns) if isinstance(c.type, UTCTime))
    cls = type(f"Stored{table.name.title()}Row", (StoredRow,), {"__slots__": ()})
    names = [c.name for c in columns] + list(extra)
    cls._index, cls._times = {name: i for i, name in enumerate(names)}, times
    return cls


# Whether a decision on the request waits in the outbox (DESIGN §8: export's `sending`),
# read with it: the last column of an exported request.
_SENDING = (
    sa.exists()
    .where(sync_outbox.c.request_id == requests.c.id)
    .correlate(requests)
    .label("sending")
)
RequestRow = _stored_row(requests, ("sending",))
RecordRow = _stored_row(records)
REQUEST_COLUMNS = tuple(RequestRow._index)
RECORD_COLUMNS = tuple(RecordRow._index)


def _as_stored(table: Any) -> list[Any]:
    return [micros(c) if isinstance(c.type, UTCTime) else c for c in _exported(table)]


def fetch_tuples(conn: Connection, query: Any, params: Any = None) -> list[tuple]:
    """Every row of `query` as the driver's plain tuples: SQLAlchemy runs the statement (its
    cache, its errors), the rows come straight from the driver's cursor, with no per-row
    processing. For columns without a conversion (a UTCTime read through micros())."""
    result = conn.execute(query, params)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def export_tuples(
    conn: Connection,
    shops: frozenset[str] | None,
    tab: Tab,
    batch: int = 2000,
    search: str = "",
    flt: Filter | None = None,
) -> Iterator[tuple[StoredRow, list[StoredRow]]]:
    """export_rows, the same requests and records in the same order, as StoredRows; with a
    search, only the requests it finds, and with `flt` (which then says the shops, tab and
    search) only those its filters keep too: the console's "export this view". Every id is
    after "", the least text in any collation, so the first batch is one like the rest."""
    flt = Filter(shops, tab, search) if flt is None else flt
    # With an indexed search the candidates are few: SQLite must sort them rather than walk
    # the whole table in id order looking for them (Filter.filtered).
    after = flt.filtered(requests.c.id) > sa.bindparam("after")
    query = (
        sa.select(*_as_stored(requests), _SENDING)
        .where(*flt.where(), after)
        .order_by(requests.c.id)
        .limit(batch)
    )
    after = ""
    while True:
        chunk = fetch_tuples(conn, query, {"after": after})
        if not chunk:
            return
        ids = [row[0] for row in chunk]
        recs = {
            request_id: list(map(RecordRow, group))
            for request_id, group in groupby(fetch_tuples(conn, _RECORDS_OF, {"ids": ids}), _OF)
        }
        for row in chunk:
            yield RequestRow(row), recs.get(row[0], [])
        after = ids[-1]


_RECORDS_OF = (
    sa.select(*_as_stored(records))
    .where(records.c.request_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(records.c.request_id, records.c.seq)
)
_OF = itemgetter(RECORD_COLUMNS.index("request_id"))


class BuyerHistory(NamedTuple):
    """A buyer's requests in the shops a viewer may see (DESIGN §10): on other orders than
    the one shown, how many of those were rejected and how many appealed, and all of their
    requests created since a moment (this one included)."""

    other_orders: int
    rejected: int
    appealed: int
    recent: int


def buyer_history(
    conn: Connection,
    buyer: str,
    shops: frozenset[str] | None,
    order_id: str,
    since_us: int,
) -> BuyerHistory:
    """One query, one range of ix_requests_buyer per shop, from the index alone."""
    other = requests.c.order_id != order_id
    created = sa.type_coerce(requests.c.created_at, sa.BigInteger)

    def number(*conditions: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)

    query = sa.select(
        number(other),
        number(other, requests.c.rejected_at.is_not(None)),
        number(other, requests.c.arbitration.is_not(None)),
        number(created >= since_us),
    ).where(requests.c.buyer == buyer)
    if shops is not None:
        query = query.where(requests.c.shop.in_(sorted(shops)))
    return BuyerHistory(*(int(n) for n in conn.execute(query).one()))
