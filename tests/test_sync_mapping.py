"""The API's JSON -> MarketReturn / MarketRecord (TIKTOK_API.md's mapping, DESIGN §8), on the
JSON the simulator writes (views.return_view) and on hand-made variants of it."""

from __future__ import annotations

import copy

import pendulum
import pytest

from returns_tui.marketplace.simulator import MovableClock, ShopConfig, Simulator
from returns_tui.marketplace.simulator.views import record_view, return_view
from returns_tui.sync.mapping import Unreadable, hundredths, map_record, map_records, map_return

ROWS = [
    ("RETURN_OR_REFUND_REQUEST_PENDING", None, "pending", None),
    ("AWAITING_BUYER_RESPONSE", None, "awaiting_buyer_response", None),
    ("AWAITING_BUYER_SHIP", None, "awaiting_buyer_ship", None),
    ("BUYER_SHIPPED_ITEM", None, "buyer_shipped", None),
    ("RETURN_OR_REFUND_REQUEST_SUCCESS", None, "completed", None),
    ("RETURN_OR_REFUND_REQUEST_COMPLETE", None, "completed", None),
    ("REFUND_OR_RETURN_REQUEST_REJECT", None, "rejected", "request"),
    ("RETURN_OR_REFUND_REQUEST_REJECT", None, "rejected", "request"),
    ("RETURN_OR_REFUND_REQUEST_REJECTED", None, "rejected", "request"),
    ("REFUND_OR_RETURN_REQUEST_REJECTED", None, "rejected", "request"),
    ("REJECT_RECEIVE_PACKAGE", None, "rejected", "receipt"),
    ("RETURN_OR_REFUND_REQUEST_CANCEL", None, "cancelled", None),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "IN_PROGRESS", "in_mediation", "request"),
    ("REJECT_RECEIVE_PACKAGE", "IN_PROGRESS", "in_mediation", "receipt"),
    ("RETURN_OR_REFUND_REQUEST_PENDING", "IN_PROGRESS", "in_mediation", None),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "CLOSED", "rejected", "request"),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "SUPPORT_SELLER", "rejected", "request"),
    ("RETURN_OR_REFUND_REQUEST_SUCCESS", "SUPPORT_BUYER", "completed", None),
    ("SOMETHING_NEW_FROM_TIKTOK", None, None, None),
    ("return_or_refund_request_pending", None, None, None),  # spelled otherwise: not guessed
]


@pytest.fixture
def sim():
    return Simulator([ShopConfig.make("acme"), ShopConfig.make("tokyo", currency="JPY")],
                     clock=MovableClock())


def doc_of(sim, return_type="RETURN_AND_REFUND", amount="40.00", shop="acme", **kw):
    rid = sim.create_return(shop, return_type, amount, **kw)
    return rid, return_view(sim.market.get(rid))


@pytest.mark.parametrize(("raw", "arbitration", "status", "stage"), ROWS)
def test_every_row_of_the_status_mapping(sim, raw, arbitration, status, stage):
    _, doc = doc_of(sim)
    doc["return_status"] = raw
    if arbitration:
        doc["arbitration_status"] = arbitration
    got = map_return("acme", doc)
    assert got.status == status
    assert got.raw_status == raw  # kept as given, always
    assert got.reject_stage == stage
    assert got.arbitration_status == (None if arbitration in (None, "CLOSED") else arbitration)


def test_a_pending_return_in_full(sim):
    rid, doc = doc_of(sim, "RETURN_AND_REFUND", "40.00", product_name="Mug", seller_sku="MUG-1",
                      can_buyer_keep_item=False, is_quick_refund=True)
    ret = sim.market.get(rid)
    got = map_return("acme", doc)
    assert got.shop == "acme" and got.return_id == rid and got.order_id == ret.order_id
    assert got.type == "return_and_refund" and got.amount_cents == 4000
    assert got.currency == "USD" and got.product == "Mug" and got.sku == "MUG-1"
    assert got.quantity == 1 and got.buyer is None  # the API shows no buyer id
    assert got.reason == ret.return_reason
    assert got.created_at == pendulum.from_timestamp(ret.create_time, tz="UTC")
    assert got.updated_at == pendulum.from_timestamp(ret.update_time, tz="UTC")
    assert got.respond_by == pendulum.from_timestamp(ret.seller_deadline, tz="UTC")
    assert got.can_buyer_keep_item is False and got.is_quick_refund is True
    assert got.offer_cents is None and got.refund_cents is None


def test_the_buyer_when_the_api_names_one_and_the_lines(sim):
    _, doc = doc_of(sim)
    doc["buyer_user_id"] = "7494000000000000001"
    doc["return_line_items"] = doc["return_line_items"] * 3
    got = map_return("acme", doc)
    assert got.buyer == "7494000000000000001" and got.quantity == 3


def test_a_refund_and_a_replacement(sim):
    _, refund = doc_of(sim, "REFUND", "12.99")
    assert map_return("acme", refund).type == "refund"
    _, replacement = doc_of(sim, "REPLACEMENT")
    assert map_return("acme", replacement) is None  # skipped (the engine says so on stderr)


def test_an_offer_and_what_a_completed_return_refunded(sim):
    rid, _ = doc_of(sim, "REFUND", "30.00")
    ret = sim.market.get(rid)
    sim.market.decide(ret, "OFFER_PARTIAL_REFUND", {"decision": "OFFER_PARTIAL_REFUND",
                      "partial_refund": {"amount": "12.50", "currency": "USD"}})
    out = map_return("acme", return_view(ret))
    assert out.status == "awaiting_buyer_response" and out.offer_cents == 1250
    assert out.refund_cents is None and out.respond_by is None  # the buyer's clock: not given
    sim.agree(rid)
    records = [map_record(record_view(r)) for r in ret.records]
    done = map_return("acme", return_view(ret), records)
    assert done.status == "completed" and done.refund_cents == 1250
    # Without the buyer's agreement among the records, the full amount was refunded.
    assert map_return("acme", return_view(ret), records[:-1]).refund_cents == 3000


def test_the_receipt_deadline_and_a_return_on_its_way(sim):
    rid, _ = doc_of(sim, "RETURN_AND_REFUND", "40.00")
    ret = sim.market.get(rid)
    sim.market.decide(ret, "APPROVE_RETURN", {"decision": "APPROVE_RETURN"})
    assert map_return("acme", return_view(ret)).refund_cents == 4000
    sim.ship(rid)
    got = map_return("acme", return_view(ret))
    assert got.status == "buyer_shipped"
    assert got.respond_by == pendulum.from_timestamp(ret.seller_deadline, tz="UTC")


def test_money_is_decimal_strings_to_hundredths_never_a_float(sim):
    _, doc = doc_of(sim, shop="tokyo", amount="1500")
    got = map_return("tokyo", doc)
    assert got.currency == "JPY" and got.amount_cents == 150000
    assert hundredths("12.30", "USD", "x") == 1230 and hundredths("7", "USD", "x") == 700
    assert hundredths("12.3000", "USD", "x") == 1230  # trailing zeros are no more precision
    for bad in (12.3, 12, "12.345", "-1.00", "1e3", "12,30", " 12.30", "١٢"):
        with pytest.raises(Unreadable, match="refund_total"):
            broken = copy.deepcopy(doc)
            broken["refund_amount"]["currency"] = "USD"
            broken["refund_amount"]["refund_total"] = bad
            map_return("tokyo", broken)
    with pytest.raises(Unreadable, match="more decimals than JPY"):
        hundredths("1500.5", "JPY", "refund_amount.refund_total")


def test_records_with_their_evidence_links(sim):
    rid, _ = doc_of(sim, images=("https://ev.example/a.jpg",), videos=("https://ev.example/v.mp4",))
    view = record_view(sim.market.get(rid).records[0])
    view["images"].append({"url": "javascript:alert(1)"})
    view["images"].append({"url": "https://ev.example/x\x1b]8;;evil\x07.jpg"})
    view["videos"].append({"cover": "no url"})
    (record,) = map_records([view])
    assert record.event == "BUYER_REQUEST_RETURN_AND_REFUND" and record.role == "BUYER"
    assert record.images == ("https://ev.example/a.jpg",)
    assert record.videos == ("https://ev.example/v.mp4",)
    assert record.at == pendulum.from_timestamp(view["create_time"], tz="UTC")


HOSTILE_TEXT = "[bold red]x[/] \x1b[2J \u202e"


def test_hostile_text_is_data_and_hostile_ids_are_refused(sim):
    _, doc = doc_of(sim, product_name=HOSTILE_TEXT, return_reason=HOSTILE_TEXT)
    got = map_return("acme", doc)
    assert got.product == HOSTILE_TEXT and got.reason == HOSTILE_TEXT  # kept; shown safely
    for field, value in [("return_id", "../../x"), ("return_id", "1 2"), ("order_id", None),
                         ("return_id", "9" * 65), ("return_id", ["1"])]:
        broken = dict(doc, **{field: value})
        with pytest.raises(Unreadable, match=field):
            map_return("acme", broken)


@pytest.mark.parametrize(("field", "value"), [
    ("return_type", "SWAP"), ("refund_amount", None), ("create_time", "yesterday"),
    ("update_time", -1), ("can_buyer_keep_item", "yes"), ("return_line_items", {"a": 1}),
    ("seller_next_action_response", [{"action": "SELLER_RESPOND_REFUND", "deadline": "soon"}]),
    ("partial_refund", {"amount": 5.5, "currency": "USD"}), ("return_status", None),
])
def test_an_unreadable_return_is_named_by_its_field(sim, field, value):
    rid, doc = doc_of(sim)
    doc[field] = value
    with pytest.raises(Unreadable) as caught:
        map_return("acme", doc)
    assert str(caught.value).startswith(f"return {rid}: ")
    assert field.split("_")[0] in str(caught.value)
