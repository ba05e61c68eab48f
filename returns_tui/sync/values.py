"""Plain values passed between the sync's HTTP side and the ledger (no I/O here).

Times are UTC pendulum DateTimes; money is integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass

from pendulum import DateTime


@dataclass(frozen=True)
class MarketRecord:
    """One entry of GET .../records."""

    event: str  # raw, e.g. "RETURN_APPROVED"
    role: str  # BUYER | SELLER | OPERATOR | SYSTEM (raw)
    description: str
    reason_text: str
    note: str
    images: tuple[str, ...]  # URLs (evidence)
    videos: tuple[str, ...]  # URLs
    at: DateTime  # UTC (create_time)


@dataclass(frozen=True)
class MarketReturn:
    """A return as the marketplace has it, already mapped to our words."""

    shop: str  # the LOCAL shop name (the config table's name)
    return_id: str
    order_id: str
    type: str  # "refund" | "return_and_refund"  (REPLACEMENT never reaches here)
    amount_cents: int  # refund_amount.refund_total in minor units
    currency: str
    reason: str  # return_reason (raw code)
    product: str
    sku: str
    quantity: int
    buyer: str | None  # None when the API names no buyer
    created_at: DateTime
    updated_at: DateTime
    raw_status: str  # return_status as given
    arbitration_status: str | None
    status: str | None  # ours per TIKTOK_API.md's mapping; None = unknown (never guessed)
    reject_stage: str | None  # "request" | "receipt" | None
    respond_by: DateTime | None  # deadline of the SELLER_RESPOND_* entry, else None
    can_buyer_keep_item: bool
    is_quick_refund: bool
    offer_cents: int | None  # partial_refund.amount when an offer is out / was made
    refund_cents: int | None


@dataclass(frozen=True)
class Outgoing:
    """One decision waiting in the outbox."""

    id: int
    shop: str
    return_id: str
    verb: str  # "approve" | "reject"
    # JSON body for the API: decision, buyer_keep_item, partial_refund{amount,currency},
    # reject_reason, comment
    body: dict
    idempotency_key: str  # made once when the decision was written; the same on every retry
    attempts: int
