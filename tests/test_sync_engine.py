"""The sync's rounds, in-process, against the simulator over real HTTP (DESIGN §8): every status
of the mapping brought in, paging over several pages, records and evidence, an unknown status
kept and told, a REPLACEMENT skipped, every decision out and its refusal, reasons fetched per
stage, retried faults, a token refresh written back, and one shop failing while another syncs."""

from __future__ import annotations

import io
import os
import stat
from collections import Counter
from decimal import Decimal

import pendulum
import pytest

from returns_tui import domain as d
from returns_tui.marketplace.client import RetryPolicy
from returns_tui.marketplace.simulator import Fault, MovableClock, ShopConfig, Simulator
from returns_tui.marketplace.simulator import model as m
from returns_tui.marketplace.simulator.views import return_view
from returns_tui.sync import config as cfg
from returns_tui.sync.engine import Engine, Teller
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.mapping import map_return
from tests.support.sync_sim import make_database, write_config

FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, timeout=5)


class World:
    def __init__(self, sim, service, engine, told, path):
        self.sim, self.service, self.engine, self.told, self.path = (
            sim, service, engine, told, path)
        self.olive = service.login("olive")

    @property
    def now(self):
        return self.sim.clock()

    async def round(self, *shops):
        reports = await self.engine.round()
        return {r.shop: r for r in reports if not shops or r.shop in shops}

    def get(self, return_id) -> d.Request:
        return self.service.get(self.olive, return_id)

    def said(self) -> str:
        return self.told.getvalue()


@pytest.fixture
async def world(tmp_path, db_url):
    clock = MovableClock(pendulum.now("UTC").start_of("second"))
    sim = Simulator([ShopConfig.make("acme"), ShopConfig.make("globex")], clock=clock,
                    webhook_retry_delays=(0.05,))
    async with sim.serve():
        path = write_config(tmp_path / "sync.toml", sim, ["acme", "globex"])
        service = make_database(db_url)
        told = io.StringIO()
        engine = Engine(cfg.load(path), Ledger(service, clock=clock), clock=clock, retry=FAST,
                        teller=Teller(told), settle=5)
        async with engine:
            yield World(sim, service, engine, told, path)
        service.engine.dispose()


def mirrors(world: World, return_id: str) -> d.Request:
    """The request is the return as the marketplace has it (DESIGN §8's mapping)."""
    ret = world.sim.market.get(return_id)
    want = map_return(ret.shop, return_view(ret))
    got = world.get(return_id)
    assert got.source == "marketplace" and got.marketplace_status == ret.return_status
    assert got.status.value == want.status, (return_id, ret.return_status)
    assert (got.amount_cents, got.currency, got.order_id) == (
        want.amount_cents, want.currency, want.order_id)
    if want.respond_by is not None and got.status is d.Status.PENDING:
        assert got.respond_by == want.respond_by
    return got


async def test_a_first_sync_brings_every_status_in_over_several_pages(world):
    ids = world.sim.seed("acme", 230, seed=7)
    reports = await world.round("acme")
    assert reports["acme"].ok, reports["acme"].error
    assert world.sim.calls["search"] >= 5  # 230 returns in pages of 50
    replacements = {i for i in ids if world.sim.market.get(i).return_type == m.REPLACEMENT}
    statuses = Counter()
    for return_id in set(ids) - replacements:
        statuses[mirrors(world, return_id).status] += 1
    assert len(statuses) == 8, statuses  # every status of the mapping
    assert reports["acme"].created == len(ids) - len(replacements)
    for return_id in replacements:
        assert f"return {return_id} is a replacement" in world.said()
    # Records, with the buyer's evidence links, are there once each.
    ret = next(world.sim.market.get(i) for i in ids if world.sim.market.get(i).records[0].images)
    records = world.service.records(world.olive, ret.return_id)
    market = [r for r in records if "event" in (r.details or {})]
    assert [r.details["event"] for r in market] == [r.event for r in ret.records]
    assert str(ret.records[0].images[0]) in repr(market[0].details)


async def test_a_round_with_nothing_new_fetches_nothing(world):
    world.sim.seed("acme", 60, seed=3)
    await world.round()
    world.sim.clock.advance(seconds=10)  # past the settle time: the cursor moves past it
    await world.round()
    before = Counter(world.sim.calls)
    reports = await world.round()
    assert all(r.ok and r.created == r.changed == 0 for r in reports.values())
    calls = Counter(world.sim.calls) - before
    assert calls == Counter({"search": 2}), calls  # one search per shop, no records


async def test_changes_on_the_marketplace_come_in_as_records(world):
    rid = world.sim.create_return("acme", "RETURN_AND_REFUND", "40.00")
    await world.round()
    assert mirrors(world, rid).status is d.Status.PENDING
    ret = world.sim.market.get(rid)
    world.sim.market.decide(ret, "APPROVE_RETURN", {"decision": "APPROVE_RETURN"})
    world.sim.clock.advance(seconds=1)
    world.sim.ship(rid)
    await world.round()
    got = mirrors(world, rid)
    assert got.status is d.Status.BUYER_SHIPPED
    events = [r.details["event"] for r in world.service.records(world.olive, rid)
              if "event" in (r.details or {})]
    assert events == ["BUYER_REQUEST_RETURN_AND_REFUND", "SELLER_APPROVE_RETURN", "BUYER_SHIP_ITEM"]


@pytest.mark.parametrize(("raw", "arbitration", "status"), [
    ("RETURN_OR_REFUND_REQUEST_REJECT", None, d.Status.REJECTED),
    ("RETURN_OR_REFUND_REQUEST_REJECTED", None, d.Status.REJECTED),
    ("REFUND_OR_RETURN_REQUEST_REJECTED", None, d.Status.REJECTED),
    ("RETURN_OR_REFUND_REQUEST_COMPLETE", None, d.Status.COMPLETED),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "CLOSED", d.Status.REJECTED),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "IN_PROGRESS", d.Status.IN_MEDIATION),
])
async def test_the_other_spellings_and_arbitrations_over_http(world, raw, arbitration, status):
    rid = world.sim.create_return("acme", "REFUND", "12.00")
    world.sim.force_status(rid, raw)
    world.sim.market.get(rid).arbitration_status = arbitration
    reports = await world.round()
    assert reports["acme"].ok and not reports["acme"].unknown
    got = mirrors(world, rid)
    assert got.status is status and got.marketplace_status == raw


async def test_an_unknown_status_is_kept_and_told_never_guessed(world):
    rid = world.sim.create_return("acme", "REFUND", "12.00")
    await world.round()
    world.sim.clock.advance(seconds=1)
    world.sim.force_status(rid, "RETURN_OR_REFUND_REQUEST_FROZEN")
    fresh = world.sim.create_return("acme", "REFUND", "13.00")
    world.sim.force_status(fresh, "ANOTHER_NEW_STATUS")
    reports = await world.round()
    assert reports["acme"].ok and len(reports["acme"].unknown) == 2
    got = world.get(rid)
    assert got.status is d.Status.PENDING  # kept
    assert f"return {rid} has the status 'RETURN_OR_REFUND_REQUEST_FROZEN'" in world.said()
    assert f"return {fresh} has the status 'ANOTHER_NEW_STATUS'" in world.said()
    with pytest.raises(Exception, match="no request|not found|There is no"):
        world.get(fresh)  # a new one with an unknown status is not created


async def decide_each(world: World):
    """One synced request for each decision, brought in with its reasons."""
    sim = world.sim
    ids = {
        "accept": sim.create_return("acme", "REFUND", "20.00"),
        "keep": sim.create_return("acme", "RETURN_AND_REFUND", "30.00"),
        "offer": sim.create_return("acme", "REFUND", "40.00"),
        "reject": sim.create_return("acme", "RETURN_AND_REFUND", "50.00"),
        "receive": sim.create_return("acme", "RETURN_AND_REFUND", "60.00"),
        "reject_receipt": sim.create_return("acme", "RETURN_AND_REFUND", "70.00"),
    }
    for name in ("receive", "reject_receipt"):
        ret = sim.market.get(ids[name])
        sim.market.decide(ret, "APPROVE_RETURN", {"decision": "APPROVE_RETURN"})
        sim.ship(ids[name])
    await world.round()
    return ids


async def test_every_decision_goes_out_once_and_comes_back_as_the_marketplace_has_it(world):
    ids = await decide_each(world)
    svc, olive, now = world.service, world.olive, world.now
    svc.accept(olive, ids["accept"], now)
    svc.accept(olive, ids["keep"], now, keep_item=True)
    svc.offer(olive, ids["offer"], now, "15.00")
    svc.reject(olive, ids["reject"], now, m.REQUEST_REASONS[1][0], "Too late.")
    svc.receive(olive, ids["receive"], now)
    svc.reject_receipt(olive, ids["reject_receipt"], now, m.RECEIPT_REASONS[2][0], "Empty box.")
    # Not optimistic: each keeps the marketplace's status while its decision waits.
    assert world.get(ids["accept"]).status is d.Status.PENDING
    reports = await world.round()
    assert reports["acme"].sent == 6 and reports["acme"].refused == 0, world.said()
    writes = {(rid, name): key for name, rid, key in world.sim.writes}
    assert len(writes) == 6 and all(writes.values())
    sim = world.sim
    assert sim.market.get(ids["accept"]).return_status == m.SUCCESS
    assert sim.market.get(ids["keep"]).return_status == m.SUCCESS
    assert sim.market.get(ids["offer"]).return_status == m.AWAITING_BUYER_RESPONSE
    assert sim.market.get(ids["offer"]).partial_refund == Decimal("15.00")
    assert sim.market.get(ids["reject"]).return_status == m.REJECTED
    assert sim.market.get(ids["receive"]).return_status == m.SUCCESS
    assert sim.market.get(ids["reject_receipt"]).return_status == m.REJECT_RECEIVE_PACKAGE
    for rid in ids.values():
        mirrors(world, rid)
        actors = [r.actor for r in world.service.records(olive, rid)]
        assert "olive" in actors, actors  # the decision's record is the operator's
    assert world.get(ids["reject"]).reject_stage is d.RejectStage.REQUEST
    assert world.get(ids["reject_receipt"]).reject_stage is d.RejectStage.RECEIPT
    again = await world.round()
    assert again["acme"].sent == 0 and len(world.sim.writes) == 6  # nothing sent twice


async def test_a_refused_decision_puts_the_request_back_as_the_marketplace_has_it(world):
    ids = await decide_each(world)
    svc, olive, now = world.service, world.olive, world.now
    svc.accept(olive, ids["accept"], now)
    svc.reject(olive, ids["reject"], now, m.REQUEST_REASONS[0][0], "No.")
    world.sim.cancel(ids["accept"])  # the buyer was quicker
    world.sim.cancel(ids["reject"])
    reports = await world.round()
    assert reports["acme"].ok and reports["acme"].refused == 2 and reports["acme"].sent == 0
    for rid in (ids["accept"], ids["reject"]):
        assert mirrors(world, rid).status is d.Status.CANCELLED
        refusal = [r for r in world.service.records(olive, rid) if r.kind.value == "push_refused"]
        assert len(refusal) == 1 and "not allowed" in refusal[0].details["message"]
    assert "the marketplace refused the decision on return" in world.said()


async def test_every_decision_refused_by_the_marketplace_is_told_and_recorded(world):
    ids = await decide_each(world)
    svc, olive, now = world.service, world.olive, world.now
    svc.accept(olive, ids["accept"], now)
    svc.accept(olive, ids["keep"], now, keep_item=True)
    svc.offer(olive, ids["offer"], now, "15.00")
    svc.reject(olive, ids["reject"], now, m.REQUEST_REASONS[1][0], "Too late.")
    svc.receive(olive, ids["receive"], now)
    svc.reject_receipt(olive, ids["reject_receipt"], now, m.RECEIPT_REASONS[2][0], "Empty box.")
    for rid in ids.values():  # the platform moved each on meanwhile
        world.sim.force_status(rid, m.CANCELLED)
    reports = await world.round()
    assert reports["acme"].ok and reports["acme"].refused == 6 and reports["acme"].sent == 0
    for rid in ids.values():
        assert mirrors(world, rid).status is d.Status.CANCELLED
        refusals = [r for r in svc.records(olive, rid) if r.kind.value == "push_refused"]
        assert len(refusals) == 1 and refusals[0].actor == "marketplace"
        assert "not allowed" in refusals[0].details["message"]
    keys = [key for _, _, key in world.sim.writes]
    assert len(keys) == len(set(keys)) == 6


async def test_a_reject_reason_the_marketplace_refuses_is_told_and_reasons_fetched_again(world):
    ids = await decide_each(world)
    before = world.sim.calls["reject_reasons"]
    # The marketplace stops offering the reason between the fetch and the send.
    reasons = m.REQUEST_REASONS
    world.service.reject(world.olive, ids["reject"], world.now, reasons[3][0], "No.")
    m.REQUEST_REASONS = reasons[:3]
    try:
        reports = await world.round()
    finally:
        m.REQUEST_REASONS = reasons
    assert reports["acme"].refused == 1
    assert world.get(ids["reject"]).status is d.Status.PENDING
    assert world.sim.calls["reject_reasons"] > before  # fetched again for the stage


async def test_faults_are_retried_and_the_round_completes(world):
    rid = world.sim.create_return("acme", "REFUND", "20.00")
    await world.round()
    world.service.accept(world.olive, rid, world.now)
    for fault in (Fault("rate_limit", endpoint="approve", retry_after=0.05),
                  Fault("internal", endpoint="search", times=2),
                  Fault("drop", endpoint="approve", when="after"),
                  Fault("delay", endpoint="records", seconds=0.01)):
        world.sim.faults.add(fault)
    reports = await world.round()
    assert reports["acme"].ok and reports["acme"].sent == 1, reports["acme"].error
    keys = {key for name, r, key in world.sim.writes if r == rid}
    assert len(keys) == 1  # every attempt under the one key; applied once
    assert world.sim.market.get(rid).return_status == m.SUCCESS
    mirrors(world, rid)


async def test_one_shop_failing_does_not_stop_the_other(world):
    world.sim.create_return("acme", "REFUND", "20.00")
    rid = world.sim.create_return("globex", "REFUND", "21.00")
    world.engine.shops["acme"].client.tokens = type(world.engine.shops["acme"].client.tokens)(
        "TTP_not-a-token", "TTP_not-a-refresh-token")
    reports = await world.round()
    assert not reports["acme"].ok and "credentials" in reports["acme"].error.lower()
    assert reports["globex"].ok and reports["globex"].created == 1
    mirrors(world, rid)


async def test_a_token_refresh_is_written_back_before_use_mode_0600(world):
    old = cfg.load(world.path).shops["acme"]
    world.sim.expire_access_token("acme")
    world.sim.create_return("acme", "REFUND", "20.00")
    reports = await world.round()
    assert reports["acme"].ok and world.sim.refreshes == 1
    new = cfg.load(world.path).shops["acme"]
    shop = world.sim.shops["acme"]
    assert (new.access_token, new.refresh_token) == (shop.access_token, shop.refresh_token)
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    assert new.access_token_expires_at == shop.access_expires_at
    assert stat.S_IMODE(os.stat(world.path).st_mode) == 0o600
    assert cfg.load(world.path).shops["globex"] == cfg.load(world.path).shops["globex"]
    for secret in (new.access_token, new.refresh_token, old.refresh_token, old.app_secret):
        assert secret not in world.said()


async def test_a_token_due_to_expire_is_refreshed_before_the_call(world):
    shop = world.sim.shops["acme"]
    world.sim.clock.advance(seconds=shop.access_expires_at - world.sim.market.now() - 60)
    # Refresh 600 s ahead: the search that follows uses the new token, no 105002 is met.
    engine = world.engine.shops["acme"].client
    engine.tokens = type(engine.tokens)(shop.access_token, shop.refresh_token,
                                        shop.access_expires_at, shop.refresh_expires_at)
    reports = await world.round()
    assert reports["acme"].ok and world.sim.refreshes == 1
    assert cfg.load(world.path).shops["acme"].access_token == world.sim.shops["acme"].access_token



async def test_calls_in_flight_stay_within_the_parallel_limit(world):
    world.sim.seed("acme", 300, seed=5)
    # Each records call takes a while, as over a real network, so that calls overlap.
    world.sim.faults.add(Fault("delay", endpoint="records", seconds=0.02, times=1000))
    config = cfg.load(world.path)
    ledger = world.engine.ledger
    async with Engine(config, ledger, shops=["acme"], clock=world.sim.clock, retry=FAST,
                      teller=Teller(io.StringIO()), parallel=3, settle=5) as engine:
        (report,) = await engine.round()
    assert report.ok and report.created > 250
    assert 2 <= world.sim.max_in_flight <= 3  # in parallel, and never more than asked
