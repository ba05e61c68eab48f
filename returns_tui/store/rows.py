"""Rows to domain objects and back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from returns_tui import domain as d
from returns_tui.store import search
from returns_tui.timefmt import from_micros

REQUEST_FIELDS = (
    "id order_id shop type buyer product sku quantity amount_cents currency reason buyer_note "
    "created_at attempt status arbitration respond_by deadline_at rejected_at tracking "
    "status_since version refund_cents offer_cents offer_by"
).split()


def to_request(row: Mapping[str, Any]) -> d.Request:
    arb = row["arbitration"]
    stage = row["reject_stage"]
    return d.Request(
        **{k: row[k] for k in REQUEST_FIELDS if k not in ("type", "status", "arbitration")},
        type=d.RequestType(row["type"]),
        status=d.Status(row["status"]),
        arbitration=d.Arbitration(arb) if arb else None,
        # SQLite's driver hands a boolean back as 0 or 1 when read without SQLAlchemy.
        keep_item=bool(row["keep_item"]),
        reject_stage=d.RejectStage(stage) if stage else None,
        **_sync_fields(row),
    )


def _sync_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """DESIGN §8's fields (rows of code that selects only some columns may lack them)."""
    get = getattr(row, "get", None)
    if get is None:
        return {}
    keep, quick = get("can_keep_item"), get("quick_refund")
    return {
        "source": get("source") or "local",
        "marketplace_status": get("marketplace_status"),
        "can_keep_item": None if keep is None else bool(keep),
        "quick_refund": None if quick is None else bool(quick),
    }


def request_values(req: d.Request) -> dict[str, Any]:
    """Column values for an insert or update (the TypeDecorator converts the times)."""
    values = {k: getattr(req, k) for k in REQUEST_FIELDS}
    values["type"] = req.type.value
    values["status"] = req.status.value
    values["arbitration"] = req.arbitration.value if req.arbitration else None
    values["keep_item"] = req.keep_item
    values["reject_stage"] = req.reject_stage.value if req.reject_stage else None
    values["source"] = req.source
    values["marketplace_status"] = req.marketplace_status
    values["can_keep_item"] = req.can_keep_item
    values["quick_refund"] = req.quick_refund
    values["tab"] = d.TAB_OF_STATUS[req.status].value
    values["search_text"] = search.search_text(
        req.id, req.order_id, req.tracking, req.shop, req.buyer, req.product, req.sku, req.reason
    )
    return values


def record_values(request_id: str, seq: int, rec: d.Record) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "seq": seq,
        "at": rec.at,
        "actor": rec.actor,
        "kind": rec.kind.value,
        "from_status": rec.from_status.value if rec.from_status else None,
        "to_status": rec.to_status.value,
        "details": json.dumps(rec.details, ensure_ascii=False) if rec.details else None,
    }


def to_record(row: Mapping[str, Any]) -> d.Record:
    at = row["at"]
    return d.Record(
        at=at if not isinstance(at, int) else from_micros(at),
        actor=row["actor"],
        kind=d.Kind(row["kind"]),
        from_status=d.Status(row["from_status"]) if row["from_status"] else None,
        to_status=d.Status(row["to_status"]),
        details=json.loads(row["details"]) if row["details"] else {},
    )
