"""`sync --listen`: the simulator's signed notifications over real HTTP to the sync's listener
(DESIGN §8): a good one fetches that return at once and brings it in, a forged one is answered
401 and fetches nothing, a repeat of a notification id is answered 2xx and fetches nothing, and
the shop is the one named by shop_id when shops share an app."""

from __future__ import annotations

import io

import aiohttp
import pendulum
import pytest

from returns_tui import domain as d
from returns_tui.marketplace.signing import webhook_signature
from returns_tui.marketplace.simulator import MovableClock, ShopConfig, Simulator
from returns_tui.sync import config as cfg
from returns_tui.sync.engine import Engine, Teller
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.webhooks import Listener, serve
from tests.support.sync_sim import make_database, write_config
from tests.test_sync_engine import FAST


@pytest.fixture
async def hooked(tmp_path, request, db_url):
    shared = getattr(request, "param", False)
    app = ("6ashared01", "shared-secret-0123456789abcdef") if shared else None
    shops = [ShopConfig.make("acme", app=app), ShopConfig.make("globex", app=app)]
    clock = MovableClock(pendulum.now("UTC").start_of("second"))
    sim = Simulator(shops, clock=clock, webhook_retry_delays=(0.05, 0.1))
    async with sim.serve():
        path = write_config(tmp_path / "sync.toml", sim, ["acme", "globex"])
        if not shared:  # routed by the secret that verifies, not by shop_id
            text = path.read_text().splitlines()
            path.write_text("\n".join(line for line in text if not line.startswith("shop_id")))
        service = make_database(db_url)
        told = io.StringIO()
        engine = Engine(cfg.load(path), Ledger(service, clock=clock), clock=clock, retry=FAST,
                        teller=Teller(told), settle=5)
        async with engine:
            listener = Listener(engine)
            runner = await serve(listener, "127.0.0.1", 0)
            host, port = runner.addresses[0][:2]
            url = f"http://{host}:{port}/any/path/tiktok"
            for shop in sim.shops.values():
                shop.webhook_url = url
            try:
                yield sim, service, listener, url
            finally:
                await runner.cleanup()
        service.engine.dispose()


async def settle(sim, listener):
    await sim.webhooks.idle()
    await listener.idle()


async def test_a_good_notification_brings_its_return_in_at_once(hooked):
    sim, service, listener, _ = hooked
    rid = sim.create_return("acme", "RETURN_AND_REFUND", "40.00")
    await settle(sim, listener)
    olive = service.login("olive")
    got = service.get(olive, rid)
    assert got.source == "marketplace" and got.status is d.Status.PENDING
    assert [t.return_id for t in listener.timings] == [rid]
    assert sim.calls["records"] == 1  # records too
    sim.market.decide(sim.market.get(rid), "APPROVE_RETURN", {"decision": "APPROVE_RETURN"})
    await settle(sim, listener)
    assert service.get(olive, rid).status is d.Status.AWAITING_BUYER_SHIP
    assert all(a.status == 200 for a in sim.webhooks.log)
    assert all(t.stored - t.received < 2 for t in listener.timings)


async def test_a_forged_notification_is_401_and_fetches_nothing(hooked):
    sim, service, listener, url = hooked
    rid = sim.create_return("acme")
    await settle(sim, listener)
    calls = dict(sim.calls)
    sim.forge_webhook(rid)
    await settle(sim, listener)
    forged = [a for a in sim.webhooks.log if a.forged]
    assert [a.status for a in forged] == [401]
    assert dict(sim.calls) == calls
    async with aiohttp.ClientSession() as session:
        for headers, body in [({}, b'{"type":12}'), ({"Authorization": "00" * 32}, b"{}"),
                              ({"Authorization": "x"}, b"not json")]:
            async with session.post(url, data=body, headers=headers) as answer:
                assert answer.status == 401


async def test_a_repeated_notification_is_taken_and_fetches_nothing(hooked):
    sim, service, listener, _ = hooked
    rid = sim.create_return("acme")
    await settle(sim, listener)
    (note_id,) = list(sim.webhooks.sent)
    calls = dict(sim.calls)
    sim.webhooks.repeat(note_id)
    sim.webhooks.repeat(note_id)
    await settle(sim, listener)
    assert [a.status for a in sim.webhooks.log] == [200, 200, 200]
    assert dict(sim.calls) == calls and len(listener.timings) == 1
    assert service.get(service.login("olive"), rid).id == rid


async def test_a_signed_notification_of_another_kind_or_unreadable_is_answered(hooked):
    sim, _, listener, url = hooked
    shop = sim.shops["acme"]
    async with aiohttp.ClientSession() as session:
        for body, status in [(b'{"type":11,"tts_notification_id":"n-1","data":{}}', 200),
                             (b'{"type":12}', 400), (b"[1, 2]", 400),
                             (b'{"type":12,"tts_notification_id":"a\\u0000b"}', 400)]:
            signature = webhook_signature(shop.app_key, shop.app_secret, body)
            async with session.post(url, data=body,
                                    headers={"Authorization": signature}) as answer:
                assert answer.status == status
    await listener.idle()
    assert listener.timings == []


@pytest.mark.parametrize("hooked", [True], indirect=True)
async def test_shops_of_one_app_are_told_apart_by_shop_id(hooked):
    sim, service, listener, _ = hooked
    rid = sim.create_return("globex", "REFUND", "9.00")
    await settle(sim, listener)
    got = service.get(service.login("olive"), rid)
    assert got.shop == "globex"
