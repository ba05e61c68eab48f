"""The services: every read and every change, one transaction each, with the roles checked.

Screens, the CLI and scripts call only this. A change goes: begin (on SQLite, BEGIN
IMMEDIATE), read the request, apply its deadlines up to now (the rules say a deadline comes
before any action at the same time), ask the domain what the action does, then write it with
a compare-and-set on the request's version. If the compare-and-set finds that someone else
changed the request in between (PostgreSQL lets two transactions read the same version), the
change is tried again on fresh data, where the rules then refuse it, naming the winner.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from pendulum import DateTime, Duration
from sqlalchemy.engine import Connection, Engine

from returns_tui import actions, automation
from returns_tui import domain as d
from returns_tui.actions import Facts
from returns_tui.clock import utc_now
from returns_tui.errors import Conflict, Forbidden, NotAUser, NotFound, Refused, WrongStatus
from returns_tui.filters import Narrowing
from returns_tui.paint import Paint
from returns_tui.roles import (
    ALLOWED,
    BUYER,
    NOT_USERS,
    RULE_PREFIX,
    SYSTEM,
    Actor,
    Role,
    require,
    require_admin,
)
from returns_tui.store import chain, keys, sync_tables, users, writes
from returns_tui.store import queries as q
from returns_tui.store.chain import ChainKey
from returns_tui.store.engine import WriteConflict, read, write
from returns_tui.store.rows import request_values, to_record, to_request
from returns_tui.sync import rules as synced
from returns_tui.timefmt import (
    from_micros,
    iso_utc,
    span_micros,
    to_micros,
    utc_seconds_text,
    utc_text,
)

T = TypeVar("T")
# How often a change is retried after losing a compare-and-set before giving up.
MAX_TRIES = 8
SWEEP_BATCH = 2000
# The period of a buyer's recent requests, against which the console marks a buyer (DESIGN §10).
BUYER_HISTORY_DAYS = 90
KEY_MAX = 200  # applied_keys.key
FIRST_ADMIN_BY_OWNER = (
    "Only the account that owns the data may make the first admin "
    "(`returns-tui init --admin NAME`, run as that account)."
)


@dataclass(frozen=True)
class Keyed:
    """A keyed change's idempotency key and the digest of its line (line_digest): the key is
    bound to that content (DESIGN §4, *Exactly once*)."""

    key: str
    digest: str


@dataclass(frozen=True)
class Outcome:
    """The result of a keyed change: the stored verdict, and whether it was a repeat."""

    verdict: dict[str, Any]
    duplicate: bool = False


@dataclass(frozen=True)
class Swept:
    request_id: str
    shop: str
    kind: d.Kind
    at: DateTime
    status: d.Status


@dataclass(frozen=True)
class SweepNotices:
    """What a console says after a sweep (Returns.sweep_notices)."""

    due_soon: list[tuple[str, DateTime]]  # (request id, deadline), the soonest first
    approved_elsewhere: list[str]  # warned about, now approved by the clock
    passed: list[str]  # warned about, their deadline passed: no longer to warn about


class Returns:
    """The one door to the data. `rules` holds the market's windows and reasons; `chain_key`
    the key the records are chained with (store/chain.py), by default the key file's, read
    when something is first written."""

    def __init__(
        self, engine: Engine, rules: d.Rules | None = None, *, chain_key: ChainKey | None = None
    ) -> None:
        self.engine = engine
        self.rules = rules or d.Rules()
        self._chain_key = chain_key

    # -----------------------------------------------------------------------------------------
    # Identity

    def login(self, name: str) -> Actor:
        """The user called `name`, or NotAUser."""
        with read(self.engine) as conn:
            return self._login_in(conn, name)

    def actor_for(self, name: str) -> Actor:
        """The actor of an `apply` line: `buyer`, or a user's login name."""
        return BUYER if name == "buyer" else self.login(name)

    # -----------------------------------------------------------------------------------------
    # Changes to one request

    # Each takes `keyed` (a keyed line's key and digest: perform_keyed) to store the line's
    # verdict in the same transaction as the change.

    def accept(
        self,
        actor: Actor,
        request_id: str,
        now: DateTime,
        keep_item: Any = None,
        *,
        keyed: Keyed | None = None,
    ) -> d.Request:
        return self.perform(actor, "accept", request_id, now, keyed=keyed, keep_item=keep_item)

    # DESIGN §7: a partial refund offered and the buyer's answer, and a returned package
    # rejected at receipt.

    def offer(
        self, actor: Actor, request_id: str, now: DateTime, amount: Any, *,
        keyed: Keyed | None = None,
    ) -> d.Request:  # fmt: skip
        return self.perform(actor, "offer", request_id, now, keyed=keyed, amount=amount)

    def agree(
        self, actor: Actor, request_id: str, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "agree", request_id, now, keyed=keyed)

    def decline(
        self, actor: Actor, request_id: str, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "decline", request_id, now, keyed=keyed)

    def reject_receipt(
        self, actor: Actor, request_id: str, now: DateTime, reason: Any, note: Any, *,
        keyed: Keyed | None = None,
    ) -> d.Request:  # fmt: skip
        return self.perform(
            actor, "reject_receipt", request_id, now, keyed=keyed, reason=reason, note=note
        )

    def reject(
        self,
        actor: Actor,
        request_id: str,
        now: DateTime,
        reason: Any,
        note: Any = "",
        *,
        keyed: Keyed | None = None,
    ) -> d.Request:
        return self.perform(actor, "reject", request_id, now, keyed=keyed, reason=reason, note=note)

    def receive(
        self, actor: Actor, request_id: str, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "receive", request_id, now, keyed=keyed)

    def note(
        self, actor: Actor, request_id: str, now: DateTime, note: Any, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "note", request_id, now, keyed=keyed, note=note)

    def mediate(
        self,
        actor: Actor,
        request_id: str,
        now: DateTime,
        decision: Any,
        note: Any,
        *,
        keyed: Keyed | None = None,
    ) -> d.Request:
        return self.perform(
            actor, "mediate", request_id, now, keyed=keyed, decision=decision, note=note
        )

    def cancel(
        self, actor: Actor, request_id: str, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "cancel", request_id, now, keyed=keyed)

    def ship(
        self,
        actor: Actor,
        request_id: str,
        now: DateTime,
        tracking: Any,
        *,
        keyed: Keyed | None = None,
    ) -> d.Request:
        return self.perform(actor, "ship", request_id, now, keyed=keyed, tracking=tracking)

    def appeal(
        self, actor: Actor, request_id: str, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        return self.perform(actor, "appeal", request_id, now, keyed=keyed)

    def submit(
        self, actor: Actor, sub: d.Submission, now: DateTime, *, keyed: Keyed | None = None
    ) -> d.Request:
        require(actor, "submit", sub.shop)
        return self._retrying(lambda conn: self._submit(conn, sub, now), keyed)

    def perform(
        self,
        actor: Actor,
        action: str,
        request_id: str,
        now: DateTime,
        *,
        keyed: Keyed | None = None,
        **params: Any,
    ) -> d.Request:
        """Any action by name, with its parameters: what `apply` and the demo's buyers use."""
        if action == "submit":
            if not isinstance(params.get("submission"), d.Submission):
                raise Refused("A submit needs the request's fields.")
            return self.submit(actor, params["submission"], now, keyed=keyed)
        spec = actions.get(action)
        if spec is None or spec.rule is None:
            raise Refused(f"Unknown action {action!r}.")
        if unknown := sorted(set(params) - set(spec.params)):
            raise Refused(f"The action {action} takes no {', '.join(unknown)}.")
        # A missing parameter is passed as None, so the rules refuse it in a sentence
        # ("The tracking number must be ...") instead of a KeyError.
        values = {p: params.get(p) for p in spec.params}
        rule = spec.rule

        def decide(r: d.Request, o: d.OrderHistory, rules: d.Rules = self.rules) -> d.Change:
            return rule(r, Facts(actor.name, now, rules, o), values)

        return self._act(
            actor, spec.name, request_id, now, decide, order=spec.order, keyed=keyed,
            fields=values,
        )  # fmt: skip

    def perform_keyed(
        self,
        actor: Actor,
        action: str,
        request_id: str,
        now: DateTime,
        key: str,
        *,
        digest: str | None = None,
        **params: Any,
    ) -> Outcome:
        """`perform` with an idempotency key: the verdict is stored in the same transaction as
        the effect; a key seen before with the same line is not applied again, and its verdict
        is returned; with another line it is refused (KeyReused), nothing applied or stored.
        `digest` is the line's (line_digest of the parsed line, as `apply` gives it); without
        one, the digest of this call's own arguments stands for the line."""
        if not d.storable(key) or not 1 <= len(key) <= KEY_MAX:
            raise Refused(
                f"The key must be text of 1 to {KEY_MAX} characters, without NUL or lone "
                "surrogates."
            )
        if digest is None:
            digest = call_digest(actor, action, request_id, now, params)
        keyed = Keyed(key, digest)
        try:
            self.perform(actor, action, request_id, now, keyed=keyed, **params)
            return Outcome({"ok": True})
        except _Duplicate as dup:
            return Outcome(dup.verdict, duplicate=True)
        except (Conflict, KeyReused):
            # Not verdicts of this line: a transient failure (others kept winning the race;
            # sending the line again applies it), or a key that belongs to another line.
            # Nothing was applied, so nothing is stored.
            raise
        except Refused as exc:
            verdict = {"ok": False, "error": exc.message}
        # A refusal changed nothing; its verdict is stored on its own so a re-run repeats it.
        try:
            self._retrying(lambda conn: _store_verdict(conn, keyed, verdict, now))
        except _Duplicate as dup:
            return Outcome(dup.verdict, duplicate=True)
        return Outcome(verdict)

    # -----------------------------------------------------------------------------------------
    # Time

    def sweep(self, now: DateTime, actor: Actor = SYSTEM) -> list[Swept]:
        """Apply every deadline ≤ now, each stamped with its deadline. Safe in many processes
        at once: on SQLite writers queue; on PostgreSQL each takes rows the others have not
        locked. Any user may sweep (DESIGN §3) and every deadline is applied, as `system`;
        the changes returned are those `actor` may see (an operator: their shops')."""
        done: list[Swept] = []
        while True:
            batch = self._retrying(lambda conn: self._sweep_batch(conn, now))
            done.extend(batch)
            if len(batch) < SWEEP_BATCH:
                break
        if actor.role is not Role.SYSTEM:
            with read(self.engine) as conn:
                actor = self._current(conn, actor)
        return [change for change in done if actor.sees(change.shop)]

    def _sweep_batch(self, conn: Connection, now: DateTime) -> list[Swept]:
        """One batch of due requests, on plain rows and integer microseconds: the rule is
        domain.catch_up's core (passed_deadlines) on integers instead of DateTimes, written
        with the driver's executemany, since SQLAlchemy's per-row processing cost more than
        the work itself. Deadlines at the same moment apply in the order the requests were
        created (DESIGN §7), in the records written and in the changes returned."""
        ship_window = span_micros(self.rules.ship_window)
        respond_window = span_micros(self.rules.respond_window)
        now_us, system = to_micros(now), SYSTEM.name
        due = []
        for rid, shop, rtype, status, deadline, version, head, cents, respond_by, created in (
            q.due_tuples(conn, now_us, SWEEP_BATCH)
        ):
            after, deadline, steps = d.passed_deadlines(
                _STATUS[status], _TYPE[rtype], deadline, now_us, ship_window, respond_window
            )
            if steps:
                due.append((rid, shop, version, head, after, deadline, steps, cents, respond_by,
                            created))  # fmt: skip
        if not due:
            return []
        # Deadlines at the same moment apply in the order the requests were created (§7).
        due.sort(key=_first_step_then_created)
        key = self._key_for(conn)
        moves, recs, swept = [], [], []
        lapsed = _LAPSED
        for rid, shop, version, head, after, deadline, steps, cents, respond_by, created in due:
            rows, seq = [], version
            for kind, at, before, to in steps:
                seq += 1
                rows.append((rid, seq, at, system, _TEXT[kind], _TEXT[before], _TEXT[to], None))
                swept.append((at, created, rid, Swept(rid, shop, kind, from_micros(at), to)))
                if kind is lapsed:
                    respond_by = at + respond_window
            rows, head = key.chained(head, rows)
            recs += rows
            refund = cents if after in _REFUNDED else None  # domain.refund_after
            moves.append((_TEXT[after], _TAB[after], deadline, steps[-1][1], respond_by, refund,
                          seq, head, rid, version))  # fmt: skip
        writes.write_moves(conn, moves, recs)
        swept.sort(key=_WHEN_CREATED)
        return [change for *_, change in swept]

    # -----------------------------------------------------------------------------------------
    # Reads

    def counts(
        self, actor: Actor, search: str = "", *, narrow: Narrowing | None = None,
        now: DateTime | None = None, paint: Paint | None = None,
    ) -> dict[d.Tab, int]:
        """Requests per tab that the actor may see, searched and filtered; with `paint`, a
        search's counts read with its money (paint.py)."""
        with read(self.engine) as conn:
            flt = self._filter(conn, actor, d.Tab.ALL, search, narrow, paint.now if paint else now)
            if paint and (sums := paint.sums(conn, flt)) is not None:
                return q.counts_of(sums)
            return q.counts(conn, flt.shops, flt=flt)

    def _filter(
        self, conn: Connection, actor: Actor, tab: d.Tab, search: str,
        narrow: Narrowing | None, now: DateTime | None,
    ) -> q.Filter:
        """What the viewer may see of `tab`, searched and filtered (DESIGN §10). "Due within"
        counts from `now` (the real clock when not given), to the minute: the page and the
        counts read in the same minute agree, and a page's statement is reused that long."""
        actor = self._current(conn, actor)
        due_by = None
        if narrow and narrow.due_hours is not None:
            minute = to_micros(now or utc_now()) // 60_000_000 * 60_000_000
            due_by = minute + narrow.due_hours * 3_600_000_000
        return q.Filter(
            actor.visible_shops(), tab, search, narrow=narrow or None, viewer=actor.name,
            due_by_us=due_by,
        )  # fmt: skip

    def page(
        self,
        actor: Actor,
        tab: d.Tab,
        sort: q.Sort,
        search: str = "",
        *,
        after: q.ListRow | None = None,
        limit: int = 100,
        backwards: bool = False,
        narrow: Narrowing | None = None,
        now: DateTime | None = None,
    ) -> list[q.ListRow]:
        with read(self.engine) as conn:
            flt = self._filter(conn, actor, tab, search, narrow, now)
            return q.page(conn, flt, sort, after=after, limit=limit, backwards=backwards)

    def position(
        self, actor: Actor, tab: d.Tab, sort: q.Sort, search: str, row: q.ListRow, *,
        narrow: Narrowing | None = None, now: DateTime | None = None,
    ) -> int:
        with read(self.engine) as conn:
            flt = self._filter(conn, actor, tab, search, narrow, now)
            return q.position(conn, flt, sort, row)

    def get(self, actor: Actor, request_id: str) -> d.Request:
        with read(self.engine) as conn:
            return self._visible(conn, self._current(conn, actor), request_id)

    def order_history(self, actor: Actor, request_id: str) -> d.OrderHistory:
        with read(self.engine) as conn:
            req = self._visible(conn, self._current(conn, actor), request_id)
            return d.summarize_order(to_request(r) for r in q.order_rows(conn, req.order_id))

    def buyer_history(
        self, actor: Actor, request_id: str, now: DateTime, days: int = BUYER_HISTORY_DAYS
    ) -> q.BuyerHistory | None:
        """The request's buyer in the shops the actor may see (DESIGN §10): their requests
        on other orders, rejected and appealed among them, and every one of theirs in the
        last `days` days. None for a request whose buyer is not named (a synced request)."""
        with read(self.engine) as conn:
            actor = self._current(conn, actor)
            req = self._visible(conn, actor, request_id)
            if not req.buyer.strip():
                return None
            since = to_micros(now) - days * 86_400_000_000
            return q.buyer_history(conn, req.buyer, actor.visible_shops(), req.order_id, since)

    def records(self, actor: Actor, request_id: str) -> list[d.Record]:
        with read(self.engine) as conn:
            self._visible(conn, self._current(conn, actor), request_id)
            return [to_record(r) for r in q.record_rows(conn, request_id)]

    def due_soon(
        self, actor: Actor, start: DateTime, end: DateTime, limit: int | None = None
    ) -> list[tuple[str, DateTime]]:
        with read(self.engine) as conn:
            actor = self._current(conn, actor)
            return q.due_soon(conn, actor.visible_shops(), start, end, limit)

    def sweep_notices(
        self, actor: Actor, now: DateTime, warned: Mapping[str, DateTime], soon: Duration,
        limit: int,
    ) -> SweepNotices:
        """What a console tells its user after its sweep at `now`, read in one transaction:
        the requests due within `soon` that the actor may answer (the soonest `limit`), and of
        those it `warned` about whose deadline has passed, the ones the clock approved (by any
        console's sweep or a cron job)."""
        passed = sorted(rid for rid, at in warned.items() if at <= now)
        with read(self.engine) as conn:
            actor = self._current(conn, actor)
            due = (
                q.due_soon(conn, actor.visible_shops(), now, now + soon, limit)
                if actor.role in ALLOWED["accept"]  # an agent cannot answer in time
                else []
            )
            approved = q.auto_approved_among(conn, actor.visible_shops(), passed)
        return SweepNotices(due, approved, passed)

    def export(
        self,
        actor: Actor,
        tab: d.Tab = d.Tab.ALL,
        search: str = "",
        narrow: Narrowing | None = None,
        now: DateTime | None = None,
    ) -> Iterator[tuple[Any, list[Any]]]:
        """Rows and records the actor may see (of a search, when given), in id order,
        streamed in batches: StoredRows, whose row["name"] is a mapping row's value and whose
        tuple holds the stored values."""
        if actor.role not in (Role.OPERATOR, Role.AGENT, Role.ADMIN):
            raise NotAUser(f"{actor.name} is not a user.")
        with read(self.engine) as conn:
            flt = self._filter(conn, actor, tab, search, narrow, now)
            yield from q.export_tuples(conn, flt.shops, tab, search=search, flt=flt)

    def export_view(
        self,
        actor: Actor,
        tab: d.Tab,
        search: str,
        path: str,
        fmt: str | None = None,
        *,
        narrow: Narrowing | None = None,
        now: DateTime | None = None,
    ) -> tuple[Path, int]:
        """The console's view (a tab, a search, the filters) written to the new file `path`,
        as `export` writes it (CSV, or JSON Lines for a name ending in .jsonl); its absolute
        path and the number of requests. A name that cannot be a new file is refused before
        anything is read."""
        from returns_tui.export_file import target, write_file  # only when a view is saved

        target(path)
        return write_file(self.export(actor, tab, search, narrow, now), path, fmt)

    def totals(
        self, actor: Actor, tab: d.Tab, search: str = "", *, narrow: Narrowing | None = None,
        now: DateTime | None = None, paint: Paint | None = None,
    ) -> dict[str, int]:
        """The money at stake in a tab (or a search in it, filtered) that the actor may see:
        the amounts asked for, in minor units per currency, never summed across currencies."""
        with read(self.engine) as conn:
            flt = self._filter(conn, actor, tab, search, narrow, paint.now if paint else now)
            if paint and (sums := paint.sums(conn, flt)) is not None:
                return q.totals_of(sums, tab)
            return q.totals(conn, flt)

    # -----------------------------------------------------------------------------------------
    # Users (DESIGN §3): the first user of an empty database must be an admin, made by the
    # account that owns the data

    def add_user(
        self,
        caller: str,
        name: str,
        role: str,
        shops: tuple[str, ...],
        now: DateTime,
        *,
        owner: bool = True,
    ) -> None:
        """Add a user, as `caller`. On an empty database no caller is a user yet: the first
        admin may then be made only by the account that owns the data (`owner`), never by a
        person whom returns-tui-session names (owner=False), so the first admin is never
        whoever comes first. Code that opened the database itself holds the data: owner."""
        if role not in (Role.OPERATOR, Role.AGENT, Role.ADMIN):
            raise Refused(f"The role must be operator, agent or admin, not {role!r}.")
        check_login_name(name)
        for shop in shops:
            check_shop_name(shop)
        if role == Role.OPERATOR and not shops:
            raise Refused("An operator needs at least one --shop.")
        if role != Role.OPERATOR and shops:
            raise Refused("Only operators have shops; agents and admins see every shop.")

        def body(conn: Connection) -> None:
            if users.count(conn) == 0:
                if not owner:
                    raise Forbidden(FIRST_ADMIN_BY_OWNER)
                if role != Role.ADMIN:
                    raise Refused("The first user of a new database must be an admin.")
            else:
                require_admin(self._login_in(conn, caller), "change users")
            if users.exists(conn, name):
                raise Refused(f"{name} is already a user.")
            users.add(conn, name, role, shops, now)

        self._retrying(body)

    def remove_user(self, caller: str, name: str) -> None:
        def body(conn: Connection) -> None:
            me = self._login_in(conn, caller)
            require_admin(me, "change users")
            if name == me.name:
                raise Refused("An admin cannot remove themselves.")
            if not d.storable(name):
                raise Refused(f"{name!r} is not a user.")
            if not users.remove(conn, name):
                raise Refused(f"{d.quoted(name, 64)} is not a user.")

        self._retrying(body)

    def list_users(self, caller: str) -> list[tuple[str, str, tuple[str, ...]]]:
        """(name, role, shops) of the users `caller` may see: an operator only themselves
        (DESIGN §3); an agent or an admin every user, since their work spans every shop and
        the records they read already name whoever acted."""
        with read(self.engine) as conn:
            me = self._login_in(conn, caller)
            if me.role is Role.OPERATOR:
                return [(me.name, me.role.value, tuple(sorted(me.shops)))]
            return users.every_user(conn)

    # -----------------------------------------------------------------------------------------
    # The marketplace sync (DESIGN §8): what the console reads of it

    def sending(self, actor: Actor, request_id: str) -> tuple[str, str] | None:
        """(action, who decided it) of the decision on the request waiting to be sent to the
        marketplace, or None."""
        with read(self.engine) as conn:
            self._visible(conn, self._current(conn, actor), request_id)
            out = sync_tables.outgoing_for(conn, request_id)
            return None if out is None else (out.action, out.actor)

    def reject_reasons(self, actor: Actor, request_id: str, stage: str) -> list[tuple[str, str]]:
        """(name, text) of the reasons the marketplace offers for rejecting a synced request
        at `stage` (request or receipt), in its order; empty until fetched."""
        with read(self.engine) as conn:
            self._visible(conn, self._current(conn, actor), request_id)
            return sync_tables.reasons(conn, request_id, stage)

    def refusals_after(
        self, actor: Actor, after_id: int | None
    ) -> tuple[int, list[synced.Refusal]]:
        """The marketplace's refusals of `actor`'s own decisions recorded after the record
        `after_id`, and the id to ask after next time. With None, none: only where to start
        (a console tells what happens while it is open; the records keep the rest)."""
        with read(self.engine) as conn:
            actor = self._current(conn, actor)
            if after_id is None:
                return sync_tables.last_record_id(conn), []
            found, last = [], after_id
            for rid, request_id, shop, at, details in sync_tables.refusals_after(conn, after_id):
                last = rid
                refusal = synced.refusal(request_id, at, json.loads(details) if details else {})
                if actor.sees(shop) and refusal.by == actor.name:
                    found.append(refusal)
            return last, found

    def has_users(self) -> bool:
        with read(self.engine) as conn:
            return users.any_user(conn)

    # -----------------------------------------------------------------------------------------
    # Inside the transactions

    def _login_in(self, conn: Connection, name: str) -> Actor:
        """The user and their shops, in one query (every read and change asks it again)."""
        rows = []
        if d.storable(name):
            rows = users.login_rows(conn, name)
        if not rows:
            raise NotAUser(
                f"{d.quoted(name, 64)} is not a returns-tui user; ask an admin to add you."
            )
        return Actor(name, Role(rows[0][0]), frozenset(s for _, s in rows if s is not None))

    def _current(self, conn: Connection, actor: Actor) -> Actor:
        """The actor as the users table has them now. A console or script holds its Actor for
        hours; a user removed, or moved to other shops, meanwhile must not keep what they had
        (DESIGN §3: the rules are enforced where the data is read and changed). Buyers and the
        system are not users."""
        if actor.role in (Role.BUYER, Role.SYSTEM):
            return actor
        return self._login_in(conn, actor.name)

    def _visible(self, conn: Connection, actor: Actor, request_id: str) -> d.Request:
        return to_request(self._visible_row(conn, actor, request_id))

    def _visible_row(self, conn: Connection, actor: Actor, request_id: str) -> Any:
        row = q.request_row(conn, request_id) if d.storable(request_id) else None
        if row is None or not actor.sees(row["shop"]):
            # The same sentence whether it does not exist or belongs to another shop.
            raise NotFound(f"There is no request {d.quoted(request_id, 64)} that you can see.")
        return row

    def _key_for(self, conn: Connection) -> ChainKey:
        """The chain key, checked against the database's in this transaction: called by
        every change before it writes records, so that a refusal needs no key."""
        if self._chain_key is None:
            self._chain_key = chain.load_key()
        chain.require_key(conn, self._chain_key)
        return self._chain_key

    def _act(
        self,
        actor: Actor,
        action: str,
        request_id: str,
        now: DateTime,
        decide: Callable[[d.Request, d.OrderHistory], d.Change],
        *,
        order: bool = False,
        keyed: Keyed | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> d.Request:
        def body(conn: Connection) -> d.Request:
            current = self._current(conn, actor)
            row = self._visible_row(conn, current, request_id)
            before = to_request(row)
            require(current, action, before.shop)
            _require_not_before_last_record(conn, [before.id], action, now)
            if before.synced:
                synced.check_action(before, action)
                if action in synced.DECISIONS:
                    return self._to_outbox(conn, current, action, before, now, decide, fields)
            caught = d.catch_up(before, now, self.rules)
            history = d.OrderHistory()
            seen = None
            if order:
                seen = writes.order_version(conn, before.order_id)  # before the order's requests
                history = d.summarize_order(
                    to_request(r) for r in q.order_rows(conn, before.order_id)
                )
            try:
                change = decide(caught.after, history)
            except WrongStatus as exc:
                raise WrongStatus(
                    exc.request_id, exc.verb, exc.status, _last_change(conn, before, caught)
                ) from None
            if order:
                writes.bump_order(conn, before.order_id, before.shop, seen)
            recs = caught.records + change.records
            return _save(conn, self._key_for(conn), before, row["chain"], change.after, recs)

        return self._retrying(body, keyed)

    def _to_outbox(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        before: d.Request,
        now: DateTime,
        decide: Callable[..., d.Change],
        fields: Mapping[str, Any] | None,
    ) -> d.Request:
        """A decision on a synced request (DESIGN §8, *Not optimistic*): checked by the same
        rules, with the marketplace's reasons and limits, then written to the outbox with its
        API body and a new idempotency key; the request keeps the marketplace's status until
        the marketplace answers (sync/ledger.py writes the decision's record then)."""
        fields = dict(fields or {})
        if sync_tables.outgoing_for(conn, before.id) is not None:
            raise synced.sending(before)
        rules = synced.rules_for(
            self.rules,
            sync_tables.reasons(conn, before.id, d.RejectStage.REQUEST.value),
            sync_tables.reasons(conn, before.id, d.RejectStage.RECEIPT.value),
        )
        synced.check_reasons_known(before, action, rules)
        try:
            decide(before, d.OrderHistory(), rules)  # refuses as for a local request
        except WrongStatus as exc:
            last = _last_change(conn, before, d.Change(before, ()))
            raise WrongStatus(exc.request_id, exc.verb, exc.status, last) from None
        synced.check_limits(before, action, fields)
        verb, body = synced.body(before, action, fields)
        sync_tables.hold_request(conn, before.id, before.version)
        sync_tables.add_outgoing(
            conn,
            sync_tables.OutboxRow(
                id=0, shop=before.shop, request_id=before.id, verb=verb, body=body,
                idempotency_key=str(uuid.uuid4()), actor=actor.name, action=action,
                fields=fields, attempts=0, created_at=now,
            ),
        )  # fmt: skip
        return before

    def _submit(self, conn: Connection, sub: d.Submission, now: DateTime) -> d.Request:
        d.check_submission(sub)  # before its ids are used in a query
        if q.request_row(conn, sub.id) is not None:
            raise Refused(f"A request with the id {d.quoted(sub.id, 64)} already exists.")
        seen = writes.order_version(conn, sub.order_id)  # before the order's requests
        rows = q.order_rows(conn, sub.order_id)
        others = [to_request(r) for r in rows]
        if any(r.synced for r in others):  # only the marketplace speaks for its buyers (§8)
            raise Refused(
                f"Order {d.quoted(sub.order_id, 64)} is on the marketplace: its buyer's requests "
                "come from there."
            )
        if others:
            _require_not_before_last_record(conn, [r.id for r in others], "submit", now)
        caught = [d.catch_up(r, now, self.rules) for r in others]
        history = d.summarize_order(c.after for c in caught)
        change = d.submit(sub, history, now, self.rules)
        key = self._key_for(conn)
        heads = [row["chain"] for row in rows]
        _save_many(
            conn,
            key,
            [(b, h, c.after, c.records) for b, h, c in zip(others, heads, caught, strict=True)],
        )
        writes.bump_order(conn, sub.order_id, sub.shop, seen)
        new, recs = self._rule_on_arrival(conn, change, now)
        values = request_values(new)
        values["seal"] = seal = key.seal(writes.fixed_values(values))
        rows, values["chain"] = key.chained(seal, writes.record_rows(new.id, 0, recs))
        writes.insert_request(conn, values, rows)
        return new

    def _rule_on_arrival(
        self, conn: Connection, change: d.Change, now: DateTime
    ) -> tuple[d.Request, tuple[d.Record, ...]]:
        """The new request and its records, after the automation rule that acts on it, if
        one does (DESIGN §10): in the submit's own transaction, so nobody ever sees it
        pending first."""
        new, recs = replace(change.after, version=len(change.records)), change.records
        firing = automation.on_arrival(conn, new, now)
        if firing is not None:
            accepted = automation.decision(firing.rule, new, now, self.rules)
            recs += accepted.records
            new = replace(accepted.after, version=len(recs))
        return new, recs

    def rule_on_synced_arrival(
        self, conn: Connection, new: d.Request, arrived: DateTime, now: DateTime
    ) -> None:
        """The automation rule that acts on a synced request just brought in (DESIGN §10): its
        accept is queued in the outbox like an operator's, in the sync's transaction, and the
        record by `rule:OWNER/NAME` is written when the marketplace confirms. The rule sees
        the request as arrived when the marketplace made it (`arrived`), so that a first sync
        of old returns is not answered by a rule made after them. The item is kept only where
        the marketplace lets the buyer keep it."""
        firing = automation.on_arrival(conn, new, arrived)
        if firing is None:
            return
        keep = (
            firing.keep_item
            and new.type is d.RequestType.RETURN_AND_REFUND
            and bool(new.can_keep_item)
        )
        values = {"keep_item": True if keep else None}
        rule = actions.get("accept").rule
        actor = Actor(firing.actor, Role.OPERATOR, frozenset({new.shop}))

        def decide(r: d.Request, o: d.OrderHistory, rules: d.Rules = self.rules) -> d.Change:
            return rule(r, Facts(actor.name, now, rules, o), values)

        try:
            self._to_outbox(conn, actor, "accept", new, now, decide, values)
        except Refused:
            # The marketplace's own limits forbid what the rule would do (DESIGN §10: a rule
            # never acts where the marketplace's state forbids it); the request waits for a
            # person, and bringing it in goes on. _to_outbox refuses before it writes.
            return

    def _retrying(self, body: Callable[[Connection], T], keyed: Keyed | None = None) -> T:
        """Run `body` in a write transaction; on a lost compare-and-set or a unique-key
        collision, run it again on fresh data. A keyed change (see perform_keyed) first looks
        its key up, and stores its verdict before the commit."""
        for _ in range(MAX_TRIES):
            try:
                with write(self.engine) as conn:
                    if keyed is not None:
                        _check_key(conn, keyed)
                    result = body(conn)
                    if keyed is not None:
                        _store_verdict(conn, keyed, {"ok": True}, None)
                    return result
            except (writes.Lost, WriteConflict):
                continue
        raise Conflict("Others kept changing the same data; nothing was changed, try again.")


# ---------------------------------------------------------------------------------------------
# Names of users and shops

NAME_MAX = 64  # users.name, user_shops.shop


def check_login_name(name: str) -> None:
    """A user's name is their login on the host: 1 to 64 printable characters without any
    white space (no login has one; a name typed with a stray space would never log in), and
    not a name the records use for others."""
    shown = _shown(name)
    if not name:
        raise Refused("A user name cannot be empty.")
    if len(name) > NAME_MAX or not name.isprintable():
        raise Refused(f"{shown} cannot be a user name: it must be 1 to 64 printable characters.")
    if any(ch.isspace() for ch in name):
        raise Refused(f"{shown} cannot be a user name: a login name has no spaces.")
    if name in NOT_USERS or name.startswith(RULE_PREFIX):
        raise Refused(f"{shown} cannot be a user name: the records use it for someone else.")


def check_shop_name(shop: str) -> None:
    """A shop is matched exactly against the requests' shop, so a stray space would give an
    operator a shop without a single request: 1 to 64 printable characters, which may hold
    spaces between words but neither begin nor end with one."""
    shown = _shown(shop)
    if not shop:
        raise Refused("A shop name cannot be empty.")
    if len(shop) > NAME_MAX or not shop.isprintable():
        raise Refused(f"{shown} cannot be a shop name: it must be 1 to 64 printable characters.")
    if shop != shop.strip():
        raise Refused(f"{shown} cannot be a shop name: it begins or ends with a space.")


def _shown(text: str) -> str:
    """A name inside a sentence, in quotes so that a space at its end shows; as a Python
    literal when it holds what a terminal would act on."""
    clipped = text[:NAME_MAX]
    return f"'{clipped}'" if clipped.isprintable() else repr(clipped)


# ---------------------------------------------------------------------------------------------
# Writing


def _save(
    conn: Connection,
    key: ChainKey,
    before: d.Request,
    head: bytes | None,
    after: d.Request,
    recs: tuple[d.Record, ...],
) -> d.Request:
    """Write one request's change with a compare-and-set on the version it was read at, its
    records chained after `head`, the request's head as it was read with `before`."""
    after = replace(after, version=before.version + len(recs))
    rows, head = key.chained(head, writes.record_rows(before.id, before.version, recs))
    writes.update_request(conn, after, head, before.version, rows)
    return after


_TAB = {status: tab.value for status, tab in d.TAB_OF_STATUS.items()}
# Stored text to the enum: a dict lookup, several times cheaper than calling the enum.
_STATUS = {status.value: status for status in d.Status}
_TYPE = {rtype.value: rtype for rtype in d.RequestType}
# An enum's text, also a dict lookup: Enum.value is a property, slow in a loop of 100 000.
_TEXT = {member: member.value for enum in (d.Status, d.Kind) for member in enum}
_LAPSED = d.Kind.OFFER_LAPSED
_REFUNDED = d.REFUNDED_STATUSES


_WHEN_CREATED = itemgetter(0, 1, 2)  # (at, created_at, id) of a swept step


def _first_step_then_created(due: tuple) -> tuple:
    """A due request's first deadline, then its creation time and id: the order in which
    deadlines at the same moment apply (DESIGN §7)."""
    return due[6][0][1], due[9], due[0]


Changes = list[tuple[d.Request, bytes | None, d.Request, tuple[d.Record, ...]]]


def _save_many(conn: Connection, key: ChainKey, changes: Changes) -> None:
    """Write many automatic transitions (a request's status, tab, deadline, status_since,
    version and head; arbitration and the rest are what catch_up leaves alone) in two
    statements. `changes` are (request before, its head, request after, records)."""
    moves, recs = [], []
    for before, head, after, rec_list in changes:
        if not rec_list:
            continue
        rows, head = key.chained(head, writes.record_rows(before.id, before.version, rec_list))
        version = before.version + len(rec_list)
        deadline = None if after.deadline_at is None else to_micros(after.deadline_at)
        since = to_micros(after.status_since)
        moves.append((after.status.value, _TAB[after.status], deadline, since,
                      to_micros(after.respond_by), after.refund_cents, version, head,
                      before.id, before.version))  # fmt: skip
        recs.extend(rows)
    writes.write_moves(conn, moves, recs)


def _require_not_before_last_record(
    conn: Connection, request_ids: list[str], action: str, now: DateTime
) -> None:
    """Refuse an action whose time comes before the newest record of these requests: history
    is written in time order, so an action cannot slip in before a change already made (a
    note included). The refusal names who made that change and what the request is now:
    when an action races the sweep, this is how the loser learns who won."""
    newest = q.last_record_at(conn, request_ids)
    if newest is None or to_micros(now) >= newest:
        return
    row = q.last_record(conn, request_ids)
    rec = to_record(row)
    status = q.request_row(conn, row["request_id"])["status"].replace("_", " ")
    rid, kind = d.quoted(row["request_id"], 64), rec.kind.value.replace("_", " ")
    raise Refused(
        f"{rid} was {kind} by {rec.actor} at "
        f"{utc_seconds_text(rec.at)}, after this {action}'s time ({utc_seconds_text(now)}); "
        f"it is now {status}."
    )


def _last_change(conn: Connection, before: d.Request, caught: d.Change) -> str:
    """Who last moved the request, for a refusal: "rejected by bob at 2026-11-27 10:02 UTC"."""
    if caught.records:
        rec = caught.records[-1]
        who, kind, at = rec.actor, rec.kind.value, rec.at
    else:
        row = q.last_move(conn, before.id)
        if row is None:
            return ""
        rec = to_record(row)
        who, kind, at = rec.actor, rec.kind.value, rec.at
    return f"{kind.replace('_', ' ')} by {who} at {utc_text(at)}"


# ---------------------------------------------------------------------------------------------
# Idempotency keys


class _Duplicate(Exception):
    def __init__(self, verdict: dict[str, Any]) -> None:
        self.verdict = verdict


class KeyReused(Refused):
    """A key sent again with another line: refused, and nothing applied or stored (the key
    keeps the verdict of the line it was first used for)."""


def line_digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a keyed line's canonical JSON without its key: the parsed object
    minus "key", keys sorted, no white space, text as it is. Two lines that differ only in
    white space or in the order of their fields are the same line."""
    canonical = json.dumps(
        {name: value for name, value in fields.items() if name != "key"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=repr,  # a direct caller's value that JSON has no form for
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def call_digest(
    actor: Actor, action: str, request_id: str, now: DateTime, params: Mapping[str, Any]
) -> str:
    """The digest of a keyed call that came with no line (a script calling perform_keyed):
    its own arguments, as the line an `apply` would have read."""
    fields: dict[str, Any] = {
        "at": iso_utc(now), "actor": actor.name, "action": action, "request_id": request_id,
    }  # fmt: skip
    for name, value in params.items():
        fields[name] = asdict(value) if isinstance(value, d.Submission) else value
    return line_digest(fields)


def _check_key(conn: Connection, keyed: Keyed) -> None:
    """Raise _Duplicate with the stored verdict when the key was used for this same line,
    KeyReused when it was used for another.

    A key stored before keys were bound to their lines (migration 0003) has no digest, and
    then matches no line: the line may be the one it was used for or another, and answering
    "duplicate" for another is the very report of work not done that binding prevents. So it
    is refused, with its own sentence; it is still never applied twice."""
    found = keys.find(conn, keyed.key)
    if found is None:
        return
    verdict, digest = found
    if digest == keyed.digest:
        raise _Duplicate(json.loads(verdict))
    quoted = repr(keyed.key[:64])  # quoted as the sender wrote it, escapes visible
    if digest is None:
        raise KeyReused(
            f"The key {quoted} was used before keys were bound to their lines, so this "
            "line cannot be told from the one it was used for; it was not applied."
        )
    raise KeyReused(
        f"The key {quoted} was already used for a different line; a key may only be sent "
        "again with the same line."
    )


def _store_verdict(
    conn: Connection, keyed: Keyed, verdict: dict[str, Any], at: DateTime | None
) -> None:
    """Store a key's verdict and its line's digest; a key stored before raises _Duplicate
    with its verdict (or KeyReused, for another line)."""
    _check_key(conn, keyed)
    keys.store(conn, keyed.key, json.dumps(verdict), at or utc_now(), keyed.digest)
