"""The words people read for the codes the data holds: one label per status, request type,
record kind and buyer's reason, the same in the console, the command line's sentences and
refusals. Files (export, apply's input) keep the codes: they are the contract for scripts.

The seller's reject reasons are not here: their labels are the market's policy
(domain.Rules.reasons, set in the settings).
"""

from __future__ import annotations

# Keyed by the codes as stored (the domain's enums are StrEnums, so a member finds its label
# too). No import of the domain: its refusals (errors.WrongStatus) use these words.
STATUS: dict[str, str] = {
    "pending": "pending",
    "awaiting_buyer_ship": "awaiting shipment",
    "buyer_shipped": "shipped back",
    "completed": "completed",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "in_mediation": "in mediation",
    "awaiting_buyer_response": "offer out",
}

TYPE: dict[str, str] = {
    "refund": "refund only",
    "return_and_refund": "return and refund",
}

# What a record says happened, as a past participle: "R1 was <kind> by alice".
KIND: dict[str, str] = {
    "submitted": "submitted",
    "accepted": "accepted",
    "auto_approved": "auto-approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "expired": "expired",
    "shipped": "shipped",
    "received": "received",
    "auto_refunded": "refunded automatically",
    "appealed": "appealed",
    "mediated": "mediated",
    "noted": "noted",
    "offered": "offered a partial refund",
    "agreed": "agreed to",
    "declined": "declined",
    "offer_lapsed": "left unanswered",
    "receipt_rejected": "rejected at receipt",
    "marketplace": "updated on the marketplace",
    "push_refused": "refused by the marketplace",
}

# The stage of a request's latest rejection (DESIGN §7).
REJECT_STAGE: dict[str, str] = {
    "request": "rejected the request",
    "receipt": "rejected the returned package",
}

# The buyers' reason codes the marketplace and the seed use. Each label keeps the code's
# words, so that a search for what the screen shows finds the code too.
BUYER_REASON: dict[str, str] = {
    "damaged": "arrived damaged",
    "defective": "defective",
    "wrong_item": "wrong item sent",
    "not_as_described": "not as described",
    "missing_parts": "missing parts",
    "changed_mind": "changed mind",
    "arrived_late": "arrived late",
    "size_fit": "size or fit",
}


def _fallback(code: object) -> str:
    """An unknown code as words: `lost_in_transit` reads "lost in transit"."""
    return " ".join(str(code).replace("_", " ").split())


def status(code: object) -> str:
    return STATUS.get(str(code), None) or _fallback(code)


def request_type(code: object) -> str:
    return TYPE.get(str(code), None) or _fallback(code)


def kind(code: object) -> str:
    return KIND.get(str(code), None) or _fallback(code)


def reject_stage(code: object) -> str:
    return REJECT_STAGE.get(str(code), None) or _fallback(code)


def buyer_reason(code: object) -> str:
    """A buyer's reason as words; a code nobody listed (a marketplace's own) as its words."""
    return BUYER_REASON.get(str(code), None) or _fallback(code)
