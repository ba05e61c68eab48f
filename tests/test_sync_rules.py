"""Automation rules on requests the sync brings in (DESIGN §10 with §8): a rule's accept is
queued in the outbox like an operator's, in the bring-in's transaction; its record by
`rule:OWNER/NAME` is written when the marketplace confirms; the item is kept only where the
marketplace allows it; a rule made after the marketplace created the return does not act;
the request brought in again does not fire the rule twice. On both databases."""

from __future__ import annotations

from returns_tui import domain as d
from tests import test_sync_ledger
from tests.conftest import T0
from tests.test_automation import ADMIN, HOUR, make
from tests.test_sync_ledger import brought, clean, export, mrec  # noqa: F401
from tests.test_sync_ledger import market as _market

ledger = test_sync_ledger.ledger  # the fixture, for this module's tests

# The cast and their rules are made at T0; the marketplace creates its returns after.
LATER = T0 + HOUR / 2


def market(rid: str = "M1", **over):
    return _market(rid, **{"created_at": LATER, **over})


ACCEPTED_BY_MARKETPLACE = dict(
    raw_status="AWAITING_BUYER_SHIP", status="awaiting_buyer_ship", updated_at=T0 + 6 * HOUR,
    respond_by=None,
)  # fmt: skip


def test_a_rule_queues_its_accept_of_a_synced_request_and_its_record_comes_with_the_answer(
    svc, ledger
):
    make(svc, "alice", "teapots", at=T0, reasons=["damaged"])
    brought(ledger, (market(), mrec()))

    (out,) = ledger.outbox("acme")
    assert (out.verb, out.body) == ("approve", {"decision": "APPROVE_RETURN"})
    req = svc.get(svc.login(ADMIN), "M1")
    assert req.status is d.Status.PENDING  # not optimistic: the marketplace answers first
    assert export(svc)["M1"]["sending"] is True

    ledger.sent(out.id, (market(**ACCEPTED_BY_MARKETPLACE), [mrec()]))
    assert ledger.outbox("acme") == []
    recs = svc.records(svc.login(ADMIN), "M1")
    assert [(r.kind, r.actor) for r in recs if r.actor.startswith("rule:")] == [
        (d.Kind.ACCEPTED, "rule:alice/teapots")
    ]
    assert svc.get(svc.login(ADMIN), "M1").status is d.Status.AWAITING_BUYER_SHIP
    clean(svc)


def test_a_rule_keeps_the_item_only_where_the_marketplace_lets_the_buyer_keep_it(svc, ledger):
    make(svc, "alice", "keep", at=T0, keep_item=True)
    brought(ledger, (market("M1", can_buyer_keep_item=True),),
            (market("M2", can_buyer_keep_item=False),))  # fmt: skip
    bodies = {o.return_id: o.body for o in ledger.outbox("acme")}
    assert bodies == {
        "M1": {"decision": "APPROVE_REFUND", "buyer_keep_item": True},
        "M2": {"decision": "APPROVE_RETURN"},
    }


def test_a_rule_made_after_the_marketplace_created_the_return_does_not_act(svc, ledger):
    make(svc, "alice", "late", at=LATER + HOUR / 4)  # after the marketplace made the return
    brought(ledger, (market(),))
    assert ledger.outbox("acme") == []


def test_a_return_brought_in_again_does_not_fire_the_rule_twice(svc, ledger):
    make(svc, "alice", "all", at=T0)
    brought(ledger, (market(),))
    (out,) = ledger.outbox("acme")
    brought(ledger, (market(updated_at=T0 + 2 * HOUR),))
    assert [o.id for o in ledger.outbox("acme")] == [out.id]


def test_a_rule_of_another_shop_does_not_act_on_a_synced_request(svc, ledger):
    make(svc, "olga", "globex-only", at=T0)
    brought(ledger, (market(),))
    assert ledger.outbox("acme") == []
