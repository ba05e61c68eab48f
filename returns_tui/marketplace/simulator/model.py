"""The simulated marketplace's returns and their rules: what each seller decision, buyer or
platform move and deadline does to a return. No HTTP here; the clock is injected.

The life of a return (TIKTOK_API.md's statuses; the transitions are this simulator's reading of
TikTok's overview, and where TikTok says nothing they are the choices listed in __init__.py):

    RETURN_OR_REFUND_REQUEST_PENDING (seller answers by SELLER_RESPOND_*'s deadline)
      APPROVE_REFUND (REFUND; or RETURN_AND_REFUND with buyer_keep_item) -> ..._SUCCESS
      APPROVE_RETURN (RETURN_AND_REFUND), APPROVE_REPLACEMENT -> AWAITING_BUYER_SHIP
      OFFER_PARTIAL_REFUND (once) -> AWAITING_BUYER_RESPONSE
      REJECT_REFUND / REJECT_RETURN -> REFUND_OR_RETURN_REQUEST_REJECT
      buyer cancels -> RETURN_OR_REFUND_REQUEST_CANCEL; the deadline passes -> approved as above
    AWAITING_BUYER_RESPONSE: buyer agrees -> SUCCESS (the offer, item kept); declines, or the
      offer lapses -> PENDING with a new seller deadline
    AWAITING_BUYER_SHIP: buyer ships -> BUYER_SHIPPED_ITEM; cancels, or never ships -> CANCEL
    BUYER_SHIPPED_ITEM (SELLER_RESPOND_RECEIVE_PACKAGE): APPROVE_RECEIVED_PACKAGE or the
      deadline -> SUCCESS; REJECT_RECEIVED_PACKAGE (not a quick refund) -> REJECT_RECEIVE_PACKAGE
    ..._SUCCESS: the refund is paid after `Windows.payout` -> RETURN_OR_REFUND_REQUEST_COMPLETE
    a rejection: the buyer appeals within `Windows.appeal` -> arbitration IN_PROGRESS (no seller
      decision meanwhile); the platform rules SUPPORT_BUYER (request: a refund succeeds, a return
      goes to AWAITING_BUYER_SHIP; receipt: SUCCESS), SUPPORT_SELLER or CLOSED (status kept)
"""

from __future__ import annotations

import gc
import heapq
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from returns_tui.clock import Clock
from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.simulator.index import ShopIndex
from returns_tui.money import minor_digits

PENDING = "RETURN_OR_REFUND_REQUEST_PENDING"
AWAITING_BUYER_RESPONSE = "AWAITING_BUYER_RESPONSE"
AWAITING_BUYER_SHIP = "AWAITING_BUYER_SHIP"
BUYER_SHIPPED = "BUYER_SHIPPED_ITEM"
SUCCESS = "RETURN_OR_REFUND_REQUEST_SUCCESS"
COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"
# TIKTOK_API.md has seen three spellings of a rejected request; this one is what the simulator
# answers (force_status can set the others).
REJECTED = "REFUND_OR_RETURN_REQUEST_REJECT"
REJECT_RECEIVE_PACKAGE = "REJECT_RECEIVE_PACKAGE"
CANCELLED = "RETURN_OR_REFUND_REQUEST_CANCEL"

IN_PROGRESS, SUPPORT_BUYER, SUPPORT_SELLER, CLOSED = (
    "IN_PROGRESS", "SUPPORT_BUYER", "SUPPORT_SELLER", "CLOSED")
RULINGS = (SUPPORT_BUYER, SUPPORT_SELLER, CLOSED)

REFUND, RETURN_AND_REFUND, REPLACEMENT = "REFUND", "RETURN_AND_REFUND", "REPLACEMENT"
RETURN_TYPES = (REFUND, RETURN_AND_REFUND, REPLACEMENT)

# The reasons `reject_reasons` offers, by the stage the return is at (names in TikTok's style;
# their list is not published).
REQUEST_REASONS = (
    ("reverse_reject_request_reason_1", "The buyer's evidence does not show the problem"),
    ("reverse_reject_request_reason_2", "The request was made after the return window"),
    ("reverse_reject_request_reason_3", "This product cannot be returned"),
    ("reverse_reject_request_reason_4", "The buyer agreed to another solution"),
)
RECEIPT_REASONS = (
    ("reverse_reject_receive_reason_1", "The returned item is not the item sold"),
    ("reverse_reject_receive_reason_2", "The returned item is used or damaged"),
    ("reverse_reject_receive_reason_3", "The package was empty"),
    ("reverse_reject_receive_reason_4", "Parts of the item are missing"),
)
COMMENT_MAX = 500
EVIDENCE_HOST = "https://evidence.simulator.invalid"


@dataclass(frozen=True)
class Windows:
    """Seconds each clock of a return runs (48 h to answer is TikTok's common rule)."""

    respond: int = 48 * 3600  # the seller's SELLER_RESPOND_* deadlines
    offer: int = 48 * 3600    # the buyer's answer to a partial refund
    ship: int = 7 * 24 * 3600  # the buyer ships an approved return
    appeal: int = 48 * 3600   # the buyer appeals a rejection
    payout: int = 3600        # SUCCESS -> COMPLETE


@dataclass(frozen=True, slots=True)
class Line:
    return_line_item_id: str
    order_line_item_id: str
    sku_id: str
    seller_sku: str
    product_name: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Record:
    create_time: int
    event: str
    role: str  # BUYER, SELLER, OPERATOR, SYSTEM
    description: str
    reason_text: str = ""
    note: str = ""
    images: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class Return:
    return_id: str
    order_id: str
    shop: str
    seq: int
    return_type: str
    return_status: str
    currency: str
    lines: tuple[Line, ...]
    return_reason: str
    return_reason_text: str
    buyer_user_id: str
    create_time: int
    update_time: int
    can_buyer_keep_item: bool = True
    is_quick_refund: bool = False
    arbitration_status: str | None = None
    partial_refund: Decimal | None = None
    buyer_rejected_partial_refund: bool = False
    seller_deadline: int | None = None
    buyer_deadline: int | None = None
    rejected_at: int | None = None
    tracking_number: str | None = None
    provider_name: str | None = None
    version: int = 0
    records: list[Record] = field(default_factory=list)

    @property
    def refund_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


class Refusal(Exception):
    """A call the marketplace answers with an error code (and the HTTP status it sends)."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


class MoveRefused(ValueError):
    """A buyer or platform move the return's state does not allow (tests and the demo)."""


def invalid(message: str) -> Refusal:
    return Refusal(p.INVALID_REQUEST, f"Invalid param. {message}")


def not_allowed(ret: Return, decision: str, why: str = "") -> Refusal:
    state = ret.return_status
    if ret.arbitration_status == IN_PROGRESS:
        state += " in arbitration"
    text = why or f"The return is {state}; {decision} is not allowed."
    return Refusal(p.CHOSEN_DECISION_NOT_ALLOWED, text)


Listener = Callable[[Return], None]


class Marketplace:
    """Every shop's returns, their deadlines and their search indices."""

    def __init__(self, clock: Clock, windows: Windows = Windows()) -> None:
        self.clock = clock
        self.windows = windows
        self.returns: dict[str, Return] = {}
        self.indices: dict[str, ShopIndex] = {}
        self.listeners: list[Listener] = []
        self._deadlines: list[tuple[int, int, str, str, int]] = []
        self._seq = 0
        self._line_seq = 0
        self._bulk = False

    def now(self) -> int:
        return int(self.clock().timestamp())

    # ----- creation ------------------------------------------------------------------------

    def create_return(
        self,
        shop: str,
        return_type: str,
        lines: tuple[Line, ...],
        *,
        currency: str,
        buyer_user_id: str,
        return_reason: str = "ecom_order_delivered_refund_and_return_reason_defective",
        return_reason_text: str = "The item arrived broken",
        note: str = "",
        images: tuple[str, ...] = (),
        videos: tuple[str, ...] = (),
        can_buyer_keep_item: bool = True,
        is_quick_refund: bool = False,
        at: int | None = None,
    ) -> Return:
        if return_type not in RETURN_TYPES:
            raise MoveRefused(f"{return_type!r} is not a return type")
        at = self._at(at)
        self._seq += 1
        ret = Return(
            return_id=str(4035600000000000000 + self._seq),
            order_id=str(5766000000000000000 + self._seq),
            shop=shop, seq=self._seq, return_type=return_type, return_status=PENDING,
            currency=currency, lines=lines, return_reason=return_reason,
            return_reason_text=return_reason_text, buyer_user_id=buyer_user_id,
            create_time=at, update_time=at, can_buyer_keep_item=can_buyer_keep_item,
            is_quick_refund=is_quick_refund,
        )
        kind = {REFUND: "a refund", RETURN_AND_REFUND: "a return and refund",
                REPLACEMENT: "a replacement"}[return_type]
        ret.records.append(Record(at, f"BUYER_REQUEST_{return_type}", "BUYER",
                                  f"The buyer requested {kind}.", return_reason_text, note,
                                  images, videos))
        self.returns[ret.return_id] = ret
        self._schedule(ret, at)
        if not self._bulk:
            self.index(shop).add(ret)
            self._notify(ret)
        return ret

    def make_line(self, product_name: str, seller_sku: str, amount: Decimal) -> Line:
        """A returned line with fresh ids (the ids TikTok gives are 19-digit strings)."""
        self._line_seq += 1
        n = self._line_seq
        return Line(str(6500000000000000000 + n), str(5770000000000000000 + n),
                    str(1729000000000000000 + zlib.crc32(seller_sku.encode())), seller_sku,
                    product_name, amount)

    def index(self, shop: str) -> ShopIndex:
        if shop not in self.indices:
            self.indices[shop] = ShopIndex(shop)
        return self.indices[shop]

    def get(self, return_id: str) -> Return:
        ret = self.returns.get(return_id)
        if ret is None:
            raise MoveRefused(f"no return {return_id}")
        return ret

    # ----- seller decisions (the approve and reject endpoints) -----------------------------

    def decide(self, ret: Return, decision: str, body: dict[str, Any],
               at: int | None = None) -> None:
        """Apply a seller's decision, or raise Refusal and change nothing."""
        at = self._at(at)
        rule = _DECISIONS.get(decision)
        if rule is None:
            raise not_allowed(ret, decision, f"This simulator does not model {decision}.")
        from_status, types, apply = rule
        if ret.arbitration_status == IN_PROGRESS:
            raise not_allowed(ret, decision)
        if ret.return_status != from_status:
            raise not_allowed(ret, decision)
        if ret.return_type not in types:
            raise not_allowed(ret, decision, f"{decision} does not apply to a {ret.return_type}.")
        apply(self, ret, body, at)

    def reasons_for(self, ret: Return) -> tuple[tuple[str, str], ...]:
        """The reject reasons for the return's current stage; none when nothing can be rejected."""
        if ret.arbitration_status == IN_PROGRESS:
            return ()
        if ret.return_status == PENDING:
            return REQUEST_REASONS
        if ret.return_status == BUYER_SHIPPED:
            return RECEIPT_REASONS
        return ()

    # ----- buyers and the platform ---------------------------------------------------------

    def buyer_ship(self, ret: Return, tracking_number: str | None = None,
                   provider_name: str = "USPS", at: int | None = None) -> None:
        self._require(ret, AWAITING_BUYER_SHIP, "ship")
        at = self._at(at)
        ret.tracking_number = tracking_number or f"9400{ret.return_id[-12:]}"
        ret.provider_name = provider_name
        self._move(ret, BUYER_SHIPPED, at, Record(
            at, "BUYER_SHIP_ITEM", "BUYER", "The buyer shipped the item back.",
            note=f"{provider_name} {ret.tracking_number}"))

    def buyer_agree(self, ret: Return, at: int | None = None) -> None:
        self._require(ret, AWAITING_BUYER_RESPONSE, "agree")
        at = self._at(at)
        self._move(ret, SUCCESS, at, Record(
            at, "BUYER_ACCEPT_PARTIAL_REFUND", "BUYER",
            "The buyer accepted the partial refund and keeps the item."))

    def buyer_decline(self, ret: Return, at: int | None = None) -> None:
        self._require(ret, AWAITING_BUYER_RESPONSE, "decline")
        at = self._at(at)
        ret.buyer_rejected_partial_refund = True
        self._move(ret, PENDING, at, Record(
            at, "BUYER_REJECT_PARTIAL_REFUND", "BUYER",
            "The buyer declined the partial refund."))

    def buyer_cancel(self, ret: Return, at: int | None = None) -> None:
        if ret.return_status not in (PENDING, AWAITING_BUYER_SHIP):
            raise MoveRefused(f"the buyer cannot cancel a return that is {ret.return_status}")
        at = self._at(at)
        self._move(ret, CANCELLED, at, Record(at, "BUYER_CANCEL", "BUYER",
                                              "The buyer cancelled the request."))

    def buyer_appeal(self, ret: Return, note: str = "", images: tuple[str, ...] = (),
                     at: int | None = None) -> None:
        at = self._at(at)
        if ret.return_status not in (REJECTED, REJECT_RECEIVE_PACKAGE):
            raise MoveRefused(f"only a rejection can be appealed, not {ret.return_status}")
        if ret.arbitration_status is not None:
            raise MoveRefused("this return was already appealed")
        if ret.rejected_at is None or at >= ret.rejected_at + self.windows.appeal:
            raise MoveRefused("the appeal window has closed")
        ret.arbitration_status = IN_PROGRESS
        self._move(ret, ret.return_status, at, Record(
            at, "BUYER_APPEAL", "BUYER", "The buyer appealed; the platform will rule.",
            note=note, images=images))

    def platform_rule(self, ret: Return, ruling: str, at: int | None = None) -> None:
        if ruling not in RULINGS:
            raise MoveRefused(f"{ruling!r} is not a ruling ({', '.join(RULINGS)})")
        if ret.arbitration_status != IN_PROGRESS:
            raise MoveRefused("this return is not in arbitration")
        at = self._at(at)
        ret.arbitration_status = ruling
        status = ret.return_status
        if ruling == SUPPORT_BUYER:
            stayed_request = status == REJECTED and ret.return_type != REFUND
            status = AWAITING_BUYER_SHIP if stayed_request else SUCCESS
        text = {SUPPORT_BUYER: "The platform ruled for the buyer.",
                SUPPORT_SELLER: "The platform ruled for the seller.",
                CLOSED: "The platform closed the arbitration."}[ruling]
        self._move(ret, status, at, Record(at, f"PLATFORM_{ruling}", "OPERATOR", text))

    def pay_refund(self, ret: Return, at: int | None = None) -> None:
        self._require(ret, SUCCESS, "pay the refund of")
        at = self._at(at)
        self._move(ret, COMPLETE, at, Record(at, "SYSTEM_REFUND_PAID", "SYSTEM",
                                             "The refund was paid to the buyer."))

    def force_status(self, ret: Return, status: str, at: int | None = None) -> None:
        """Any raw status, even one no mapping knows (for tests of an unknown status)."""
        at = self._at(at)
        self._move(ret, status, at, Record(at, "SYSTEM_STATUS_CHANGED", "SYSTEM",
                                           f"The status became {status}."))

    # ----- the clock -----------------------------------------------------------------------

    def tick(self) -> int:
        """Apply every deadline that has passed, each at its own moment, earliest first (ties
        in the order the returns were created). Returns how many changed a return."""
        now, applied = self.now(), 0
        while self._deadlines and self._deadlines[0][0] <= now:
            at, _seq, kind, return_id, version = heapq.heappop(self._deadlines)
            ret = self.returns[return_id]
            if ret.version == version and ret.arbitration_status != IN_PROGRESS:
                _DEADLINES[kind](self, ret, at)
                applied += 1
        return applied

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Many changes at once (seeding): no listeners, indices and deadlines rebuilt once.
        The garbage collector pauses meanwhile: these objects all live on, and its scans of
        them would more than double the time."""
        self._bulk = True
        collecting = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            self._bulk = False
            self._rebuild()
            if collecting:
                gc.enable()

    # ----- internals -----------------------------------------------------------------------

    def _at(self, at: int | None) -> int:
        return self.now() if at is None else at

    def _require(self, ret: Return, status: str, move: str) -> None:
        if ret.return_status != status or ret.arbitration_status == IN_PROGRESS:
            raise MoveRefused(f"cannot {move} a return that is {ret.return_status}")

    def _move(self, ret: Return, status: str, at: int, record: Record) -> None:
        old_update = ret.update_time
        ret.return_status = status
        # A change the clock applied late is recorded at its deadline, but stamped as updated
        # now, so a search by update_time from an earlier cursor cannot miss it.
        ret.update_time = at if self._bulk else max(at, self.now())
        ret.version += 1
        if status in (REJECTED, REJECT_RECEIVE_PACKAGE) and ret.arbitration_status is None:
            ret.rejected_at = at
        ret.records.append(record)
        self._schedule(ret, at)
        if not self._bulk:
            self.index(ret.shop).moved(ret, old_update)
            self._notify(ret)

    def _schedule(self, ret: Return, at: int) -> None:
        """Set the return's deadlines for its new status and queue the one that applies."""
        ret.seller_deadline = ret.buyer_deadline = None
        status, w = ret.return_status, self.windows
        if status in (PENDING, BUYER_SHIPPED):
            ret.seller_deadline = at + w.respond
        elif status == AWAITING_BUYER_RESPONSE:
            ret.buyer_deadline = at + w.offer
        elif status == AWAITING_BUYER_SHIP:
            ret.buyer_deadline = at + w.ship
        entry = None if self._bulk else _deadline_of(ret, w)
        if entry is not None:
            heapq.heappush(self._deadlines, (entry[0], ret.seq, entry[1], ret.return_id,
                                             ret.version))

    def _rebuild(self) -> None:
        self._deadlines = []
        by_shop: dict[str, list[Return]] = {}
        for ret in self.returns.values():
            by_shop.setdefault(ret.shop, []).append(ret)
            entry = _deadline_of(ret, self.windows)
            if entry is not None:
                self._deadlines.append((entry[0], ret.seq, entry[1], ret.return_id, ret.version))
        heapq.heapify(self._deadlines)
        for shop, rets in by_shop.items():
            self.index(shop).rebuild(rets)

    def _notify(self, ret: Return) -> None:
        for listener in self.listeners:
            listener(ret)


def _deadline_of(ret: Return, w: Windows) -> tuple[int, str] | None:
    """The deadline that applies to the return now, and its kind (None: no clock runs)."""
    if ret.arbitration_status == IN_PROGRESS:
        return None
    if ret.seller_deadline is not None:
        return ret.seller_deadline, "seller"
    if ret.buyer_deadline is not None:
        offer = ret.return_status == AWAITING_BUYER_RESPONSE
        return ret.buyer_deadline, "offer" if offer else "ship"
    if ret.return_status == SUCCESS:
        # From the moment of success (its record), not from when it was applied.
        return ret.records[-1].create_time + w.payout, "payout"
    return None


# ----- what each decision does -------------------------------------------------------------

def _approve_refund(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    keep = _optional_bool(body, "buyer_keep_item")
    if ret.return_type == REFUND and keep:
        raise not_allowed(ret, "APPROVE_REFUND",
                          "buyer_keep_item applies to a RETURN_AND_REFUND only.")
    if ret.return_type == RETURN_AND_REFUND and not keep:
        raise not_allowed(ret, "APPROVE_REFUND", "A RETURN_AND_REFUND is approved with "
                          "APPROVE_RETURN, or with APPROVE_REFUND and buyer_keep_item true.")
    if keep and not ret.can_buyer_keep_item:
        raise not_allowed(ret, "APPROVE_REFUND", "The buyer cannot keep this item.")
    text = "The seller refunded the buyer, who keeps the item." if keep else \
        "The seller approved the refund."
    m._move(ret, SUCCESS, at, Record(at, "SELLER_APPROVE_REFUND", "SELLER", text))


def _approve_return(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    event = "SELLER_APPROVE_REPLACEMENT" if ret.return_type == REPLACEMENT else \
        "SELLER_APPROVE_RETURN"
    m._move(ret, AWAITING_BUYER_SHIP, at, Record(
        at, event, "SELLER", "The seller approved the return; the buyer ships the item back."))


def _offer(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    if ret.partial_refund is not None:
        raise not_allowed(ret, "OFFER_PARTIAL_REFUND",
                          "A partial refund was already offered on this return.")
    amount = _partial_amount(body.get("partial_refund"), ret)
    ret.partial_refund = amount
    m._move(ret, AWAITING_BUYER_RESPONSE, at, Record(
        at, "SELLER_OFFER_PARTIAL_REFUND", "SELLER",
        f"The seller offered a partial refund of {amount} {ret.currency}."))


def _approve_receipt(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    m._move(ret, SUCCESS, at, Record(at, "SELLER_APPROVE_RECEIVED_PACKAGE", "SELLER",
                                     "The seller received the package; the refund is issued."))


def _reject_request(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    text, comment, images = _rejection(m, ret, body)
    event = "SELLER_REJECT_REFUND" if ret.return_type == REFUND else "SELLER_REJECT_RETURN"
    m._move(ret, REJECTED, at, Record(at, event, "SELLER", "The seller rejected the request.",
                                      text, comment, images))


def _reject_receipt(m: Marketplace, ret: Return, body: dict, at: int) -> None:
    if ret.is_quick_refund:
        raise not_allowed(ret, "REJECT_RECEIVED_PACKAGE",
                          "The package of a quick refund cannot be rejected.")
    text, comment, images = _rejection(m, ret, body)
    m._move(ret, REJECT_RECEIVE_PACKAGE, at, Record(
        at, "SELLER_REJECT_RECEIVED_PACKAGE", "SELLER",
        "The seller rejected the returned package.", text, comment, images))


_DECISIONS: dict[str, tuple[str, frozenset[str], Callable[[Marketplace, Return, dict, int], None]]]
_DECISIONS = {
    "APPROVE_REFUND": (PENDING, frozenset({REFUND, RETURN_AND_REFUND}), _approve_refund),
    "APPROVE_RETURN": (PENDING, frozenset({RETURN_AND_REFUND}), _approve_return),
    "APPROVE_REPLACEMENT": (PENDING, frozenset({REPLACEMENT}), _approve_return),
    "OFFER_PARTIAL_REFUND": (PENDING, frozenset({REFUND, RETURN_AND_REFUND}), _offer),
    "APPROVE_RECEIVED_PACKAGE": (BUYER_SHIPPED, frozenset({RETURN_AND_REFUND, REPLACEMENT}),
                                 _approve_receipt),
    "REJECT_REFUND": (PENDING, frozenset({REFUND}), _reject_request),
    "REJECT_RETURN": (PENDING, frozenset({RETURN_AND_REFUND, REPLACEMENT}), _reject_request),
    "REJECT_RECEIVED_PACKAGE": (BUYER_SHIPPED, frozenset({RETURN_AND_REFUND, REPLACEMENT}),
                                _reject_receipt),
}


# ----- what each deadline does -------------------------------------------------------------

def _seller_deadline(m: Marketplace, ret: Return, at: int) -> None:
    approved = "The seller did not answer in time; the request was approved automatically."
    if ret.return_status == BUYER_SHIPPED or ret.return_type == REFUND:
        status = SUCCESS
    else:
        status = AWAITING_BUYER_SHIP
    m._move(ret, status, at, Record(at, "SYSTEM_AUTO_APPROVE", "SYSTEM", approved))


def _offer_lapsed(m: Marketplace, ret: Return, at: int) -> None:
    m._move(ret, PENDING, at, Record(at, "SYSTEM_PARTIAL_REFUND_EXPIRED", "SYSTEM",
                                     "The buyer did not answer the partial refund in time."))


def _never_shipped(m: Marketplace, ret: Return, at: int) -> None:
    m._move(ret, CANCELLED, at, Record(at, "SYSTEM_CLOSE_UNSHIPPED", "SYSTEM",
                                       "The buyer did not ship the item in time."))


def _payout(m: Marketplace, ret: Return, at: int) -> None:
    m._move(ret, COMPLETE, at, Record(at, "SYSTEM_REFUND_PAID", "SYSTEM",
                                      "The refund was paid to the buyer."))


_DEADLINES: dict[str, Callable[[Marketplace, Return, int], None]] = {
    "seller": _seller_deadline, "offer": _offer_lapsed, "ship": _never_shipped,
    "payout": _payout,
}


# ----- body checks -------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.([0-9]{1,4}))?")


def _optional_bool(body: dict, key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{key} must be true or false.")
    return value


def _partial_amount(value: Any, ret: Return) -> Decimal:
    if not isinstance(value, dict) or not isinstance(value.get("amount"), str):
        raise invalid("partial_refund must be {amount, currency} with amount a decimal string.")
    match = _DECIMAL.fullmatch(value["amount"])
    if match is None or len(match.group(1) or "") > minor_digits(ret.currency):
        raise invalid(f"partial_refund.amount {value['amount']!r} is not a {ret.currency} amount.")
    if value.get("currency") != ret.currency:
        raise invalid(f"partial_refund.currency must be {ret.currency}.")
    amount = Decimal(value["amount"])
    if not 0 < amount < ret.refund_total:
        total = money(ret.refund_total, ret.currency)
        raise invalid(f"partial_refund.amount must be above 0 and below {total}.")
    return amount


def _rejection(m: Marketplace, ret: Return, body: dict) -> tuple[str, str, tuple[str, ...]]:
    reason = body.get("reject_reason")
    if not isinstance(reason, str) or not reason:
        raise invalid("reject_reason is required.")
    texts = dict(m.reasons_for(ret))
    if reason not in texts:
        raise Refusal(p.CHOSEN_REJECT_REASON_INVALID,
                      f"reject_reason {reason} is not a reason for this return's stage.")
    comment = body.get("comment", "")
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX:
        raise invalid(f"comment must be text of at most {COMMENT_MAX} characters.")
    images = body.get("images") or []
    if not isinstance(images, list) or not all(
            isinstance(i, dict) and isinstance(i.get("image_id"), str) for i in images):
        raise invalid("images must be a list of {image_id, ...}.")
    urls = tuple(f"{EVIDENCE_HOST}/seller/{i['image_id']}.jpg" for i in images)
    return texts[reason], comment, urls


def money(amount: Decimal, currency: str) -> str:
    """A decimal string with the currency's minor digits, as the API writes amounts."""
    return f"{amount:.{minor_digits(currency)}f}"
