"""The simulator against TIKTOK_API.md over real HTTP on localhost: the checks of every call
(signature, timestamp, token, shop cipher), search with its paging and filters, records, reject
reasons, the seeding helper and the control API. Decisions are in test_marketplace_decisions,
faults and retries in test_marketplace_client, webhooks in test_marketplace_webhooks."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tomllib
from collections import Counter

import aiohttp
import pytest

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.client import ReturnsClient, ShopAccess, Tokens
from returns_tui.marketplace.errors import Refused
from returns_tui.marketplace.signing import sign
from returns_tui.marketplace.simulator import MovableClock, ShopConfig, Simulator
from returns_tui.marketplace.simulator import model as m
from returns_tui.marketplace.simulator.index import Query


@pytest.fixture
async def sim():
    simulator = Simulator([ShopConfig.make("acme"), ShopConfig.make("globex")],
                          clock=MovableClock())
    async with simulator.serve():
        yield simulator


@pytest.fixture
async def client(sim):
    async with sim.client("acme") as c:
        yield c


async def raw(sim: Simulator, method: str, path: str, *, query=None, body=None, shop="acme",
              token=None, tamper=None, ts_offset=0, drop=()) -> tuple[int, dict]:
    """One call signed by the recipe (not by the client), optionally spoiled afterwards."""
    cfg = sim.shops[shop]
    q = {"app_key": cfg.app_key, "timestamp": str(sim.market.now() + ts_offset),
         "shop_cipher": cfg.shop_cipher, **(query or {})}
    for key in drop:
        q.pop(key, None)
    payload = b"" if body is None else json.dumps(body).encode()
    q["sign"] = sign(cfg.app_secret, path, q, payload, method=method)
    if "sign" in drop:
        del q["sign"]
    sent = tamper(payload) if tamper else payload
    headers = {p.ACCESS_TOKEN_HEADER: token or cfg.access_token,
               "content-type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, sim.base_url + path, params=q, data=sent or None,
                                   headers=headers) as answer:
            return answer.status, await answer.json()


SEARCH = {"page_size": "20"}


# ----- the checks of every call --------------------------------------------------------------

async def test_a_signed_call_gets_tiktoks_envelope(sim):
    sim.create_return("acme")
    status, doc = await raw(sim, "POST", p.PATH_SEARCH, query=SEARCH, body={})
    assert status == 200
    assert set(doc) == {"code", "message", "request_id", "data"} and doc["code"] == 0
    assert set(doc["data"]) == {"return_orders", "next_page_token", "total_count"}
    assert doc["data"]["total_count"] == 1


@pytest.mark.parametrize("spoil, code, message", [
    ({"drop": ("sign",)}, p.INVALID_REQUEST, "Missing credentials"),
    ({"tamper": lambda body: body.replace(b"{}", b'{"return_ids":["1"]}')}, p.INVALID_SIGN,
     "Invalid credentials. The `sign`"),
    ({"ts_offset": -301}, p.INVALID_REQUEST, "Invalid timestamp"),
    ({"ts_offset": 301}, p.INVALID_REQUEST, "Invalid timestamp"),
    ({"token": "TTP_not_a_token"}, p.INVALID_REQUEST, "Invalid credentials. The `x-tts-access"),
    ({"drop": ("shop_cipher",)}, p.MISSING_SHOP_CIPHER, "Missing identifier"),
])
async def test_a_call_that_fails_a_check_is_refused_with_tiktoks_code(sim, spoil, code, message):
    status, doc = await raw(sim, "POST", p.PATH_SEARCH, query=SEARCH, body={}, **spoil)
    assert (doc["code"], status) == (code, 401 if code != p.MISSING_SHOP_CIPHER else 400)
    assert doc["message"].startswith(message)
    assert doc["data"] is None


async def test_the_timestamp_window_is_exact(sim):
    for offset in (-300, 300):
        status, doc = await raw(sim, "POST", p.PATH_SEARCH, query=SEARCH, body={},
                                ts_offset=offset)
        assert doc["code"] == 0, offset


async def test_a_sign_made_with_another_secret_is_refused(sim):
    other = sim.shops["globex"]
    status, doc = await raw(sim, "POST", p.PATH_SEARCH, query={**SEARCH, "app_key": other.app_key},
                            body={})
    assert doc["code"] == p.INVALID_SIGN


async def test_a_token_works_only_for_its_own_shop_and_app(sim):
    globex = sim.shops["globex"]
    _, doc = await raw(sim, "POST", p.PATH_SEARCH, query=SEARCH, body={},
                       token=globex.access_token)
    assert doc["code"] == p.INVALID_REQUEST and "x-tts-access-token" in doc["message"]
    shared = Simulator([ShopConfig.make("a", app=("k1", "s1")),
                        ShopConfig.make("b", app=("k1", "s1"))], clock=MovableClock())
    async with shared.serve():
        _, doc = await raw(shared, "POST", p.PATH_SEARCH, query=SEARCH, body={}, shop="a",
                           token=shared.shops["b"].access_token)
    assert doc["code"] == p.INVALID_REQUEST and "shop_cipher" in doc["message"]


async def test_an_expired_token_gets_105002(sim):
    sim.expire_access_token("acme")
    status, doc = await raw(sim, "POST", p.PATH_SEARCH, query=SEARCH, body={})
    assert (status, doc["code"]) == (401, p.EXPIRED_TOKEN)
    assert doc["message"].startswith("Expired credentials")


async def test_the_shops_call_goes_without_shop_cipher(sim):
    _, doc = await raw(sim, "GET", p.PATH_SHOPS, drop=("shop_cipher",))
    assert doc["data"]["shops"][0]["cipher"] == sim.shops["acme"].shop_cipher
    _, doc = await raw(sim, "GET", p.PATH_SHOPS)
    assert doc["code"] == p.INVALID_REQUEST and "not required" in doc["message"]


# ----- search and paging ---------------------------------------------------------------------

async def test_paging_serves_every_return_of_the_shop_once_in_order(sim, client):
    sim.seed("acme", 237, seed=1)
    sim.seed("globex", 40, seed=2)
    mine = {r.return_id for r in sim.market.returns.values() if r.shop == "acme"}
    for size in (10, 33, 50):
        seen, keys, pages = [], [], 0
        async for page in client.iter_returns(page_size=size):
            pages += 1
            assert page.total_count == 237
            seen += [r["return_id"] for r in page.return_orders]
            keys += [(r["update_time"], r["return_id"]) for r in page.return_orders]
        assert len(seen) == len(set(seen)) == 237 and set(seen) == mine
        assert keys == sorted(keys)
        assert pages == -(-237 // size)


async def test_a_return_that_does_not_change_is_served_once_while_others_change(sim, client):
    sim.seed("acme", 120, seed=3)
    pages = client.iter_returns(page_size=10)
    first = await anext(pages)
    served = [r["return_id"] for r in first.return_orders]
    pending = [r for r in sim.market.returns.values()
               if r.return_status == m.PENDING and r.return_id not in served]
    changed = {served[0], pending[0].return_id}
    sim.market.force_status(sim.market.get(served[0]), "SOMETHING_NEW")
    sim.market.buyer_cancel(pending[0])
    async for page in pages:
        served += [r["return_id"] for r in page.return_orders]
    counts = Counter(served)
    assert all(counts[rid] == 1 for rid in sim.market.returns if rid not in changed)
    assert counts[served[0]] == 2  # it changed after it was served: served again, newer
    assert counts[pending[0].return_id] == 1


async def test_a_page_token_is_refused_under_other_filters(sim, client):
    sim.seed("acme", 30)
    first = await client.search_returns(page_size=10)
    with pytest.raises(Refused) as refused:
        await client.search_returns(page_size=10, page_token=first.next_page_token,
                                    return_types=["REFUND"])
    assert refused.value.code == p.CHOSEN_PAGE_TOKEN_INVALID
    again = await client.search_returns(page_size=20, page_token=first.next_page_token)
    assert again.return_orders[0]["return_id"] not in {
        r["return_id"] for r in first.return_orders}


@pytest.mark.parametrize("size", ["9", "51", "x"])
async def test_page_size_must_be_10_to_50(sim, size):
    _, doc = await raw(sim, "POST", p.PATH_SEARCH, query={"page_size": size}, body={})
    assert doc["code"] == p.INVALID_REQUEST and "page_size" in doc["message"]


def _expected(sim, shop, keep, field="update_time", reverse=False):
    rets = [r for r in sim.market.returns.values() if r.shop == shop and keep(r)]
    rets.sort(key=lambda r: (getattr(r, field), r.return_id), reverse=reverse)
    return [r.return_id for r in rets]


async def _all(client, **search):
    out = []
    async for page in client.iter_returns(**search):
        out += [r["return_id"] for r in page.return_orders]
    return out


async def test_each_filter_selects_what_it_names(sim, client):
    sim.seed("acme", 300, seed=4)
    sim.seed("globex", 50, seed=5)
    rets = [r for r in sim.market.returns.values() if r.shop == "acme"]
    times = sorted(r.create_time for r in rets)
    lo, hi = times[60], times[200]
    some = [r.return_id for r in rets[:7]] + [r.return_id for r in
                                              sim.market.returns.values() if r.shop == "globex"][:2]
    cases = [
        ({"return_status": [m.PENDING, m.CANCELLED]},
         lambda r: r.return_status in (m.PENDING, m.CANCELLED)),
        ({"return_types": ["RETURN_AND_REFUND"]}, lambda r: r.return_type == "RETURN_AND_REFUND"),
        ({"arbitration_status": ["IN_PROGRESS"]}, lambda r: r.arbitration_status == "IN_PROGRESS"),
        ({"return_ids": some}, lambda r: r.return_id in some),
        ({"order_ids": [rets[3].order_id]}, lambda r: r.order_id == rets[3].order_id),
        ({"create_time_ge": lo, "create_time_lt": hi}, lambda r: lo <= r.create_time < hi),
        ({"update_time_ge": lo}, lambda r: r.update_time >= lo),
        ({"buyer_user_ids": [rets[0].buyer_user_id]},
         lambda r: r.buyer_user_id == rets[0].buyer_user_id),
    ]
    for filters, keep in cases:
        got = await _all(client, page_size=10, **filters)
        assert got == _expected(sim, "acme", keep), filters
        first = await client.search_returns(page_size=10, **filters)
        assert first.total_count == len(got), filters
    desc = await _all(client, page_size=50, sort_field="create_time", sort_order="DESC",
                      create_time_lt=hi)
    assert desc == _expected(sim, "acme", lambda r: r.create_time < hi, "create_time", True)


async def test_a_return_as_search_shows_it(sim, client):
    rid = sim.create_return("acme", "RETURN_AND_REFUND", "40.00")
    page = await client.search_returns(page_size=10, return_ids=[rid])
    ret = page.return_orders[0]
    now = sim.market.now()
    assert ret["return_status"] == "RETURN_OR_REFUND_REQUEST_PENDING"
    assert ret["refund_amount"]["refund_total"] == "40.00"
    assert ret["refund_amount"]["currency"] == "USD"
    assert ret["seller_next_action_response"] == [
        {"action": "SELLER_RESPOND_RETURN", "deadline": now + 48 * 3600}]
    assert ret["create_time"] == ret["update_time"] == now
    assert ret["return_line_items"][0]["seller_sku"]
    assert "arbitration_status" not in ret and "partial_refund" not in ret


# ----- records and reject reasons -------------------------------------------------------------

async def test_records_carry_role_description_and_evidence_links(sim, client):
    sim.seed("acme", 40, seed=6)
    with_media = next(r for r in sim.market.returns.values() if r.records[0].videos)
    records = await client.get_records(with_media.return_id)
    assert len(records) == len(with_media.records)
    first = records[0]
    assert first["role"] == "BUYER" and first["event"].startswith("BUYER_REQUEST_")
    assert first["videos"][0]["url"].startswith("https://") and first["videos"][0]["cover"]
    assert all(set(r) >= {"event", "role", "description", "images", "videos", "create_time"}
               for r in records)
    times = [r["create_time"] for r in records]
    assert times == sorted(times)


async def test_reject_reasons_follow_the_return_stage(sim, client):
    rid = sim.create_return("acme", "RETURN_AND_REFUND")
    assert [r["name"] for r in await client.reject_reasons(rid)] == \
        [name for name, _ in m.REQUEST_REASONS]
    sim.market.decide(sim.market.get(rid), "APPROVE_RETURN", {})
    assert await client.reject_reasons(rid) == []
    sim.ship(rid)
    reasons = await client.reject_reasons(rid)
    assert [r["name"] for r in reasons] == [name for name, _ in m.RECEIPT_REASONS]
    assert all(r["text"] for r in reasons)


async def test_a_return_of_another_shop_is_not_found(sim, client):
    theirs = sim.create_return("globex")
    for call in (client.get_records(theirs), client.reject_reasons(theirs),
                 client.approve(theirs, "APPROVE_REFUND", idempotency_key="k")):
        with pytest.raises(Refused) as refused:
            await call
        assert refused.value.code == p.CHOSEN_RETURN_NOT_FOUND
    assert sim.view(theirs)["return_status"] == m.PENDING


# ----- seeding -------------------------------------------------------------------------------

def test_seeding_covers_every_status_of_the_mapping_and_leaves_no_deadline_passed():
    sim = Simulator([ShopConfig.make("acme")], clock=MovableClock())
    sim.seed("acme", 3000, seed=7)
    rets = list(sim.market.returns.values())
    assert {r.return_status for r in rets} == {
        m.PENDING, m.AWAITING_BUYER_RESPONSE, m.AWAITING_BUYER_SHIP, m.BUYER_SHIPPED,
        m.SUCCESS, m.COMPLETE, m.REJECTED, m.REJECT_RECEIVE_PACKAGE, m.CANCELLED}
    assert {r.arbitration_status for r in rets} == {
        None, m.IN_PROGRESS, m.SUPPORT_BUYER, m.SUPPORT_SELLER, m.CLOSED}
    assert {r.return_type for r in rets} == {m.REFUND, m.RETURN_AND_REFUND, m.REPLACEMENT}
    assert sim.market.tick() == 0
    assert all(r.create_time <= r.update_time <= sim.market.now() for r in rets)
    again = Simulator([ShopConfig.make("acme")], clock=MovableClock())
    again.seed("acme", 3000, seed=7)
    assert [again.view(r.return_id) for r in rets[:50]] == [sim.view(r.return_id)
                                                            for r in rets[:50]]


def test_paging_a_big_shop_reads_each_return_about_once():
    """Keyset paging: the index walks N + pages positions for N returns, not N * pages."""
    sim = Simulator([ShopConfig.make("acme")], clock=MovableClock())
    sim.seed("acme", 20000, seed=8)
    index = sim.market.index("acme")
    for filters in ({}, {"return_status": [m.PENDING]}):
        walked, token, served = 0, None, 0
        while True:
            q = Query(filters, "update_time", "ASC", 50, token)
            page = index.search(sim.market.returns, q)
            walked += page.walked
            served += len(page.returns)
            token = page.next_page_token
            if not token:
                break
        pages = -(-served // 50)
        assert walked <= 20000 + pages, filters
        assert served == sum(1 for r in sim.market.returns.values()
                             if not filters or r.return_status == m.PENDING)


# ----- the control API -----------------------------------------------------------------------

async def test_the_control_api_moves_returns_from_outside(sim):
    async with aiohttp.ClientSession(base_url=sim.base_url) as http:
        async with http.post("/_sim/returns", json={"shop": "acme",
                                                    "return_type": "RETURN_AND_REFUND"}) as r:
            rid = (await r.json())["return_id"]
        async with http.post(f"/_sim/returns/{rid}/ship") as r:
            assert r.status == 409 and "cannot ship" in (await r.json())["error"]
        async with http.post("/_sim/advance", json={"seconds": 48 * 3600}) as r:
            assert (await r.json())["applied"] == 1
        async with http.post(f"/_sim/returns/{rid}/ship", json={"tracking_number": "T1"}) as r:
            assert (await r.json())["return_status"] == m.BUYER_SHIPPED
        async with http.post("/_sim/faults", json={"kind": "internal", "endpoint": "search"}) as r:
            assert r.status == 200
        async with http.post("/_sim/faults", json={"kind": "nonsense"}) as r:
            assert r.status == 400
        async with http.get("/_sim/stats") as r:
            assert (await r.json())["returns"]["acme"] == {m.BUYER_SHIPPED: 1}
    assert sim.faults.faults[0].kind == "internal"


async def test_the_runnable_entry_serves_what_its_config_file_says(tmp_path):
    config = tmp_path / "sync.toml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "returns_tui.marketplace.simulator", "--port", "0",
        "--shops", "acme,globex", "--returns", "120", "--config-out", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("serving http://127.0.0.1:") and "240 returns" in line
        assert config.stat().st_mode & 0o777 == 0o600
        table = tomllib.loads(config.read_text())["shops"]["globex"]
        assert table["app_secret"] not in line
        access = ShopAccess(table["app_key"], table["app_secret"], table["shop_cipher"],
                            table["base_url"], table["auth_url"])
        async with ReturnsClient(access, Tokens(table["access_token"],
                                                table["refresh_token"])) as client:
            page = await client.search_returns(page_size=50)
        assert page.total_count == 120
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_the_runnable_entry_refuses_bad_arguments_in_a_sentence():
    done = subprocess.run([sys.executable, "-m", "returns_tui.marketplace.simulator",
                           "--shops", "a.b", "--port", "0"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "shop names are letters" in done.stderr
    assert "Traceback" not in done.stderr
