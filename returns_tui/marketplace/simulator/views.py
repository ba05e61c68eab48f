"""A return as the API shows it: the `return_orders[]` item, its `records[]`, a webhook's data.

Field names are those of TikTok's generated SDK models (SearchReturnsResponseDataReturnOrders,
GetReturnRecordsResponseDataRecords*); amounts are decimal strings, times Unix seconds.
"""

from __future__ import annotations

from typing import Any

from returns_tui.marketplace.simulator.model import (
    BUYER_SHIPPED,
    EVIDENCE_HOST,
    PENDING,
    Record,
    Return,
    money,
)

# The SDK's return model has no buyer id; search still filters on buyer_user_ids. Set this to
# True to show one (DESIGN §8 takes the buyer "when the API gives one").
SHOW_BUYER_USER_ID = False

_SELLER_ACTIONS = {"REFUND": "SELLER_RESPOND_REFUND", "RETURN_AND_REFUND": "SELLER_RESPOND_RETURN",
                   "REPLACEMENT": "SELLER_RESPOND_REPLACEMENT"}


def seller_next_action(ret: Return) -> list[dict[str, Any]]:
    if ret.seller_deadline is None:
        return []
    if ret.return_status == PENDING:
        action = _SELLER_ACTIONS[ret.return_type]
    elif ret.return_status == BUYER_SHIPPED:
        action = "SELLER_RESPOND_RECEIVE_PACKAGE"
    else:
        return []
    return [{"action": action, "deadline": ret.seller_deadline}]


def return_view(ret: Return) -> dict[str, Any]:
    cur = ret.currency
    total = money(ret.refund_total, cur)
    view: dict[str, Any] = {
        "return_id": ret.return_id,
        "order_id": ret.order_id,
        "return_type": ret.return_type,
        "return_status": ret.return_status,
        "role": "BUYER",
        "return_reason": ret.return_reason,
        "return_reason_text": ret.return_reason_text,
        "seller_next_action_response": seller_next_action(ret),
        "refund_amount": {"currency": cur, "refund_total": total, "refund_subtotal": total,
                          "refund_shipping_fee": money(0, cur), "refund_tax": money(0, cur)},
        "can_buyer_keep_item": ret.can_buyer_keep_item,
        "is_quick_refund": ret.is_quick_refund,
        "buyer_rejected_partial_refund": ret.buyer_rejected_partial_refund,
        "return_line_items": [_line_view(line, cur, n) for n, line in enumerate(ret.lines)],
        "create_time": ret.create_time,
        "update_time": ret.update_time,
    }
    if ret.arbitration_status is not None:
        view["arbitration_status"] = ret.arbitration_status
    if ret.partial_refund is not None:
        view["partial_refund"] = {"amount": money(ret.partial_refund, cur), "currency": cur}
    if ret.tracking_number:
        view["return_tracking_number"] = ret.tracking_number
        view["return_provider_name"] = ret.provider_name
    if SHOW_BUYER_USER_ID:
        view["buyer_user_id"] = ret.buyer_user_id
    return view


def _line_view(line, currency: str, n: int) -> dict[str, Any]:
    return {
        "return_line_item_id": line.return_line_item_id,
        "order_line_item_id": line.order_line_item_id,
        "sku_id": line.sku_id,
        "seller_sku": line.seller_sku,
        "product_name": line.product_name,
        "product_image": {"url": f"{EVIDENCE_HOST}/product/{line.sku_id}.jpg",
                          "width": 300, "height": 300},
        "refund_amount": {"currency": currency, "refund_total": money(line.amount, currency)},
    }


def record_view(record: Record) -> dict[str, Any]:
    return {
        "event": record.event,
        "role": record.role,
        "description": record.description,
        "reason_text": record.reason_text,
        "note": record.note,
        "images": [{"url": url, "width": 1080, "height": 1440} for url in record.images],
        "videos": [{"url": url, "cover": url.rsplit(".", 1)[0] + ".jpg",
                    "duration_millis": 12000, "width": 720, "height": 1280}
                   for url in record.videos],
        "create_time": record.create_time,
    }


def webhook_data(ret: Return) -> dict[str, Any]:
    """The `data` of a type 12 (return status change) notification."""
    return {
        "order_id": ret.order_id,
        "return_id": ret.return_id,
        "return_role": "BUYER",
        "return_type": ret.return_type,
        "return_status": ret.return_status,
        "create_time": ret.create_time,
        "update_time": ret.update_time,
    }
