"""The API's JSON -> the seam's values (values.MarketReturn, MarketRecord), exactly per
TIKTOK_API.md ("A return", "Status mapping") and DESIGN §8 ("What a return becomes").

Everything here is data from outside: each field is checked for its type, an id must be the
digits and letters the API uses (it goes into a URL path), text is kept as given (the console
and export make it safe), evidence links are kept only when they are http(s) URLs. A return
this module cannot read raises Unreadable with a sentence naming the field; a REPLACEMENT
return, which has no counterpart here, gives None. Money is decimal strings to integer
hundredths (the app's unit, money.py), never a float; a status the mapping does not know gives
`status` None: never guessed.
"""

from __future__ import annotations

import re
from typing import Any

import pendulum
from pendulum import DateTime

from returns_tui.money import minor_digits
from returns_tui.sync.values import MarketRecord, MarketReturn

# TIKTOK_API.md's status mapping: raw return_status -> (our status, reject stage).
STATUSES: dict[str, tuple[str, str | None]] = {
    "RETURN_OR_REFUND_REQUEST_PENDING": ("pending", None),
    "AWAITING_BUYER_RESPONSE": ("awaiting_buyer_response", None),
    "AWAITING_BUYER_SHIP": ("awaiting_buyer_ship", None),
    "BUYER_SHIPPED_ITEM": ("buyer_shipped", None),
    "RETURN_OR_REFUND_REQUEST_SUCCESS": ("completed", None),
    "RETURN_OR_REFUND_REQUEST_COMPLETE": ("completed", None),
    "REFUND_OR_RETURN_REQUEST_REJECT": ("rejected", "request"),
    "RETURN_OR_REFUND_REQUEST_REJECT": ("rejected", "request"),
    "REFUND_OR_RETURN_REQUEST_REJECTED": ("rejected", "request"),
    "RETURN_OR_REFUND_REQUEST_REJECTED": ("rejected", "request"),
    "REJECT_RECEIVE_PACKAGE": ("rejected", "receipt"),
    "RETURN_OR_REFUND_REQUEST_CANCEL": ("cancelled", None),
}
IN_MEDIATION = "in_mediation"
ARBITRATION_IN_PROGRESS = "IN_PROGRESS"
ARBITRATION_NONE = "CLOSED"  # DESIGN §8: a closed arbitration counts as none
TYPES = {"REFUND": "refund", "RETURN_AND_REFUND": "return_and_refund"}
SKIPPED_TYPES = ("REPLACEMENT",)
SELLER_RESPOND = "SELLER_RESPOND_"
# A record saying the buyer took the partial refund: then what was refunded is the offer.
# TikTok does not publish its event names; the simulator's is this one (one place to change).
OFFER_AGREED_EVENTS = frozenset({"BUYER_ACCEPT_PARTIAL_REFUND"})

_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,4}))?")
_URL = re.compile(r"https?://[\x21-\x7e]{1,2000}")
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z


class Unreadable(ValueError):
    """A return or record whose JSON this mapping cannot take (the sentence names the field)."""


def map_return(shop: str, doc: Any, records: list[MarketRecord] | None = None
               ) -> MarketReturn | None:
    """The return as our values; None for a REPLACEMENT (skipped, DESIGN §8). `records` (the
    return's, mapped) tell what a completed return refunded when an offer was made."""
    if not isinstance(doc, dict):
        raise Unreadable("a return is not a JSON object")
    return_id = _id(doc, "return_id")
    try:
        return _map(shop, return_id, doc, records or [])
    except Unreadable as exc:
        raise Unreadable(f"return {return_id}: {exc}") from None


def _map(shop: str, return_id: str, doc: dict, records: list[MarketRecord]) -> MarketReturn | None:
    raw_type = _text(doc, "return_type")
    if raw_type in SKIPPED_TYPES:
        return None
    if raw_type not in TYPES:
        raise Unreadable(f"return_type {raw_type[:40]!r} is not REFUND or RETURN_AND_REFUND")
    money = doc.get("refund_amount")
    if not isinstance(money, dict):
        raise Unreadable("refund_amount is missing")
    currency = _text(money, "currency")
    if not _CURRENCY.fullmatch(currency):
        raise Unreadable("refund_amount.currency is not a currency code")
    amount = hundredths(money.get("refund_total"), currency, "refund_amount.refund_total")
    raw_status = _text(doc, "return_status")
    arbitration = _optional_text(doc, "arbitration_status")
    status, stage = STATUSES.get(raw_status, (None, None))
    if arbitration == ARBITRATION_NONE:
        arbitration = None
    if arbitration == ARBITRATION_IN_PROGRESS:
        status = IN_MEDIATION
    offer = _offer(doc, currency)
    lines = doc.get("return_line_items") or []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise Unreadable("return_line_items is not a list of objects")
    first = lines[0] if lines else {}
    return MarketReturn(
        shop=shop, return_id=return_id, order_id=_id(doc, "order_id"), type=TYPES[raw_type],
        amount_cents=amount, currency=currency, reason=_optional_text(doc, "return_reason") or "",
        product=_optional_text(first, "product_name") or "",
        sku=_optional_text(first, "seller_sku") or "", quantity=len(lines),
        buyer=_optional_text(doc, "buyer_user_id"),
        created_at=_time(doc, "create_time"), updated_at=_time(doc, "update_time"),
        raw_status=raw_status, arbitration_status=arbitration, status=status, reject_stage=stage,
        respond_by=_respond_by(doc),
        can_buyer_keep_item=_flag(doc, "can_buyer_keep_item"),
        is_quick_refund=_flag(doc, "is_quick_refund"),
        offer_cents=offer, refund_cents=_refund(status, amount, offer, records),
    )


def _refund(status: str | None, amount: int, offer: int | None,
            records: list[MarketRecord]) -> int | None:
    """DESIGN §7's refund_amount: for completed, the offer when the buyer agreed to one, else
    the full amount; for a return on its way back, the amount; else none."""
    if status == "completed":
        agreed = offer is not None and any(r.event in OFFER_AGREED_EVENTS for r in records)
        return offer if agreed else amount
    if status in ("awaiting_buyer_ship", "buyer_shipped"):
        return amount
    return None


def _offer(doc: dict, currency: str) -> int | None:
    offer = doc.get("partial_refund")
    if offer is None:
        return None
    if not isinstance(offer, dict):
        raise Unreadable("partial_refund is not an object")
    if offer.get("currency", currency) != currency:
        raise Unreadable("partial_refund.currency is not the refund's currency")
    return hundredths(offer.get("amount"), currency, "partial_refund.amount")


def _respond_by(doc: dict) -> DateTime | None:
    actions = doc.get("seller_next_action_response") or []
    if not isinstance(actions, list):
        raise Unreadable("seller_next_action_response is not a list")
    for entry in actions:
        if not isinstance(entry, dict):
            raise Unreadable("seller_next_action_response holds something not an object")
        action = entry.get("action")
        if isinstance(action, str) and action.startswith(SELLER_RESPOND):
            return _time(entry, "deadline", "seller_next_action_response.deadline")
    return None


def map_records(docs: Any) -> list[MarketRecord]:
    if not isinstance(docs, list):
        raise Unreadable("records is not a list")
    return [map_record(doc) for doc in docs]


def map_record(doc: Any) -> MarketRecord:
    if not isinstance(doc, dict):
        raise Unreadable("a record is not a JSON object")
    return MarketRecord(
        event=_text(doc, "event", "record event"), role=_optional_text(doc, "role") or "",
        description=_optional_text(doc, "description") or "",
        reason_text=_optional_text(doc, "reason_text") or "",
        note=_optional_text(doc, "note") or "",
        images=_urls(doc.get("images")), videos=_urls(doc.get("videos")),
        at=_time(doc, "create_time", "record create_time"),
    )


def _urls(items: Any) -> tuple[str, ...]:
    """The http(s) links of images[] / videos[] (anything else is not a link to show)."""
    if not isinstance(items, list):
        return ()
    urls = (item.get("url") for item in items if isinstance(item, dict))
    return tuple(u for u in urls if isinstance(u, str) and _URL.fullmatch(u))


# ----- fields ---------------------------------------------------------------------------------

def hundredths(value: Any, currency: str, name: str) -> int:
    """A decimal string ("12.34", "1500") to integer hundredths, refusing a float, a negative
    number and more decimals than the currency has (a trailing zero aside)."""
    if not isinstance(value, str) or not (m := _AMOUNT.fullmatch(value)):
        raise Unreadable(f"{name} is not a decimal string")
    whole, frac = m.group(1), (m.group(2) or "").rstrip("0")
    if len(frac) > min(2, minor_digits(currency)):
        raise Unreadable(f"{name} has more decimals than {currency} has")
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def _id(doc: dict, key: str) -> str:
    value = doc.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Unreadable(f"{key} is not an id of digits and letters")
    return value


def _text(doc: dict, key: str, name: str | None = None) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise Unreadable(f"{name or key} is missing or not text")
    return value


def _optional_text(doc: dict, key: str) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Unreadable(f"{key} is not text")
    return value


def _flag(doc: dict, key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise Unreadable(f"{key} is not true or false")
    return value


def _time(doc: dict, key: str, name: str | None = None) -> DateTime:
    value = doc.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_TIME:
        raise Unreadable(f"{name or key} is not a Unix time")
    return pendulum.from_timestamp(value, tz="UTC")
