"""What the console reads, as plain functions on top of `Returns`, run in worker threads.

Nothing here touches a widget: each function takes the service and the viewer, asks the
service, and returns a small frozen value that the screen hands to its widgets. A table shows
one *window* of at most PAGE rows, fetched with the service's keyset pages, so page 10 000
costs what page 1 costs and no more than a window is ever in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pendulum import DateTime

from returns_tui import domain as d
from returns_tui.filters import Narrowing
from returns_tui.roles import Actor
from returns_tui.services import Returns
from returns_tui.store.queries import BuyerHistory, ListRow, Sort
from returns_tui.sync.rules import MARKETPLACE as synced_marketplace
from returns_tui.sync.rules import Refusal
from returns_tui.sync.rules import refusal as synced_refusal

PAGE = 100


@dataclass(frozen=True)
class View:
    """Which rows a table shows: a tab, its order, a search text and the filters."""

    tab: d.Tab
    sort: Sort
    search: str = ""
    narrow: Narrowing = Narrowing()


@dataclass(frozen=True)
class Anchor:
    """Where a window starts. Forwards: the page after `after` (None: the first page).
    Backwards: the page before `after` (None: the last page).

    `before`: how many rows of the view come before `after`, when the window that the step
    leaves knew it; the new window's offset then follows from it instead of being counted.
    Counting the rows before a row reads them all, through indexes that a filter does not
    lead (at 1M on SQLite, the second window of "USD from 500.00" took 162 ms, of "handled
    by me" 125: bench/scroll_figures.py). Not part of where the window is: a window read again
    after a change drops it (its rows before may have come or gone), and is the same window."""

    after: ListRow | None = None
    backwards: bool = False
    before: int | None = field(default=None, compare=False)

    @property
    def is_first_page(self) -> bool:
        return self.after is None and not self.backwards


FIRST = Anchor()
LAST = Anchor(None, backwards=True)


@dataclass(frozen=True)
class Window:
    view: View
    anchor: Anchor
    rows: tuple[ListRow, ...]
    offset: int  # how many rows of the view come before rows[0]
    more_before: bool
    more_after: bool


def load_window(
    service: Returns,
    actor: Actor,
    view: View,
    anchor: Anchor,
    size: int = PAGE,
    now: DateTime | None = None,
) -> Window:
    """The window of `view` at `anchor`. One row more than a page is read to learn whether
    another page follows. A window that comes back short at the start (a page up that reached
    the top) or empty (its anchor moved away) is read again as the first or last page, so the
    table is never half empty while there are rows to show."""
    rows = service.page(
        actor,
        view.tab,
        view.sort,
        view.search,
        after=anchor.after,
        limit=size + 1,
        backwards=anchor.backwards,
        narrow=view.narrow,
        now=now,
    )
    if anchor.backwards:
        more_before = len(rows) > size
        rows = rows[-size:]
        more_after = anchor.after is not None
        if anchor.after is not None and not more_before:
            return load_window(service, actor, view, FIRST, size, now)
    else:
        more_after = len(rows) > size
        rows = rows[:size]
        more_before = anchor.after is not None
        if anchor.after is not None and not rows:
            return load_window(service, actor, view, LAST, size, now)
    offset = 0
    if rows and anchor == LAST:
        # The last page: what comes before it is the rest of the tab, which the tab's count
        # says in a few index entries (tab_counts, or the filter's own ways), where counting
        # the rows before it read every one of them (at 1M, All on PostgreSQL: 80-106 ms).
        total = service.counts(actor, view.search, narrow=view.narrow, now=now)[view.tab]
        offset = max(total - len(rows), 0)
    elif rows and anchor.before is not None:
        offset = anchor.before - len(rows) if anchor.backwards else anchor.before + 1
    elif rows and not anchor.is_first_page:
        offset = service.position(
            actor, view.tab, view.sort, view.search, rows[0], narrow=view.narrow, now=now
        )
    return Window(view, anchor, tuple(rows), offset, more_before, more_after)


@dataclass(frozen=True)
class Detail:
    """Everything the detail panel shows about one request."""

    request: d.Request
    buyer_options: d.BuyerOptions  # what the buyer may still do after a rejection, and until
    rejection: d.Record | None  # the seller's rejection, for a rejected or appealed request
    appeal: d.Record | None  # when the buyer appealed
    mediation: d.Record | None  # the platform's decision
    auto_approval: d.Record | None = None  # the clock's approval, its 48 hours unanswered
    # DESIGN §8, for a synced request: the decision waiting to be sent (action, who), and the
    # marketplace's last refusal of one.
    sending: tuple[str, str] | None = None
    refusal: Refusal | None = None
    buyer: BuyerHistory | None = None  # the buyer's other requests the viewer may see


def load_detail(service: Returns, actor: Actor, request_id: str, now: DateTime) -> Detail:
    req = service.get(actor, request_id)
    options = d.BuyerOptions("")
    if req.status is d.Status.REJECTED:
        history = service.order_history(actor, request_id)
        options = d.buyer_options(req, history, now, service.rules)
    found: dict[d.Kind, d.Record] = {}
    # Only a request past pending can have been rejected, appealed or approved by the clock.
    if req.status is not d.Status.PENDING:
        wanted = (d.Kind.REJECTED, d.Kind.APPEALED, d.Kind.MEDIATED, d.Kind.AUTO_APPROVED)
        found = {rec.kind: rec for rec in service.records(actor, request_id) if rec.kind in wanted}
    sending, refusal = None, None
    if req.synced:
        sending = service.sending(actor, request_id)
        refusal = _standing_refusal(request_id, service.records(actor, request_id))
    return Detail(
        req,
        options,
        found.get(d.Kind.REJECTED),
        found.get(d.Kind.APPEALED),
        found.get(d.Kind.MEDIATED),
        found.get(d.Kind.AUTO_APPROVED),
        sending,
        refusal,
        service.buyer_history(actor, request_id, now),
    )


def _standing_refusal(request_id: str, records: list[d.Record]) -> Refusal | None:
    """The marketplace's last refusal of a decision on a synced request, unless someone
    decided again since (a note is no decision)."""
    standing = None
    for rec in records:
        if rec.kind is d.Kind.PUSH_REFUSED:
            standing = synced_refusal(request_id, rec.at, rec.details)
        elif rec.actor != synced_marketplace and rec.kind is not d.Kind.NOTED:
            standing = None
    return standing
