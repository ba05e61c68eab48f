"""The invariant checker: reads the whole database and reports every broken invariant.

It changes nothing. `returns-tui check` prints what it finds and exits 1 on any violation;
the torture, crash and property tests call `check()` after every run.

What it checks, per request: the tab matches the status; the version is the number of
records, and the records are numbered 1..n in time order; the records are a path of the
state machine from `submitted` ending in the status; no record is doubled; only the system
makes automatic transitions, and it makes nothing else; the request's own fields agree with
its records (created_at, status_since, rejected_at, tracking, arbitration, deadlines, the
first answer); and no timed request is past its deadline (beyond `grace`). Per order: the
order is recorded for the request's shop, at most one request is open, at most two were
rejected, at most one was appealed, and each request's `attempt` counts the rejections
before it. For the whole database: the tabs' counts add up to All, and no record belongs to
no request.

And the chains (store/chain.py): each request's seal matches its fixed fields, each record
its chain, and the request's head its last record, with the chain key; the database's key
fingerprint is that key's; and the append-only triggers on records are there as made.

The deadlines' lengths are settings (DESIGN §1): they are checked only when `rules` is given.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pendulum
from pendulum import DateTime
from sqlalchemy.engine import Engine

from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.money import parse_amount
from returns_tui.store import audit, chain, handled, sync_tables, tab_counts
from returns_tui.store import queries as q
from returns_tui.store.chain import ChainKey
from returns_tui.store.engine import is_sqlite, read
from returns_tui.store.insight_queries import ANSWER_KINDS
from returns_tui.store.rows import to_record, to_request
from returns_tui.timefmt import iso_or_none

AUTOMATIC = frozenset(
    {d.Kind.AUTO_APPROVED, d.Kind.EXPIRED, d.Kind.AUTO_REFUNDED, d.Kind.OFFER_LAPSED}
)
REJECTIONS = (d.Kind.REJECTED, d.Kind.RECEIPT_REJECTED)
_STAGE = {d.Kind.REJECTED: d.RejectStage.REQUEST, d.Kind.RECEIPT_REJECTED: d.RejectStage.RECEIPT}


@dataclass(frozen=True)
class Violation:
    request_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.request_id}: {self.problem}"


def check(
    engine: Engine,
    now: DateTime,
    grace: float = 0,
    rules: d.Rules | None = None,
    key: ChainKey | None = None,
) -> list[Violation]:
    """Every violation in the database as it stands at `now`. A timed request counts as
    missed only when its deadline is more than `grace` seconds before `now` (a sweep that
    runs every minute leaves requests up to a minute past their deadline). With `rules`,
    each deadline is also checked against the window that set it. The chains are checked
    with `key` (default: the key file's; without one, ChainKeyError)."""
    key = key or chain.load_key()
    late_before = now - pendulum.duration(seconds=grace)
    found: list[Violation] = []
    per_order: dict[str, list[d.Request]] = defaultdict(list)
    submitted: dict[str, int] = {}  # a request's first record's id
    has_later: dict[str, bool] = {}  # as stored
    synced_orders: set[str] = set()
    with read(engine) as conn:
        found += _trigger_problems(conn)
        verify = _key_problems(conn, key, found)
        order_shops = audit.order_shops(conn)
        for row, rec_rows in q.export_tuples(conn, None, d.Tab.ALL):
            if verify:
                found += [Violation(row["id"], p) for p in _chain_problems(key, row, rec_rows)]
            try:
                req = to_request(row)
            except ValueError as exc:  # a status or type no program of ours writes
                found.append(Violation(row["id"], f"the row cannot be read: {exc}"))
                continue
            problems = _request_problems(row, req, rec_rows, late_before, rules)
            found += [Violation(req.id, p) for p in problems]
            if req.synced:
                synced_orders.add(req.order_id)
            if order_shops.get(req.order_id) != req.shop:
                found.append(
                    Violation(req.id, f"order {req.order_id} is not recorded for {req.shop}")
                )
            per_order[req.order_id].append(req)
            has_later[req.id] = bool(row["has_later"])
            if rec_rows:
                submitted[req.id] = rec_rows[0]["id"]
        for order_id, reqs in per_order.items():
            found += [Violation(r, p) for r, p in _later_problems(reqs, has_later)]
            if order_id not in synced_orders:  # the marketplace's orders follow its rules
                found += [Violation(order_id, p) for p in _order_problems(reqs, submitted)]
        found += _count_problems(conn)
        found += _outbox_problems(conn, synced_shops(per_order))
    return found


def _request_problems(
    row: Mapping[str, Any],
    req: d.Request,
    rec_rows: list[Any],
    late_before: DateTime,
    rules: d.Rules | None,
) -> Iterator[str]:
    recs = []
    for i, rec_row in enumerate(rec_rows, 1):
        try:
            recs.append(to_record(rec_row))
        except ValueError as exc:  # an unknown kind or status, details that are not JSON
            yield f"record {i} cannot be read: {exc}"
            return
    if row["tab"] != d.TAB_OF_STATUS[req.status].value:
        yield f"status {req.status} is shown under tab {row['tab']}"
    if req.version != len(recs):
        yield f"version {req.version} but {len(recs)} records"
    if (seqs := [r["seq"] for r in rec_rows]) != list(range(1, len(recs) + 1)):
        yield f"the records are numbered {seqs}, not 1 to {len(recs)}"
    if any(b.at < a.at for a, b in zip(recs, recs[1:], strict=False)):
        yield "the records are not in time order"
    yield from d.path_violations(req.status, recs, req.type)
    # A doubled transition would also break the path; this names it plainly.
    doubled = Counter(
        (r.at, r.actor, r.kind, r.from_status, r.to_status, repr(r.details)) for r in recs
    )
    for (at, actor, kind, *_), n in doubled.items():
        if n > 1:
            yield f"the record {kind} by {actor} at {iso_or_none(at)} appears {n} times"
    for i, rec in enumerate(recs, 1):
        if (rec.kind in AUTOMATIC) != (rec.actor == "system"):
            yield f"record {i}: {rec.kind} by {rec.actor}"
    yield from _source_problems(row, req, recs)
    if recs and req.synced:
        yield from _synced_fields_agree(req, recs)
    elif recs:
        yield from _fields_agree(req, recs, rules)
    yield from _first_answer_problems(row, recs)
    due = d.next_due(req)
    if due is not None and due < late_before:
        yield f"{req.status} past its deadline {iso_or_none(due)} (not swept)"


def _first_answer_problems(row: Mapping[str, Any], recs: list[d.Record]) -> Iterator[str]:
    """The first answer stored on the request (the Insights figures read it) is its first
    `accepted`, `rejected` or `offered` record's time and author, or none without one."""
    answer = next((r for r in recs if r.kind in ANSWER_KINDS), None)
    recorded = (answer.at, answer.actor) if answer else (None, None)
    stored = (row["first_answer_at"], row["first_answer_by"])
    if stored != recorded:
        yield (
            f"first answer {iso_or_none(stored[0])} by {stored[1]} "
            f"but the records say {iso_or_none(recorded[0])} by {recorded[1]}"
        )


def _fields_agree(req: d.Request, recs: list[d.Record], rules: d.Rules | None) -> Iterator[str]:
    """The request's own fields say what its records say."""
    if req.created_at != recs[0].at:
        yield f"created_at {iso_or_none(req.created_at)} but submitted at {iso_or_none(recs[0].at)}"
    moves = [r for r in recs if r.kind is not d.Kind.NOTED]
    if not moves:
        return  # no `submitted` record: the path check says so
    if req.status_since != moves[-1].at:
        since, moved = iso_or_none(req.status_since), iso_or_none(moves[-1].at)
        yield f"status_since {since} but the last move was at {moved}"
    # The latest rejection, of the request or (after mediation for the buyer) of the package.
    rejections = [r for r in recs if r.kind in REJECTIONS]
    rejected_at = rejections[-1].at if rejections else None
    if req.rejected_at != rejected_at:
        stored, recorded = iso_or_none(req.rejected_at), iso_or_none(rejected_at)
        yield f"rejected_at {stored} but the records say {recorded}"
    stage = _STAGE[rejections[-1].kind] if rejections else None
    if req.reject_stage != stage:
        yield f"reject_stage {req.reject_stage} but the records say {stage}"
    yield from _decision_problems(req, moves, rules)
    shipments = [r for r in recs if r.kind is d.Kind.SHIPPED]
    tracking = shipments[-1].details.get("tracking") if shipments else None
    if req.tracking != tracking:
        yield f"tracking {req.tracking!r} but the records say {tracking!r}"
    arbitration = None
    for rec in recs:
        if rec.kind is d.Kind.APPEALED:
            arbitration = d.Arbitration.IN_PROGRESS
        elif rec.kind is d.Kind.MEDIATED:
            decided = rec.details.get("decision")
            arbitration = {"buyer": d.Arbitration.SUPPORT_BUYER}.get(
                decided, d.Arbitration.SUPPORT_SELLER
            )
    if req.arbitration != arbitration:
        yield f"arbitration {req.arbitration} but the records say {arbitration}"
    yield from _deadline_problems(req, moves, rules)


def _source_problems(row: Mapping[str, Any], req: d.Request, recs: list[d.Record]):
    """DESIGN §8: a request is local or synced, and its fields and records say the same:
    only a synced request carries the marketplace's status and limits and records by the
    marketplace, and it begins with one."""
    if row["source"] not in d.SOURCES:
        yield f"source {row['source']!r} is neither local nor marketplace"
        return
    by_sync = [i for i, r in enumerate(recs, 1) if r.kind in d.SYNC_KINDS]
    if not req.synced:
        if by_sync:
            yield f"record {by_sync[0]}: {recs[by_sync[0] - 1].kind} on a local request"
        if (req.marketplace_status, req.can_keep_item, req.quick_refund) != (None, None, None):
            yield "a local request carries the marketplace's status or limits"
        return
    if req.marketplace_status is None or req.can_keep_item is None or req.quick_refund is None:
        yield "a synced request lacks the marketplace's status or limits"
    if recs and recs[0].kind is not d.Kind.MARKETPLACE:
        yield f"a synced request begins with {recs[0].kind}, not a marketplace record"
    for i in by_sync:
        if recs[i - 1].actor != "marketplace":
            yield f"record {i}: {recs[i - 1].kind} by {recs[i - 1].actor}"
    if req.offer_by is not None:
        yield "a synced request has an offer_by (the marketplace keeps the buyer's clock)"


def _synced_fields_agree(req: d.Request, recs: list[d.Record]) -> Iterator[str]:
    """A synced request's own fields that its records decide: its creation and the time it
    entered its status. Its deadlines, amounts and arbitration are the marketplace's."""
    if req.created_at != recs[0].at:
        created, first = iso_or_none(req.created_at), iso_or_none(recs[0].at)
        yield f"created_at {created} but brought in at {first}"
    moves = [r for r in recs if r.from_status != r.to_status]
    since = moves[-1].at if moves else recs[0].at
    if req.status_since != since:
        stored, moved = iso_or_none(req.status_since), iso_or_none(since)
        yield f"status_since {stored} but the last move was at {moved}"


def synced_shops(per_order: Mapping[str, list[d.Request]]) -> dict[str, str]:
    """Each synced request's shop, by id."""
    return {r.id: r.shop for reqs in per_order.values() for r in reqs if r.synced}


def _outbox_problems(conn: Any, synced: dict[str, str]) -> list[Violation]:
    """A decision waits to be sent only for a synced request, under its shop."""
    return [
        Violation(request_id, "a decision waits in the outbox for a request that is not synced"
                  if request_id not in synced else f"its outbox row names shop {shop}")
        for request_id, shop in sync_tables.all_outgoing(conn)
        if synced.get(request_id) != shop
    ]  # fmt: skip


def _decision_problems(
    req: d.Request, moves: list[d.Record], rules: d.Rules | None
) -> Iterator[str]:
    """DESIGN §7's fields say what the records say: one offer at most, its amount and
    deadline; the refund of the status (the offer when agreed); the item kept exactly when
    an accept kept it or the buyer agreed."""
    offers = [r for r in moves if r.kind is d.Kind.OFFERED]
    if len(offers) > 1:
        yield f"{len(offers)} offers on one request"
    offer_cents = offer_by = None
    if offers:
        offer_cents = _cents(offers[-1].details.get("amount"), req.currency)
        offer_by = req.offer_by if rules is None else offers[-1].at + rules.offer_window
        if offer_by is None:
            yield "an offer was made but offer_by is empty"
    if req.offer_cents != offer_cents:
        yield f"offer_cents {req.offer_cents} but the records say {offer_cents}"
    if req.offer_by != offer_by:
        yield f"offer_by {iso_or_none(req.offer_by)} but the records say {iso_or_none(offer_by)}"
    last = moves[-1]
    agreed = last.kind is d.Kind.AGREED
    kept = agreed or (last.kind is d.Kind.ACCEPTED and last.details.get("keep_item") is True)
    if req.keep_item != kept:
        yield f"keep_item {req.keep_item} but the records say {kept}"
    refund = offer_cents if agreed else d.refund_after(req.status, req.amount_cents)
    if req.refund_cents != refund:
        yield f"refund_cents {req.refund_cents} but the status and records say {refund}"


def _cents(text: Any, currency: str) -> int | None:
    try:
        return parse_amount(text, currency)
    except Refused:
        return None


def _deadline_problems(req: d.Request, moves: list[d.Record], rules: d.Rules | None):
    """The deadline agrees with the status and with the record that set it. How long each
    window is, is a setting: without `rules`, only whether there is a deadline is checked."""
    status, moved_at = req.status, moves[-1].at
    if status is d.Status.PENDING:
        expected = req.respond_by
        # respond_by counts from the submission, or from the answer to an offer (§7).
        answers = [r for r in moves if r.kind in (d.Kind.DECLINED, d.Kind.OFFER_LAPSED)]
        start, what = (answers[-1].at, answers[-1].kind.value) if answers else (
            req.created_at, "created_at"
        )
        if rules is not None and req.respond_by != start + rules.respond_window:
            respond_by = iso_or_none(req.respond_by)
            yield f"respond_by {respond_by} is not {what} + {rules.respond_window}"
    elif status is d.Status.AWAITING_BUYER_RESPONSE:
        expected = req.offer_by
    elif status in (d.Status.COMPLETED, d.Status.CANCELLED, d.Status.IN_MEDIATION) or (
        # Upheld by the platform, or rejected at receipt after an appeal: nothing can follow.
        status is d.Status.REJECTED and req.arbitration is not None
    ):
        expected = None
    elif rules is None:
        if req.deadline_at is None:
            yield f"{status} without a deadline"
        return
    elif status is d.Status.AWAITING_BUYER_SHIP:
        expected = moved_at + rules.ship_window
    elif status is d.Status.BUYER_SHIPPED:
        expected = moved_at + rules.receive_window
    else:  # rejected, the buyer's window open
        expected = (req.rejected_at or moved_at) + rules.after_rejection_window
    if req.deadline_at != expected:
        yield f"{status} with deadline {iso_or_none(req.deadline_at)}, not {iso_or_none(expected)}"


def _later_problems(
    reqs: list[d.Request], has_later: Mapping[str, bool]
) -> Iterator[tuple[str, str]]:
    """Every request of the order but its latest has a later one, as stored (the console's
    "due within" and its superseded rejections read it)."""
    latest = max(reqs, key=d.order_position).id
    for req in reqs:
        if has_later[req.id] and req.id == latest:
            yield req.id, f"stored with a later request, but it is order {req.order_id}'s latest"
        elif not has_later[req.id] and req.id != latest:
            yield req.id, f"stored without a later request, but order {req.order_id} has one"


def _order_problems(reqs: list[d.Request], submitted: Mapping[str, int]) -> Iterator[str]:
    """The order's requests, in the order they were submitted: by creation time, and at the
    same time by their first record's id, which the database gives out in the order of the
    writes (by their ids, R10 came before R8)."""
    reqs = sorted(reqs, key=lambda r: (r.created_at, submitted.get(r.id, 0), r.id))
    if (n := sum(r.status in d.OPEN_STATUSES for r in reqs)) > 1:
        yield f"the order has {n} open requests"
    if (n := sum(r.rejected_at is not None for r in reqs)) > 2:
        yield f"the order was rejected {n} times"
    if (n := sum(r.arbitration is not None for r in reqs)) > 1:
        yield f"the order was appealed {n} times"
    receipt = [r.id for r in reqs if r.reject_stage is d.RejectStage.RECEIPT]
    if receipt and reqs[-1].id != receipt[0]:
        yield f"a request followed {receipt[0]}'s rejection at receipt"
    rejected_before = 0
    for req in reqs:
        if req.attempt != 1 + rejected_before:
            yield f"{req.id} is attempt {req.attempt}, not {1 + rejected_before}"
        rejected_before += req.rejected_at is not None


def _count_problems(conn) -> list[Violation]:
    total, per_tab = audit.tab_counts(conn)
    known = {t.value for t in d.Tab if t is not d.Tab.ALL}
    problems = []
    if unknown := set(per_tab) - known:
        problems.append(Violation("*", f"rows under unknown tabs {sorted(unknown)}"))
    if sum(n for tab, n in per_tab.items() if tab in known) != total:
        problems.append(Violation("*", f"the tabs count {per_tab} but All has {total}"))
    orphans = audit.orphan_records(conn)
    if orphans:
        problems.append(Violation("*", f"{orphans} records belong to no request"))
    stored, expected = tab_counts.differences(conn)
    for row in sorted(stored | expected):
        problems.append(Violation("*", f"tab_counts disagrees with the requests at {row[:5]}"))
    stored, expected = handled.differences(conn)
    for request_id in sorted({row[1] for row in stored | expected}):
        problems.append(
            Violation(request_id, "who handled it (table `handled`) disagrees with its records")
        )
    return problems


# ---------------------------------------------------------------------------------------------
# The chains (store/chain.py)

_FIXED = itemgetter(*map(q.REQUEST_COLUMNS.index, chain.FIXED_FIELDS))
_SEAL, _HEAD = q.REQUEST_COLUMNS.index("seal"), q.REQUEST_COLUMNS.index("chain")
_RECORD = itemgetter(*map(q.RECORD_COLUMNS.index, chain.RECORD_FIELDS))
_CHAIN = q.RECORD_COLUMNS.index("chain")
FIXED_CHANGED = (
    "the request's fixed fields do not match its chain (its order, shop, type, buyer, "
    "product, sku, quantity, amount, currency, reason, note, creation time or attempt was "
    "changed)"
)


def _chain_problems(key: ChainKey, row: tuple, rec_rows: list[tuple]) -> Iterator[str]:
    """The request's seal against its fixed fields, each record against its chain (after
    the link of the previous record's stored chain, so that one changed record is named
    alone), and the head against the last record: what a record deleted or added without
    the key breaks. Values as stored (row and records are StoredRows: plain tuples)."""
    seal = _bytes(row[_SEAL])
    if seal is None:
        yield "the request has no chain (written without the chain key)"
        return
    if seal != key.seal(_FIXED(row)):
        yield FIXED_CHANGED
    previous = seal
    for i, rec in enumerate(rec_rows, 1):
        stored = _bytes(rec[_CHAIN]) or b""
        if stored != key.record(previous, _RECORD(rec)):
            yield f"record {i} does not match its chain (changed or forged)"
        previous = key.link(stored)
    if _bytes(row[_HEAD]) != previous:
        yield (
            "the request's chain does not end at its last record (a record deleted or "
            "added, or the chain changed)"
        )


def _bytes(value: Any) -> bytes | None:
    """A stored chain as bytes (a hand-edited database may hold text or a number there)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def _key_problems(conn: Any, key: ChainKey, found: list[Violation]) -> bool:
    """Whether the chains can be checked with `key`: the database's fingerprint is the
    key's. A database chained with another key is told once, not request by request."""
    stored = chain.stored_fingerprint(conn)
    if stored is None:
        if audit.any_request(conn):
            found.append(Violation("*", "the database does not record its chain key"))
        return True
    if stored != key.fingerprint:
        found.append(
            Violation(
                "*",
                f"the records are chained with another key than {key.path or 'the one given'};"
                " their chains were not checked",
            )
        )
        return False
    return True


# The append-only triggers as migration 0001 makes them (SQLite keeps a trigger's statement
# as it was written; PostgreSQL its definition and its function's body).
_MESSAGE = "records are append-only"
_SQLITE_TRIGGERS = {
    f"records_no_{verb.lower()}": f"CREATE TRIGGER records_no_{verb.lower()} BEFORE {verb} "
    f"ON records BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
    for verb in ("UPDATE", "DELETE")
}
_PG_TRIGGERS = {
    "records_append_only": "BEFORE DELETE OR UPDATE ON",
    "records_no_truncate": "BEFORE TRUNCATE ON",
}
_PG_FUNCTION_BODY = f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END"


def _trigger_problems(conn: Any) -> list[Violation]:
    """Records are append-only only while their triggers are there, unchanged and enabled:
    one line naming those that are not."""
    present = audit.record_triggers(conn)
    if is_sqlite(conn):
        wrong = [name for name, sql in _SQLITE_TRIGGERS.items() if present.get(name) != sql]
    else:
        wrong = []
        for name, timing in _PG_TRIGGERS.items():
            enabled, ddl, fn, body = present.get(name, ("D", "", "", ""))
            if (
                enabled not in ("O", "A")
                or timing not in ddl
                or "FOR EACH" not in ddl
                or fn != "records_append_only"
                or body.strip() != _PG_FUNCTION_BODY
            ):
                wrong.append(name)
    if not wrong:
        return []
    what = f"trigger {wrong[0]} is" if len(wrong) == 1 else f"triggers {', '.join(wrong)} are"
    return [Violation("*", f"records are not append-only: the {what} missing, changed or disabled")]
