"""The rules of DESIGN §1–2, once, as pure functions of (request, action, now).

Nothing here does I/O or reads a clock: the services load a request, ask this module what an
action (or the passing of time) does to it, and store the answer. A refusal is a `Refused`
exception carrying one plain sentence for people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import pendulum
from pendulum import DateTime, Duration

from returns_tui.errors import Refused, WrongStatus
from returns_tui.money import format_amount, parse_amount

T = TypeVar("T")


class Status(StrEnum):
    PENDING = "pending"
    AWAITING_BUYER_SHIP = "awaiting_buyer_ship"
    BUYER_SHIPPED = "buyer_shipped"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_MEDIATION = "in_mediation"
    AWAITING_BUYER_RESPONSE = "awaiting_buyer_response"  # a partial refund offered (§7)


class Tab(StrEnum):
    """The console's tabs; the value is the name used by `export --tab` and in its output."""

    ALL = "all"
    TO_PROCEED = "to_proceed"
    IN_PROCESS = "in_process"
    COMPLETED = "completed"
    CLOSED = "closed"
    APPEALS = "appeals"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").title()


class Arbitration(StrEnum):
    IN_PROGRESS = "in_progress"
    SUPPORT_BUYER = "support_buyer"
    SUPPORT_SELLER = "support_seller"


class Kind(StrEnum):
    """Record kinds (DESIGN §4)."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    AUTO_APPROVED = "auto_approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SHIPPED = "shipped"
    RECEIVED = "received"
    AUTO_REFUNDED = "auto_refunded"
    APPEALED = "appealed"
    MEDIATED = "mediated"
    NOTED = "noted"
    # DESIGN §7: the decisions as the marketplace has them
    OFFERED = "offered"
    AGREED = "agreed"
    DECLINED = "declined"
    OFFER_LAPSED = "offer_lapsed"
    RECEIPT_REJECTED = "receipt_rejected"
    # DESIGN §8: what the marketplace says of a synced request (its records, its changes of
    # status), and its refusal of a decision sent to it.
    MARKETPLACE = "marketplace"
    PUSH_REFUSED = "push_refused"


class RejectStage(StrEnum):
    """The stage of a request's latest rejection (DESIGN §7)."""

    REQUEST = "request"  # by `reject`, of the request itself
    RECEIPT = "receipt"  # by `reject_receipt`, of the package that came back


class RequestType(StrEnum):
    REFUND = "refund"
    RETURN_AND_REFUND = "return_and_refund"


TAB_OF_STATUS: dict[Status, Tab] = {
    Status.PENDING: Tab.TO_PROCEED,
    Status.AWAITING_BUYER_SHIP: Tab.IN_PROCESS,
    Status.BUYER_SHIPPED: Tab.IN_PROCESS,
    Status.COMPLETED: Tab.COMPLETED,
    Status.REJECTED: Tab.CLOSED,
    Status.CANCELLED: Tab.CLOSED,
    Status.IN_MEDIATION: Tab.APPEALS,
    Status.AWAITING_BUYER_RESPONSE: Tab.IN_PROCESS,
}


OPEN_STATUSES = frozenset(
    {
        Status.PENDING,
        Status.AWAITING_BUYER_RESPONSE,
        Status.AWAITING_BUYER_SHIP,
        Status.BUYER_SHIPPED,
        Status.IN_MEDIATION,
    }
)
# The statuses whose deadline, once reached, moves the request by itself.
TIMED_STATUSES = (
    Status.PENDING,
    Status.AWAITING_BUYER_SHIP,
    Status.BUYER_SHIPPED,
    Status.AWAITING_BUYER_RESPONSE,
)
# The statuses in which a request carries a refund to come or given (refund_amount, §7).
REFUNDED_STATUSES = frozenset(
    {Status.COMPLETED, Status.AWAITING_BUYER_SHIP, Status.BUYER_SHIPPED}
)

# The state machine: which record kinds may move a request from which status to which.
# The invariant checker and the property tests walk records along this table.
EDGES: dict[Kind, set[tuple[Status | None, Status]]] = {
    Kind.SUBMITTED: {(None, Status.PENDING)},
    Kind.ACCEPTED: {
        (Status.PENDING, Status.COMPLETED),
        (Status.PENDING, Status.AWAITING_BUYER_SHIP),
    },
    Kind.AUTO_APPROVED: {
        (Status.PENDING, Status.COMPLETED),
        (Status.PENDING, Status.AWAITING_BUYER_SHIP),
    },
    Kind.REJECTED: {(Status.PENDING, Status.REJECTED)},
    Kind.CANCELLED: {
        (Status.PENDING, Status.CANCELLED),
        (Status.AWAITING_BUYER_SHIP, Status.CANCELLED),
    },
    Kind.EXPIRED: {(Status.AWAITING_BUYER_SHIP, Status.CANCELLED)},
    Kind.SHIPPED: {(Status.AWAITING_BUYER_SHIP, Status.BUYER_SHIPPED)},
    Kind.RECEIVED: {(Status.BUYER_SHIPPED, Status.COMPLETED)},
    Kind.AUTO_REFUNDED: {(Status.BUYER_SHIPPED, Status.COMPLETED)},
    Kind.APPEALED: {(Status.REJECTED, Status.IN_MEDIATION)},
    Kind.MEDIATED: {
        (Status.IN_MEDIATION, Status.COMPLETED),
        (Status.IN_MEDIATION, Status.AWAITING_BUYER_SHIP),
        (Status.IN_MEDIATION, Status.REJECTED),
    },
    Kind.NOTED: {(s, s) for s in Status},
    Kind.OFFERED: {(Status.PENDING, Status.AWAITING_BUYER_RESPONSE)},
    Kind.AGREED: {(Status.AWAITING_BUYER_RESPONSE, Status.COMPLETED)},
    Kind.DECLINED: {(Status.AWAITING_BUYER_RESPONSE, Status.PENDING)},
    Kind.OFFER_LAPSED: {(Status.AWAITING_BUYER_RESPONSE, Status.PENDING)},
    Kind.RECEIPT_REJECTED: {(Status.BUYER_SHIPPED, Status.REJECTED)},
    # The marketplace's clock and people move a synced request wherever it says (its first
    # record creates it), and a refusal changes nothing.
    Kind.MARKETPLACE: {(a, b) for a in (None, *Status) for b in Status},
    Kind.PUSH_REFUSED: {(s, s) for s in Status},
}
# The kinds only the sync writes, on synced requests (tests/test_sync_ledger.py walks them).
SYNC_KINDS = frozenset({Kind.MARKETPLACE, Kind.PUSH_REFUSED})
# The record kinds a request may begin with: a local one is submitted, a synced one brought in.
FIRST_KINDS = frozenset({Kind.SUBMITTED, Kind.MARKETPLACE})

DEFAULT_REASONS: dict[str, str] = {
    "no_proof": "No proof provided",
    "item_used_or_damaged": "Item used or damaged by the buyer",
    "not_as_claimed": "Item is not as the buyer claims",
    "outside_policy": "Outside the return policy",
    "already_delivered_on_time": "Order was delivered on time",
    "agreement_reached": "Agreement reached with the buyer",
    "wrong_item_returned": "Wrong item returned",
    "other": "Other",  # needs a note: the reject dialog says so
}

# The reasons for rejecting a returned package (DESIGN §7): a list of its own, since what can
# be wrong with a parcel that came back is not what can be wrong with a request.
DEFAULT_RECEIPT_REASONS: dict[str, str] = {
    "wrong_item_returned": "Wrong item returned",
    "item_used_or_damaged": "Item used or damaged by the buyer",
    "empty_package": "Empty package",
    "missing_parts": "Parts are missing",
    "other": "Other",
}

NOTE_MAX = 500
# The largest quantity a request may ask for: far beyond any real order, and well inside the
# INTEGER column of both databases (a larger number failed there instead of being refused).
QUANTITY_MAX = 1_000_000
TRACKING_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Rules:
    """The market's settings: the windows of DESIGN §1 and the reject reasons."""

    respond_window: Duration = field(default_factory=lambda: pendulum.duration(hours=48))
    ship_window: Duration = field(default_factory=lambda: pendulum.duration(days=5))
    receive_window: Duration = field(default_factory=lambda: pendulum.duration(days=8))
    after_rejection_window: Duration = field(default_factory=lambda: pendulum.duration(hours=48))
    reasons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REASONS))
    # DESIGN §7: how long the buyer has to answer a partial refund, and the receipt reasons.
    offer_window: Duration = field(default_factory=lambda: pendulum.duration(hours=48))
    receipt_reasons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RECEIPT_REASONS))


@dataclass(frozen=True)
class Request:
    """A request as the rules see it. `deadline_at` is the next deadline of its status:
    respond_by, ship_by, receive_by, or for a rejection the end of the buyer's window."""

    id: str
    order_id: str
    shop: str
    type: RequestType
    buyer: str
    product: str
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    reason: str
    buyer_note: str
    created_at: DateTime
    attempt: int
    status: Status
    arbitration: Arbitration | None
    respond_by: DateTime
    deadline_at: DateTime | None
    rejected_at: DateTime | None = None
    tracking: str | None = None
    version: int = 0
    status_since: DateTime | None = None  # when it entered its status (notes do not count)
    # DESIGN §7. refund_cents: what was refunded (completed) or will be (a return approved);
    # None otherwise. offer_cents and offer_by stay after the offer is answered or lapses.
    refund_cents: int | None = None
    offer_cents: int | None = None
    offer_by: DateTime | None = None
    keep_item: bool = False
    reject_stage: RejectStage | None = None
    # DESIGN §8: `marketplace` for a request the sync brought in (it moves by the
    # marketplace's clock, and decisions on it are sent there), with the marketplace's raw
    # status and its limits on the seller's decisions; for a local request these are None.
    source: str = "local"
    marketplace_status: str | None = None
    can_keep_item: bool | None = None
    quick_refund: bool | None = None

    @property
    def synced(self) -> bool:
        return self.source == SYNCED


SOURCES = ("local", "marketplace")
SYNCED = "marketplace"


@dataclass(frozen=True)
class Record:
    at: DateTime
    actor: str
    kind: Kind
    from_status: Status | None
    to_status: Status
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """What an action or a deadline does: the request after it, and the records it writes."""

    after: Request
    records: tuple[Record, ...]


# ---------------------------------------------------------------------------------------------
# Time moves by itself


def next_due(req: Request) -> DateTime | None:
    """When this request next moves by itself, or None if nothing is due in its status. A
    synced request never moves by itself: the marketplace moves it (DESIGN §8)."""
    if req.synced:
        return None
    return req.deadline_at if req.status in TIMED_STATUSES else None


def approved(rtype: RequestType, at: T, ship_window: Any) -> tuple[Status, T | None]:
    """The status and next deadline after `accept` (or an auto-approval, or mediation for the
    buyer) at `at`: a refund is done; a return waits for the buyer to ship by at + the ship
    window. `at` and the window are a DateTime and a Duration, or both plain numbers (the
    sweep and the seeder count in integer microseconds)."""
    if rtype is RequestType.REFUND:
        return Status.COMPLETED, None
    return Status.AWAITING_BUYER_SHIP, at + ship_window


def _approve(req: Request, at: DateTime, rules: Rules) -> Request:
    """What `accept` (or an auto-approval, or mediation for the buyer) does at time `at`:
    the full amount is refunded, or will be once the item is back."""
    status, deadline = approved(req.type, at, rules.ship_window)
    return replace(req, status=status, deadline_at=deadline, refund_cents=req.amount_cents)


def refund_after(status: Status, amount_cents: int) -> int | None:
    """refund_amount after a move that is not an agreed offer (DESIGN §7): the full amount
    while the request is, or ends, refunded; None otherwise. `agree` sets the offer itself."""
    return amount_cents if status in REFUNDED_STATUSES else None


def deadline_passes(
    status: Status, rtype: RequestType, due: T, ship_window: Any, respond_window: Any
) -> tuple[Kind, Status, T | None]:
    """What the deadline `due` of a timed status does (DESIGN §2, *Time moves by itself*, and
    §7's lapse of an offer): the record's kind, the new status, and the new status's deadline
    (counted from `due`). The one statement of the rule, on any times that add and compare
    (see `approved`). After a lapse the deadline is the new respond_by."""
    if status is Status.PENDING:
        return (Kind.AUTO_APPROVED, *approved(rtype, due, ship_window))
    if status is Status.AWAITING_BUYER_SHIP:
        return Kind.EXPIRED, Status.CANCELLED, None
    if status is Status.AWAITING_BUYER_RESPONSE:
        return Kind.OFFER_LAPSED, Status.PENDING, due + respond_window
    return Kind.AUTO_REFUNDED, Status.COMPLETED, None


# (kind, at, from, to) of one automatic transition
Step = tuple[Kind, T, Status, Status]


def passed_deadlines(
    status: Status,
    rtype: RequestType,
    deadline: T | None,
    now: T,
    ship_window: Any,
    respond_window: Any,
) -> tuple[Status, T | None, list[Step]]:
    """Every deadline ≤ now, in order, from `status` with its `deadline`: the status and
    deadline after them, and the steps taken (the last step's time is the new status_since;
    after an offer_lapsed step at t the new respond_by is t + respond_window). The core that
    catch_up, the sweep (on integer microseconds, for a hundred thousand requests at a time)
    and the seeder share."""
    steps: list[Step] = []
    while status in TIMED_STATUSES and deadline is not None and deadline <= now:
        due = deadline
        kind, to, deadline = deadline_passes(status, rtype, due, ship_window, respond_window)
        steps.append((kind, due, status, to))
        status = to
    return status, deadline, steps


def catch_up(req: Request, now: DateTime, rules: Rules) -> Change:
    """Apply, in deadline order, every deadline of `req` that is ≤ now. Each automatic
    transition is stamped with its deadline, not with `now` (DESIGN §2). A synced request
    moves by the marketplace's clock, never by ours (DESIGN §8)."""
    if req.synced:
        return Change(req, ())
    status, deadline, steps = passed_deadlines(
        req.status, req.type, req.deadline_at, now, rules.ship_window, rules.respond_window
    )
    if not steps:
        return Change(req, ())
    records = tuple(Record(at, "system", kind, before, to) for kind, at, before, to in steps)
    respond_by = req.respond_by
    for kind, at, _, _ in steps:
        if kind is Kind.OFFER_LAPSED:  # the buyer's silence gives the seller a new window
            respond_by = at + rules.respond_window
    after = replace(
        req,
        status=status,
        deadline_at=deadline,
        status_since=steps[-1][1],
        respond_by=respond_by,
        refund_cents=refund_after(status, req.amount_cents),
    )
    return Change(after, records)


# ---------------------------------------------------------------------------------------------
# Actions


@dataclass(frozen=True)
class OrderHistory:
    """What the rules need to know of the other requests on the same order."""

    shop: str | None = None  # the order's shop, if the order is known
    statuses: tuple[Status, ...] = ()
    rejected_count: int = 0
    latest_rejected_at: DateTime | None = None
    latest_request_id: str | None = None
    appeal_made: bool = False
    appeal_decided: bool = False
    receipt_rejected: bool = False  # a package came back and was rejected (§7)


def order_position(r: Request) -> tuple[int, DateTime, str]:
    """Where a request stands among its order's: by attempt, then creation, then id. The
    last of them is the order's latest; the others have a later one (requests.has_later)."""
    return (r.attempt, r.created_at, r.id)


def summarize_order(requests: Iterable[Request]) -> OrderHistory:
    """Build an OrderHistory from the requests on one order, oldest first.

    A rejected request counts as rejected whether it is still `rejected` or was later
    appealed and mediated: what counts is that the seller rejected it once."""
    reqs = sorted(requests, key=order_position)
    if not reqs:
        return OrderHistory()
    rejected = [r for r in reqs if r.rejected_at is not None]
    return OrderHistory(
        shop=reqs[0].shop,
        statuses=tuple(r.status for r in reqs),
        rejected_count=len(rejected),
        latest_rejected_at=max((r.rejected_at for r in rejected), default=None),
        latest_request_id=reqs[-1].id,
        appeal_made=any(r.arbitration is not None for r in reqs),
        appeal_decided=any(
            r.arbitration in (Arbitration.SUPPORT_BUYER, Arbitration.SUPPORT_SELLER) for r in reqs
        ),
        # A receipt rejection is always a request's latest (nothing leads back to a stage
        # where it could be rejected again), so its stage says it happened.
        receipt_rejected=any(r.reject_stage is RejectStage.RECEIPT for r in reqs),
    )


@dataclass(frozen=True)
class Submission:
    """A buyer's new request, as it arrives (from `apply` or the demo's buyers)."""

    id: str
    order_id: str
    shop: str
    type: str
    buyer: str
    product: str
    sku: str
    quantity: Any
    amount: Any
    currency: str
    reason: str
    note: str = ""


def check_submission(sub: Submission) -> int:
    """The checks of a submission's own fields (no history needed); its amount in cents.
    The services run these before using the ids in a query."""
    _require_text(sub.id, "request id", 64)
    _require_text(sub.order_id, "order id", 64)
    _require_text(sub.shop, "shop", 64)
    # A type from outside may be anything JSON holds: a list or an object cannot even be
    # looked up in a set (TypeError), and a long or odd string is quoted, not echoed.
    if not isinstance(sub.type, str):
        raise Refused(f"The type must be refund or return_and_refund, not {json_kind(sub.type)}.")
    if sub.type not in _REQUEST_TYPES:
        raise Refused(f"The type must be refund or return_and_refund, not {sub.type[:64]!r}.")
    if (
        isinstance(sub.quantity, bool)
        or not isinstance(sub.quantity, int)
        or not 1 <= sub.quantity <= QUANTITY_MAX
    ):
        raise Refused(
            f"The quantity must be a whole number of at least 1 and at most {QUANTITY_MAX:,}."
        )
    if not isinstance(sub.currency, str) or not CURRENCY_RE.fullmatch(sub.currency):
        raise Refused("The currency must be three capital letters, such as USD.")
    amount_cents = parse_amount(sub.amount, sub.currency)
    for name, value, limit in (
        ("buyer", sub.buyer, 200),
        ("product", sub.product, 500),
        ("sku", sub.sku, 100),
        ("reason", sub.reason, 100),
    ):
        _require_text(value, name, limit)
    if not isinstance(sub.note, str) or len(sub.note) > 2000:
        raise Refused("The buyer's note must be text of at most 2000 characters.")
    if "\x00" in sub.note:
        raise Refused("The buyer's note cannot contain the NUL character.")
    _require_unicode(sub.note, "buyer's note")
    return amount_cents


_REQUEST_TYPES = frozenset(t.value for t in RequestType)


def json_kind(value: Any) -> str:
    """What a value that should have been text is, in a sentence (as JSON names it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def submit(sub: Submission, order: OrderHistory, now: DateTime, rules: Rules) -> Change:
    """A buyer submits a request on an order (DESIGN §2, *Requests on one order*)."""
    amount_cents = check_submission(sub)
    if order.shop is not None and order.shop != sub.shop:
        raise Refused(
            f"Order {quoted(sub.order_id)} belongs to another shop, not {quoted(sub.shop)}."
        )
    if any(s in OPEN_STATUSES for s in order.statuses):
        raise Refused(f"Order {quoted(sub.order_id)} already has an open request.")
    if Status.COMPLETED in order.statuses:
        raise Refused(f"Order {quoted(sub.order_id)} was already refunded.")
    if order.receipt_rejected:
        raise Refused(
            f"The returned package on order {quoted(sub.order_id)} was rejected at receipt; "
            "the buyer can only appeal."
        )
    if order.appeal_decided:
        raise Refused(f"An appeal on order {quoted(sub.order_id)} was already decided.")
    if order.rejected_count >= 2:
        raise Refused(
            f"Order {quoted(sub.order_id)} was rejected twice; the buyer can only submit an appeal."
        )
    if order.latest_rejected_at is not None:
        if now >= order.latest_rejected_at + rules.after_rejection_window:
            raise Refused(
                f"The window for a second request on order {quoted(sub.order_id)} has closed."
            )
    req = Request(
        id=sub.id,
        order_id=sub.order_id,
        shop=sub.shop,
        type=RequestType(sub.type),
        buyer=sub.buyer,
        product=sub.product,
        sku=sub.sku,
        quantity=sub.quantity,
        amount_cents=amount_cents,
        currency=sub.currency,
        reason=sub.reason,
        buyer_note=sub.note,
        created_at=now,
        attempt=1 + order.rejected_count,
        status=Status.PENDING,
        arbitration=None,
        respond_by=now + rules.respond_window,
        deadline_at=now + rules.respond_window,
        version=0,
        status_since=now,
    )
    details = {"note": sub.note} if sub.note else {}
    return Change(req, (Record(now, "buyer", Kind.SUBMITTED, None, Status.PENDING, details),))


def wrong_status(request_id: str, status: Status, kind: Kind) -> WrongStatus | None:
    """Why an action recorded as `kind` cannot start from `status` (None when it can), by the
    state machine (EDGES). The console asks it before opening a dialog for the highlighted row;
    the action itself asks it again on the request as it is then."""
    if any(start is status for start, _ in EDGES[kind]):
        return None
    return WrongStatus(quoted(request_id), kind.value, status)


def _require_status(req: Request, kind: Kind) -> None:
    if refusal := wrong_status(req.id, req.status, kind):
        raise refusal


def _change(req: Request, actor: str, at: DateTime, kind: Kind, after: Request, **details: Any):
    if after.status is not req.status:
        after = replace(after, status_since=at)
    return Change(after, (Record(at, actor, kind, req.status, after.status, details),))


def accept(
    req: Request, actor: str, now: DateTime, rules: Rules, keep_item: Any = None
) -> Change:
    """Accept; with keep_item true (DESIGN §7) a return is refunded at once and the buyer
    keeps the item. Only a JSON boolean or null is a keep_item: anything else is refused."""
    _require_status(req, Kind.ACCEPTED)
    if keep_item is not None and not isinstance(keep_item, bool):
        raise Refused(f"keep_item must be true or false, not {json_kind(keep_item)}.")
    if not keep_item:
        return _change(req, actor, now, Kind.ACCEPTED, _approve(req, now, rules))
    if req.type is not RequestType.RETURN_AND_REFUND:
        raise Refused(
            f"{quoted(req.id)} is a refund-only request: there is no item to keep, so accept "
            "it without keep_item."
        )
    after = replace(
        req,
        status=Status.COMPLETED,
        deadline_at=None,
        refund_cents=req.amount_cents,
        keep_item=True,
    )
    return _change(req, actor, now, Kind.ACCEPTED, after, keep_item=True)


def offer(req: Request, actor: str, now: DateTime, rules: Rules, amount: Any) -> Change:
    """Offer a partial refund (DESIGN §7): once per request, below the amount asked, in the
    currency's minor digits. The buyer answers before offer_by; respond_by waits meanwhile."""
    _require_status(req, Kind.OFFERED)
    if req.offer_cents is not None:
        raise Refused(
            f"An offer was already made on {quoted(req.id)}; a request gets one offer only."
        )
    cents = check_offer_amount(amount, req.amount_cents, req.currency)
    offer_by = now + rules.offer_window
    after = replace(
        req,
        status=Status.AWAITING_BUYER_RESPONSE,
        offer_cents=cents,
        offer_by=offer_by,
        deadline_at=offer_by,
    )
    text = format_amount(cents, req.currency)
    return _change(req, actor, now, Kind.OFFERED, after, amount=text)


def check_offer_amount(amount: Any, asked_cents: int, currency: str) -> int:
    """An offer's amount in minor units: a positive decimal string in the currency's minor
    digits, strictly below the amount asked. The offer dialog's check too."""
    cents = parse_amount(amount, currency)
    if cents >= asked_cents:
        asked = format_amount(asked_cents, currency)
        raise Refused(
            f"An offer must be below the amount asked ({asked} {currency}); {amount} is not."
        )
    return cents


def agree(req: Request, now: DateTime) -> Change:
    """The buyer takes the offer: refunded the offer, and keeps the item."""
    _require_status(req, Kind.AGREED)
    assert req.offer_cents is not None
    after = replace(
        req,
        status=Status.COMPLETED,
        deadline_at=None,
        refund_cents=req.offer_cents,
        keep_item=True,
    )
    text = format_amount(req.offer_cents, req.currency)
    return _change(req, "buyer", now, Kind.AGREED, after, amount=text)


def decline(req: Request, now: DateTime, rules: Rules) -> Change:
    """The buyer turns the offer down: the seller answers again, within a new respond
    window from now (and cannot offer again)."""
    _require_status(req, Kind.DECLINED)
    respond_by = now + rules.respond_window
    after = replace(req, status=Status.PENDING, respond_by=respond_by, deadline_at=respond_by)
    return _change(req, "buyer", now, Kind.DECLINED, after)


def reject(req: Request, actor: str, now: DateTime, rules: Rules, reason: Any, note: Any) -> Change:
    _require_status(req, Kind.REJECTED)
    note = "" if note is None else note
    check_reject_input(reason, note, rules)
    after = replace(
        req,
        status=Status.REJECTED,
        rejected_at=now,
        deadline_at=now + rules.after_rejection_window,
        reject_stage=RejectStage.REQUEST,
    )
    details: dict[str, Any] = {"reason": reason}
    if note:
        details["note"] = note
    return _change(req, actor, now, Kind.REJECTED, after, **details)


def reject_receipt(
    req: Request, actor: str, now: DateTime, rules: Rules, reason: Any, note: Any
) -> Change:
    """Reject the package that came back (DESIGN §7): a reason from the receipt list and a
    note. It opens the buyer's 48 h appeal window, unless an appeal was already made on this
    request (it reached buyer_shipped through a mediation): then nothing can follow it, and
    it has no deadline."""
    _require_status(req, Kind.RECEIPT_REJECTED)
    check_receipt_reject_input(reason, note, rules)
    window_end = now + rules.after_rejection_window if req.arbitration is None else None
    after = replace(
        req,
        status=Status.REJECTED,
        rejected_at=now,
        deadline_at=window_end,
        refund_cents=None,
        reject_stage=RejectStage.RECEIPT,
    )
    return _change(req, actor, now, Kind.RECEIPT_REJECTED, after, reason=reason, note=note)


def check_receipt_reject_input(reason: Any, note: Any, rules: Rules) -> None:
    """A receipt rejection's reason (from rules.receipt_reasons) and its required note; the
    console's dialog checks with it too."""
    if not isinstance(reason, str) or reason not in rules.receipt_reasons:
        names = ", ".join(rules.receipt_reasons)
        raise Refused(
            f"Choose a reason for rejecting a returned package ({names}); "
            f"{quoted(reason, 64)} is not one."
        )
    check_note(note)


def check_reject_input(reason: Any, note: Any, rules: Rules) -> None:
    """The reject dialog's checks, also used by the dialog itself before it closes."""
    if not isinstance(reason, str) or reason not in rules.reasons:
        raise Refused(f"Choose a reason from the list; {reason!r} is not one.")
    if not isinstance(note, str):
        raise Refused("The note must be text.")
    if reason == "other" and not note.strip():
        raise Refused("A note is required when the reason is 'other'.")
    if len(note) > NOTE_MAX:
        raise Refused(f"The note is {len(note)} characters; at most {NOTE_MAX} are allowed.")
    _require_unicode(note, "note")


def cancel(req: Request, now: DateTime) -> Change:
    _require_status(req, Kind.CANCELLED)
    after = replace(req, status=Status.CANCELLED, deadline_at=None, refund_cents=None)
    return _change(req, "buyer", now, Kind.CANCELLED, after)


def ship(req: Request, now: DateTime, rules: Rules, tracking: Any) -> Change:
    _require_status(req, Kind.SHIPPED)
    if not isinstance(tracking, str) or not TRACKING_RE.fullmatch(tracking):
        raise Refused("The tracking number must be 1 to 64 letters, digits or '-'.")
    after = replace(
        req, status=Status.BUYER_SHIPPED, tracking=tracking, deadline_at=now + rules.receive_window
    )
    return _change(req, "buyer", now, Kind.SHIPPED, after, tracking=tracking)


def receive(req: Request, actor: str, now: DateTime) -> Change:
    _require_status(req, Kind.RECEIVED)
    after = replace(req, status=Status.COMPLETED, deadline_at=None)
    return _change(req, actor, now, Kind.RECEIVED, after)


def appeal(req: Request, order: OrderHistory, now: DateTime, rules: Rules) -> Change:
    _require_status(req, Kind.APPEALED)
    if req.arbitration is not None or order.appeal_made:
        raise Refused(f"An appeal was already made on order {quoted(req.order_id)}.")
    if order.latest_request_id is not None and order.latest_request_id != req.id:
        raise Refused(
            f"{quoted(req.id)} cannot be appealed: a later request "
            f"({quoted(order.latest_request_id)}) "
            f"was submitted on order {quoted(req.order_id)}."
        )
    assert req.rejected_at is not None
    if now >= req.rejected_at + rules.after_rejection_window:
        raise Refused(f"The window to appeal {quoted(req.id)} has closed.")
    after = replace(
        req, status=Status.IN_MEDIATION, arbitration=Arbitration.IN_PROGRESS, deadline_at=None
    )
    return _change(req, "buyer", now, Kind.APPEALED, after)


def mediate(req: Request, actor: str, now: DateTime, rules: Rules, decision: Any, note: Any):
    _require_status(req, Kind.MEDIATED)
    if decision not in ("buyer", "seller"):
        raise Refused("The decision must be 'buyer' or 'seller'.")
    check_note(note)
    if decision == "buyer" and req.reject_stage is RejectStage.RECEIPT:
        # The item is back with the seller: the refund is issued at once (DESIGN §7).
        after = replace(
            req,
            status=Status.COMPLETED,
            deadline_at=None,
            refund_cents=req.amount_cents,
            arbitration=Arbitration.SUPPORT_BUYER,
        )
    elif decision == "buyer":
        after = replace(_approve(req, now, rules), arbitration=Arbitration.SUPPORT_BUYER)
    else:
        after = replace(
            req, status=Status.REJECTED, arbitration=Arbitration.SUPPORT_SELLER, deadline_at=None
        )
    return _change(req, actor, now, Kind.MEDIATED, after, decision=decision, note=note)


def check_note(note: Any) -> None:
    if not isinstance(note, str) or not note.strip():
        raise Refused("A note of 1 to 500 characters is required.")
    if len(note) > NOTE_MAX:
        raise Refused(f"The note is {len(note)} characters; at most {NOTE_MAX} are allowed.")
    _require_unicode(note, "note")


def add_note(req: Request, actor: str, now: DateTime, note: Any) -> Change:
    check_note(note)
    return _change(req, actor, now, Kind.NOTED, req, note=note)


def _require_text(value: Any, name: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"The {name} is missing.")
    if len(value) > limit:
        raise Refused(f"The {name} is longer than {limit} characters.")
    if "\x00" in value:  # PostgreSQL cannot store it; SQLite can: refuse it on both
        raise Refused(f"The {name} cannot contain the NUL character.")
    _require_unicode(value, name)


def _require_unicode(value: str, name: str) -> None:
    """Refuse a lone surrogate (JSON's "\\ud800" decodes to one): no database can store it,
    and the drivers fail on it with an encoding error instead of a sentence."""
    if not is_unicode(value):
        raise Refused(f"The {name} is not valid Unicode text (it holds a lone surrogate).")


def is_unicode(text: str) -> bool:
    """True when `text` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def quoted(text: Any, limit: int | None = None) -> str:
    """Someone's text (an id, an order, a shop, a login) inside a sentence, clipped to
    `limit`: as it is when printable, else as a Python literal, so that no newline, escape
    or lone surrogate breaks the sentence or reaches a terminal or a UTF-8 stream."""
    text = str(text)[:limit]
    return text if text.isprintable() else repr(text)


def storable(text: Any) -> bool:
    """Text that both databases can store and compare: PostgreSQL refuses NUL (SQLite takes
    it), and neither driver can send a lone surrogate. A value that is not storable can
    match nothing stored, so lookups with it find nothing instead of failing."""
    return isinstance(text, str) and "\x00" not in text and is_unicode(text)


# ---------------------------------------------------------------------------------------------
# What the screens and the checker ask of the rules


class BuyerOptions(NamedTuple):
    """What the buyer may still do after a rejection: one sentence for the detail panel, and
    the end of the window to do it in while there is something to do (None otherwise)."""

    text: str
    until: DateTime | None = None


def buyer_options(req: Request, order: OrderHistory, now: DateTime, rules: Rules) -> BuyerOptions:
    if req.status is not Status.REJECTED:
        return BuyerOptions("")
    if req.arbitration is Arbitration.SUPPORT_SELLER:
        return BuyerOptions("The platform upheld the rejection; the buyer can do nothing more.")
    assert req.rejected_at is not None
    window_end = req.rejected_at + rules.after_rejection_window
    if now >= window_end:
        return BuyerOptions("The buyer's window to appeal or resubmit has closed.")
    can_appeal = not order.appeal_made and order.latest_request_id in (None, req.id)
    can_resubmit = (
        order.rejected_count < 2
        and not order.receipt_rejected
        and order.latest_request_id in (None, req.id)
    )
    if can_appeal and can_resubmit:
        return BuyerOptions("The buyer may submit a second request or appeal.", window_end)
    if can_appeal and order.receipt_rejected:
        return BuyerOptions("Rejected at receipt: the buyer can only appeal.", window_end)
    if can_appeal:
        return BuyerOptions("Rejected twice: the buyer can only appeal.", window_end)
    return BuyerOptions("The buyer can no longer appeal this request.")


# The kinds of record that approve a request: where they lead depends on its type.
APPROVALS = frozenset({Kind.ACCEPTED, Kind.AUTO_APPROVED, Kind.MEDIATED})


def edges_of(kind: Kind, rtype: RequestType) -> set[tuple[Status | None, Status]]:
    """EDGES[kind] for a request of type `rtype`: an approval (an accept, an auto-approval, a
    mediation for the buyer) leads where `approved` sends that type, a refund to `completed`
    and a return to `awaiting_buyer_ship`, never to where it sends the other type."""
    if kind not in APPROVALS:
        return EDGES[kind]
    other = approved(_OTHER_TYPE[rtype], 0, 0)[0]
    return {(start, end) for start, end in EDGES[kind] if end is not other}


_OTHER_TYPE = {
    RequestType.REFUND: RequestType.RETURN_AND_REFUND,
    RequestType.RETURN_AND_REFUND: RequestType.REFUND,
}


def _edges_here(
    rec: Record, rtype: RequestType, receipt: bool
) -> set[tuple[Status | None, Status]]:
    """edges_of, with DESIGN §7's two exceptions: an accept keeping the item completes a
    return (and only a return), and a mediation for the buyer after a receipt rejection
    completes it (the item is already back)."""
    if rec.kind is Kind.ACCEPTED and rec.details.get("keep_item") is True:
        return set() if rtype is RequestType.REFUND else {(Status.PENDING, Status.COMPLETED)}
    if rec.kind is Kind.MEDIATED and receipt and rec.details.get("decision") == "buyer":
        return {(Status.IN_MEDIATION, Status.COMPLETED)}
    return edges_of(rec.kind, rtype)


def path_violations(status: Status, records: Sequence[Record], rtype: RequestType) -> list[str]:
    """Why these records are not a path of the state machine, for a request of type `rtype`,
    ending in `status` (empty if ok)."""
    problems: list[str] = []
    current: Status | None = None
    receipt = False  # the latest rejection was at receipt: a mediation for the buyer completes
    for i, rec in enumerate(records):
        if i == 0 and rec.kind not in FIRST_KINDS:
            problems.append("the first record is not 'submitted'")
        if rec.from_status != current:
            problems.append(f"record {i + 1} starts from {rec.from_status}, not {current}")
        edge = (rec.from_status, rec.to_status)
        if edge not in EDGES[rec.kind]:
            problems.append(
                f"record {i + 1}: {rec.kind} cannot go {rec.from_status}→{rec.to_status}"
            )
        elif edge not in _edges_here(rec, rtype, receipt):
            problems.append(
                f"record {i + 1}: {rec.kind} cannot go {rec.from_status}→{rec.to_status} "
                f"for a {rtype.value} request"
            )
        if rec.kind in (Kind.REJECTED, Kind.RECEIPT_REJECTED):
            receipt = rec.kind is Kind.RECEIPT_REJECTED
        current = rec.to_status
    if current != status:
        problems.append(f"status is {status} but the last record ends in {current}")
    return problems
