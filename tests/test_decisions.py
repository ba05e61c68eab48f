"""DESIGN §7, decisions as the marketplace has them: accept keeping the item, a partial refund
offered and answered (or lapsing at offer_by), a returned package rejected at receipt; with
their boundaries exact to the second and to the minor unit, through the domain, the services
(both databases), `apply`, `export`, and migration 0006 on a database with data in it."""

from __future__ import annotations

import csv
import io
import json

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import apply as applying
from returns_tui import domain as d
from returns_tui import export as exporting
from returns_tui.check import check
from returns_tui.errors import Refused, WrongStatus
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import HEAD, open_engine, upgrade
from returns_tui.store.schema import metadata
from tests.conftest import T0, submission
from tests.support.old_databases import (
    at_revision,
    copy_into_older,
    emptied,
    scratch_url,  # noqa: F401 (a fixture)
)
from tests.test_check import NOW, RULES, build_scenario, cast

S, K = d.Status, d.Kind
SEC = pendulum.duration(seconds=1)
H = pendulum.duration(hours=1)
H48 = pendulum.duration(hours=48)
T1 = T0 + H


def new(rtype: str = "return_and_refund", **over) -> d.Request:
    return d.submit(submission(type=rtype, **over), d.OrderHistory(), T0, RULES).after


def offered(amount: str = "6.50", at=T1) -> d.Request:
    return d.offer(new(), "alice", at, RULES, amount).after


def shipped() -> d.Request:
    req = d.accept(new(), "alice", T1, RULES).after
    return d.ship(req, T0 + 2 * H, RULES, "1Z999").after


def receipt_rejected(req: d.Request | None = None, at=T0 + 3 * H) -> d.Request:
    req = req or shipped()
    return d.reject_receipt(req, "alice", at, RULES, "empty_package", "the box was empty").after


# ---------------------------------------------------------------------------------------------
# accept with keep_item


def test_accept_keeping_the_item_completes_a_return_refunded_in_full():
    change = d.accept(new(), "alice", T1, RULES, True)
    req = change.after
    assert (req.status, req.keep_item, req.refund_cents, req.deadline_at) == (
        S.COMPLETED, True, 1299, None
    )  # fmt: skip
    assert change.records == (
        d.Record(T1, "alice", K.ACCEPTED, S.PENDING, S.COMPLETED, {"keep_item": True}),
    )


@pytest.mark.parametrize("keep_item", [None, False])
def test_accept_with_keep_item_null_or_false_is_a_plain_accept(keep_item):
    req = d.accept(new(), "alice", T1, RULES, keep_item).after
    assert (req.status, req.keep_item, req.refund_cents) == (S.AWAITING_BUYER_SHIP, False, 1299)


def test_keep_item_on_a_refund_only_request_is_refused():
    with pytest.raises(Refused, match="refund-only request: there is no item to keep"):
        d.accept(new("refund"), "alice", T1, RULES, True)


@pytest.mark.parametrize("value", ["true", 1, 0, [], {}])
def test_keep_item_other_than_a_boolean_is_refused(value):
    with pytest.raises(Refused, match="keep_item must be true or false"):
        d.accept(new(), "alice", T1, RULES, value)


# ---------------------------------------------------------------------------------------------
# offer


def test_an_offer_waits_for_the_buyer_until_offer_by_and_records_its_amount():
    change = d.offer(new(), "alice", T1, RULES, "6.50")
    req = change.after
    assert req.status is S.AWAITING_BUYER_RESPONSE
    assert (req.offer_cents, req.offer_by, req.deadline_at) == (650, T1 + H48, T1 + H48)
    assert req.respond_by == T0 + H48  # kept, but no longer the deadline
    assert change.records == (
        d.Record(T1, "alice", K.OFFERED, S.PENDING, S.AWAITING_BUYER_RESPONSE, {"amount": "6.50"}),
    )


def test_an_offer_one_minor_unit_below_the_amount_is_taken_equal_refused():
    assert d.offer(new(), "alice", T1, RULES, "12.98").after.offer_cents == 1298
    with pytest.raises(Refused, match=r"below the amount asked \(12.99 USD\); 12.99 is not"):
        d.offer(new(), "alice", T1, RULES, "12.99")
    with pytest.raises(Refused, match="below the amount asked"):
        d.offer(new(), "alice", T1, RULES, "13.00")


def test_an_offer_with_more_minor_digits_than_the_currency_has_is_refused():
    with pytest.raises(Refused, match="at most two decimals"):
        d.offer(new(), "alice", T1, RULES, "6.505")
    jpy = new(amount="1500", currency="JPY")
    assert d.offer(jpy, "alice", T1, RULES, "1499").after.offer_cents == 149900
    with pytest.raises(Refused, match="JPY amounts have no minor units"):
        d.offer(jpy, "alice", T1, RULES, "1499.5")


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00", "", "six", 6.5, 650, None])
def test_an_offer_must_be_a_positive_decimal_string(amount):
    with pytest.raises(Refused, match="amount must be"):
        d.offer(new(), "alice", T1, RULES, amount)


def test_a_second_offer_on_a_request_is_refused_even_after_a_decline():
    req = d.decline(offered(), T0 + 2 * H, RULES).after
    assert req.status is S.PENDING
    with pytest.raises(Refused, match="already made on R1; a request gets one offer only"):
        d.offer(req, "alice", T0 + 3 * H, RULES, "5.00")


def test_an_offer_at_respond_by_finds_the_request_auto_approved():
    req = new()
    assert d.offer(req, "alice", T0 + H48 - SEC, RULES, "5.00").after.status is (
        S.AWAITING_BUYER_RESPONSE
    )
    with pytest.raises(WrongStatus, match="awaiting shipment"):
        d.offer(d.catch_up(req, T0 + H48, RULES).after, "alice", T0 + H48, RULES, "5.00")


def test_offer_hours_is_a_setting():
    rules = d.Rules(offer_window=pendulum.duration(hours=24))
    assert d.offer(new(), "alice", T1, rules, "5.00").after.offer_by == T1 + H * 24


# ---------------------------------------------------------------------------------------------
# agree, decline, and the lapse at offer_by


def test_agree_completes_with_the_offer_and_the_buyer_keeps_the_item():
    change = d.agree(offered(), T0 + 2 * H)
    req = change.after
    assert (req.status, req.refund_cents, req.keep_item, req.deadline_at) == (
        S.COMPLETED, 650, True, None
    )  # fmt: skip
    assert (req.offer_cents, req.offer_by) == (650, T1 + H48)  # kept after the answer
    assert change.records[0].kind is K.AGREED and change.records[0].actor == "buyer"


def test_decline_gives_the_seller_a_new_respond_window_from_the_decline():
    req = d.decline(offered(), T0 + 5 * H, RULES).after
    assert (req.status, req.respond_by, req.deadline_at) == (
        S.PENDING, T0 + 5 * H + H48, T0 + 5 * H + H48
    )  # fmt: skip
    assert req.refund_cents is None and not req.keep_item
    # And the clock approves the full amount as before, at the new respond_by.
    approved = d.catch_up(req, req.respond_by, RULES)
    assert [r.kind for r in approved.records] == [K.AUTO_APPROVED]
    assert approved.after.refund_cents == 1299


@pytest.mark.parametrize("answer", ["agree", "decline"])
def test_an_answer_one_second_before_offer_by_wins_at_offer_by_it_finds_the_offer_lapsed(answer):
    req = offered()
    offer_by = req.offer_by
    before = d.catch_up(req, offer_by - SEC, RULES).after
    done = (
        d.agree(before, offer_by - SEC)
        if answer == "agree"
        else d.decline(before, offer_by - SEC, RULES)
    )
    assert done.records[-1].kind in (K.AGREED, K.DECLINED)
    lapsed = d.catch_up(req, offer_by, RULES)
    assert lapsed.records == (
        d.Record(offer_by, "system", K.OFFER_LAPSED, S.AWAITING_BUYER_RESPONSE, S.PENDING),
    )
    with pytest.raises(WrongStatus, match="it is pending"):
        d.agree(lapsed.after, offer_by) if answer == "agree" else d.decline(
            lapsed.after, offer_by, RULES
        )


def test_a_lapse_swept_late_is_stamped_at_offer_by_and_respond_by_counts_from_it():
    req = offered()
    late = d.catch_up(req, req.offer_by + 3 * H, RULES)
    assert late.records[0].at == req.offer_by
    assert late.after.respond_by == late.after.deadline_at == req.offer_by + H48
    # Very late: the lapse, then the auto-approval at the new respond_by.
    later = d.catch_up(req, req.offer_by + H48 * 2, RULES)
    assert [(r.kind, r.at) for r in later.records] == [
        (K.OFFER_LAPSED, req.offer_by),
        (K.AUTO_APPROVED, req.offer_by + H48),
    ]
    assert later.after.status is S.AWAITING_BUYER_SHIP and later.after.refund_cents == 1299


def test_while_an_offer_is_out_the_buyer_cannot_cancel_or_submit_but_a_note_is_allowed():
    req = offered()
    with pytest.raises(WrongStatus, match="offer out"):
        d.cancel(req, T0 + 2 * H)
    with pytest.raises(Refused, match="already has an open request"):
        d.submit(submission("R2"), d.summarize_order([req]), T0 + 2 * H, RULES)
    assert d.add_note(req, "alice", T0 + 2 * H, "called").after.status is S.AWAITING_BUYER_RESPONSE
    with pytest.raises(WrongStatus):
        d.accept(req, "alice", T0 + 2 * H, RULES)
    with pytest.raises(WrongStatus):
        d.reject(req, "alice", T0 + 2 * H, RULES, "no_proof", "")


# ---------------------------------------------------------------------------------------------
# reject_receipt, appeal and mediation after it


def test_a_receipt_rejection_opens_the_appeal_window_and_clears_the_refund():
    change = d.reject_receipt(shipped(), "alice", T0 + 3 * H, RULES, "missing_parts", "no cable")
    req = change.after
    assert (req.status, req.reject_stage, req.rejected_at, req.refund_cents) == (
        S.REJECTED, d.RejectStage.RECEIPT, T0 + 3 * H, None
    )  # fmt: skip
    assert req.deadline_at == T0 + 3 * H + H48
    assert change.records[0].kind is K.RECEIPT_REJECTED
    assert change.records[0].details == {"reason": "missing_parts", "note": "no cable"}


@pytest.mark.parametrize("reason", ["no_proof", "not_as_claimed", "bogus", None])
def test_a_receipt_rejection_takes_only_the_receipt_reasons(reason):
    with pytest.raises(Refused, match="rejecting a returned package"):
        d.reject_receipt(shipped(), "alice", T0 + 3 * H, RULES, reason, "note")


@pytest.mark.parametrize("note", ["", "   ", None, "n" * 501])
def test_a_receipt_rejection_needs_a_note_of_1_to_500(note):
    with pytest.raises(Refused, match="note"):
        d.reject_receipt(shipped(), "alice", T0 + 3 * H, RULES, "other", note)
    assert d.reject_receipt(shipped(), "alice", T0 + 3 * H, RULES, "other", "n" * 500)


def test_a_receipt_rejection_is_refused_unless_the_package_was_shipped():
    with pytest.raises(WrongStatus, match="cannot be rejected at receipt: it is pending"):
        d.reject_receipt(new(), "alice", T1, RULES, "other", "x")


@pytest.mark.parametrize(("decision", "status"), [("buyer", S.COMPLETED), ("seller", S.REJECTED)])
def test_a_receipt_rejection_appealed_then_mediated(decision, status):
    req = receipt_rejected()
    order = d.summarize_order([req])
    assert order.receipt_rejected and not order.appeal_made
    req = d.appeal(req, order, T0 + 4 * H, RULES).after
    req = d.mediate(req, "sam", T0 + 5 * H, RULES, decision, "checked").after
    assert req.status is status
    assert req.reject_stage is d.RejectStage.RECEIPT  # kept through mediation
    assert req.refund_cents == (1299 if decision == "buyer" else None)
    assert req.deadline_at is None


def test_no_new_request_after_a_receipt_rejection_even_within_the_window():
    req = receipt_rejected()
    with pytest.raises(Refused, match="rejected at receipt; the buyer can only appeal"):
        d.submit(submission("R2"), d.summarize_order([req]), T0 + 4 * H, RULES)
    options = d.buyer_options(req, d.summarize_order([req]), T0 + 4 * H, RULES)
    assert options.text == "Rejected at receipt: the buyer can only appeal."


def test_a_request_back_through_mediation_rejected_at_receipt_cannot_be_appealed():
    req = d.reject(new(), "bob", T1, RULES, "no_proof", "").after
    req = d.appeal(req, d.summarize_order([req]), T0 + 2 * H, RULES).after
    req = d.mediate(req, "sam", T0 + 3 * H, RULES, "buyer", "fine").after
    req = d.ship(req, T0 + 4 * H, RULES, "1Z1").after
    req = receipt_rejected(req, T0 + 5 * H)
    assert req.deadline_at is None  # nothing can follow it
    with pytest.raises(Refused, match="appeal was already made"):
        d.appeal(req, d.summarize_order([req]), T0 + 6 * H, RULES)


def test_the_paths_of_design_7_pass_path_violations_and_a_forged_one_does_not():
    keep = [
        d.Record(T0, "buyer", K.SUBMITTED, None, S.PENDING),
        d.Record(T1, "alice", K.ACCEPTED, S.PENDING, S.COMPLETED, {"keep_item": True}),
    ]
    assert d.path_violations(S.COMPLETED, keep, d.RequestType.RETURN_AND_REFUND) == []
    assert d.path_violations(S.COMPLETED, keep, d.RequestType.REFUND) != []
    plain = [keep[0], d.Record(T1, "alice", K.ACCEPTED, S.PENDING, S.COMPLETED)]
    assert d.path_violations(S.COMPLETED, plain, d.RequestType.RETURN_AND_REFUND) != []


# ---------------------------------------------------------------------------------------------
# Through the services, on both databases


def test_the_services_walk_an_offer_and_tell_the_loser_who_won(svc, alice):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.offer(alice, "R1", T1, "6.50")
    with pytest.raises(WrongStatus, match=r"offered by alice at"):
        svc.accept(alice, "R1", T0 + 2 * H)
    with pytest.raises(Refused, match="already has an open request"):
        svc.submit(BUYER, submission("R2", "O1"), T0 + 2 * H)
    with pytest.raises(Refused, match="Only the buyer may agree"):
        svc.agree(alice, "R1", T0 + 2 * H)
    req = svc.agree(BUYER, "R1", T0 + 2 * H)
    assert (req.status, req.refund_cents, req.keep_item) == (S.COMPLETED, 650, True)
    assert svc.get(alice, "R1") == req


def test_the_sweep_lapses_an_offer_at_offer_by_and_writes_respond_by(svc, alice, engine):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.offer(alice, "R1", T1, "6.50")
    assert svc.sweep(T1 + H48 - SEC) == []
    swept = svc.sweep(T1 + H48 + H48)
    assert [(s.kind, s.at) for s in swept] == [
        (K.OFFER_LAPSED, T1 + H48), (K.AUTO_APPROVED, T1 + H48 + H48),
    ]  # fmt: skip
    req = svc.get(alice, "R1")
    assert (req.status, req.respond_by, req.refund_cents) == (
        S.AWAITING_BUYER_SHIP, T1 + H48 + H48, 1299
    )  # fmt: skip
    assert check(engine, T1 + H48 + H48, rules=RULES) == []


def test_deadlines_at_the_same_moment_apply_in_creation_order(svc, alice, engine):
    """R2 is created first and its offer lapses at T0+49 h, when R1 (created an hour later)
    is auto-approved. By tab and id R1 would come first; by creation, R2 does."""
    svc.submit(BUYER, submission("R2", "O2"), T0)
    svc.submit(BUYER, submission("R1", "O1"), T1)
    svc.offer(alice, "R2", T1, "6.50")  # offer_by T0 + 49 h = R1's respond_by
    swept = svc.sweep(T0 + 49 * H)
    assert [(s.request_id, s.kind, s.at) for s in swept] == [
        ("R2", K.OFFER_LAPSED, T0 + 49 * H), ("R1", K.AUTO_APPROVED, T0 + 49 * H),
    ]  # fmt: skip
    records = metadata.tables["records"]
    with engine.connect() as conn:
        written = conn.execute(
            sa.select(records.c.request_id).where(records.c.actor == "system")
            .order_by(records.c.id)
        ).scalars().all()  # fmt: skip
    assert written == ["R2", "R1"]


def test_an_offer_then_an_answer_at_offer_by_via_apply_is_refused(svc, engine):
    lines = [
        {"at": "2026-11-20T09:00:00Z", "actor": "buyer", "action": "submit", "request_id": "R1",
         "order_id": "O1", "shop": "acme", "type": "return_and_refund", "buyer": "Ana",
         "product": "Mug", "sku": "MUG-1", "quantity": 1, "amount": "12.99", "currency": "USD",
         "reason": "damaged"},
        {"at": "2026-11-20T10:00:00Z", "actor": "alice", "action": "offer", "request_id": "R1",
         "amount": 6.5},
        {"at": "2026-11-20T10:00:00Z", "actor": "alice", "action": "offer", "request_id": "R1",
         "amount": "12.99"},
        {"at": "2026-11-20T10:00:00Z", "actor": "alice", "action": "offer", "request_id": "R1",
         "amount": "6.50", "key": "evt-1"},
        {"at": "2026-11-20T10:00:00Z", "actor": "alice", "action": "offer", "request_id": "R1",
         "amount": "6.50", "key": "evt-1"},
        {"at": "2026-11-22T10:00:00Z", "actor": "buyer", "action": "agree", "request_id": "R1"},
        {"at": "2026-11-22T10:00:01Z", "actor": "alice", "action": "accept", "request_id": "R1",
         "keep_item": "yes"},
        {"at": "2026-11-22T10:00:02Z", "actor": "alice", "action": "accept", "request_id": "R1",
         "keep_item": True},
    ]  # fmt: skip
    out = io.StringIO()
    stdin = io.BytesIO("\n".join(json.dumps(line) for line in lines).encode())
    clock = lambda: pendulum.datetime(2026, 12, 1)  # noqa: E731
    assert applying.run(svc, svc.login("root-admin"), "-", out=out, stdin=stdin, clock=clock) == 0
    verdicts = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [v["ok"] for v in verdicts] == [True, False, False, True, True, False, False, True]
    assert "decimal string" in verdicts[1]["error"]
    assert "below the amount asked" in verdicts[2]["error"]
    assert verdicts[4].get("duplicate") is True
    assert "it is pending" in verdicts[5]["error"]  # at exactly offer_by: lapsed
    assert verdicts[6]["error"] == "The field keep_item must be true, false or null, not text."
    assert check(engine, pendulum.datetime(2026, 11, 22, 11), rules=RULES) == []


def test_export_writes_the_five_fields_on_every_request(svc, alice, sam):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.offer(alice, "R1", T1, "6.50")
    svc.agree(BUYER, "R1", T0 + 2 * H)
    svc.submit(BUYER, submission("R2", "O2"), T0)
    svc.accept(alice, "R2", T1)
    svc.ship(BUYER, "R2", T0 + 2 * H, "1Z2")
    svc.reject_receipt(alice, "R2", T0 + 3 * H, "wrong_item_returned", "a different mug")
    svc.submit(BUYER, submission("R3", "O3", amount="1500", currency="JPY"), T0)
    admin = svc.login("root-admin")
    out = io.StringIO()
    exporting.write_jsonl(svc.export(admin), out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    fields = ("refund_amount", "offer_amount", "offer_by", "keep_item", "reject_stage")
    assert [tuple(r[f] for f in fields) for r in rows] == [
        ("6.50", "6.50", "2026-11-22T10:00:00Z", True, None),
        (None, None, None, False, "receipt"),
        (None, None, None, False, None),
    ]
    assert [r["records"][-1]["kind"] for r in rows] == ["agreed", "receipt_rejected", "submitted"]
    assert rows[0]["records"][1]["amount"] == "6.50"
    out = io.StringIO()
    exporting.write_csv(svc.export(admin), out)
    cells = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [tuple(c[f] for f in fields) for c in cells] == [
        ("6.50", "6.50", "2026-11-22T10:00:00Z", "true", ""),
        ("", "", "", "false", "receipt"),
        ("", "", "", "false", ""),
    ]


# ---------------------------------------------------------------------------------------------
# Migration 0006 on a database with data in it


def test_migration_0006_fills_the_new_fields_of_an_existing_database(
    engine,
    db_url,
    scratch_url,  # noqa: F811 (the fixture)
):
    scratch = open_engine(scratch_url)
    upgrade(scratch)
    svc = Returns(scratch)
    cast(svc)
    build_scenario(svc, decisions=False)  # every pre-§7 status, with records and chains
    emptied(engine, db_url)
    old = at_revision(db_url, "0005")
    copy_into_older(scratch, old)
    scratch.dispose()
    try:
        assert upgrade(old) == ("0005", HEAD)
        assert check(old, NOW, rules=RULES) == []
        with old.connect() as conn:
            got = {
                r.id: (r.status, r.refund_cents, r.offer_cents, r.offer_by, bool(r.keep_item),
                       r.reject_stage)
                for r in conn.execute(sa.select(metadata.tables["requests"]))
            }  # fmt: skip
        assert got["DONE"] == ("completed", 1299, None, None, False, None)
        assert got["SH"] == ("buyer_shipped", 1299, None, None, False, None)
        assert got["REJ"] == ("rejected", None, None, None, False, "request")
        assert got["BUY"] == ("awaiting_buyer_ship", 1299, None, None, False, "request")
        assert got["CAN"] == ("cancelled", None, None, None, False, None)
        # And the upgraded database takes §7's actions.
        svc = Returns(old)
        svc.offer(svc.login("alice"), "P", NOW, "1.00")
        assert check(old, NOW, rules=RULES) == []
    finally:
        old.dispose()
