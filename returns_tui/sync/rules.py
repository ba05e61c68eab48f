"""The rules of a synced request (DESIGN §7's marketplace limits and §8), as pure functions:
which actions a synced request takes, the marketplace's limits on them, the API body a
decision is sent as, and what a return as the marketplace has it makes of our request.

Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from pendulum import DateTime

from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.money import format_amount
from returns_tui.sync.values import MarketRecord, MarketReturn
from returns_tui.timefmt import iso_utc, to_micros

MARKETPLACE = "marketplace"  # the actor of what the marketplace says, and the source
# The seller's decisions that go to the marketplace; a note stays ours.
DECISIONS = frozenset({"accept", "reject", "offer", "receive", "reject_receipt"})
# The stage whose reject reasons a status needs (DESIGN §8: fetched when it reaches it).
REASON_STAGE = {
    d.Status.PENDING.value: d.RejectStage.REQUEST.value,
    d.Status.BUYER_SHIPPED.value: d.RejectStage.RECEIPT.value,
}
_ARBITRATION = {
    "IN_PROGRESS": d.Arbitration.IN_PROGRESS,
    "SUPPORT_BUYER": d.Arbitration.SUPPORT_BUYER,
    "SUPPORT_SELLER": d.Arbitration.SUPPORT_SELLER,
    # CLOSED counts as none (DESIGN §8)
}


# ---------------------------------------------------------------------------------------------
# Decisions on a synced request


def check_action(req: d.Request, action: str) -> None:
    """Only the marketplace speaks for the buyer and the platform on a synced request: the
    buyer's actions and a mediation are refused; the seller's decisions and a note are not."""
    if action in DECISIONS or action == "note":
        return
    raise Refused(
        f"{d.quoted(req.id)} comes from the marketplace: only the marketplace speaks for the "
        f"buyer and the platform on it, so {action} is refused here."
    )


def sending(req: d.Request) -> Refused:
    return Refused(
        f"{d.quoted(req.id)}: a decision is being sent to the marketplace; wait for its answer."
    )


def check_limits(req: d.Request, action: str, fields: dict[str, Any]) -> None:
    """The marketplace's own limits (DESIGN §7): keep item only when it lets the buyer keep
    it, and no rejection of the package of a quick refund."""
    if action == "accept" and fields.get("keep_item") is True and not req.can_keep_item:
        raise Refused(
            f"The marketplace does not let the buyer keep the item of {d.quoted(req.id)}."
        )
    if action == "reject_receipt" and req.quick_refund:
        raise Refused(
            f"{d.quoted(req.id)} is a quick refund: the marketplace does not allow rejecting "
            "its returned package."
        )


def rules_for(
    rules: d.Rules, request_reasons: list[tuple[str, str]], receipt_reasons: list[tuple[str, str]]
) -> d.Rules:
    """The rules with the marketplace's reasons for this request in place of ours: a local
    code is refused, and so is every reason while none was fetched for the stage."""
    return replace(rules, reasons=dict(request_reasons), receipt_reasons=dict(receipt_reasons))


def check_reasons_known(req: d.Request, action: str, rules: d.Rules) -> None:
    pool = {"reject": rules.reasons, "reject_receipt": rules.receipt_reasons}.get(action)
    if pool is not None and not pool:
        raise Refused(
            f"The marketplace's reasons for rejecting {d.quoted(req.id)} have not been fetched "
            "yet; try again after the next sync."
        )


def held(change: d.Change) -> d.Change:
    """A decision on a synced request as the records keep it: the marketplace keeps the
    buyer's clock (no offer_by) and its own deadlines (none of ours)."""
    after = replace(change.after, offer_by=None, deadline_at=None)
    return d.Change(after, change.records)


def body(req: d.Request, action: str, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The API's verb and JSON body for a decision (DESIGN §8, *Decisions out*)."""
    refund = req.type is d.RequestType.REFUND
    if action == "accept" and fields.get("keep_item") is True:
        return "approve", {"decision": "APPROVE_REFUND", "buyer_keep_item": True}
    if action == "accept":
        return "approve", {"decision": "APPROVE_REFUND" if refund else "APPROVE_RETURN"}
    if action == "offer":
        cents = d.check_offer_amount(fields["amount"], req.amount_cents, req.currency)
        amount = {"amount": format_amount(cents, req.currency), "currency": req.currency}
        return "approve", {"decision": "OFFER_PARTIAL_REFUND", "partial_refund": amount}
    if action == "receive":
        return "approve", {"decision": "APPROVE_RECEIVED_PACKAGE"}
    if action == "reject":
        decision = "REJECT_REFUND" if refund else "REJECT_RETURN"
    elif action == "reject_receipt":
        decision = "REJECT_RECEIVED_PACKAGE"
    else:
        raise Refused(f"{action} is not a decision the marketplace takes.")
    out = {"decision": decision, "reject_reason": fields["reason"]}
    if note := fields.get("note"):
        out["comment"] = note
    return "reject", out


# ---------------------------------------------------------------------------------------------
# Bringing a return in


def record_key(return_id: str, rec: MarketRecord) -> str:
    """A marketplace record's identity: a hash of the return id, event, role, time and
    description (DESIGN §8), so that it is stored once however often it is fetched."""
    parts = (return_id, rec.event, rec.role, str(to_micros(rec.at)), rec.description)
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def market_details(rec: MarketRecord) -> dict[str, Any]:
    """A marketplace record's details as stored: what it says, its evidence links, and its
    own time (the record's `at` is never before the request's last record)."""
    details: dict[str, Any] = {
        "event": rec.event, "role": rec.role, "marketplace_at": iso_utc(rec.at),
    }  # fmt: skip
    for name in ("description", "reason_text", "note"):
        if value := getattr(rec, name):
            details[name] = value
    if rec.images:
        details["images"] = list(rec.images)
    if rec.videos:
        details["videos"] = list(rec.videos)
    return details


def arbitration(mr: MarketReturn) -> d.Arbitration | None:
    return _ARBITRATION.get(mr.arbitration_status or "")


@dataclass(frozen=True)
class Brought:
    """What a return makes of a request: the request after, its new records."""

    after: d.Request
    records: tuple[d.Record, ...]


def new_request(mr: MarketReturn, attempt: int) -> d.Request:
    """A request for a return seen for the first time (its status known), before its
    records: created as the marketplace has it."""
    assert mr.status is not None
    status = d.Status(mr.status)
    return d.Request(
        id=mr.return_id,
        order_id=mr.order_id,
        shop=mr.shop,
        type=d.RequestType(mr.type),
        buyer=mr.buyer or "",
        product=mr.product,
        sku=mr.sku,
        quantity=mr.quantity,
        amount_cents=mr.amount_cents,
        currency=mr.currency,
        reason=mr.reason,
        buyer_note="",
        created_at=mr.created_at,
        attempt=attempt,
        status=status,
        arbitration=arbitration(mr),
        # respond_by cannot be empty: without a seller's deadline it is the creation time
        # (nothing of ours counts from it; deadline_at, the one the screens show, is empty).
        respond_by=mr.respond_by or mr.created_at,
        deadline_at=mr.respond_by,
        rejected_at=mr.updated_at if status is d.Status.REJECTED else None,
        version=0,
        status_since=mr.created_at,
        refund_cents=mr.refund_cents,
        offer_cents=mr.offer_cents,
        reject_stage=_stage(mr, None),
        source=MARKETPLACE,
        marketplace_status=mr.raw_status,
        can_keep_item=mr.can_buyer_keep_item,
        quick_refund=mr.is_quick_refund,
    )


def _stage(mr: MarketReturn, before: d.RejectStage | None) -> d.RejectStage | None:
    if mr.status == d.Status.REJECTED.value and mr.reject_stage:
        return d.RejectStage(mr.reject_stage)
    return before  # the stage of the latest rejection stays after it (DESIGN §7)


def bring(
    req: d.Request | None,
    mr: MarketReturn,
    new_records: list[MarketRecord],
    last_at: DateTime | None,
    attempt: int = 1,
    *,
    hold_status: bool = False,
) -> Brought:
    """The request as the marketplace has it, with a record per new marketplace record and
    one for a change of status, all by the actor `marketplace`, in time order after
    `last_at` (the request's last record). `req` None: a new request (its status known).
    An unknown status (mr.status None) keeps the request's status, and so does
    `hold_status`: the status the decision waiting to be sent leads to, which its
    confirmation moves the request to, with the operator's record (Ledger.sent)."""
    recs: list[d.Record] = []
    if req is None:
        created = new_request(mr, attempt)
        recs.append(
            d.Record(mr.created_at, MARKETPLACE, d.Kind.MARKETPLACE, None, created.status,
                     {"marketplace_status": mr.raw_status})
        )  # fmt: skip
        before, last_at = created, mr.created_at
    else:
        before = req
    status = before.status
    for rec in sorted(new_records, key=lambda r: r.at):
        last_at = rec.at if last_at is None or rec.at > last_at else last_at
        recs.append(d.Record(last_at, MARKETPLACE, d.Kind.MARKETPLACE, status, status,
                             market_details(rec)))  # fmt: skip
    after = _market_fields(before, mr)
    if mr.status is not None and mr.status != status.value and not hold_status:
        at = mr.updated_at if last_at is None or mr.updated_at > last_at else last_at
        to = d.Status(mr.status)
        recs.append(d.Record(at, MARKETPLACE, d.Kind.MARKETPLACE, status, to,
                             {"marketplace_status": mr.raw_status}))  # fmt: skip
        after = replace(after, status=to, status_since=at)
        if to is d.Status.REJECTED:
            after = replace(after, rejected_at=at)
    return Brought(after, tuple(recs))


def _market_fields(req: d.Request, mr: MarketReturn) -> d.Request:
    """The request's fields that follow the marketplace whatever its status: deadlines,
    amounts, arbitration, its raw status and its limits. A field the marketplace leaves
    empty stays as it was where ours has a meaning for it (respond_by cannot be empty)."""
    if mr.status is None:  # unknown: only what names the marketplace's state is taken
        return replace(req, marketplace_status=mr.raw_status)
    return replace(
        req,
        respond_by=mr.respond_by or req.respond_by,
        deadline_at=mr.respond_by,
        offer_by=None,
        refund_cents=mr.refund_cents,
        offer_cents=mr.offer_cents,
        arbitration=arbitration(mr),
        reject_stage=_stage(mr, req.reject_stage),
        marketplace_status=mr.raw_status,
        can_keep_item=mr.can_buyer_keep_item,
        quick_refund=mr.is_quick_refund,
    )


# ---------------------------------------------------------------------------------------------
# What the console says of a refusal


@dataclass(frozen=True)
class Refusal:
    """The marketplace refused a decision: on which request, when, its message (data from
    outside: shown through textsafe.safe only), the decision and who made it."""

    request_id: str
    at: DateTime
    message: str
    decision: str
    by: str

    def sentence(self) -> str:
        """The toast's and the detail's words (not yet made safe: the caller does)."""
        return (
            f"The marketplace refused {self.by}'s {self.decision.replace('_', ' ')} of "
            f"{self.request_id}: {self.message}"
        )


def refusal(request_id: str, at: DateTime, details: dict[str, Any]) -> Refusal:
    """A push_refused record's details as a Refusal."""
    return Refusal(
        request_id,
        at,
        str(details.get("message", "")),
        str(details.get("decision", "decision")),
        str(details.get("by", "")),
    )
