"""The sync's rounds (DESIGN §8): per shop, pull what changed on the marketplace, fetch the
reject reasons the ledger lacks, push the operators' decisions; and fetch one return at once
when a webhook names it.

The engine speaks HTTP only (returns_tui.marketplace.client) and hands every value to the ledger
(returns_tui.sync.ledger), whose calls are transactions run in a worker thread so that the event
loop keeps the calls to the marketplace going meanwhile.

Pull: search by update_time, ascending, from the shop's cursor (inclusive: returns stamped in
the cursor's second may not all have been seen), pages of 50 followed by page_token; the
records of every return of a page are fetched in parallel (within the client's limit), and the
page is brought in with the newest update_time seen as the new cursor, in one transaction,
while the next page is fetched. When the round ends and its newest second is SETTLE seconds in
the past, nothing can still be stamped in it, and the cursor moves past it: a round with
nothing new then fetches nothing.

Push, done first in a round: each decision of the outbox is marked attempted, then sent with
the idempotency key made when it was written (a retry after a crash reuses it, so the
marketplace applies it once), then the return is fetched again (the answer's body is not the
state) and handed to ledger.sent, or to ledger.refused with the marketplace's message when it
said no. Pushing before pulling confirms a decision whose answer a crash lost before a pull
brings in the state that decision made. Reject reasons are fetched last, for what the pull
brought.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from returns_tui.clock import Clock, utc_now
from returns_tui.errors import ReturnsError
from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.client import (
    RetryPolicy,
    ReturnsClient,
    SearchPage,
    ShopAccess,
    Tokens,
)
from returns_tui.marketplace.errors import MarketplaceError, Refused
from returns_tui.sync import config as cfg
from returns_tui.sync.ledger import BroughtIn, Ledger
from returns_tui.sync.mapping import Unreadable, map_records, map_return
from returns_tui.sync.values import MarketRecord, MarketReturn, Outgoing
from returns_tui.textsafe import safe

PAGE_SIZE = p.PAGE_SIZE_MAX
SETTLE = 30  # seconds after which no return can still be stamped with an update_time
PAGES_AHEAD = 2  # pages whose records are fetched at once (bounded by the client's limit)
REASONS_BATCH = 200  # reject reasons stored in one go
TOUCH_EVERY = 60.0  # seconds between two refreshes of a long round's lock (ledger.touch)
T = TypeVar("T")
Fresh = tuple[MarketReturn, list[MarketRecord]]
# The fields of each verb's body besides `decision` (TIKTOK_API.md; client.approve/reject).
_FIELDS = {"approve": {"buyer_keep_item", "partial_refund"},
           "reject": {"reject_reason", "comment", "images"}}
# The stage whose reject reasons apply to a request in each of our statuses.
STAGE_OF = {"pending": "request", "buyer_shipped": "receipt"}


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Teller:
    """Writes the sync's lines for people (stderr), never a secret: each configured secret,
    and each token a refresh brings, is masked should a message ever hold one."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.secrets: set[str] = set()

    def say(self, text: str) -> None:
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "[secret]")
        print(f"returns-tui sync: {safe(text)}", file=self.stream or sys.stderr, flush=True)


@dataclass
class Report:
    """What one shop's round did."""

    shop: str
    ok: bool = True
    error: str = ""
    created: int = 0
    changed: int = 0
    sent: int = 0
    refused: int = 0
    unknown: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per step: push, pull, reasons

    def summary(self) -> str:
        if not self.ok:
            return f"{self.shop}: not synced ({self.error})"
        return (f"{self.shop}: {self.created} new, {self.changed} changed, {self.sent} "
                f"decisions sent, {self.refused} refused by the marketplace, "
                f"{len(self.unknown)} unknown statuses")


@dataclass
class _PullState:
    cursor: int | None  # where the round started
    newest: int | None = None
    commit: asyncio.Future | None = None

    def __post_init__(self) -> None:
        self.newest = self.cursor


class ShopSync:
    """One configured shop: its client, and its rounds."""

    def __init__(self, table: cfg.ShopTable, ledger: Ledger, *, config_path, teller: Teller,
                 session: aiohttp.ClientSession, clock: Clock = utc_now,
                 parallel: int | None = None, retry: RetryPolicy | None = None,
                 stale_after: float = 300, settle: float = SETTLE) -> None:
        self.name = table.name
        self.table = table
        self.ledger = ledger
        self.teller = teller
        self.clock = clock
        self.stale_after = stale_after
        self.settle = settle
        self._config_path = config_path
        teller.secrets.update(table.secrets())
        access = ShopAccess(table.app_key, table.app_secret, table.shop_cipher, table.base_url,
                            table.auth_url)
        tokens = Tokens(table.access_token, table.refresh_token, table.access_token_expires_at,
                        table.refresh_token_expires_at)
        self.client = ReturnsClient(access, tokens, session=session,
                                    limiter=parallel or table.parallel,
                                    retry=retry or RetryPolicy(), clock=clock,
                                    on_tokens=self._write_back)
        self._by_return: dict[str, asyncio.Lock] = {}

    def _write_back(self, tokens: Tokens) -> None:
        """Before new tokens are used: the old refresh token is spent, so the file must hold
        the new one first (a crash after this loses nothing)."""
        self.teller.secrets.update({tokens.access_token, tokens.refresh_token})
        values: dict[str, Any] = {"access_token": tokens.access_token,
                                  "refresh_token": tokens.refresh_token}
        if tokens.access_token_expires_at is not None:
            values["access_token_expires_at"] = tokens.access_token_expires_at
        if tokens.refresh_token_expires_at is not None:
            values["refresh_token_expires_at"] = tokens.refresh_token_expires_at
        cfg.write_tokens(self._config_path, self.name, values)

    # ----- a round ----------------------------------------------------------------------------

    async def round(self) -> Report:
        report = Report(self.name)
        try:
            with self.ledger.lock(self.name, holder(), stale_after=self.stale_after):
                # Decisions first: one sent before a crash, whose answer was lost, is confirmed
                # (same key, same answer) before a pull brings in the state it made.
                for step, run in (("push", self._push), ("pull", self._pull),
                                  ("reasons", self._reasons)):
                    started = time.perf_counter()
                    await run(report)
                    report.seconds[step] = time.perf_counter() - started
        except (MarketplaceError, ReturnsError, ValueError, SQLAlchemyError) as exc:
            # ValueError: Unreadable, and what the client refuses to send (a decision or an
            # id the API does not take).
            report.ok = False
            report.error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return report

    async def _pull(self, report: Report) -> None:
        """Pages in order; the next page is asked for as soon as its token is known, and two
        pages' records are fetched at once, while the page before is being committed."""
        cursor = await _db(self.ledger.cursor, self.name)
        filters = {} if cursor is None else {"update_time_ge": cursor}
        state = _PullState(cursor)
        fetching: deque[tuple[SearchPage, asyncio.Future]] = deque()
        touched = time.monotonic()
        try:
            async for page in self._pages(filters):
                if time.monotonic() - touched > TOUCH_EVERY:  # a first sync takes minutes
                    await _db(self.ledger.touch, self.name, holder())
                    touched = time.monotonic()
                fetching.append((page, asyncio.ensure_future(self._complete(page.return_orders))))
                if len(fetching) > PAGES_AHEAD:
                    await self._commit(state, report, *fetching.popleft())
            while fetching:
                await self._commit(state, report, *fetching.popleft())
        finally:
            for _, task in fetching:
                task.cancel()
            await asyncio.gather(*(task for _, task in fetching), return_exceptions=True)
            if state.commit is not None:
                self._tell(report, await state.commit)
        settled = int(self.clock().timestamp()) - self.settle
        if state.newest is not None and state.newest < settled:
            await _db(self.ledger.bring_in, self.name, [], state.newest + 1)

    async def _pages(self, filters: dict) -> AsyncIterator[SearchPage]:
        def ask(token: str | None) -> asyncio.Future:
            return asyncio.ensure_future(self.client.search_returns(
                page_size=PAGE_SIZE, page_token=token, sort_field="update_time",
                sort_order="ASC", **filters))

        upcoming: asyncio.Future | None = ask(None)
        try:
            while upcoming is not None:
                page = await upcoming
                upcoming = ask(page.next_page_token) if page.next_page_token else None
                yield page
        finally:
            if upcoming is not None:
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)

    async def _commit(self, state: _PullState, report: Report, page: SearchPage,
                      fetched: asyncio.Future) -> None:
        """Bring a page in with the newest update_time so far as the cursor, once the page
        before is in (the cursor only moves forward)."""
        items = await fetched
        times = [_update_time(d) for d in page.return_orders]
        if times:
            state.newest = max(state.newest or 0, *times)
        if state.commit is not None:
            self._tell(report, await state.commit)
            state.commit = None
        if items or state.newest != state.cursor:
            state.commit = asyncio.ensure_future(
                _db(self.ledger.bring_in, self.name, items, state.newest))

    async def _complete(self, docs: list[dict]) -> list[Fresh]:
        """Each return of a page with its records (fetched in parallel), mapped; the skipped
        and the unreadable told."""
        done = await asyncio.gather(*(self._one(doc) for doc in docs))
        return [item for item in done if item is not None]

    async def _one(self, doc: Any) -> Fresh | None:
        return_id = doc.get("return_id") if isinstance(doc, dict) else None
        try:
            if isinstance(doc, dict) and doc.get("return_type") in ("REPLACEMENT",):
                self.teller.say(f"shop {self.name}: return {return_id} is a replacement, which "
                                "returns-tui does not handle; skipped.")
                return None
            records = map_records(await self.client.get_records(str(return_id)))
            mapped = map_return(self.name, doc, records)
        except (Unreadable, ValueError) as exc:
            self.teller.say(f"shop {self.name}: a return could not be read and was skipped: "
                            f"{exc}.")
            return None
        return None if mapped is None else (mapped, records)

    def _tell(self, report: Report, brought: BroughtIn) -> None:
        report.created += len(brought.created)
        report.changed += len(brought.changed)
        for return_id, raw in brought.unknown:
            report.unknown.append((return_id, raw))
            self.teller.say(f"shop {self.name}: return {return_id} has the status {raw!r}, "
                            "which the mapping does not know; its request keeps its status.")

    async def _reasons(self, report: Report) -> None:
        """The reject reasons of every request that reached a stage without them: fetched in
        parallel, stored REASONS_BATCH at a time while the next batch is fetched."""
        needs = await _db(self.ledger.needs_reasons, self.name)
        storing: asyncio.Future | None = None
        try:
            for start in range(0, len(needs), REASONS_BATCH):
                chunk = needs[start:start + REASONS_BATCH]
                fetched = await asyncio.gather(*(self._fetch_reasons(r) for r, _ in chunk))
                pairs_of = zip(chunk, fetched, strict=True)
                batch = [(rid, stage, pairs) for (rid, stage), pairs in pairs_of
                         if pairs is not None]
                if storing is not None:
                    await storing
                storing = asyncio.ensure_future(_db(self._store_batch, batch))
        finally:
            if storing is not None:
                await storing

    def _store_batch(self, batch: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
        many = getattr(self.ledger, "store_reasons_many", None)
        if many is not None:
            many(batch)
            return
        for return_id, stage, pairs in batch:
            self.ledger.store_reasons(return_id, stage, pairs)

    async def _store_reasons(self, return_id: str, stage: str) -> None:
        pairs = await self._fetch_reasons(return_id)
        if pairs is not None:
            await _db(self.ledger.store_reasons, return_id, stage, pairs)

    async def _fetch_reasons(self, return_id: str) -> list[tuple[str, str]] | None:
        """(name, text) of the reasons the marketplace offers now; None when it refused."""
        try:
            reasons = await self.client.reject_reasons(return_id)
        except Refused as exc:
            self.teller.say(f"shop {self.name}: no reject reasons for return {return_id}: "
                            f"{exc.marketplace_message}")
            return None
        return [(r["name"], r.get("text") or r["name"]) for r in reasons
                if isinstance(r, dict) and isinstance(r.get("name"), str)
                and isinstance(r.get("text", ""), str)]

    async def _push(self, report: Report) -> None:
        outbox = await _db(self.ledger.outbox, self.name)
        await _all(self._send(out, report) for out in outbox)

    async def _send(self, out: Outgoing, report: Report) -> None:
        await _db(self.ledger.attempted, out.id)
        try:
            await self._decide(out)
        except Refused as exc:
            fresh = await self.fetch(out.return_id)
            message = exc.marketplace_message or exc.message
            await _db(self.ledger.refused, out.id, message, fresh)
            report.refused += 1
            self.teller.say(f"shop {self.name}: the marketplace refused the decision on return "
                            f"{out.return_id}: {message}")
            if exc.code == p.CHOSEN_REJECT_REASON_INVALID and fresh is not None:
                stage = STAGE_OF.get(fresh[0].status or "")
                if stage is not None:
                    await self._store_reasons(out.return_id, stage)
            return
        fresh = await self.fetch(out.return_id)
        if fresh is None:
            raise Unreadable(f"return {out.return_id} is no longer found after its decision")
        await _db(self.ledger.sent, out.id, fresh)
        report.sent += 1

    async def _decide(self, out: Outgoing) -> None:
        body = dict(out.body)
        decision = body.pop("decision", None)
        fields = _FIELDS.get(out.verb)
        if fields is None or not isinstance(decision, str) or set(body) - fields:
            raise Unreadable(f"the outbox holds a decision the engine cannot send "
                             f"({out.verb!r} with {sorted(out.body)})")
        key = out.idempotency_key
        send = self.client.approve if out.verb == "approve" else self.client.reject
        await send(out.return_id, decision, idempotency_key=key, **body)

    # ----- one return at once -------------------------------------------------------------

    async def fetch(self, return_id: str) -> Fresh | None:
        """The return as the marketplace has it now, with its records; None when it has no
        such return or skips it."""
        page = await self.client.search_returns(page_size=p.PAGE_SIZE_MIN,
                                                return_ids=[return_id])
        docs = [d for d in page.return_orders
                if isinstance(d, dict) and d.get("return_id") == return_id]
        if not docs:
            return None
        return await self._one(docs[0])

    async def bring_in_one(self, return_id: str) -> BroughtIn | None:
        """A webhook's return: fetched and brought in at once (the cursor stays: the round
        sees it again by update_time, and the ledger stores nothing twice). Two notifications
        of one return are taken one after the other, so an older state never lands last."""
        lock = self._by_return.setdefault(return_id, asyncio.Lock())
        async with lock:
            fresh = await self.fetch(return_id)
            if fresh is None:
                return None
            brought = await _db(self.ledger.bring_in, self.name, [fresh])
        if not lock.locked():
            self._by_return.pop(return_id, None)
        report = Report(self.name)
        self._tell(report, brought)
        return brought


class Engine:
    """Every configured shop (or those chosen), sharing one HTTP session."""

    def __init__(self, config: cfg.SyncConfig, ledger: Ledger, *, shops: list[str] | None = None,
                 teller: Teller | None = None, clock: Clock = utc_now,
                 parallel: int | None = None, retry: RetryPolicy | None = None,
                 stale_after: float = 300, settle: float = SETTLE) -> None:
        self.config = config
        self.ledger = ledger
        self.teller = teller or Teller()
        self.names = shops or list(config.shops)
        self._options = dict(clock=clock, parallel=parallel, retry=retry,
                             stale_after=stale_after, settle=settle)
        self.session: aiohttp.ClientSession | None = None
        self.shops: dict[str, ShopSync] = {}

    async def __aenter__(self) -> Engine:
        connector = aiohttp.TCPConnector(limit=0)  # each shop's client bounds its own calls
        self.session = aiohttp.ClientSession(connector=connector)
        for name in self.names:
            self.shops[name] = ShopSync(self.config.shops[name], self.ledger,
                                        config_path=self.config.path, teller=self.teller,
                                        session=self.session, **self._options)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def round(self) -> list[Report]:
        """One round of every shop at once; one failing does not stop the others."""
        return list(await asyncio.gather(*(s.round() for s in self.shops.values())))


async def _db(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)


async def _all(calls) -> None:
    """Run the calls together; when all ended, raise the first failure (none is left running
    behind, as a plain gather would)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _update_time(doc: Any) -> int:
    value = doc.get("update_time") if isinstance(doc, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

