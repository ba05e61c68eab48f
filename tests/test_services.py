"""The rules end to end through `Returns`, on SQLite and on PostgreSQL: one transaction per
action, refusals that change nothing, deadlines applied before actions and stamped with the
deadline, idempotent sweeps and keys, append-only records."""

from __future__ import annotations

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui import services
from returns_tui.errors import (
    Conflict,
    Forbidden,
    NotAUser,
    NotFound,
    Refused,
    StoreError,
    WrongStatus,
)
from returns_tui.roles import BUYER
from returns_tui.store import queries as q
from returns_tui.store import writes
from returns_tui.store.engine import write
from returns_tui.store.schema import applied_keys, orders, records, requests
from tests.conftest import T0, submission

S = d.Status
K = d.Kind
SEC = pendulum.duration(seconds=1)
D5 = pendulum.duration(days=5)
D8 = pendulum.duration(days=8)


def hours(n: float) -> pendulum.Duration:
    return pendulum.duration(seconds=round(n * 3600))


def dump(engine) -> dict[str, list[tuple]]:
    """Every row of every table that an action may change."""
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in (requests, records, orders, applied_keys)
        }


def kinds(svc, actor, rid) -> list[str]:
    return [r.kind.value for r in svc.records(actor, rid)]


def assert_versions_match_records(svc, engine) -> None:
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(records.c.request_id, sa.func.count()).group_by(records.c.request_id)
            ).all()
        )
        for rid, version in conn.execute(sa.select(requests.c.id, requests.c.version)):
            assert version == counts[rid], rid
            seqs = [
                s
                for (s,) in conn.execute(
                    sa.select(records.c.seq)
                    .where(records.c.request_id == rid)
                    .order_by(records.c.seq)
                )
            ]
            assert seqs == list(range(1, version + 1)), rid


@pytest.fixture
def bob(svc):
    return svc.login("bob")


@pytest.fixture
def olga(svc):
    return svc.login("olga")


def submit(svc, rid="R1", order=None, now=T0, **over) -> d.Request:
    return svc.submit(BUYER, submission(rid, order or "O" + rid[1:], **over), now)


# ---------------------------------------------------------------------------------------------
# The action table, end to end


def test_submit_stores_a_pending_request_with_one_record(svc, alice):
    req = submit(svc)
    got = svc.get(alice, "R1")
    assert got == req
    assert got.status is S.PENDING and got.version == 1 and got.attempt == 1
    assert got.respond_by == T0 + hours(48)
    [rec] = svc.records(alice, "R1")
    assert (rec.kind, rec.actor, rec.from_status, rec.to_status, rec.at) == (
        K.SUBMITTED,
        "buyer",
        None,
        S.PENDING,
        T0,
    )


@pytest.mark.parametrize(
    ("rtype", "status"), [("refund", S.COMPLETED), ("return_and_refund", S.AWAITING_BUYER_SHIP)]
)
def test_accept_refund_vs_return_and_refund(svc, alice, rtype, status):
    submit(svc, type=rtype)
    req = svc.accept(alice, "R1", T0 + hours(1))
    assert req.status is status
    assert svc.get(alice, "R1").status is status
    expected_deadline = None if rtype == "refund" else T0 + hours(1) + D5
    assert svc.get(alice, "R1").deadline_at == expected_deadline
    assert kinds(svc, alice, "R1") == ["submitted", "accepted"]


def test_accept_one_second_before_respond_by_wins(svc, alice):
    req = submit(svc)
    svc.accept(alice, "R1", req.respond_by - SEC)
    recs = svc.records(alice, "R1")
    assert [(r.kind, r.actor) for r in recs] == [(K.SUBMITTED, "buyer"), (K.ACCEPTED, "alice")]


def test_accept_at_respond_by_is_refused_because_it_was_auto_approved(svc, alice, engine):
    req = submit(svc)
    before = dump(engine)
    with pytest.raises(WrongStatus, match="auto approved by system") as err:
        svc.accept(alice, "R1", req.respond_by)
    assert "it is awaiting shipment" in err.value.message
    assert dump(engine) == before  # the refusal wrote nothing, not even the catch-up
    # The sweep then records the approval at respond_by.
    [swept] = svc.sweep(req.respond_by + hours(1))
    assert (swept.kind, swept.at, swept.status) == (
        K.AUTO_APPROVED,
        req.respond_by,
        S.AWAITING_BUYER_SHIP,
    )


def test_reject_other_needs_a_note_and_takes_500_characters(svc, bob, engine):
    submit(svc)
    before = dump(engine)
    with pytest.raises(Refused, match="note is required"):
        svc.reject(bob, "R1", T0 + hours(1), "other", "")
    with pytest.raises(Refused, match="501 characters"):
        svc.reject(bob, "R1", T0 + hours(1), "no_proof", "n" * 501)
    with pytest.raises(Refused, match="Choose a reason"):
        svc.reject(bob, "R1", T0 + hours(1), "rude_buyer", "")
    assert dump(engine) == before
    req = svc.reject(bob, "R1", T0 + hours(1), "other", "n" * 500)
    assert req.status is S.REJECTED and req.rejected_at == T0 + hours(1)
    assert svc.records(bob, "R1")[-1].details == {"reason": "other", "note": "n" * 500}


def test_the_whole_story_reject_appeal_mediate_ship_receive(svc, alice, bob, sam, engine):
    submit(svc)
    svc.reject(bob, "R1", T0 + hours(1), "no_proof", "no photo")
    svc.appeal(BUYER, "R1", T0 + hours(2))
    assert svc.get(sam, "R1").arbitration is d.Arbitration.IN_PROGRESS
    svc.note(sam, "R1", T0 + hours(3), "asked for a photo")
    req = svc.mediate(sam, "R1", T0 + hours(20), "buyer", "photo is clear")
    assert req.status is S.AWAITING_BUYER_SHIP
    assert req.arbitration is d.Arbitration.SUPPORT_BUYER
    assert req.deadline_at == T0 + hours(20) + D5
    with pytest.raises(Refused, match="tracking number"):
        svc.ship(BUYER, "R1", T0 + hours(21), "1Z_999")
    req = svc.ship(BUYER, "R1", T0 + hours(21), "1Z999")
    assert req.tracking == "1Z999" and req.deadline_at == T0 + hours(21) + D8
    req = svc.receive(alice, "R1", T0 + hours(40))
    assert req.status is S.COMPLETED
    assert kinds(svc, alice, "R1") == [
        "submitted",
        "rejected",
        "appealed",
        "noted",
        "mediated",
        "shipped",
        "received",
    ]
    assert req.version == 7
    assert_versions_match_records(svc, engine)


def test_mediate_for_the_seller_closes_the_order_for_good(svc, bob, sam):
    submit(svc)
    svc.reject(bob, "R1", T0 + hours(1), "no_proof", "")
    svc.appeal(BUYER, "R1", T0 + hours(2))
    with pytest.raises(Refused, match="note of 1 to 500"):
        svc.mediate(sam, "R1", T0 + hours(3), "seller", "")
    req = svc.mediate(sam, "R1", T0 + hours(3), "seller", "item was used")
    assert (req.status, req.arbitration) == (S.REJECTED, d.Arbitration.SUPPORT_SELLER)
    with pytest.raises(Refused, match="appeal was already made"):
        svc.appeal(BUYER, "R1", T0 + hours(4))
    with pytest.raises(Refused, match="appeal on order O1 was already decided"):
        submit(svc, "R2", "O1", T0 + hours(4))


@pytest.mark.parametrize("first", ["pending", "awaiting_buyer_ship"])
def test_cancel_from_pending_and_awaiting_only(svc, alice, first):
    submit(svc)
    if first == "awaiting_buyer_ship":
        svc.accept(alice, "R1", T0 + hours(1))
    req = svc.cancel(BUYER, "R1", T0 + hours(2))
    assert req.status is S.CANCELLED
    with pytest.raises(WrongStatus, match="cannot be cancelled: it is cancelled"):
        svc.cancel(BUYER, "R1", T0 + hours(3))


def test_cancel_and_receive_refused_for_a_shipped_or_pending_request(svc, alice):
    submit(svc)
    with pytest.raises(WrongStatus, match="cannot be received: it is pending"):
        svc.receive(alice, "R1", T0 + hours(1))
    svc.accept(alice, "R1", T0 + hours(1))
    svc.ship(BUYER, "R1", T0 + hours(2), "TRK-1")
    with pytest.raises(WrongStatus, match="cannot be cancelled: it is shipped back"):
        svc.cancel(BUYER, "R1", T0 + hours(3))


def test_appeal_boundary_is_exact(svc, bob):
    submit(svc, "R1")
    submit(svc, "R2")
    svc.reject(bob, "R1", T0 + hours(1), "no_proof", "")
    svc.reject(bob, "R2", T0 + hours(1), "no_proof", "")
    end = T0 + hours(1) + hours(48)
    assert svc.appeal(BUYER, "R1", end - SEC).status is S.IN_MEDIATION
    with pytest.raises(Refused, match="window to appeal R2 has closed"):
        svc.appeal(BUYER, "R2", end)


def test_second_request_third_refused_and_appeal_only_on_the_latest(svc, bob, engine):
    submit(svc, "R1", "O1")
    svc.reject(bob, "R1", T0 + hours(1), "no_proof", "")
    second = submit(svc, "R2", "O1", T0 + hours(2))
    assert second.attempt == 2
    with pytest.raises(Refused, match=r"R1 cannot be appealed: a later request \(R2\)"):
        svc.appeal(BUYER, "R1", T0 + hours(3))
    svc.reject(bob, "R2", T0 + hours(3), "outside_policy", "")
    with pytest.raises(Refused, match="rejected twice; the buyer can only submit an appeal"):
        submit(svc, "R3", "O1", T0 + hours(4))
    assert svc.appeal(BUYER, "R2", T0 + hours(4)).status is S.IN_MEDIATION
    assert_versions_match_records(svc, engine)


def test_second_request_window_boundary(svc, bob):
    for n in (1, 2):
        submit(svc, f"R{n}", f"O{n}")
        svc.reject(bob, f"R{n}", T0 + hours(1), "no_proof", "")
    end = T0 + hours(1) + hours(48)
    assert submit(svc, "R11", "O1", end - SEC).attempt == 2
    with pytest.raises(Refused, match="second request on order O2 has closed"):
        submit(svc, "R12", "O2", end)


def test_submit_refusals(svc, alice):
    submit(svc, "R1", "O1")
    with pytest.raises(Refused, match="already exists"):
        submit(svc, "R1", "O9", T0 + hours(1))
    with pytest.raises(Refused, match="already has an open request"):
        submit(svc, "R2", "O1", T0 + hours(1))
    with pytest.raises(Refused, match="belongs to another shop"):
        submit(svc, "R3", "O1", T0 + hours(1), shop="globex")
    svc.accept(alice, "R1", T0 + hours(1))
    svc.ship(BUYER, "R1", T0 + hours(2), "X1")
    svc.receive(alice, "R1", T0 + hours(3))
    with pytest.raises(Refused, match="already refunded"):
        submit(svc, "R4", "O1", T0 + hours(4))
    for bad in (dict(amount=12.99), dict(amount="1.234"), dict(currency="usd"), dict(quantity=0)):
        with pytest.raises(Refused):
            submit(svc, "R5", "O5", T0, **bad)


def test_windows_are_settings(engine):
    svc = services.Returns(engine, d.Rules(respond_window=hours(24)))
    svc.add_user("root", "root", "admin", (), T0)
    svc.add_user("root", "alice", "operator", ("acme",), T0)
    alice = svc.login("alice")
    req = submit(svc, "R1")
    submit(svc, "R2")
    assert req.respond_by == T0 + hours(24)
    svc.accept(alice, "R1", T0 + hours(24) - SEC)
    with pytest.raises(WrongStatus, match="auto approved"):
        svc.accept(alice, "R2", T0 + hours(24))


@pytest.mark.parametrize("shop", ["", "acme\x1b[31m", "a\nb", "x" * 65, "\ud800", "a\u202eb"])
def test_a_shop_name_must_be_printable_text_and_nothing_is_added_otherwise(engine, shop):
    svc = services.Returns(engine)
    svc.add_user("root", "root", "admin", (), T0)
    with pytest.raises(Refused, match="shop name"):
        svc.add_user("root", "olga", "operator", ("acme", shop), T0)
    assert [u[0] for u in svc.list_users("root")] == ["root"]


@pytest.mark.parametrize(
    ("shop", "sentence"),
    [
        ("Acme ", "'Acme ' cannot be a shop name: it begins or ends with a space."),
        (" acme", "' acme' cannot be a shop name: it begins or ends with a space."),
        ("acme\t", "'acme\\t' cannot be a shop name: it must be 1 to 64 printable characters."),
        ("", "A shop name cannot be empty."),
    ],
)
def test_a_shop_name_with_a_space_at_either_end_is_refused_in_one_sentence(engine, shop, sentence):
    svc = services.Returns(engine)
    svc.add_user("root", "root", "admin", (), T0)
    with pytest.raises(Refused) as err:
        svc.add_user("root", "olga", "operator", (shop,), T0)
    assert err.value.message == sentence
    svc.add_user("root", "olga", "operator", ("Acme Home",), T0)  # a space inside is a name
    assert svc.list_users("root") == [("olga", "operator", ("Acme Home",)), ("root", "admin", ())]


# ---------------------------------------------------------------------------------------------
# Time: deadlines applied before actions, stamped with the deadline; the sweep


def test_an_action_at_time_t_first_applies_the_deadlines_up_to_t(svc, sam):
    req = submit(svc)
    svc.note(sam, "R1", req.respond_by + hours(1), "looked at it")
    recs = svc.records(sam, "R1")
    assert [(r.kind, r.at, r.actor) for r in recs[1:]] == [
        (K.AUTO_APPROVED, req.respond_by, "system"),
        (K.NOTED, req.respond_by + hours(1), "sam"),
    ]
    assert recs[-1].from_status is recs[-1].to_status is S.AWAITING_BUYER_SHIP
    got = svc.get(sam, "R1")
    assert got.version == 3
    assert got.deadline_at == req.respond_by + D5


def test_sweep_three_hours_late_stamps_the_deadline(svc, alice):
    req = submit(svc)
    swept = svc.sweep(req.respond_by + hours(3))
    assert [(s.request_id, s.kind, s.at) for s in swept] == [
        ("R1", K.AUTO_APPROVED, req.respond_by)
    ]
    got = svc.get(alice, "R1")
    assert got.status_since == req.respond_by
    assert got.deadline_at == req.respond_by + D5  # ship_by counts from the deadline
    assert svc.records(alice, "R1")[-1].at == req.respond_by


def test_a_very_late_sweep_applies_the_chain_in_deadline_order(svc, alice):
    req = submit(svc)
    swept = svc.sweep(req.respond_by + D5 + hours(1))
    assert [(s.kind, s.at) for s in swept] == [
        (K.AUTO_APPROVED, req.respond_by),
        (K.EXPIRED, req.respond_by + D5),
    ]
    assert svc.get(alice, "R1").status is S.CANCELLED
    assert svc.get(alice, "R1").version == 3


def test_a_shipped_request_is_refunded_automatically_at_receive_by(svc, alice):
    submit(svc)
    svc.accept(alice, "R1", T0 + hours(1))
    svc.ship(BUYER, "R1", T0 + hours(2), "X1")
    [swept] = svc.sweep(T0 + hours(2) + D8 + hours(5))
    assert (swept.kind, swept.at, swept.status) == (
        K.AUTO_REFUNDED,
        T0 + hours(2) + D8,
        S.COMPLETED,
    )


def test_sweep_is_idempotent_and_counts(svc, alice, bob, engine):
    submit(svc, "R1", now=T0)  # respond_by T0+48h: due
    submit(svc, "R2", now=T0 + hours(1), type="refund")  # due
    submit(svc, "R3", now=T0 + hours(30))  # not due at T0+50h
    submit(svc, "R4", now=T0)
    svc.reject(bob, "R4", T0 + hours(1), "no_proof", "")  # rejected: never moves
    submit(svc, "R5", now=T0)
    svc.accept(alice, "R5", T0 + hours(1))  # ship_by T0+1h+5d: not due
    now = T0 + hours(50)
    swept = svc.sweep(now)
    assert sorted((s.request_id, s.kind, s.at) for s in swept) == [
        ("R1", K.AUTO_APPROVED, T0 + hours(48)),
        ("R2", K.AUTO_APPROVED, T0 + hours(49)),
    ]
    assert svc.get(alice, "R2").status is S.COMPLETED
    after_first = dump(engine)
    assert svc.sweep(now) == []
    assert dump(engine) == after_first
    # An earlier sweep (a late cron job) changes nothing either.
    assert svc.sweep(T0 + hours(49)) == []
    assert dump(engine) == after_first
    assert_versions_match_records(svc, engine)


def test_sweep_of_more_than_one_batch(svc, engine, monkeypatch):
    monkeypatch.setattr(services, "SWEEP_BATCH", 3)
    for n in range(8):
        submit(svc, f"R{n}", now=T0 + pendulum.duration(minutes=n))
    swept = svc.sweep(T0 + hours(60))
    assert sorted(s.request_id for s in swept) == [f"R{n}" for n in range(8)]
    assert [s.at for s in swept] == sorted(s.at for s in swept)  # deadline order
    assert svc.sweep(T0 + hours(60)) == []
    assert_versions_match_records(svc, engine)


# ---------------------------------------------------------------------------------------------
# Refusals change nothing, and name the winner


def test_the_loser_is_told_who_won(svc, alice, bob):
    submit(svc)
    svc.accept(alice, "R1", T0 + hours(1))
    with pytest.raises(WrongStatus) as err:
        svc.reject(bob, "R1", T0 + hours(1), "no_proof", "")
    assert "accepted by alice" in err.value.message
    assert "it is awaiting shipment" in err.value.message


def test_the_loser_of_a_race_with_the_sweep_is_told_who_won(svc, alice):
    """The sweep ran (late in real time) and stamped the deadline; an accept whose own time is
    just before that deadline commits after it: refused, naming the sweep and the status."""
    req = submit(svc)
    svc.sweep(req.respond_by + SEC)
    with pytest.raises(Refused) as err:
        svc.accept(alice, "R1", req.respond_by - SEC)
    assert "auto approved by system" in err.value.message
    assert "it is now awaiting buyer ship" in err.value.message


def test_an_action_older_than_the_requests_last_change_is_refused(svc, alice, bob, sam, engine):
    submit(svc, "R1", now=T0 + hours(1))
    before = dump(engine)
    with pytest.raises(Refused, match="submitted by buyer .* after this accept's time"):
        svc.accept(alice, "R1", T0)  # before it was submitted
    svc.accept(alice, "R1", T0 + hours(3))
    with pytest.raises(Refused, match="accepted by alice .* after this note's time"):
        svc.note(sam, "R1", T0 + hours(2), "late note")
    # A note is a change too: nothing may be slipped in before it.
    submit(svc, "R2", now=T0)
    svc.note(sam, "R2", T0 + hours(5), "called the buyer")
    with pytest.raises(Refused, match="noted by sam .* after this reject's time"):
        svc.reject(bob, "R2", T0 + hours(4), "no_proof", "")
    del before


def test_a_submit_older_than_the_orders_last_change_is_refused(svc, bob, engine):
    submit(svc, "R1", "O1")
    svc.reject(bob, "R1", T0 + hours(5), "no_proof", "")
    before = dump(engine)
    with pytest.raises(Refused, match="R1 was rejected by bob .* after this submit's time"):
        submit(svc, "R2", "O1", T0 + hours(1))
    assert dump(engine) == before


def _refusals(svc, alice, bob, olga, sam):
    """(what, call) pairs, each of which must be refused on the state built below."""
    late = T0 + hours(48)
    return [
        ("accept at respond_by", lambda: svc.accept(alice, "P", late)),
        ("reject other no note", lambda: svc.reject(bob, "P", T0 + hours(3), "other", " ")),
        ("reject unknown reason", lambda: svc.reject(bob, "P", T0 + hours(3), "x", "")),
        ("accept by an agent", lambda: svc.accept(sam, "P", T0 + hours(3))),
        ("accept by another shop", lambda: svc.accept(olga, "P", T0 + hours(3))),
        ("note by another shop", lambda: svc.note(olga, "P", T0 + hours(3), "x")),
        ("note too long", lambda: svc.note(alice, "P", T0 + hours(3), "n" * 501)),
        ("note empty", lambda: svc.note(alice, "P", T0 + hours(3), "")),
        ("ship pending", lambda: svc.ship(BUYER, "P", T0 + hours(3), "X1")),
        ("ship bad tracking", lambda: svc.ship(BUYER, "A", T0 + hours(3), "x" * 65)),
        ("ship after ship_by", lambda: svc.ship(BUYER, "A", T0 + hours(1) + D5, "X1")),
        ("receive awaiting", lambda: svc.receive(alice, "A", T0 + hours(3))),
        ("cancel rejected", lambda: svc.cancel(BUYER, "J", T0 + hours(3))),
        ("appeal too late", lambda: svc.appeal(BUYER, "J", T0 + hours(1) + hours(48))),
        ("mediate not in mediation", lambda: svc.mediate(sam, "J", T0 + hours(3), "buyer", "n")),
        ("mediate by an operator", lambda: svc.mediate(alice, "J", T0 + hours(3), "buyer", "n")),
        ("appeal by an operator", lambda: svc.appeal(alice, "J", T0 + hours(3))),
        ("accept unknown", lambda: svc.accept(alice, "NOPE", T0 + hours(3))),
        ("submit open order", lambda: submit(svc, "P2", "OP", T0 + hours(3))),
        ("submit duplicate id", lambda: submit(svc, "P", "OX", T0 + hours(3))),
        ("submit by operator", lambda: svc.submit(alice, submission("Z", "OZ"), T0)),
        ("submit bad amount", lambda: submit(svc, "Z", "OZ", T0, amount="0")),
        ("action before change", lambda: svc.note(sam, "A", T0, "x")),
        ("perform unknown", lambda: svc.perform(alice, "approve", "P", T0 + hours(3))),
        ("perform missing", lambda: svc.perform(BUYER, "ship", "A", T0 + hours(3))),
        ("perform extra", lambda: svc.perform(alice, "accept", "P", T0 + hours(3), note="x")),
    ]


def test_a_refusal_changes_nothing(svc, alice, bob, olga, sam, engine):
    submit(svc, "P", "OP")  # pending
    submit(svc, "A", "OA")
    svc.accept(alice, "A", T0 + hours(1))  # awaiting_buyer_ship
    submit(svc, "J", "OJ")
    svc.reject(bob, "J", T0 + hours(1), "no_proof", "")  # rejected
    before = dump(engine)
    for what, call in _refusals(svc, alice, bob, olga, sam):
        with pytest.raises(Refused) as err:
            call()
        message = err.value.message
        assert message and "\n" not in message and message.endswith("."), (what, message)
        assert dump(engine) == before, what


def test_refusals_are_typed(svc, alice, olga, sam):
    submit(svc)
    with pytest.raises(Forbidden):
        svc.accept(sam, "R1", T0 + hours(1))
    with pytest.raises(NotFound):
        svc.accept(olga, "R1", T0 + hours(1))
    with pytest.raises(WrongStatus):
        svc.ship(BUYER, "R1", T0 + hours(1), "X1")


# ---------------------------------------------------------------------------------------------
# Exactly once: idempotency keys


def test_a_keyed_action_twice_is_a_duplicate_with_the_same_verdict(svc, alice, engine):
    submit(svc)
    first = svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key="ev-1")
    assert first.verdict == {"ok": True} and not first.duplicate
    after = dump(engine)
    second = svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key="ev-1")
    assert second.verdict == {"ok": True} and second.duplicate
    assert dump(engine) == after
    assert kinds(svc, alice, "R1") == ["submitted", "accepted"]


def test_a_refused_verdict_is_repeated_even_when_the_action_would_now_pass(svc, alice, engine):
    submit(svc)
    first = svc.perform_keyed(BUYER, "ship", "R1", T0 + hours(1), key="ev-ship", tracking="X1")
    assert first.verdict["ok"] is False
    assert "cannot be shipped: it is pending" in first.verdict["error"]
    # An accept that reached the database after the ship line, with an earlier time: the
    # same line sent again would now pass...
    svc.accept(alice, "R1", T0 + hours(0.5))
    after = dump(engine)
    again = svc.perform_keyed(BUYER, "ship", "R1", T0 + hours(1), key="ev-ship", tracking="X1")
    assert again.duplicate and again.verdict == first.verdict  # ...but the key was decided
    assert dump(engine) == after
    assert svc.get(alice, "R1").status is S.AWAITING_BUYER_SHIP


def test_a_keyed_submit_twice_makes_one_request(svc, alice, engine):
    sub = submission("R1", "O1")
    assert svc.perform_keyed(BUYER, "submit", "R1", T0, key="k", submission=sub).verdict == {
        "ok": True
    }
    after = dump(engine)
    again = svc.perform_keyed(BUYER, "submit", "R1", T0, key="k", submission=sub)
    assert again.duplicate and again.verdict == {"ok": True}
    assert dump(engine) == after
    # The same submission under a new key is a new line: refused, and that verdict kept.
    other = svc.perform_keyed(BUYER, "submit", "R1", T0, key="k2", submission=sub)
    assert not other.duplicate and "already exists" in other.verdict["error"]


def test_a_forbidden_keyed_action_is_stored_and_repeated(svc, sam, engine):
    submit(svc)
    first = svc.perform_keyed(sam, "accept", "R1", T0 + hours(1), key="f")
    assert first.verdict["ok"] is False and "Only a shop's operator" in first.verdict["error"]
    again = svc.perform_keyed(sam, "accept", "R1", T0 + hours(1), key="f")
    assert again.duplicate and again.verdict == first.verdict


def test_a_lost_race_is_not_stored_as_the_keys_verdict(svc, alice, engine, monkeypatch):
    """Conflict means "nothing applied, try again": storing it would make a re-sent stream
    end differently from one run."""
    submit(svc)

    def always_lose(*args, **kwargs):
        raise writes.Lost

    monkeypatch.setattr(services, "_save", always_lose)
    with pytest.raises(Conflict):
        svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key="ev-7")
    with engine.connect() as conn:
        assert conn.execute(sa.select(applied_keys)).all() == []
    monkeypatch.undo()
    outcome = svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key="ev-7")
    assert outcome.verdict == {"ok": True} and not outcome.duplicate
    assert svc.get(alice, "R1").status is S.AWAITING_BUYER_SHIP


# ---------------------------------------------------------------------------------------------
# Records: append-only in the database itself; version == number of records


def test_records_cannot_be_updated_or_deleted_in_the_database(svc, alice, engine):
    submit(svc)
    svc.accept(alice, "R1", T0 + hours(1))
    before = dump(engine)
    attempts = [
        sa.update(records).values(actor="mallory"),
        sa.update(records).where(records.c.seq == 2).values(kind="rejected"),
        sa.delete(records),
        sa.delete(records).where(records.c.seq == 2),
    ]
    if engine.dialect.name == "postgresql":
        attempts.append(sa.text("TRUNCATE records"))
    for stmt in attempts:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(stmt)
        # Through the store's own transactions: one sentence, no driver text.
        with pytest.raises(StoreError, match="Records are append-only"):
            with write(engine) as conn:
                conn.execute(stmt)
    assert dump(engine) == before


def test_version_equals_the_number_of_records(svc, alice, bob, sam, engine):
    submit(svc, "R1")
    submit(svc, "R2")
    submit(svc, "R3", type="refund")
    svc.note(sam, "R1", T0 + hours(1), "hello")
    svc.note(alice, "R1", T0 + hours(2), "again")
    svc.reject(bob, "R2", T0 + hours(2), "no_proof", "")
    svc.sweep(T0 + hours(49))
    svc.cancel(BUYER, "R1", T0 + hours(50))
    assert [svc.get(sam, r).version for r in ("R1", "R2", "R3")] == [5, 2, 2]
    assert_versions_match_records(svc, engine)


# ---------------------------------------------------------------------------------------------
# Text PostgreSQL cannot hold: refused in a sentence on both backends, never a StoreError


@pytest.mark.parametrize(
    "field", ["id", "order_id", "shop", "buyer", "product", "sku", "reason", "note"]
)
def test_a_nul_in_a_submitted_field_is_refused_on_both_backends(svc, engine, field):
    before = dump(engine)
    with pytest.raises(Refused, match="cannot contain the NUL character"):
        svc.submit(BUYER, submission(**{"rid" if field == "id" else field: "a\x00b"}), T0)
    assert dump(engine) == before


def test_lookups_with_a_nul_find_nothing_instead_of_failing(svc, alice, sam):
    submit(svc)
    with pytest.raises(NotFound):
        svc.get(alice, "R1\x00")
    with pytest.raises(NotFound):
        svc.accept(alice, "R1\x00", T0 + hours(1))
    with pytest.raises(NotAUser):
        svc.login("alice\x00")
    assert svc.counts(alice, search="Ana\x00")[d.Tab.ALL] == 0
    assert svc.page(alice, d.Tab.ALL, q.Sort.NEWEST, "Ana\x00") == []
    with pytest.raises(Refused, match="is not a user"):
        svc.remove_user("root-admin", "bob\x00")


def test_notes_keep_a_nul_exactly(svc, sam):
    """Notes are stored as JSON, where NUL is an escape: stored and read back exactly."""
    submit(svc)
    svc.note(sam, "R1", T0 + hours(1), "before\x00after")
    assert svc.records(sam, "R1")[-1].details == {"note": "before\x00after"}


@pytest.mark.parametrize("key", ["", "k" * 201, "k\x00", None])
def test_a_key_the_database_cannot_hold_is_refused(svc, alice, engine, key):
    submit(svc)
    before = dump(engine)
    with pytest.raises(Refused, match="key must be text of 1 to 200 characters"):
        svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key=key)
    assert dump(engine) == before
    assert svc.perform_keyed(alice, "accept", "R1", T0 + hours(1), key="k" * 200).verdict == {
        "ok": True
    }


def test_sweep_notices_are_the_viewers_and_read_at_once(svc, alice, sam):
    """What a console says after its sweep, from one read: the due-soon warnings only for
    those who may answer (not an agent), and of the warned requests whose deadline passed,
    those the clock approved, in the viewer's shops only (issue 12: one service call)."""
    svc.submit(BUYER, submission("A1", "OA1"), T0)  # acme, due at T0 + 48 h
    svc.submit(BUYER, submission("A2", "OA2"), T0.add(minutes=30))  # acme
    svc.submit(BUYER, submission("G1", "OG1", shop="globex"), T0)  # not alice's
    due = T0.add(hours=48)
    svc.sweep(due)  # the clock approves A1 and G1
    svc.accept(alice, "A2", due)  # a person answered A2
    warned = {"A1": due, "A2": due.add(minutes=30), "G1": due}
    later = due.add(hours=1)
    seen = svc.sweep_notices(alice, later, warned, hours(1), 100)
    assert (seen.approved_elsewhere, seen.passed) == (["A1"], ["A1", "A2", "G1"])
    assert svc.sweep_notices(sam, later, warned, hours(1), 100).approved_elsewhere == ["A1", "G1"]
    svc.submit(BUYER, submission("A3", "OA3"), later.subtract(hours=47, minutes=30))
    assert svc.sweep_notices(alice, later, {}, hours(1), 100).due_soon == [
        ("A3", later.add(minutes=30))
    ]
    assert svc.sweep_notices(sam, later, {}, hours(1), 100).due_soon == []  # an agent
