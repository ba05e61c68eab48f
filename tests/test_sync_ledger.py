"""The sync's database side (DESIGN §7's marketplace limits, §8; notes/sync_contract.md): a
return brought in, decisions on a synced request written to the outbox in the operator's
transaction and answered by the marketplace, the cursor, the lock, webhook ids, the reasons,
export and check, and migration 0007 on a database with data; on both databases."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import apply as applying
from returns_tui import domain as d
from returns_tui import export as exporting
from returns_tui.check import check
from returns_tui.errors import Refused, ReturnsError
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import HEAD, open_engine, upgrade
from returns_tui.store.schema import metadata
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.values import MarketRecord, MarketReturn
from returns_tui.timefmt import iso_utc
from tests.conftest import T0, needs_pg, submission
from tests.support.old_databases import (
    at_revision,
    copy_into_older,
    emptied,
    scratch_url,  # noqa: F401 (a fixture)
)
from tests.test_check import RULES, build_scenario, cast

H = pendulum.duration(hours=1)
S = d.Status
NOW = T0 + 10 * H  # the ledger's clock: after everything the marketplace said


def market(rid: str = "M1", **over) -> MarketReturn:
    """A return as the engine maps it: a return-and-refund waiting for the seller."""
    fields = dict(
        shop="acme", return_id=rid, order_id="MO-" + rid, type="return_and_refund",
        amount_cents=2599, currency="USD", reason="damaged", product="Teapot", sku="TEA-1",
        quantity=1, buyer="buyer-77", created_at=T0, updated_at=T0 + H,
        raw_status="RETURN_OR_REFUND_REQUEST_PENDING", arbitration_status=None,
        status="pending", reject_stage=None, respond_by=T0 + 48 * H, can_buyer_keep_item=True,
        is_quick_refund=False, offer_cents=None, refund_cents=None,
    )  # fmt: skip
    fields.update(over)
    return MarketReturn(**fields)


def mrec(event: str = "BUYER_APPLY", at=T0, **over) -> MarketRecord:
    fields = dict(
        event=event, role="BUYER", description="Buyer asked for a refund", reason_text="",
        note="", images=(), videos=(), at=at,
    )  # fmt: skip
    fields.update(over)
    return MarketRecord(**fields)


SHIPPED = dict(raw_status="BUYER_SHIPPED_ITEM", status="buyer_shipped", updated_at=T0 + 3 * H,
               respond_by=T0 + 100 * H, refund_cents=2599)  # fmt: skip
REASONS = [("reverse_reject_request_reason_2", "Item not returned in time"),
           ("reverse_reject_request_reason_5", "Buyer's evidence is not valid")]  # fmt: skip
RECEIPT_REASONS = [("reverse_reject_receipt_reason_1", "Package is empty")]


@pytest.fixture
def ledger(svc) -> Ledger:
    return Ledger(svc, clock=lambda: NOW)


def export(svc) -> dict[str, dict]:
    out = io.StringIO()
    exporting.write_jsonl(svc.export(svc.login("root-admin")), out)
    return {obj["id"]: obj for obj in map(json.loads, out.getvalue().splitlines())}


def clean(svc) -> None:
    assert [str(v) for v in check(svc.engine, NOW)] == []


def table(svc, name: str) -> list[dict]:
    with svc.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(metadata.tables[name])).mappings()]


def brought(ledger, *items, cursor=None, shop="acme"):
    return ledger.bring_in(shop, [(m, list(recs)) for m, *recs in items], cursor)


# ---------------------------------------------------------------------------------------------
# Bringing returns in


def test_a_new_return_is_created_as_the_marketplace_has_it(svc, ledger):
    evidence = mrec(images=("https://img.example/a.jpg",), videos=("https://v.example/b.mp4",))
    got = ledger.bring_in("acme", [(market(), [evidence])], cursor=1_700_000_000)

    assert (got.created, got.changed, got.unknown) == (["M1"], [], [])
    req = svc.get(svc.login("alice"), "M1")
    assert (req.status, req.source, req.marketplace_status) == (
        S.PENDING, "marketplace", "RETURN_OR_REFUND_REQUEST_PENDING")
    assert (req.amount_cents, req.currency, req.buyer, req.product, req.sku) == (
        2599, "USD", "buyer-77", "Teapot", "TEA-1")
    assert (req.respond_by, req.deadline_at) == (T0 + 48 * H, T0 + 48 * H)
    assert (req.can_keep_item, req.quick_refund) == (True, False)
    recs = svc.records(svc.login("alice"), "M1")
    assert [(r.actor, r.kind, r.from_status, r.to_status) for r in recs] == [
        ("marketplace", d.Kind.MARKETPLACE, None, S.PENDING),
        ("marketplace", d.Kind.MARKETPLACE, S.PENDING, S.PENDING),
    ]
    assert recs[1].details["images"] == ["https://img.example/a.jpg"]
    assert recs[1].details["videos"] == ["https://v.example/b.mp4"]
    assert ledger.cursor("acme") == 1_700_000_000
    row = export(svc)["M1"]
    assert (row["source"], row["sending"], row["marketplace_status"]) == (
        "marketplace", False, "RETURN_OR_REFUND_REQUEST_PENDING")
    assert row["respond_by"] == "2026-11-22T09:00:00Z"  # the marketplace's deadline
    clean(svc)


def test_export_writes_the_marketplaces_deadline_for_the_seller_or_none(svc, ledger):
    shipping = market(raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                      respond_by=None)  # fmt: skip
    brought(ledger, (shipping,))
    assert export(svc)["M1"]["respond_by"] is None  # the API gives the seller no deadline
    out = io.StringIO()
    exporting.write_csv(svc.export(svc.login("root-admin")), out)
    header, row = (line.split(",") for line in out.getvalue().splitlines()[:2])
    assert row[header.index("respond_by")] == ""


def test_the_same_page_twice_changes_nothing(svc, ledger):
    page = [(market(), [mrec(), mrec("SELLER_VIEW", T0 + H, role="SELLER")])]
    ledger.bring_in("acme", page, cursor=10)
    before = export(svc)
    again = ledger.bring_in("acme", page, cursor=10)
    assert (again.created, again.changed, again.unknown) == ([], [], [])
    assert export(svc) == before
    assert len(table(svc, "sync_record_keys")) == 2
    clean(svc)


def test_a_changed_return_moves_with_a_record_by_the_marketplace(svc, ledger):
    brought(ledger, (market(), mrec()))
    moved = market(raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                   updated_at=T0 + 2 * H, respond_by=None, refund_cents=2599)  # fmt: skip
    got = brought(ledger, (moved, mrec(), mrec("SELLER_APPROVE", T0 + 2 * H, role="SELLER")))

    assert got.changed == ["M1"]
    req = svc.get(svc.login("alice"), "M1")
    assert (req.status, req.deadline_at, req.refund_cents) == (S.AWAITING_BUYER_SHIP, None, 2599)
    assert req.respond_by == T0 + 48 * H  # the marketplace gave none now: the last one stays
    assert req.status_since == T0 + 2 * H
    recs = svc.records(svc.login("alice"), "M1")
    assert [(r.kind, r.from_status, r.to_status) for r in recs[2:]] == [
        (d.Kind.MARKETPLACE, S.PENDING, S.PENDING),  # the new SELLER_APPROVE record
        (d.Kind.MARKETPLACE, S.PENDING, S.AWAITING_BUYER_SHIP),
    ]
    assert recs[-1].details == {"marketplace_status": "AWAITING_BUYER_SHIP"}
    clean(svc)


def test_mediation_and_rejection_come_from_the_marketplace(svc, ledger):
    brought(ledger, (market(),))
    rejected = market(raw_status="REFUND_OR_RETURN_REQUEST_REJECT", status="rejected",
                      reject_stage="request", updated_at=T0 + 2 * H, respond_by=None)  # fmt: skip
    brought(ledger, (rejected,))
    req = svc.get(svc.login("alice"), "M1")
    assert (req.status, req.reject_stage, req.rejected_at) == (S.REJECTED, d.RejectStage.REQUEST,
                                                              T0 + 2 * H)  # fmt: skip
    arbitrated = replace(rejected, status="in_mediation", arbitration_status="IN_PROGRESS",
                         updated_at=T0 + 3 * H)  # fmt: skip
    brought(ledger, (arbitrated,))
    req = svc.get(svc.login("alice"), "M1")
    assert (req.status, req.arbitration) == (S.IN_MEDIATION, d.Arbitration.IN_PROGRESS)
    clean(svc)


def test_one_page_with_a_return_twice_and_two_returns_on_one_order(svc, ledger):
    first = market("M1", order_id="MO-1", raw_status="REFUND_OR_RETURN_REQUEST_REJECT",
                   status="rejected", reject_stage="request", respond_by=None)  # fmt: skip
    second = market("M2", order_id="MO-1", created_at=T0 + H, updated_at=T0 + 2 * H)
    moved = replace(second, raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                    updated_at=T0 + 3 * H, respond_by=None)  # fmt: skip
    got = brought(ledger, (first, mrec(at=T0)), (second, mrec(at=T0 + H)), (moved, mrec(at=T0 + H)))
    assert (got.created, got.changed) == (["M1", "M2"], ["M2"])
    alice = svc.login("alice")
    assert [svc.get(alice, r).attempt for r in ("M1", "M2")] == [1, 2]
    assert svc.get(alice, "M2").status is S.AWAITING_BUYER_SHIP
    assert len(svc.records(alice, "M2")) == 3  # created, its record once, the move
    clean(svc)


def test_an_unknown_status_is_never_guessed(svc, ledger):
    odd = market("M2", raw_status="SOMETHING_NEW", status=None)
    got = brought(ledger, (market(),), (odd,))
    assert got.created == ["M1"] and got.unknown == [("M2", "SOMETHING_NEW")]
    with pytest.raises(Refused, match="no request"):
        svc.get(svc.login("alice"), "M2")  # a new one is not created

    got = brought(ledger, (market(raw_status="SOMETHING_NEW", status=None, updated_at=T0 + 5 * H),
                           mrec("ODD_EVENT", T0 + 5 * H)))  # fmt: skip
    assert got.unknown == [("M1", "SOMETHING_NEW")]
    req = svc.get(svc.login("alice"), "M1")
    assert (req.status, req.marketplace_status) == (S.PENDING, "SOMETHING_NEW")
    assert svc.records(svc.login("alice"), "M1")[-1].details["event"] == "ODD_EVENT"
    clean(svc)


def test_a_failure_inside_bring_in_leaves_everything_and_the_cursor_as_they_were(svc, ledger):
    brought(ledger, (market(),), cursor=100)
    other_shop = market("M9", shop="globex")  # a return of another shop: refused, mid-page
    with pytest.raises(Refused, match="globex"):
        brought(ledger, (market("M2"),), (other_shop,), cursor=200)
    assert ledger.cursor("acme") == 100
    assert set(export(svc)) == {"M1"}
    brought(ledger, (market("M2"),), cursor=200)
    assert ledger.cursor("acme") == 200
    brought(ledger, (market("M3"),), cursor=150)  # a late page never moves it back
    assert ledger.cursor("acme") == 200
    assert ledger.bring_in("acme", [], 250).created == []  # the cursor alone moves too
    assert ledger.cursor("acme") == 250
    assert ledger.cursor("globex") is None


def test_a_return_with_a_local_requests_id_is_reported_not_merged(svc, ledger):
    svc.submit(BUYER, submission("M1"), T0)
    got = brought(ledger, (market(),))
    assert got.unknown == [("M1", "RETURN_OR_REFUND_REQUEST_PENDING")] and not got.changed
    assert export(svc)["M1"]["source"] == "local"


# ---------------------------------------------------------------------------------------------
# Decisions out: the outbox


@pytest.mark.parametrize(
    "action, over, params, verb, body",
    [
        ("accept", {"type": "refund"}, {}, "approve", {"decision": "APPROVE_REFUND"}),
        ("accept", {}, {}, "approve", {"decision": "APPROVE_RETURN"}),
        ("accept", {}, {"keep_item": True}, "approve",
         {"decision": "APPROVE_REFUND", "buyer_keep_item": True}),
        ("offer", {}, {"amount": "5.5"}, "approve",
         {"decision": "OFFER_PARTIAL_REFUND", "partial_refund": {"amount": "5.50",
                                                                 "currency": "USD"}}),
        ("reject", {}, {"reason": REASONS[1][0], "note": "blurry photo"}, "reject",
         {"decision": "REJECT_RETURN", "reject_reason": REASONS[1][0], "comment": "blurry photo"}),
        ("reject", {"type": "refund"}, {"reason": REASONS[0][0]}, "reject",
         {"decision": "REJECT_REFUND", "reject_reason": REASONS[0][0]}),  # no note, no comment
        ("receive", SHIPPED, {}, "approve", {"decision": "APPROVE_RECEIVED_PACKAGE"}),
        ("reject_receipt", SHIPPED, {"reason": RECEIPT_REASONS[0][0], "note": "empty box"},
         "reject", {"decision": "REJECT_RECEIVED_PACKAGE",
                    "reject_reason": RECEIPT_REASONS[0][0], "comment": "empty box"}),
    ],
)  # fmt: skip
def test_each_decision_waits_in_the_outbox_mapped_and_the_request_keeps_its_status(
    svc, ledger, action, over, params, verb, body
):
    brought(ledger, (market(**over),))
    ledger.store_reasons("M1", "request", REASONS)
    ledger.store_reasons("M1", "receipt", RECEIPT_REASONS)
    alice = svc.login("alice")
    status = svc.get(alice, "M1").status

    svc.perform(alice, action, "M1", T0 + 5 * H, **params)

    (out,) = ledger.outbox("acme")
    assert (out.shop, out.return_id, out.verb, out.body, out.attempts) == (
        "acme", "M1", verb, body, 0)
    assert len(out.idempotency_key) == 36  # a uuid4
    assert svc.get(alice, "M1").status is status  # not optimistic
    assert len(svc.records(alice, "M1")) == 1  # nothing written until the marketplace answers
    assert export(svc)["M1"]["sending"] is True
    with pytest.raises(Refused, match="a decision is being sent"):
        svc.perform(svc.login("bob"), action, "M1", T0 + 6 * H, **params)
    clean(svc)


def test_two_operators_deciding_at_once_send_one_decision(svc, ledger):
    brought(ledger, (market(),))
    ledger.store_reasons("M1", "request", REASONS)
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, str] = {}

    def decide(who: str, action: str, **params) -> None:
        actor = svc.login(who)
        barrier.wait()
        try:
            svc.perform(actor, action, "M1", T0 + 5 * H, **params)
            results[who] = "sent"
        except Refused as exc:
            results[who] = exc.message

    threads = [
        threading.Thread(target=decide, args=("alice", "accept")),
        threading.Thread(target=decide, args=("bob", "reject"),
                         kwargs={"reason": REASONS[0][0], "note": "late"}),
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert list(results.values()).count("sent") == 1, results
    (loser,) = [v for v in results.values() if v != "sent"]
    assert "a decision is being sent" in loser
    assert len(ledger.outbox("acme")) == 1
    clean(svc)


def test_the_key_is_the_same_on_every_retry_and_attempts_are_counted(svc, ledger):
    brought(ledger, (market(),))
    svc.accept(svc.login("alice"), "M1", T0 + 5 * H)
    (first,) = ledger.outbox("acme")
    ledger.attempted(first.id)
    ledger.attempted(first.id)
    (again,) = ledger.outbox("acme")
    assert (again.id, again.idempotency_key, again.attempts) == (first.id,
                                                                 first.idempotency_key, 2)
    assert ledger.outbox("globex") == []


def test_each_decision_gets_its_own_key(svc, ledger):
    brought(ledger, (market("M1"),), (market("M2"),))
    svc.accept(svc.login("alice"), "M1", T0 + 5 * H)
    svc.accept(svc.login("alice"), "M2", T0 + 5 * H)
    keys = [o.idempotency_key for o in ledger.outbox("acme")]
    assert len(set(keys)) == 2


def test_the_marketplaces_limits_on_a_synced_request(svc, ledger):
    alice = svc.login("alice")
    brought(ledger, (market("M1", can_buyer_keep_item=False),),
            (market("M2", is_quick_refund=True, **SHIPPED),), (market("M3"),))  # fmt: skip
    with pytest.raises(Refused, match="does not let the buyer keep"):
        svc.accept(alice, "M1", T0 + 5 * H, keep_item=True)
    ledger.store_reasons("M2", "receipt", RECEIPT_REASONS)
    with pytest.raises(Refused, match="quick refund"):
        svc.reject_receipt(alice, "M2", T0 + 5 * H, RECEIPT_REASONS[0][0], "empty")
    with pytest.raises(Refused, match="not been fetched"):  # no reasons yet for M3
        svc.reject(alice, "M3", T0 + 5 * H, REASONS[0][0])
    ledger.store_reasons("M3", "request", REASONS)
    with pytest.raises(Refused, match="'no_proof' is not one"):  # a local code
        svc.reject(alice, "M3", T0 + 5 * H, "no_proof")
    with pytest.raises(Refused, match="below the amount asked"):  # the same rules as local
        svc.offer(alice, "M3", T0 + 5 * H, "25.99")
    assert ledger.outbox("acme") == []
    svc.accept(alice, "M1", T0 + 5 * H)  # a plain accept is fine
    assert [o.return_id for o in ledger.outbox("acme")] == ["M1"]


def test_only_the_marketplace_speaks_for_the_buyer_and_the_platform(svc, ledger):
    brought(ledger, (market("M1"),), (market("M2", raw_status="AWAITING_BUYER_SHIP",
                                               status="awaiting_buyer_ship", respond_by=None),),
            (market("M3", raw_status="REFUND_OR_RETURN_REQUEST_REJECT", status="rejected",
                    reject_stage="request", respond_by=None, updated_at=T0 + H),),
            (market("M4", status="in_mediation", arbitration_status="IN_PROGRESS",
                    raw_status="REFUND_OR_RETURN_REQUEST_REJECT", respond_by=None),))  # fmt: skip
    for action, rid, params in [
        ("cancel", "M1", {}), ("ship", "M2", {"tracking": "1Z9"}), ("appeal", "M3", {}),
    ]:
        with pytest.raises(Refused, match="only the marketplace speaks"):
            svc.perform(BUYER, action, rid, T0 + 5 * H, **params)
    with pytest.raises(Refused, match="only the marketplace speaks"):
        svc.mediate(svc.login("sam"), "M4", T0 + 5 * H, "buyer", "photo is clear")
    with pytest.raises(Refused, match="is on the marketplace"):
        svc.submit(BUYER, submission("L1", order="MO-M3"), T0 + 5 * H)
    svc.note(svc.login("alice"), "M1", T0 + 5 * H, "called the buyer")  # a note is fine
    assert svc.records(svc.login("alice"), "M1")[-1].kind is d.Kind.NOTED
    assert ledger.outbox("acme") == []
    clean(svc)


def test_apply_refuses_buyer_lines_on_a_synced_request_and_takes_the_sellers(svc, ledger):
    brought(ledger, (market(),))
    lines = [
        {"at": iso_utc(T0 + 50 * H), "actor": "buyer", "action": "cancel", "request_id": "M1"},
        {"at": iso_utc(T0 + 50 * H), "actor": "alice", "action": "note", "request_id": "M1",
         "note": "asked for photos"},
        {"at": iso_utc(T0 + 51 * H), "actor": "alice", "action": "accept", "request_id": "M1"},
    ]  # fmt: skip
    out = io.StringIO()
    stdin = io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode())
    assert applying.run(svc, svc.login("root-admin"), "-", out=out, stdin=stdin,
                        clock=lambda: NOW + 100 * H) == 0  # fmt: skip
    verdicts = [json.loads(x) for x in out.getvalue().splitlines()]
    assert not verdicts[0]["ok"] and "only the marketplace speaks" in verdicts[0]["error"]
    assert [v["ok"] for v in verdicts[1:]] == [True, True]
    # Past the marketplace's deadline (T0 + 48 h) and swept before every line: still pending.
    assert svc.get(svc.login("alice"), "M1").status is S.PENDING
    assert [o.body for o in ledger.outbox("acme")] == [{"decision": "APPROVE_RETURN"}]


def test_the_sweep_never_moves_a_synced_request(svc, ledger):
    brought(ledger, (market(),))
    svc.submit(BUYER, submission("L1"), T0)
    swept = svc.sweep(T0 + 60 * H)
    assert [s.request_id for s in swept] == ["L1"]
    assert svc.get(svc.login("alice"), "M1").status is S.PENDING
    # Nor does an action's catching up: a note, then the accept, find the marketplace's status.
    svc.note(svc.login("alice"), "M1", T0 + 60 * H, "waiting for the marketplace")
    assert svc.get(svc.login("alice"), "M1").status is S.PENDING
    svc.accept(svc.login("alice"), "M1", T0 + 60 * H)
    assert [o.return_id for o in ledger.outbox("acme")] == ["M1"]
    assert [str(v) for v in check(svc.engine, T0 + 60 * H)] == []


# ---------------------------------------------------------------------------------------------
# The marketplace's answer


def test_a_confirmed_decision_is_recorded_by_the_operator_and_leaves_the_outbox(svc, ledger):
    brought(ledger, (market(),))
    alice = svc.login("alice")
    svc.accept(alice, "M1", T0 + 5 * H)
    (out,) = ledger.outbox("acme")
    fresh = market(raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                   updated_at=T0 + 6 * H, respond_by=None, refund_cents=2599)  # fmt: skip
    ledger.sent(out.id, (fresh, [mrec("SELLER_APPROVE", T0 + 6 * H, role="SELLER")]))

    assert ledger.outbox("acme") == []
    req = svc.get(alice, "M1")
    assert (req.status, req.refund_cents, req.deadline_at) == (S.AWAITING_BUYER_SHIP, 2599, None)
    recs = svc.records(alice, "M1")
    mine = [r for r in recs if r.actor == "alice"]
    assert [(r.kind, r.from_status, r.to_status, r.at) for r in mine] == [
        (d.Kind.ACCEPTED, S.PENDING, S.AWAITING_BUYER_SHIP, NOW)]
    assert recs[-1].details["event"] == "SELLER_APPROVE"
    assert export(svc)["M1"]["sending"] is False
    ledger.sent(out.id, (fresh, []))  # sent again after a crash: nothing doubled
    assert len(svc.records(alice, "M1")) == len(recs)
    clean(svc)


def test_a_change_the_decision_made_that_arrives_before_its_answer_waits_for_it(svc, ledger):
    # A webhook for the approval itself is brought in between the approve call and `sent`:
    # the request waits (sending) and `sent` moves it with the operator's record.
    brought(ledger, (market(),))
    alice = svc.login("alice")
    svc.accept(alice, "M1", T0 + 5 * H)
    (out,) = ledger.outbox("acme")
    approved = market(raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                      updated_at=T0 + 6 * H, respond_by=None, refund_cents=2599)  # fmt: skip
    approval = mrec("SELLER_APPROVE", T0 + 6 * H, role="SELLER")
    got = brought(ledger, (approved, approval))
    assert got.changed == ["M1"]  # its record stored, its status held
    assert svc.get(alice, "M1").status is S.PENDING
    assert export(svc)["M1"]["sending"] is True
    ledger.sent(out.id, (approved, [approval]))
    recs = svc.records(alice, "M1")
    assert [(r.actor, r.kind, r.from_status, r.to_status) for r in recs] == [
        ("marketplace", d.Kind.MARKETPLACE, None, S.PENDING),
        ("marketplace", d.Kind.MARKETPLACE, S.PENDING, S.PENDING),  # SELLER_APPROVE
        ("alice", d.Kind.ACCEPTED, S.PENDING, S.AWAITING_BUYER_SHIP),
    ]
    assert svc.get(alice, "M1").status is S.AWAITING_BUYER_SHIP
    clean(svc)


def test_a_change_the_decision_did_not_make_moves_the_request_at_once(svc, ledger):
    brought(ledger, (market(),))
    svc.accept(svc.login("alice"), "M1", T0 + 5 * H)
    cancelled = market(raw_status="RETURN_OR_REFUND_REQUEST_CANCEL", status="cancelled",
                       updated_at=T0 + 6 * H, respond_by=None)  # fmt: skip
    brought(ledger, (cancelled,))
    assert svc.get(svc.login("alice"), "M1").status is S.CANCELLED
    (out,) = ledger.outbox("acme")
    ledger.refused(out.id, "The return was cancelled", None)
    clean(svc)


def test_a_confirmed_offer_has_no_offer_by_and_a_rejection_its_reason(svc, ledger):
    brought(ledger, (market("M1"),), (market("M2"),))
    ledger.store_reasons("M2", "request", REASONS)
    alice = svc.login("alice")
    svc.offer(alice, "M1", T0 + 5 * H, "10.00")
    svc.reject(alice, "M2", T0 + 5 * H, REASONS[0][0], "late")
    one, two = ledger.outbox("acme")
    ledger.sent(one.id, (market("M1", raw_status="AWAITING_BUYER_RESPONSE", offer_cents=1000,
                                status="awaiting_buyer_response", respond_by=None,
                                updated_at=T0 + 6 * H), []))  # fmt: skip
    ledger.sent(two.id, (market("M2", raw_status="REFUND_OR_RETURN_REQUEST_REJECT",
                                status="rejected", reject_stage="request", respond_by=None,
                                updated_at=T0 + 6 * H), []))  # fmt: skip
    m1, m2 = svc.get(alice, "M1"), svc.get(alice, "M2")
    assert (m1.status, m1.offer_cents, m1.offer_by) == (S.AWAITING_BUYER_RESPONSE, 1000, None)
    assert (m2.status, m2.reject_stage) == (S.REJECTED, d.RejectStage.REQUEST)
    rejected = svc.records(alice, "M2")[-1]
    assert (rejected.actor, rejected.kind, rejected.details) == (
        "alice", d.Kind.REJECTED, {"reason": REASONS[0][0], "note": "late"})
    clean(svc)


def test_a_refusal_is_recorded_with_its_message_and_the_state_comes_back(svc, ledger):
    brought(ledger, (market(),))
    ledger.store_reasons("M1", "request", REASONS)
    alice = svc.login("alice")
    svc.reject(alice, "M1", T0 + 5 * H, REASONS[0][0], "late")
    (out,) = ledger.outbox("acme")
    cancelled = market(raw_status="RETURN_OR_REFUND_REQUEST_CANCEL", status="cancelled",
                       updated_at=T0 + 4 * H, respond_by=None)  # fmt: skip
    message = "The return was cancelled by the buyer \x1b[31m[b]x[/b]"
    ledger.refused(out.id, message, (cancelled, []))

    assert ledger.outbox("acme") == []
    recs = svc.records(alice, "M1")
    refusal = next(r for r in recs if r.kind is d.Kind.PUSH_REFUSED)
    assert (refusal.actor, refusal.from_status, refusal.to_status) == (
        "marketplace", S.PENDING, S.PENDING)
    assert refusal.details == {"message": message, "decision": "reject", "by": "alice",
                               "reason": REASONS[0][0], "note": "late"}  # fmt: skip
    assert svc.get(alice, "M1").status is S.CANCELLED
    assert not any(r.actor == "alice" for r in recs)
    clean(svc)


def test_a_refused_rejection_asks_for_the_reasons_again(svc, ledger):
    brought(ledger, (market(),))
    assert ledger.needs_reasons("acme") == [("M1", "request")]
    ledger.store_reasons("M1", "request", REASONS)
    assert ledger.needs_reasons("acme") == []
    svc.reject(svc.login("alice"), "M1", T0 + 5 * H, REASONS[0][0], "late")
    (out,) = ledger.outbox("acme")
    ledger.refused(out.id, "reason no longer valid", None)
    assert ledger.needs_reasons("acme") == [("M1", "request")]
    assert svc.get(svc.login("alice"), "M1").status is S.PENDING
    svc.accept(svc.login("alice"), "M1", T0 + 11 * H)  # a new decision may go now
    assert len(ledger.outbox("acme")) == 1


def test_reasons_are_asked_for_the_stage_the_request_is_in(svc, ledger):
    brought(ledger, (market("M1"),), (market("M2", **SHIPPED),),
            (market("M3", raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship",
                    respond_by=None),))  # fmt: skip
    assert ledger.needs_reasons("acme") == [("M1", "request"), ("M2", "receipt")]
    ledger.store_reasons("M2", "receipt", RECEIPT_REASONS)
    ledger.store_reasons("M2", "receipt", RECEIPT_REASONS[:0] + [("r9", "Other")])  # replaced
    assert ledger.needs_reasons("acme") == [("M1", "request")]
    with pytest.raises(Refused, match="request or receipt"):
        ledger.store_reasons("M1", "appeal", REASONS)
    svc.submit(BUYER, submission("L1"), T0)
    with pytest.raises(Refused, match="no synced request"):
        ledger.store_reasons("L1", "request", REASONS)
    rows = [(r["name"], r["text"]) for r in table(svc, "sync_reject_reasons")]
    assert rows == [("r9", "Other")]


def test_many_returns_reasons_are_stored_in_one_transaction(svc, ledger):
    brought(ledger, (market("M1"),), (market("M2", **SHIPPED),))
    ledger.store_reasons_many([("M1", "request", REASONS), ("M2", "receipt", RECEIPT_REASONS)])
    assert ledger.needs_reasons("acme") == []
    with pytest.raises(Refused, match="no synced request M9"):
        ledger.store_reasons_many([("M1", "request", REASONS[:1]), ("M9", "request", REASONS)])
    rows = [(r["request_id"], r["name"]) for r in table(svc, "sync_reject_reasons")]
    assert sorted(rows) == sorted([("M1", n) for n, _ in REASONS] +
                                  [("M2", n) for n, _ in RECEIPT_REASONS])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The lock and the webhook ids


def test_one_sync_per_shop_at_a_time(svc):
    clock = [T0]
    ledger = Ledger(svc, clock=lambda: clock[0])
    with ledger.lock("acme", "host-a:1"):
        with pytest.raises(ReturnsError, match="a sync of shop acme is already running"):
            with ledger.lock("acme", "host-b:2"):
                pass
        with ledger.lock("globex", "host-b:2"):  # another shop is free
            pass
    with ledger.lock("acme", "host-b:2"):  # released
        pass
    # A lock left by a sync that died is taken over once it is older than stale_after.
    with pytest.raises(KeyboardInterrupt):
        with ledger.lock("acme", "host-a:1"):
            raise KeyboardInterrupt  # released on the way out all the same
    with svc.engine.begin() as conn:
        conn.execute(sa.insert(metadata.tables["sync_locks"]).values(
            shop="acme", holder="host-dead:9", taken_at=T0))  # fmt: skip
    clock[0] = T0 + pendulum.duration(seconds=299)
    with pytest.raises(ReturnsError, match="already running"):
        with ledger.lock("acme", "host-a:1", stale_after=300):
            pass
    clock[0] = T0 + pendulum.duration(seconds=301)
    with ledger.lock("acme", "host-a:1", stale_after=300):
        assert [r["holder"] for r in table(svc, "sync_locks")] == ["host-a:1"]
    assert table(svc, "sync_locks") == []


def test_a_lock_held_by_a_process_of_this_host_that_is_gone_is_free_at_once(svc, ledger):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = socket.gethostname()
    with svc.engine.begin() as conn:
        conn.execute(sa.insert(metadata.tables["sync_locks"]).values(
            shop="acme", holder=f"{here}:{gone.pid}", taken_at=NOW))  # fmt: skip
    with ledger.lock("acme", f"{here}:{os.getpid()}"):
        pass
    # A live process of this host, or one of another host, keeps its lock until it is stale.
    for holder in (f"{here}:{os.getppid()}", f"elsewhere.example:{gone.pid}"):
        with svc.engine.begin() as conn:
            conn.execute(sa.insert(metadata.tables["sync_locks"]).values(
                shop="acme", holder=holder, taken_at=NOW))  # fmt: skip
        with pytest.raises(ReturnsError, match="already running"):
            with ledger.lock("acme", f"{here}:{os.getpid()}"):
                pass
        with svc.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sync_locks")


def test_a_long_sync_keeps_its_lock_fresh_and_a_lost_lock_is_told(svc):
    clock = [T0]
    ledger = Ledger(svc, clock=lambda: clock[0])
    with ledger.lock("acme", "host-a:1", stale_after=300):
        clock[0] = T0 + pendulum.duration(seconds=250)
        ledger.touch("acme", "host-a:1")
        clock[0] = T0 + pendulum.duration(seconds=400)  # 150 s after the touch: not stale
        with pytest.raises(ReturnsError, match="already running"):
            with ledger.lock("acme", "host-b:2", stale_after=300):
                pass
        clock[0] = T0 + pendulum.duration(seconds=600)
        with ledger.lock("acme", "host-b:2", stale_after=300):  # stale now: taken over
            with pytest.raises(ReturnsError, match="no longer holds its lock"):
                ledger.touch("acme", "host-a:1")


def test_a_notification_is_first_seen_once(ledger):
    assert ledger.first_seen("n-1") is True
    assert ledger.first_seen("n-1") is False
    assert ledger.first_seen("n-2") is True
    with pytest.raises(Refused):
        ledger.first_seen("")


# ---------------------------------------------------------------------------------------------
# check


def test_check_finds_a_synced_requests_broken_invariants(svc, ledger):
    brought(ledger, (market("M1"),))
    svc.submit(BUYER, submission("L1"), T0)
    clean(svc)
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE requests SET source = 'marketplace' WHERE id = 'L1'")
        conn.exec_driver_sql("UPDATE requests SET marketplace_status = NULL WHERE id = 'M1'")
    found = [str(v) for v in check(svc.engine, NOW)]
    assert "L1: a synced request begins with submitted, not a marketplace record" in found
    assert "M1: a synced request lacks the marketplace's status or limits" in found
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE requests SET source = 'elsewhere' WHERE id = 'L1'")
    assert "L1: source 'elsewhere' is neither local nor marketplace" in [
        str(v) for v in check(svc.engine, NOW)]


def test_check_finds_a_decision_waiting_for_a_local_request(svc, ledger):
    brought(ledger, (market("M1"),))
    svc.submit(BUYER, submission("L1"), T0)
    svc.accept(svc.login("alice"), "M1", T0 + 5 * H)
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE sync_outbox SET request_id = 'L1'")
    assert "L1: a decision waits in the outbox for a request that is not synced" in [
        str(v) for v in check(svc.engine, NOW)]


# ---------------------------------------------------------------------------------------------
# Migration 0007 on a database with data in it

def test_migration_0007_keeps_every_request_local_and_the_sync_works_after(
    engine, db_url, scratch_url  # noqa: F811 (the fixture)
):
    scratch = open_engine(scratch_url)
    upgrade(scratch)
    old_svc = Returns(scratch)
    cast(old_svc)
    build_scenario(old_svc)  # every status and kind of §2 and §7, with records and chains
    emptied(engine, db_url)
    old = at_revision(db_url, "0006")
    copy_into_older(scratch, old)
    scratch.dispose()
    try:
        assert upgrade(old) == ("0006", HEAD)
        assert check(old, T0 + 100 * H, rules=RULES) == []
        with old.connect() as conn:
            got = set(conn.execute(sa.text(
                "SELECT DISTINCT source, marketplace_status, can_keep_item, quick_refund "
                "FROM requests")).all())  # fmt: skip
        assert got == {("local", None, None, None)}
        svc = Returns(old)
        ledger = Ledger(svc, clock=lambda: T0 + 100 * H)
        ledger.bring_in("acme", [(market("M1", created_at=T0 + 90 * H, updated_at=T0 + 90 * H,
                                         respond_by=T0 + 130 * H), [])], 5)  # fmt: skip
        svc.accept(svc.login("alice"), "M1", T0 + 95 * H)
        assert [o.return_id for o in ledger.outbox("acme")] == ["M1"]
        assert check(old, T0 + 100 * H, rules=RULES) == []
    finally:
        old.dispose()


@needs_pg
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_pages_brought_in_take_turns_on_postgresql(ledger, svc):
    """Two shops' pages brought in at once add to the same Insights rollup rows, each in its
    own order: on PostgreSQL they deadlocked, again and again with big pages (ledger.
    _pages_take_turns). A page waits while another holds the turn, and is brought in after."""
    from returns_tui.sync.ledger import PAGES_LOCK

    done = threading.Event()

    def bring() -> None:
        brought(ledger, (market("M1"), mrec()))
        done.set()

    with svc.engine.connect() as other, other.begin():
        other.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PAGES_LOCK})")
        thread = threading.Thread(target=bring)
        thread.start()
        assert not done.wait(0.5)  # its turn has not come
    thread.join(30)
    assert done.is_set()
    assert export(svc)["M1"]["status"] == "pending"
