"""The rules of DESIGN §2 as pure functions: one test (or more) per row of the action table,
per automatic transition and per refusal, with the boundaries exact to the second."""

from __future__ import annotations

import pendulum
import pytest

from returns_tui import domain as d
from returns_tui import labels
from returns_tui.errors import Refused, WrongStatus
from tests.conftest import T0, submission

RULES = d.Rules()
SEC = pendulum.duration(seconds=1)
H48 = pendulum.duration(hours=48)
D5 = pendulum.duration(days=5)
D8 = pendulum.duration(days=8)
S = d.Status
K = d.Kind


def hours(n: float) -> pendulum.Duration:
    return pendulum.duration(seconds=round(n * 3600))


T1, T2 = T0 + hours(1), T0 + hours(2)


def new(rtype: str = "return_and_refund", now=T0, rules: d.Rules = RULES, **over) -> d.Request:
    """A fresh pending request submitted at `now` on an order with no history."""
    return d.submit(submission(type=rtype, **over), d.OrderHistory(), now, rules).after


def caught(req: d.Request, now, rules: d.Rules = RULES) -> d.Request:
    """The request as an action at `now` finds it: every deadline ≤ now applied first."""
    return d.catch_up(req, now, rules).after


def awaiting(at=T1) -> d.Request:
    return d.accept(new(), "alice", at, RULES).after


def shipped(at=T2) -> d.Request:
    return d.ship(awaiting(), at, RULES, "1Z999").after


def rejected(at=T1, rtype: str = "return_and_refund", **over) -> d.Request:
    return d.reject(new(rtype, **over), "bob", at, RULES, "no_proof", "").after


def in_mediation(rtype: str = "return_and_refund") -> d.Request:
    req = rejected(rtype=rtype)
    return d.appeal(req, d.summarize_order([req]), T0 + hours(2), RULES).after


def completed() -> d.Request:
    return d.accept(new("refund"), "alice", T0 + hours(1), RULES).after


def cancelled() -> d.Request:
    return d.cancel(new(), T0 + hours(1)).after


def offered(at=T1) -> d.Request:
    return d.offer(new(), "alice", at, RULES, "6.50").after


ALL_STATES = {
    S.PENDING: new,
    S.AWAITING_BUYER_SHIP: awaiting,
    S.BUYER_SHIPPED: shipped,
    S.COMPLETED: completed,
    S.REJECTED: rejected,
    S.CANCELLED: cancelled,
    S.IN_MEDIATION: in_mediation,
    S.AWAITING_BUYER_RESPONSE: offered,
}


def test_every_status_has_a_builder():
    assert set(ALL_STATES) == set(S)
    for status, build in ALL_STATES.items():
        assert build().status is status


# ---------------------------------------------------------------------------------------------
# submit


def test_submit_makes_a_pending_request_with_its_deadline_and_a_submitted_record():
    change = d.submit(submission(), d.OrderHistory(), T0, RULES)
    req = change.after
    assert req.status is S.PENDING
    assert req.attempt == 1
    assert req.arbitration is None
    assert req.created_at == T0
    assert req.respond_by == T0 + H48
    assert req.deadline_at == T0 + H48
    assert req.amount_cents == 1299 and req.currency == "USD"
    assert req.type is d.RequestType.RETURN_AND_REFUND
    assert change.records == (
        d.Record(T0, "buyer", K.SUBMITTED, None, S.PENDING, {"note": "cracked on arrival"}),
    )


@pytest.mark.parametrize("status", sorted(d.OPEN_STATUSES))
def test_submit_refused_while_a_request_on_the_order_is_open(status):
    other = ALL_STATES[status]()
    with pytest.raises(Refused, match="already has an open request"):
        d.submit(submission("R2"), d.summarize_order([other]), T0 + hours(3), RULES)


def test_submit_refused_when_a_request_on_the_order_was_completed():
    with pytest.raises(Refused, match="already refunded"):
        d.submit(submission("R2"), d.summarize_order([completed()]), T0 + hours(3), RULES)


def test_submit_allowed_after_the_first_request_was_cancelled():
    after = d.submit(submission("R2"), d.summarize_order([cancelled()]), T0 + hours(3), RULES)
    assert after.after.status is S.PENDING
    assert after.after.attempt == 1  # a cancelled request is not a rejection


@pytest.mark.parametrize("decision", ["buyer", "seller"])
def test_submit_refused_when_an_appeal_on_the_order_was_decided(decision):
    req = d.mediate(in_mediation(), "sam", T0 + hours(3), RULES, decision, "decided").after
    if decision == "buyer":
        # The buyer then let the return lapse: nothing is open or completed, but the appeal
        # was decided, which alone closes the order.
        req = d.cancel(req, T0 + hours(4)).after
        assert req.status is S.CANCELLED
    else:
        assert req.status is S.REJECTED
    history = d.summarize_order([req])
    assert history.rejected_count == 1 and history.appeal_decided
    with pytest.raises(Refused, match="appeal .* was already decided"):
        d.submit(submission("R2"), history, T0 + hours(5), RULES)


def test_second_request_within_the_window_has_attempt_two():
    first = rejected(at=T0 + hours(1))
    history = d.summarize_order([first])
    last_second = first.rejected_at + H48 - SEC
    second = d.submit(submission("R2"), history, last_second, RULES).after
    assert second.attempt == 2
    assert second.status is S.PENDING


def test_second_request_at_the_end_of_the_window_is_refused():
    first = rejected(at=T0 + hours(1))
    with pytest.raises(Refused, match="second request .* has closed"):
        d.submit(submission("R2"), d.summarize_order([first]), first.rejected_at + H48, RULES)


def test_third_request_after_two_rejections_is_refused_only_appeal_remains():
    first = rejected(at=T0 + hours(1))
    second = d.submit(submission("R2"), d.summarize_order([first]), T0 + hours(2), RULES).after
    second = d.reject(second, "bob", T0 + hours(3), RULES, "outside_policy", "").after
    history = d.summarize_order([first, second])
    assert history.rejected_count == 2
    with pytest.raises(Refused, match="rejected twice; the buyer can only submit an appeal"):
        d.submit(submission("R3"), history, T0 + hours(4), RULES)
    # ... and the appeal is indeed still open to the buyer, on the latest request.
    appealed = d.appeal(second, history, T0 + hours(4), RULES).after
    assert appealed.status is S.IN_MEDIATION


def test_attempt_is_one_plus_the_rejected_requests_on_the_order():
    first = rejected(at=T0 + hours(1))
    # The first rejected request counts as rejected even after it was appealed.
    second = d.submit(submission("R2"), d.summarize_order([first]), T0 + hours(2), RULES).after
    assert second.attempt == 2
    assert d.summarize_order([]).rejected_count == 0
    assert new().attempt == 1


def test_submit_refused_when_the_order_belongs_to_another_shop():
    other = cancelled()  # acme
    with pytest.raises(Refused, match="belongs to another shop"):
        d.submit(submission("R2", shop="globex"), d.summarize_order([other]), T0, RULES)


@pytest.mark.parametrize("rtype", ["exchange", "", "REFUND", None, 1])
def test_submit_refuses_a_wrong_type(rtype):
    with pytest.raises(Refused, match="type must be refund or return_and_refund"):
        d.submit(submission(type=rtype), d.OrderHistory(), T0, RULES)


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        "0.00",
        "1.234",
        12.99,
        12,
        "abc",
        "-1",
        "1.",
        ".5",
        "1e3",
        "",
        " 1",
        None,
        "١٢",
        "１２",
        "12.٥",
    ],  # digits of other scripts are not a decimal string
)
def test_submit_refuses_a_wrong_amount(amount):
    with pytest.raises(Refused, match="amount"):
        d.submit(submission(amount=amount), d.OrderHistory(), T0, RULES)


@pytest.mark.parametrize(
    ("amount", "cents"), [("12.99", 1299), ("12", 1200), ("0.01", 1), ("12.5", 1250)]
)
def test_submit_takes_a_decimal_string_amount(amount, cents):
    assert new(amount=amount).amount_cents == cents


@pytest.mark.parametrize("currency", ["usd", "US", "USDD", "U5D", "", None])
def test_submit_refuses_a_wrong_currency(currency):
    with pytest.raises(Refused, match="currency must be three capital letters"):
        d.submit(submission(currency=currency), d.OrderHistory(), T0, RULES)


@pytest.mark.parametrize("quantity", [0, -1, True, False, "1", 1.0, None])
def test_submit_refuses_a_wrong_quantity(quantity):
    with pytest.raises(Refused, match="quantity must be a whole number of at least 1"):
        d.submit(submission(quantity=quantity), d.OrderHistory(), T0, RULES)


def test_submit_takes_a_whole_quantity():
    assert new(quantity=3).quantity == 3


@pytest.mark.parametrize("field", ["rid", "order", "shop", "buyer", "product", "sku", "note"])
def test_submit_refuses_a_nul_character_in_its_text(field):
    with pytest.raises(Refused, match="cannot contain the NUL character"):
        d.check_submission(submission(**{field: "a\x00b"}))
    with pytest.raises(Refused, match="cannot contain the NUL character"):
        d.submit(submission(**{field: "a\x00b"}), d.OrderHistory(), T0, RULES)


@pytest.mark.parametrize("field", ["id", "order_id", "shop", "buyer", "product", "sku"])
def test_submit_refuses_a_missing_field(field):
    with pytest.raises(Refused, match="missing"):
        d.submit(submission(**{field: ""}), d.OrderHistory(), T0, RULES)


# ---------------------------------------------------------------------------------------------
# accept


def test_accept_refund_completes_it():
    change = d.accept(new("refund"), "alice", T0 + hours(1), RULES)
    assert change.after.status is S.COMPLETED
    assert change.after.deadline_at is None
    assert change.records == (
        d.Record(T0 + hours(1), "alice", K.ACCEPTED, S.PENDING, S.COMPLETED, {}),
    )


def test_accept_return_and_refund_waits_for_the_buyer_to_ship_within_five_days():
    change = d.accept(new(), "alice", T0 + hours(1), RULES)
    assert change.after.status is S.AWAITING_BUYER_SHIP
    assert change.after.deadline_at == T0 + hours(1) + D5
    assert change.after.status_since == T0 + hours(1)
    assert change.records[0].kind is K.ACCEPTED
    assert (change.records[0].from_status, change.records[0].to_status) == (
        S.PENDING,
        S.AWAITING_BUYER_SHIP,
    )


def test_accept_one_second_before_respond_by_wins():
    req = new()
    now = req.respond_by - SEC
    before = caught(req, now)
    assert before.status is S.PENDING
    assert d.accept(before, "alice", now, RULES).after.status is S.AWAITING_BUYER_SHIP


def test_accept_at_respond_by_is_refused_because_it_was_auto_approved_then():
    req = new()
    now = req.respond_by
    change = d.catch_up(req, now, RULES)
    assert [r.kind for r in change.records] == [K.AUTO_APPROVED]
    assert change.records[0].at == req.respond_by
    with pytest.raises(WrongStatus, match="cannot be accepted: it is awaiting shipment"):
        d.accept(change.after, "alice", now, RULES)


@pytest.mark.parametrize("status", [s for s in S if s is not S.PENDING])
def test_accept_refused_unless_pending(status):
    with pytest.raises(WrongStatus, match=f"cannot be accepted: it is {labels.status(status)}"):
        d.accept(ALL_STATES[status](), "alice", T0 + hours(3), RULES)


# ---------------------------------------------------------------------------------------------
# reject


def test_reject_records_the_reason_and_note_and_opens_the_buyers_window():
    change = d.reject(new(), "bob", T0 + hours(1), RULES, "other", "see photo")
    req = change.after
    assert req.status is S.REJECTED
    assert req.rejected_at == T0 + hours(1)
    assert req.deadline_at == T0 + hours(1) + H48
    assert change.records == (
        d.Record(
            T0 + hours(1),
            "bob",
            K.REJECTED,
            S.PENDING,
            S.REJECTED,
            {"reason": "other", "note": "see photo"},
        ),
    )


@pytest.mark.parametrize("reason", sorted(d.DEFAULT_REASONS))
def test_reject_takes_every_reason_of_the_list(reason):
    note = "because" if reason == "other" else ""
    change = d.reject(new(), "bob", T0 + hours(1), RULES, reason, note)
    assert change.records[0].details["reason"] == reason


@pytest.mark.parametrize("reason", ["", "damaged", "OTHER", None, 3])
def test_reject_refuses_a_reason_not_in_the_list(reason):
    with pytest.raises(Refused, match="Choose a reason from the list"):
        d.reject(new(), "bob", T0 + hours(1), RULES, reason, "x")


@pytest.mark.parametrize("note", ["", None, "   "])
def test_reject_other_needs_a_note(note):
    with pytest.raises(Refused, match="note is required when the reason is 'other'"):
        d.reject(new(), "bob", T0 + hours(1), RULES, "other", note)


def test_reject_note_of_500_characters_is_taken_501_refused():
    ok = d.reject(new(), "bob", T0 + hours(1), RULES, "no_proof", "n" * 500)
    assert ok.records[0].details["note"] == "n" * 500
    with pytest.raises(Refused, match="501 characters; at most 500"):
        d.reject(new(), "bob", T0 + hours(1), RULES, "no_proof", "n" * 501)
    with pytest.raises(Refused, match="501 characters; at most 500"):
        d.reject(new(), "bob", T0 + hours(1), RULES, "other", "n" * 501)


def test_reject_note_must_be_text():
    with pytest.raises(Refused, match="note must be text"):
        d.reject(new(), "bob", T0 + hours(1), RULES, "no_proof", 42)


def test_reject_reasons_are_a_setting():
    rules = d.Rules(reasons={"fraud": "Fraud suspected"})
    assert d.reject(new(), "bob", T0, rules, "fraud", "").after.status is S.REJECTED
    with pytest.raises(Refused, match="Choose a reason"):
        d.reject(new(), "bob", T0, rules, "no_proof", "")


def test_reject_one_second_before_respond_by_wins_at_respond_by_refused():
    req = new()
    now = req.respond_by - SEC
    assert d.reject(caught(req, now), "bob", now, RULES, "no_proof", "").after.status is S.REJECTED
    with pytest.raises(WrongStatus, match="cannot be rejected"):
        d.reject(caught(req, req.respond_by), "bob", req.respond_by, RULES, "no_proof", "")


@pytest.mark.parametrize("status", [s for s in S if s is not S.PENDING])
def test_reject_refused_unless_pending(status):
    with pytest.raises(WrongStatus, match="cannot be rejected"):
        d.reject(ALL_STATES[status](), "bob", T0 + hours(3), RULES, "no_proof", "")


# ---------------------------------------------------------------------------------------------
# cancel


@pytest.mark.parametrize("status", [S.PENDING, S.AWAITING_BUYER_SHIP])
def test_cancel_from_pending_or_awaiting(status):
    req = ALL_STATES[status]()
    change = d.cancel(req, T0 + hours(3))
    assert change.after.status is S.CANCELLED
    assert change.after.deadline_at is None
    assert change.records == (
        d.Record(T0 + hours(3), "buyer", K.CANCELLED, status, S.CANCELLED, {}),
    )


@pytest.mark.parametrize(
    "status", [S.BUYER_SHIPPED, S.COMPLETED, S.REJECTED, S.CANCELLED, S.IN_MEDIATION]
)
def test_cancel_refused_otherwise(status):
    with pytest.raises(WrongStatus, match="cannot be cancelled"):
        d.cancel(ALL_STATES[status](), T0 + hours(3))


# ---------------------------------------------------------------------------------------------
# ship


def test_ship_records_the_tracking_number_and_starts_the_eight_days():
    change = d.ship(awaiting(), T0 + hours(5), RULES, "1Z-999")
    req = change.after
    assert req.status is S.BUYER_SHIPPED
    assert req.tracking == "1Z-999"
    assert req.deadline_at == T0 + hours(5) + D8
    assert change.records == (
        d.Record(
            T0 + hours(5),
            "buyer",
            K.SHIPPED,
            S.AWAITING_BUYER_SHIP,
            S.BUYER_SHIPPED,
            {"tracking": "1Z-999"},
        ),
    )


@pytest.mark.parametrize("tracking", ["A" * 64, "a", "Z", "0", "-", "aZ09-x"])
def test_ship_takes_a_tracking_number_of_1_to_64_letters_digits_or_dash(tracking):
    assert d.ship(awaiting(), T0 + hours(5), RULES, tracking).after.tracking == tracking


@pytest.mark.parametrize(
    "tracking", ["A" * 65, "", "_", "AB CD", "1Z_9", "ÄBC", "١٢٣", "12\n", "1.2", None, 123]
)
def test_ship_refuses_a_wrong_tracking_number(tracking):
    with pytest.raises(Refused, match="tracking number must be 1 to 64"):
        d.ship(awaiting(), T0 + hours(5), RULES, tracking)


@pytest.mark.parametrize("status", [s for s in S if s is not S.AWAITING_BUYER_SHIP])
def test_ship_refused_unless_awaiting(status):
    with pytest.raises(WrongStatus, match="cannot be shipped"):
        d.ship(ALL_STATES[status](), T0 + hours(5), RULES, "1Z999")


def test_ship_one_second_before_ship_by_wins_at_ship_by_refused():
    req = awaiting(at=T0 + hours(1))
    ship_by = req.deadline_at
    assert d.ship(caught(req, ship_by - SEC), ship_by - SEC, RULES, "X1").after.tracking == "X1"
    late = caught(req, ship_by)
    assert late.status is S.CANCELLED
    with pytest.raises(WrongStatus, match="cannot be shipped: it is cancelled"):
        d.ship(late, ship_by, RULES, "X1")


# ---------------------------------------------------------------------------------------------
# receive


def test_receive_completes_a_shipped_request():
    change = d.receive(shipped(), "alice", T0 + hours(30))
    assert change.after.status is S.COMPLETED
    assert change.after.deadline_at is None
    assert change.records == (
        d.Record(T0 + hours(30), "alice", K.RECEIVED, S.BUYER_SHIPPED, S.COMPLETED, {}),
    )


@pytest.mark.parametrize("status", [s for s in S if s is not S.BUYER_SHIPPED])
def test_receive_refused_unless_shipped(status):
    with pytest.raises(WrongStatus, match="cannot be received"):
        d.receive(ALL_STATES[status](), "alice", T0 + hours(30))


# ---------------------------------------------------------------------------------------------
# appeal


def test_appeal_sends_the_rejection_to_mediation():
    req = rejected(at=T0 + hours(1))
    change = d.appeal(req, d.summarize_order([req]), T0 + hours(2), RULES)
    assert change.after.status is S.IN_MEDIATION
    assert change.after.arbitration is d.Arbitration.IN_PROGRESS
    assert d.next_due(change.after) is None
    assert change.records == (
        d.Record(T0 + hours(2), "buyer", K.APPEALED, S.REJECTED, S.IN_MEDIATION, {}),
    )


def test_appeal_one_second_before_the_window_ends_wins_at_the_end_refused():
    req = rejected(at=T0 + hours(1))
    end = req.rejected_at + H48
    history = d.summarize_order([req])
    assert d.appeal(req, history, end - SEC, RULES).after.status is S.IN_MEDIATION
    with pytest.raises(Refused, match="window to appeal R1 has closed"):
        d.appeal(req, history, end, RULES)


def test_appeal_refused_on_a_request_that_is_not_the_latest_on_its_order():
    first = rejected(at=T0 + hours(1))
    second = d.submit(submission("R2"), d.summarize_order([first]), T0 + hours(2), RULES).after
    second = d.cancel(second, T0 + hours(3)).after  # not even open any more
    with pytest.raises(Refused, match=r"R1 cannot be appealed: a later request \(R2\)"):
        d.appeal(first, d.summarize_order([first, second]), T0 + hours(4), RULES)


def test_appeal_refused_when_an_appeal_was_already_made_on_the_order():
    req = d.mediate(in_mediation(), "sam", T0 + hours(3), RULES, "seller", "no").after
    assert req.status is S.REJECTED
    with pytest.raises(Refused, match="appeal was already made on order O1"):
        d.appeal(req, d.summarize_order([req]), T0 + hours(4), RULES)
    # The order-wide rule on its own: another request of the order was appealed.
    fresh = rejected(at=T0 + hours(1), rid="R2")
    history = d.OrderHistory(shop="acme", latest_request_id="R2", appeal_made=True)
    with pytest.raises(Refused, match="appeal was already made"):
        d.appeal(fresh, history, T0 + hours(2), RULES)


@pytest.mark.parametrize("status", [s for s in S if s is not S.REJECTED])
def test_appeal_refused_unless_rejected(status):
    req = ALL_STATES[status]()
    with pytest.raises(WrongStatus, match="cannot be appealed"):
        d.appeal(req, d.summarize_order([req]), T0 + hours(3), RULES)


# ---------------------------------------------------------------------------------------------
# mediate


def test_mediate_for_the_buyer_is_an_accept_at_that_moment_return_and_refund():
    now = T0 + hours(10)
    change = d.mediate(in_mediation(), "sam", now, RULES, "buyer", "photo is clear")
    req = change.after
    assert req.status is S.AWAITING_BUYER_SHIP
    assert req.deadline_at == now + D5  # ship_by counts from the decision
    assert req.arbitration is d.Arbitration.SUPPORT_BUYER
    assert change.records == (
        d.Record(
            now,
            "sam",
            K.MEDIATED,
            S.IN_MEDIATION,
            S.AWAITING_BUYER_SHIP,
            {"decision": "buyer", "note": "photo is clear"},
        ),
    )


def test_mediate_for_the_buyer_on_a_refund_completes_it():
    req = d.mediate(in_mediation("refund"), "sam", T0 + hours(10), RULES, "buyer", "ok").after
    assert req.status is S.COMPLETED
    assert req.arbitration is d.Arbitration.SUPPORT_BUYER


def test_mediate_for_the_seller_rejects_for_good():
    change = d.mediate(in_mediation(), "sam", T0 + hours(10), RULES, "seller", "used item")
    req = change.after
    assert req.status is S.REJECTED
    assert req.arbitration is d.Arbitration.SUPPORT_SELLER
    assert d.next_due(req) is None
    assert change.records[0].details == {"decision": "seller", "note": "used item"}
    assert d.catch_up(req, T0 + hours(1000), RULES).records == ()


@pytest.mark.parametrize("decision", ["", "Buyer", "both", None])
def test_mediate_refuses_a_decision_other_than_buyer_or_seller(decision):
    with pytest.raises(Refused, match="decision must be 'buyer' or 'seller'"):
        d.mediate(in_mediation(), "sam", T0 + hours(10), RULES, decision, "n")


@pytest.mark.parametrize("note", ["", None, "n" * 501])
def test_mediate_needs_a_note_of_1_to_500(note):
    with pytest.raises(Refused, match="note"):
        d.mediate(in_mediation(), "sam", T0 + hours(10), RULES, "buyer", note)


@pytest.mark.parametrize("status", [s for s in S if s is not S.IN_MEDIATION])
def test_mediate_refused_unless_in_mediation(status):
    with pytest.raises(WrongStatus, match="cannot be mediated"):
        d.mediate(ALL_STATES[status](), "sam", T0 + hours(10), RULES, "buyer", "n")


# ---------------------------------------------------------------------------------------------
# note


@pytest.mark.parametrize("status", list(S))
def test_note_in_any_status_adds_a_record_and_changes_nothing_else(status):
    req = ALL_STATES[status]()
    change = d.add_note(req, "sam", T0 + hours(3), "called the buyer")
    assert change.after == req
    assert change.records == (
        d.Record(T0 + hours(3), "sam", K.NOTED, status, status, {"note": "called the buyer"}),
    )


@pytest.mark.parametrize("note", ["x", "n" * 500])
def test_note_of_1_to_500_characters(note):
    assert d.add_note(new(), "alice", T0, note).records[0].details == {"note": note}


@pytest.mark.parametrize("note", ["", None, "n" * 501, 5])
def test_note_refused_when_empty_too_long_or_not_text(note):
    with pytest.raises(Refused, match="note"):
        d.add_note(new(), "alice", T0, note)


# ---------------------------------------------------------------------------------------------
# Time moves by itself


@pytest.mark.parametrize(
    ("rtype", "to"), [("refund", S.COMPLETED), ("return_and_refund", S.AWAITING_BUYER_SHIP)]
)
def test_pending_at_respond_by_is_auto_approved_as_accept(rtype, to):
    req = new(rtype)
    change = d.catch_up(req, req.respond_by, RULES)
    assert change.after.status is to
    assert change.records == (
        d.Record(req.respond_by, "system", K.AUTO_APPROVED, S.PENDING, to, {}),
    )


def test_nothing_moves_one_second_before_a_deadline():
    for build in (new, awaiting, shipped):
        req = build()
        change = d.catch_up(req, req.deadline_at - SEC, RULES)
        assert change.records == ()
        assert change.after == req


def test_sweep_three_hours_late_stamps_the_deadline_and_ship_by_counts_from_it():
    req = new()
    sweep_at = req.respond_by + hours(3)
    change = d.catch_up(req, sweep_at, RULES)
    assert [r.at for r in change.records] == [req.respond_by]
    assert change.after.status_since == req.respond_by
    assert change.after.deadline_at == req.respond_by + D5  # not sweep_at + 5 days


def test_awaiting_at_ship_by_expires_to_cancelled():
    req = awaiting(at=T0 + hours(1))
    ship_by = req.deadline_at
    change = d.catch_up(req, ship_by + hours(7), RULES)
    assert change.after.status is S.CANCELLED
    assert change.records == (
        d.Record(ship_by, "system", K.EXPIRED, S.AWAITING_BUYER_SHIP, S.CANCELLED, {}),
    )


def test_shipped_at_receive_by_is_refunded_automatically():
    req = shipped(at=T0 + hours(2))
    receive_by = req.deadline_at
    assert receive_by == T0 + hours(2) + D8
    change = d.catch_up(req, receive_by, RULES)
    assert change.after.status is S.COMPLETED
    assert change.records == (
        d.Record(receive_by, "system", K.AUTO_REFUNDED, S.BUYER_SHIPPED, S.COMPLETED, {}),
    )


def test_very_late_sweep_applies_the_chain_pending_auto_approved_expired_in_deadline_order():
    req = new()
    change = d.catch_up(req, req.respond_by + D5 + hours(1), RULES)
    assert [(r.kind, r.at) for r in change.records] == [
        (K.AUTO_APPROVED, req.respond_by),
        (K.EXPIRED, req.respond_by + D5),
    ]
    assert change.after.status is S.CANCELLED
    path = [*_submitted(req), *change.records]
    assert d.path_violations(change.after.status, path, req.type) == []


def test_chain_stops_one_second_before_the_second_deadline():
    req = new()
    change = d.catch_up(req, req.respond_by + D5 - SEC, RULES)
    assert [r.kind for r in change.records] == [K.AUTO_APPROVED]
    assert change.after.status is S.AWAITING_BUYER_SHIP


def test_a_refund_auto_approved_very_late_is_simply_completed():
    req = new("refund")
    change = d.catch_up(req, req.respond_by + pendulum.duration(days=400), RULES)
    assert [r.kind for r in change.records] == [K.AUTO_APPROVED]
    assert change.after.status is S.COMPLETED


@pytest.mark.parametrize("status", [S.COMPLETED, S.REJECTED, S.CANCELLED, S.IN_MEDIATION])
def test_untimed_statuses_never_move_by_themselves(status):
    req = ALL_STATES[status]()
    assert d.next_due(req) is None
    assert d.catch_up(req, T0 + pendulum.duration(days=1000), RULES).records == ()


def test_catch_up_is_idempotent():
    req = new()
    once = d.catch_up(req, req.respond_by + hours(1), RULES).after
    assert d.catch_up(once, req.respond_by + hours(1), RULES).records == ()


# ---------------------------------------------------------------------------------------------
# Windows are settings


def test_windows_are_settings_24h_to_respond():
    rules = d.Rules(respond_window=hours(24))
    req = new(rules=rules)
    assert req.respond_by == T0 + hours(24)
    ok_at = req.respond_by - SEC
    assert d.accept(caught(req, ok_at, rules), "alice", ok_at, rules).after.status is (
        S.AWAITING_BUYER_SHIP
    )
    late = caught(req, req.respond_by, rules)
    assert late.status is S.AWAITING_BUYER_SHIP
    with pytest.raises(WrongStatus):
        d.accept(late, "alice", req.respond_by, rules)


def test_every_window_is_a_setting():
    rules = d.Rules(
        respond_window=hours(1),
        ship_window=hours(2),
        receive_window=hours(3),
        after_rejection_window=hours(4),
    )
    req = new(rules=rules)
    assert req.respond_by == T0 + hours(1)
    acc = d.accept(req, "alice", T0, rules).after
    assert acc.deadline_at == T0 + hours(2)
    shp = d.ship(acc, T0, rules, "X").after
    assert shp.deadline_at == T0 + hours(3)
    rej = d.reject(req, "bob", T0, rules, "no_proof", "").after
    with pytest.raises(Refused, match="window to appeal"):
        d.appeal(rej, d.summarize_order([rej]), T0 + hours(4), rules)
    assert d.appeal(rej, d.summarize_order([rej]), T0 + hours(4) - SEC, rules).after.status is (
        S.IN_MEDIATION
    )


# ---------------------------------------------------------------------------------------------
# path_violations: the state machine the checker and the property tests walk


def _submitted(req: d.Request) -> list[d.Record]:
    return [d.Record(req.created_at, "buyer", K.SUBMITTED, None, S.PENDING)]


def rec(kind, frm, to, at=T0):
    return d.Record(at, "x", kind, frm, to)


RR, REFUND = d.RequestType.RETURN_AND_REFUND, d.RequestType.REFUND


GOOD = [
    rec(K.SUBMITTED, None, S.PENDING),
    rec(K.NOTED, S.PENDING, S.PENDING),
    rec(K.REJECTED, S.PENDING, S.REJECTED),
    rec(K.APPEALED, S.REJECTED, S.IN_MEDIATION),
    rec(K.MEDIATED, S.IN_MEDIATION, S.AWAITING_BUYER_SHIP),
    rec(K.SHIPPED, S.AWAITING_BUYER_SHIP, S.BUYER_SHIPPED),
    rec(K.AUTO_REFUNDED, S.BUYER_SHIPPED, S.COMPLETED),
]


def test_path_violations_accepts_a_good_path():
    assert d.path_violations(S.COMPLETED, GOOD, RR) == []


def test_path_violations_finds_a_path_not_starting_at_submitted():
    problems = d.path_violations(S.COMPLETED, GOOD[1:], RR)
    assert any("first record is not 'submitted'" in p for p in problems)


def test_path_violations_finds_a_gap():
    problems = d.path_violations(S.COMPLETED, GOOD[:3] + GOOD[4:], RR)
    assert any("record 4 starts from in_mediation, not rejected" in p for p in problems)


def test_path_violations_finds_an_edge_the_kind_cannot_take():
    path = [GOOD[0], rec(K.ACCEPTED, S.PENDING, S.REJECTED)]
    assert any("accepted cannot go" in p for p in d.path_violations(S.REJECTED, path, RR))
    path = [GOOD[0], rec(K.EXPIRED, S.PENDING, S.CANCELLED)]
    assert any("expired cannot go" in p for p in d.path_violations(S.CANCELLED, path, RR))


def test_path_violations_finds_a_doubled_transition():
    twice = rec(K.ACCEPTED, S.PENDING, S.COMPLETED)
    path = [GOOD[0], twice, twice]
    assert d.path_violations(S.COMPLETED, path, RR) != []


def test_path_violations_finds_a_status_that_is_not_the_last_records():
    problems = d.path_violations(S.PENDING, GOOD, RR)
    assert any("status is pending but the last record ends in completed" in p for p in problems)
    assert d.path_violations(S.PENDING, [], RR) != []


@pytest.mark.parametrize("kind", [K.ACCEPTED, K.AUTO_APPROVED])
def test_an_approval_leads_where_the_requests_type_sends_it(kind):
    """A refund is completed by its approval, a return waits for the buyer's parcel: the
    other way round is not a path, whoever approved it (issue 11: a return-and-refund that
    went pending → completed by auto-approval passed the checker)."""
    to_done = [GOOD[0], rec(kind, S.PENDING, S.COMPLETED)]
    to_ship = [GOOD[0], rec(kind, S.PENDING, S.AWAITING_BUYER_SHIP)]
    assert d.path_violations(S.COMPLETED, to_done, REFUND) == []
    assert d.path_violations(S.AWAITING_BUYER_SHIP, to_ship, RR) == []
    assert d.path_violations(S.COMPLETED, to_done, RR) == [
        f"record 2: {kind} cannot go pending→completed for a return_and_refund request"
    ]
    assert d.path_violations(S.AWAITING_BUYER_SHIP, to_ship, REFUND) == [
        f"record 2: {kind} cannot go pending→awaiting_buyer_ship for a refund request"
    ]


def test_a_mediation_for_the_buyer_leads_where_the_requests_type_sends_it():
    appealed = [GOOD[0], GOOD[2], GOOD[3]]
    to_done = [*appealed, rec(K.MEDIATED, S.IN_MEDIATION, S.COMPLETED)]
    to_ship = [*appealed, rec(K.MEDIATED, S.IN_MEDIATION, S.AWAITING_BUYER_SHIP)]
    upheld = [*appealed, rec(K.MEDIATED, S.IN_MEDIATION, S.REJECTED)]
    assert d.path_violations(S.COMPLETED, to_done, REFUND) == []
    assert d.path_violations(S.AWAITING_BUYER_SHIP, to_ship, RR) == []
    assert any("for a return_and_refund" in p for p in d.path_violations(S.COMPLETED, to_done, RR))
    wrong = d.path_violations(S.AWAITING_BUYER_SHIP, to_ship, REFUND)
    assert any("for a refund" in p for p in wrong)
    for rtype in (REFUND, RR):  # the seller's side is the same for both
        assert d.path_violations(S.REJECTED, upheld, rtype) == []


@pytest.mark.parametrize("rtype", [REFUND, RR])
def test_the_domains_approvals_take_the_edges_of_their_type(rtype):
    req = new(rtype.value)
    accepted = d.accept(req, "bob", T0 + hours(1), RULES)
    auto = d.catch_up(req, req.respond_by, RULES)
    for change in (accepted, auto):
        path = [*_submitted(req), *change.records]
        assert d.path_violations(change.after.status, path, rtype) == []


def test_every_action_produces_a_path():
    """The records an action writes always continue the path: the domain and the state
    machine table agree."""
    req = new()
    recs = _submitted(req)
    for step in (
        lambda r: d.reject(r, "bob", T0 + hours(1), RULES, "no_proof", ""),
        lambda r: d.appeal(r, d.summarize_order([r]), T0 + hours(2), RULES),
        lambda r: d.add_note(r, "sam", T0 + hours(3), "looking"),
        lambda r: d.mediate(r, "sam", T0 + hours(4), RULES, "buyer", "ok"),
        lambda r: d.catch_up(r, T0 + hours(4) + D5, RULES),
    ):
        change = step(req)
        req = change.after
        recs += change.records
    assert req.status is S.CANCELLED
    assert d.path_violations(req.status, recs, req.type) == []


# ---------------------------------------------------------------------------------------------
# summarize_order


def test_summarize_order_knows_the_latest_request_and_the_latest_rejection():
    first = rejected(at=T0 + hours(1))
    second = d.submit(submission("R2"), d.summarize_order([first]), T0 + hours(2), RULES).after
    second = d.reject(second, "bob", T0 + hours(3), RULES, "no_proof", "").after
    history = d.summarize_order([second, first])  # order of the input does not matter
    assert history.latest_request_id == "R2"
    assert history.latest_rejected_at == T0 + hours(3)
    assert history.rejected_count == 2
    assert history.shop == "acme"
    assert not history.appeal_made and not history.appeal_decided


# Every field of a submission, given a value of every wrong JSON type (an apply line, a sync
# job): refused with one plain line, never a TypeError (a list or an object cannot be looked
# up in a set).
WRONG_TYPES = {
    "list": ["refund"],
    "object": {"refund": 1},
    "null": None,
    "bool": True,
    "number": 1.5,
    "nested": [{"a": [1, {"b": None}]}],
}
SUBMISSION_FIELDS = (
    "id", "order_id", "shop", "type", "buyer", "product", "sku",
    "quantity", "amount", "currency", "reason", "note",
)  # fmt: skip


@pytest.mark.parametrize("field", SUBMISSION_FIELDS)
@pytest.mark.parametrize("kind", WRONG_TYPES)
def test_a_submission_field_of_the_wrong_type_is_refused_in_one_line(field, kind):
    value = WRONG_TYPES[kind]
    if field == "quantity" and kind == "bool":
        value = "1"  # True is refused as a quantity already; a string is the odd one here
    with pytest.raises(Refused) as caught:
        d.submit(submission(**{field: value}), d.OrderHistory(), T0, RULES)
    message = caught.value.message
    assert "\n" not in message and message.isprintable() and len(message) < 160, message


def test_an_unknown_type_is_named_quoted_and_clipped():
    for value, shown in (("exchange", "'exchange'"), ("\x1b[2J", "'\\x1b[2J'")):
        with pytest.raises(Refused, match="must be refund or return_and_refund") as caught:
            d.check_submission(submission(type=value))
        assert caught.value.message.endswith(f"not {shown}."), caught.value.message
    with pytest.raises(Refused) as caught:
        d.check_submission(submission(type="x" * 10_000))
    assert len(caught.value.message) < 120
    for value, what in ((["refund"], "a list"), ({"t": 1}, "an object"), (None, "null")):
        with pytest.raises(Refused) as caught:
            d.check_submission(submission(type=value))
        assert caught.value.message == (
            f"The type must be refund or return_and_refund, not {what}."
        )


# ---------------------------------------------------------------------------------------------
# What the buyer may still do after a rejection (the detail panel), and until when


def test_buyer_options_say_what_is_left_and_until_when_only_while_something_is():
    first = rejected(at=T1)
    end = first.rejected_at + H48
    options = d.buyer_options(first, d.summarize_order([first]), T2, RULES)
    assert options == ("The buyer may submit a second request or appeal.", end)
    assert d.buyer_options(first, d.summarize_order([first]), end, RULES) == (
        "The buyer's window to appeal or resubmit has closed.",
        None,
    )
    # A second request on the order: the first can no longer be appealed or used again.
    second = d.submit(submission("R2"), d.summarize_order([first]), T2, RULES).after
    second = d.reject(second, "bob", T2 + hours(1), RULES, "no_proof", "").after
    both = d.summarize_order([first, second])
    assert d.buyer_options(first, both, T2 + hours(2), RULES) == (
        "The buyer can no longer appeal this request.",
        None,
    )
    assert d.buyer_options(second, both, T2 + hours(2), RULES) == (
        "Rejected twice: the buyer can only appeal.",
        second.rejected_at + H48,
    )
    upheld = d.mediate(in_mediation(), "sam", T0 + hours(3), RULES, "seller", "no").after
    assert d.buyer_options(upheld, d.summarize_order([upheld]), T0 + hours(4), RULES) == (
        "The platform upheld the rejection; the buyer can do nothing more.",
        None,
    )
    assert d.buyer_options(new(), d.OrderHistory(), T1, RULES) == ("", None)
