"""The simulator's webhooks, received over real HTTP by a small aiohttp server here: signed
type 12 notifications on every change (the clock's included), retried deliveries under the same
id, a repeat, a forged one that fails verification, and the subscription endpoint."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.signing import verify_webhook
from returns_tui.marketplace.simulator import MovableClock, ShopConfig, Simulator
from returns_tui.marketplace.simulator import model as m
from tests.test_marketplace_simulator import raw


class Receiver:
    """Takes notifications; answers 401 to one that does not verify, else the next of
    `answers` (200 once they run out)."""

    def __init__(self) -> None:
        self.got: list[tuple[str | None, bytes]] = []
        self.answers: list[int] = []
        self.apps: dict[str, str] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("Authorization")
        self.got.append((signature, body))
        if not any(verify_webhook(k, s, body, signature) for k, s in self.apps.items()):
            return web.Response(status=401)
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.got]


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def sim(receiver):
    shop = ShopConfig.make("acme", webhook_url=receiver.url)
    receiver.apps[shop.app_key] = shop.app_secret
    simulator = Simulator([shop, ShopConfig.make("quiet")], clock=MovableClock(),
                          webhook_retry_delays=(0.02, 0.04, 0.06))
    async with simulator.serve():
        yield simulator


async def test_every_change_sends_a_signed_type_12_notification(sim, receiver):
    rid = sim.create_return("acme", "RETURN_AND_REFUND", "40.00")
    sim.create_return("quiet")  # a shop with no webhook address sends nothing
    async with sim.client("acme") as client:
        await client.approve(rid, "APPROVE_RETURN", idempotency_key="k")
    await sim.webhooks.idle()
    shop = sim.shops["acme"]
    assert all(verify_webhook(shop.app_key, shop.app_secret, body, sig)
               for sig, body in receiver.got)
    first, second = receiver.payloads()
    ret = sim.market.get(rid)
    assert first == {
        "type": 12, "tts_notification_id": first["tts_notification_id"],
        "shop_id": shop.shop_id, "timestamp": ret.create_time,
        "data": {"order_id": ret.order_id, "return_id": rid, "return_role": "BUYER",
                 "return_type": "RETURN_AND_REFUND", "return_status": m.PENDING,
                 "create_time": ret.create_time, "update_time": ret.create_time}}
    assert second["data"]["return_status"] == m.AWAITING_BUYER_SHIP
    assert first["tts_notification_id"] != second["tts_notification_id"]
    assert [a.status for a in sim.webhooks.log] == [200, 200]


async def test_a_change_made_by_the_clock_is_notified(sim, receiver):
    rid = sim.create_return("acme", "REFUND")
    sim.advance(hours=48, minutes=30)
    await sim.webhooks.idle()
    statuses = [n["data"]["return_status"] for n in receiver.payloads()]
    assert statuses == [m.PENDING, m.SUCCESS]
    assert receiver.payloads()[-1]["data"]["return_id"] == rid


async def test_a_failed_delivery_is_retried_under_the_same_id_and_body(sim, receiver):
    receiver.answers = [500, 503]
    sim.create_return("acme")
    await sim.webhooks.idle()
    assert len(receiver.got) == 3 and len(set(receiver.got)) == 1
    assert [(a.number, a.status) for a in sim.webhooks.log] == [(1, 500), (2, 503), (3, 200)]


async def test_delivery_stops_after_the_last_retry(sim, receiver):
    receiver.answers = [500] * 10
    sim.create_return("acme")
    await sim.webhooks.idle()
    assert len(receiver.got) == 4  # the first delivery and three retries


async def test_a_repeat_comes_under_the_same_id_and_a_forged_one_does_not_verify(sim, receiver):
    rid = sim.create_return("acme")
    await sim.webhooks.idle()
    sent_id = receiver.payloads()[0]["tts_notification_id"]
    sim.webhooks.repeat(sent_id)
    forged = sim.forge_webhook(rid)
    await sim.webhooks.idle()
    (_, original), (_, repeated), (forged_sig, forged_body) = receiver.got
    assert repeated == original
    shop = sim.shops["acme"]
    assert not verify_webhook(shop.app_key, shop.app_secret, forged_body, forged_sig)
    assert json.loads(forged_body)["data"]["return_id"] == rid
    assert [(a.notification_id, a.status, a.forged) for a in sim.webhooks.log][-1] == (
        forged.notification_id, 401, True)  # refused once, and not retried


async def test_the_subscription_endpoint_sets_the_address(sim, receiver):
    quiet = sim.shops["quiet"]
    receiver.apps[quiet.app_key] = quiet.app_secret
    body = {"address": receiver.url, "event_type": p.WEBHOOK_EVENT_RETURN_STATUS_CHANGE}
    _, doc = await raw(sim, "PUT", p.PATH_WEBHOOKS, body=body, shop="quiet")
    assert doc["code"] == 0
    _, doc = await raw(sim, "PUT", p.PATH_WEBHOOKS, shop="quiet",
                       body={**body, "event_type": "ORDER_STATUS_CHANGE"})
    assert doc["code"] == p.INVALID_REQUEST
    sim.create_return("quiet")
    await sim.webhooks.idle()
    assert receiver.payloads()[0]["shop_id"] == quiet.shop_id
