"""The sync's database side: what the marketplace says, brought into our store, and the
operators' decisions on synced requests waiting to be sent (the outbox).

The HTTP side calls only this; it never writes SQL, and this never does HTTP. Every method
is one transaction. The rules are sync/rules.py's; the SQL is store/sync_tables.py's and the
services' writers' (so that every record is chained as any other: store/chain.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pendulum
from sqlalchemy.engine import Connection

from returns_tui import actions
from returns_tui import domain as d
from returns_tui.actions import Facts
from returns_tui.clock import Clock, utc_now
from returns_tui.errors import Refused, ReturnsError
from returns_tui.services import Returns, _save
from returns_tui.store import queries as q
from returns_tui.store import sync_tables, writes
from returns_tui.store.chain import ChainKey
from returns_tui.store.changes import announce
from returns_tui.store.engine import read
from returns_tui.store.rows import request_values, to_request
from returns_tui.sync import rules as synced
from returns_tui.sync.values import MarketRecord, MarketReturn, Outgoing
from returns_tui.timefmt import from_micros, utc_seconds_text

MESSAGE_MAX = 1000  # of a refusal's message kept in its record
NOTIFICATION_MAX = 200  # sync_notifications.id
HOLDER_MAX = 200  # sync_locks.holder

Fresh = tuple[MarketReturn, list[MarketRecord]]


@dataclass(frozen=True)
class BroughtIn:
    """What one bring_in did: request ids created and changed, and the returns whose status
    we do not know as (return id, raw status): those kept their status (or were not created).
    A return whose id a local request already has is listed there too, never merged."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)


# The key of the PostgreSQL advisory lock that pages brought in hold (_pages_take_turns).
PAGES_LOCK = 0x7274_7061_6765  # "rtpage"


def _pages_take_turns(conn: Connection) -> None:
    """On PostgreSQL, wait until no other page is being brought in, for this transaction.
    Two shops' syncs bringing pages at once add to the same Insights rollup rows (a day's
    totals of a SKU, by the trigger on requests), each page in its own order of them: they
    deadlocked, and with big pages the one PostgreSQL rolled back met the other shop's next
    page when it tried again, up to the eight tries (the SIGKILL test's sync failed so about
    one run in ten). On SQLite every write transaction takes its turn already."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PAGES_LOCK})")


class Ledger:
    """The database side of the sync, over one Returns (its engine, rules and chain key).
    `clock` stamps what the sync writes at its own moment: a confirmation's or a refusal's
    record, a lock, a notification seen."""

    def __init__(self, returns: Returns, *, clock: Clock = utc_now) -> None:
        self.returns = returns
        self.clock = clock

    def cursor(self, shop: str) -> int | None:
        """The last update_time seen for `shop` (Unix seconds), or None before the first."""
        with read(self.returns.engine) as conn:
            return sync_tables.cursor(conn, shop)

    def bring_in(
        self,
        shop: str,
        items: list[tuple[MarketReturn, list[MarketRecord]]],
        cursor: int | None = None,
    ) -> BroughtIn:
        """ONE transaction: create new requests, bring changed ones to the marketplace's state
        (status, deadlines, amounts, marketplace_status), store each marketplace record once
        (key: hash of return id, event, role, time, description) as a record with actor
        "marketplace", and, when `cursor` is given, advance the shop's cursor. Unknown status:
        the request keeps its status (a new one is not created); listed in BroughtIn.unknown."""

        def body(conn: Connection) -> BroughtIn:
            out = BroughtIn()
            _pages_take_turns(conn)
            key = self.returns._key_for(conn)
            for market, _ in items:
                if market.shop != shop:
                    raise Refused(
                        f"Return {d.quoted(market.return_id, 64)} is of shop "
                        f"{d.quoted(market.shop, 64)}, not {d.quoted(shop, 64)}."
                    )
            now = self.clock()

            def arrived(conn: Connection, new: d.Request, at: pendulum.DateTime) -> None:
                self.returns.rule_on_synced_arrival(conn, new, at, now)

            page = _Page(conn, items, self.returns.rules, arrived)
            for index, (market, recs) in enumerate(items):
                _bring_one(conn, key, market, recs, out, page, index)
            page.finish(conn)
            if out.created:
                announce(conn)
            if cursor is not None:
                sync_tables.advance_cursor(conn, shop, cursor)
            return out

        return self.returns._retrying(body)

    def needs_reasons(self, shop: str) -> list[tuple[str, str]]:
        """(return_id, stage) of the shop's synced requests lacking reasons for their current
        stage ("request" while pending, "receipt" once the buyer shipped)."""
        with read(self.returns.engine) as conn:
            return sync_tables.lacking_reasons(conn, shop, synced.REASON_STAGE)

    def store_reasons(self, return_id: str, stage: str, reasons: list[tuple[str, str]]) -> None:
        """Store the marketplace's reject reasons (name, text) for a return's stage, replacing
        those stored before."""
        self.store_reasons_many([(return_id, stage, reasons)])

    def store_reasons_many(self, items: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
        """store_reasons of many (return id, stage, reasons) in ONE transaction: all or, when
        one names no synced request or no stage, none."""
        checked = []
        for return_id, stage, reasons in items:
            if stage not in (d.RejectStage.REQUEST.value, d.RejectStage.RECEIPT.value):
                raise Refused(
                    f"A reasons' stage is request or receipt, not {d.quoted(stage, 64)}."
                )
            checked.append((return_id, stage, [(str(n), str(t)) for n, t in reasons]))

        def body(conn: Connection) -> None:
            ids = [rid for rid, _, _ in checked if d.storable(rid)]
            rows = sync_tables.request_rows(conn, ids)
            for return_id, stage, pairs in checked:
                row = rows.get(return_id)
                if row is None or row["source"] != synced.MARKETPLACE:
                    raise Refused(f"There is no synced request {d.quoted(return_id, 64)}.")
                sync_tables.replace_reasons(conn, return_id, stage, pairs)

        self.returns._retrying(body)

    def outbox(self, shop: str, limit: int = 100) -> list[Outgoing]:
        """The shop's decisions waiting to be sent, the oldest first."""
        with read(self.returns.engine) as conn:
            rows = sync_tables.outbox(conn, shop, limit)
        return [
            Outgoing(r.id, r.shop, r.request_id, r.verb, r.body, r.idempotency_key, r.attempts)
            for r in rows
        ]

    def attempted(self, outgoing_id: int) -> None:
        """attempts += 1 (called before sending)."""
        self.returns._retrying(lambda conn: sync_tables.count_attempt(conn, outgoing_id))

    def sent(self, outgoing_id: int, fresh: Fresh) -> None:
        """ONE transaction: the decision's record by the operator who made it (actor = that
        user, kind as a local decision would have), the fresh state brought in, the outbox
        row gone. A decision answered before (a retry after a crash) only brings `fresh` in."""

        def body(conn: Connection) -> None:
            key = self.returns._key_for(conn)
            out = sync_tables.outgoing(conn, outgoing_id)
            if out is not None:
                row = q.request_row(conn, out.request_id)
                before = to_request(row)
                at = self._now_after(conn, before.id)
                change = _operators_change(before, out, at, self.returns.rules)
                if change is not None:
                    change = synced.held(change)
                    _save(conn, key, before, row["chain"], change.after, change.records)
                sync_tables.remove_outgoing(conn, outgoing_id)
            self._bring_fresh(conn, key, fresh)

        self.returns._retrying(body)

    def refused(self, outgoing_id: int, message: str, fresh: Fresh | None) -> None:
        """ONE transaction: a record (actor "marketplace", kind "push_refused", details = the
        message and the decision), the fresh state brought in (when given), the outbox row
        gone; the console tells the operator (the record is what the console reads). After a
        refused rejection its stage's reasons are fetched again (they are forgotten here)."""
        text = str(message)[:MESSAGE_MAX]

        def body(conn: Connection) -> None:
            key = self.returns._key_for(conn)
            out = sync_tables.outgoing(conn, outgoing_id)
            if out is not None:
                row = q.request_row(conn, out.request_id)
                before = to_request(row)
                at = self._now_after(conn, before.id)
                details = {"message": text, "decision": out.action, "by": out.actor}
                details |= {k: v for k, v in out.fields.items() if v is not None}
                rec = d.Record(at, synced.MARKETPLACE, d.Kind.PUSH_REFUSED, before.status,
                               before.status, details)  # fmt: skip
                _save(conn, key, before, row["chain"], before, (rec,))
                if stage := _REJECT_STAGE.get(out.action):
                    sync_tables.forget_reasons(conn, before.id, stage)
                sync_tables.remove_outgoing(conn, outgoing_id)
            if fresh is not None:
                self._bring_fresh(conn, key, fresh)

        self.returns._retrying(body)

    def first_seen(self, notification_id: str) -> bool:
        """True the first time a webhook notification id is seen, False ever after."""
        if not d.storable(notification_id) or not 1 <= len(notification_id) <= NOTIFICATION_MAX:
            raise Refused(
                f"A notification id is text of 1 to {NOTIFICATION_MAX} characters; "
                f"{d.quoted(notification_id, 64)} is not."
            )

        def body(conn: Connection) -> bool:
            if sync_tables.notification_seen(conn, notification_id):
                return False
            sync_tables.add_notification(conn, notification_id, self.clock())
            return True

        return self.returns._retrying(body)

    @contextmanager
    def lock(self, shop: str, holder: str, stale_after: float = 300) -> Iterator[None]:
        """One sync per shop at a time: raises ReturnsError("a sync of shop X is already
        running") when another holder has it and took it less than `stale_after` seconds
        ago (a lock older than that was left by a sync that died, and is taken over)."""
        if not d.storable(holder) or not 1 <= len(holder) <= HOLDER_MAX:
            raise Refused(f"A lock's holder is text of 1 to {HOLDER_MAX} characters.")

        def take(conn: Connection) -> None:
            now = self.clock()
            found = sync_tables.lock_holder(conn, shop)
            if found is not None and found[0] != holder and not _holder_gone(found[0]):
                other, since = found
                if since > now - pendulum.duration(seconds=stale_after):
                    raise ReturnsError(
                        f"a sync of shop {shop} is already running ({d.quoted(other, 64)}, "
                        f"since {utc_seconds_text(since)})"
                    )
            sync_tables.take_lock(conn, shop, holder, now)

        self.returns._retrying(take)
        try:
            yield
        finally:
            self.returns._retrying(lambda conn: sync_tables.release_lock(conn, shop, holder))

    def touch(self, shop: str, holder: str) -> None:
        """The holder is still at work (a long first sync calls it per page): its lock's time
        is now, so that it does not go stale under it. A lock it no longer holds (taken over
        as stale) raises ReturnsError: that sync must stop."""

        def body(conn: Connection) -> None:
            found = sync_tables.lock_holder(conn, shop)
            if found is None or found[0] != holder:
                raise ReturnsError(f"the sync of shop {shop} no longer holds its lock")
            sync_tables.take_lock(conn, shop, holder, self.clock())

        self.returns._retrying(body)

    def _bring_fresh(self, conn: Connection, key: ChainKey, fresh: Fresh) -> None:
        """An answer's fresh state of one return, brought in as a page of one."""
        page = _Page(conn, [fresh], self.returns.rules)
        _bring_one(conn, key, fresh[0], fresh[1], BroughtIn(), page, 0)
        page.finish(conn)

    def _now_after(self, conn: Connection, request_id: str) -> pendulum.DateTime:
        """Now, or the request's last record's time if that is later: records are written in
        time order."""
        now = self.clock()
        last = q.last_record_at(conn, [request_id])
        return now if last is None or from_micros(last) <= now else from_micros(last)


def _holder_gone(holder: str) -> bool:
    """Whether a lock's holder, named "<host>:<pid>" as the engine names it, is a process of
    this host that no longer runs (a sync killed with SIGKILL): its lock is free at once. A
    holder on another host, or named otherwise, is judged by the lock's age alone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process can have
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


_REJECT_STAGE = {
    "reject": d.RejectStage.REQUEST.value,
    "reject_receipt": d.RejectStage.RECEIPT.value,
}


def _operators_change(
    before: d.Request, out: sync_tables.OutboxRow, at: pendulum.DateTime, rules: d.Rules
) -> d.Change | None:
    """The decision the marketplace confirmed, as the rules make it of the request now: the
    record a local decision would have written, by the operator who made it. None when the
    request moved on meanwhile so that the rule no longer applies (the fresh state, brought
    in next, says where it is)."""
    spec = actions.get(out.action)
    assert spec is not None and spec.rule is not None
    reason = out.fields.get("reason")
    if isinstance(reason, str):  # the marketplace took it: it is one of its reasons
        rules = replace(rules, reasons={reason: reason}, receipt_reasons={reason: reason})
    try:
        return spec.rule(before, Facts(out.actor, at, rules, d.OrderHistory()), out.fields)
    except Refused:
        return None


class _Page:
    """What a page of returns needs read before it is brought in, read once for the page:
    the requests already there and the marketplace records already stored (a query each,
    rather than two per return)."""

    def __init__(
        self,
        conn: Connection,
        items: list[tuple[MarketReturn, list[MarketRecord]]],
        rules: d.Rules,
        arrived: Callable[[Connection, d.Request, pendulum.DateTime], None] = lambda *_: None,
    ) -> None:
        self.rules = rules
        # Called with each request created, in this transaction (an automation rule's turn).
        self.arrived = arrived
        self.keys = [[synced.record_key(m.return_id, r) for r in recs] for m, recs in items]
        self.known = sync_tables.known_record_keys(conn, [k for ks in self.keys for k in ks])
        self.new_keys: list[tuple[str, str]] = []  # (key, request id), written with the page
        orders = [m.order_id for m, _ in items]
        # The orders' versions before their requests (writes.bump_order says why), then the
        # rejections on each (a new request's attempt counts them).
        self.versions = sync_tables.order_versions(conn, orders)
        self.rejections = sync_tables.rejection_counts(conn, orders)
        self.rows = sync_tables.request_rows(conn, [m.return_id for m, _ in items])
        self.sending = sync_tables.sending_among(conn, list(self.rows))

    def finish(self, conn: Connection) -> None:
        sync_tables.add_record_keys(conn, self.new_keys)

    def row(self, conn: Connection, request_id: str) -> Any:
        """The request as it stands: read with the page, or again once this page changed it
        (a return listed twice in one page)."""
        if request_id in self.rows:
            return self.rows.pop(request_id)
        return q.request_row(conn, request_id)


def _bring_one(
    conn: Connection,
    key: ChainKey,
    market: MarketReturn,
    recs: list[MarketRecord],
    out: BroughtIn,
    page: _Page,
    index: int,
) -> None:
    """One return brought in: created, changed or left as it is, its new records stored.
    `page` (and the return's `index` in it) holds what was read for its page."""
    row = page.row(conn, market.return_id)
    if row is not None and row["source"] != synced.MARKETPLACE:
        out.unknown.append((market.return_id, market.raw_status))  # a local request's id
        return
    if row is None and market.status is None:
        out.unknown.append((market.return_id, market.raw_status))
        return
    keys, fresh = [], []
    for rec, k in zip(recs, page.keys[index], strict=True):
        if k not in page.known:
            page.known.add(k)
            keys.append(k)
            fresh.append(rec)
    if row is None:
        _create(conn, key, market, fresh, page)
        out.created.append(market.return_id)
    else:
        before = to_request(row)
        last = q.last_record_at(conn, [before.id])
        hold = before.id in page.sending and _awaits_confirmation(conn, before, market, page)
        brought = synced.bring(
            before, market, fresh, None if last is None else from_micros(last), hold_status=hold
        )
        if brought.records or brought.after != before:
            _save(conn, key, before, row["chain"], brought.after, brought.records)
            out.changed.append(before.id)
        if market.status is None:
            out.unknown.append((market.return_id, market.raw_status))
    page.new_keys += [(k, market.return_id) for k in keys]


def _awaits_confirmation(
    conn: Connection, before: d.Request, market: MarketReturn, page: _Page
) -> bool:
    """Whether the marketplace's new status is the one the decision waiting in the outbox
    leads to: the marketplace made it before its answer reached us (a webhook came first).
    Then the request waits for that answer, whose Ledger.sent moves it with the operator's
    record; a refusal brings the marketplace's state in instead."""
    out = sync_tables.outgoing_for(conn, before.id)
    if out is None or market.status is None or market.status == before.status.value:
        return False
    change = _operators_change(before, out, market.updated_at, page.rules)
    return change is not None and change.after.status.value == market.status


def _create(
    conn: Connection, key: ChainKey, market: MarketReturn, recs: list[MarketRecord], page: _Page
) -> None:
    """A new synced request, its order's compare-and-set counter and its first records,
    sealed and chained as a submission is (Returns._submit). The consoles hear of it once
    for the page (bring_in announces)."""
    order_id = market.order_id
    seen = page.versions.get(order_id)
    attempt = 1 + page.rejections.get(order_id, 0)
    brought = synced.bring(None, market, recs, None, attempt)
    writes.bump_order(conn, order_id, market.shop, seen)
    page.versions[order_id] = (seen or 0) + 1
    page.rejections[order_id] = attempt - 1 + (brought.after.rejected_at is not None)
    new = replace(brought.after, version=len(brought.records))
    values: dict[str, Any] = request_values(new)
    values["seal"] = seal = key.seal(writes.fixed_values(values))
    rows, values["chain"] = key.chained(seal, writes.record_rows(new.id, 0, brought.records))
    writes.insert_request(conn, values, rows, announced=False)
    page.arrived(conn, new, market.created_at)
