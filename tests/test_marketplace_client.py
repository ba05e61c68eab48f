"""The client against the simulator's faults over real HTTP: each fault and the retry it gets
(retry-after honoured, the same idempotency key on every attempt, a bound with a clear error),
token refresh, and the limit on calls in flight."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.client import RetryPolicy, ReturnsClient, ShopAccess, Tokens
from returns_tui.marketplace.errors import AuthError, NetworkError, Refused, RetriesExhausted
from returns_tui.marketplace.simulator import Fault, MovableClock, ShopConfig, Simulator
from returns_tui.marketplace.simulator import model as m

FAST = RetryPolicy(max_attempts=4, backoff_base=0.02, jitter=0.0, timeout=2.0)


@pytest.fixture
async def sim():
    simulator = Simulator([ShopConfig.make("acme")], clock=MovableClock())
    async with simulator.serve():
        yield simulator


class Sleeps:
    """asyncio.sleep that also writes down how long each wait was."""

    def __init__(self, also=None) -> None:
        self.waits: list[float] = []
        self.also = also

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.also:
            self.also(seconds)
        await asyncio.sleep(seconds)


async def test_a_429_waits_the_servers_retry_after_and_tries_again(sim):
    sim.create_return("acme")
    sim.faults.add(Fault("rate_limit", endpoint="search", times=2, retry_after=0.3))
    sleeps = Sleeps()
    started = time.monotonic()
    async with sim.client("acme", retry=FAST, sleep=sleeps) as client:
        page = await client.search_returns(page_size=10)
    assert page.total_count == 1
    assert sleeps.waits == [0.3, 0.3]
    assert time.monotonic() - started >= 0.6
    assert sim.calls["search"] == 3
    assert sim.faults.fired == [("search", "rate_limit")] * 2


async def test_36009003_backs_off_exponentially_and_tries_again(sim):
    sim.faults.add(Fault("internal", endpoint="search", times=3))
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=4, backoff_base=0.01, jitter=0.5)
    async with sim.client("acme", retry=policy, sleep=sleeps, rng=lambda: 0.5) as client:
        await client.search_returns(page_size=10)
    assert sleeps.waits == pytest.approx([0.0125, 0.025, 0.05])
    assert sim.calls["search"] == 4


async def test_each_attempt_is_stamped_and_signed_anew(sim):
    """Were a retry sent with its first timestamp, the clock moved on 400 s would refuse it."""
    sim.faults.add(Fault("rate_limit", endpoint="search", retry_after=0.01))
    sleeps = Sleeps(also=lambda _: sim.clock.advance(seconds=400))
    async with sim.client("acme", retry=FAST, sleep=sleeps) as client:
        await client.search_returns(page_size=10)
    assert sim.calls["search"] == 2


async def test_a_dropped_connection_is_retried(sim):
    rid = sim.create_return("acme")
    sim.faults.add(Fault("drop", endpoint="records"))
    async with sim.client("acme", retry=FAST) as client:
        records = await client.get_records(rid)
    assert records[0]["role"] == "BUYER" and sim.calls["records"] == 2


async def test_a_write_whose_answer_was_lost_is_sent_again_under_its_key_and_done_once(sim):
    rid = sim.create_return("acme", "RETURN_AND_REFUND")
    sim.faults.add(Fault("drop", endpoint="approve", when="after"))
    async with sim.client("acme", retry=FAST) as client:
        assert await client.approve(rid, "APPROVE_RETURN", idempotency_key="d-1") == {}
    assert sim.writes == [("approve", rid, "d-1"), ("approve", rid, "d-1")]
    ret = sim.market.get(rid)
    assert ret.return_status == m.AWAITING_BUYER_SHIP
    assert [r.event for r in ret.records].count("SELLER_APPROVE_RETURN") == 1


async def test_a_timeout_is_retried_and_the_late_write_is_not_applied_twice(sim):
    rid = sim.create_return("acme", "RETURN_AND_REFUND")
    sim.faults.add(Fault("delay", endpoint="approve", seconds=0.6))
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, jitter=0.0, timeout=0.2)
    async with sim.client("acme", retry=policy) as client:
        await client.approve(rid, "APPROVE_RETURN", idempotency_key="t-1")
    assert sim.market.get(rid).return_status == m.AWAITING_BUYER_SHIP
    version = sim.market.get(rid).version
    await asyncio.sleep(0.7)  # the first, slow attempt now runs: its key has an answer already
    assert sim.writes == [("approve", rid, "t-1")] * 2
    assert sim.market.get(rid).version == version


async def test_the_client_gives_up_after_its_bound_with_a_clear_error(sim):
    sim.faults.add(Fault("internal", endpoint="search", times=10))
    async with sim.client("acme", retry=RetryPolicy(max_attempts=3, backoff_base=0.01)) as c:
        with pytest.raises(RetriesExhausted) as gave_up:
            await c.search_returns(page_size=10)
    assert sim.calls["search"] == 3
    assert gave_up.value.attempts == 3 and gave_up.value.last.code == p.INTERNAL_RETRYABLE
    assert str(gave_up.value).startswith("Gave up on search after 3 attempts; the last failure:")
    assert "Internal error" in str(gave_up.value)


async def test_a_retry_after_beyond_the_limit_gives_up_at_once(sim):
    sim.faults.add(Fault("rate_limit", endpoint="search", retry_after=120))
    policy = RetryPolicy(max_attempts=5, max_retry_after=60)
    async with sim.client("acme", retry=policy) as client:
        with pytest.raises(RetriesExhausted, match="as told to wait 120 s"):
            await client.search_returns(page_size=10)
    assert sim.calls["search"] == 1


async def test_a_refusal_is_final_and_keeps_the_marketplaces_message(sim):
    rid = sim.create_return("acme", "REFUND")
    async with sim.client("acme", retry=FAST) as client:
        with pytest.raises(Refused) as refused:
            await client.approve(rid, "APPROVE_RETURN", idempotency_key="r-1")
    assert sim.calls["approve"] == 1
    assert refused.value.marketplace_message == "APPROVE_RETURN does not apply to a REFUND."
    assert refused.value.request_id and refused.value.http_status == 400


async def test_no_server_is_a_network_failure_retried_then_given_up():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    access = ShopAccess("key", "secret-never-shown", "cipher", f"http://127.0.0.1:{port}")
    tokens = Tokens("token-never-shown", "refresh-never-shown")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01)
    async with ReturnsClient(access, tokens, retry=policy) as client:
        with pytest.raises(RetriesExhausted) as gave_up:
            await client.get_records("123")
        with pytest.raises(RetriesExhausted) as refresh_gave_up:  # the secret is in its query
            await client.refresh_tokens()
    assert isinstance(gave_up.value.last, NetworkError)
    shown = (str(gave_up.value) + str(refresh_gave_up.value) + repr(client) + repr(access)
             + repr(tokens))
    assert "never-shown" not in shown and "127.0.0.1" in shown


# ----- tokens --------------------------------------------------------------------------------

async def test_an_expired_token_is_refreshed_once_and_the_call_tried_again(sim):
    kept: list[Tokens] = []

    async def write_back(tokens: Tokens) -> None:
        kept.append(tokens)

    sim.expire_access_token("acme")
    old_refresh = sim.shops["acme"].refresh_token
    async with sim.client("acme", retry=FAST, on_tokens=write_back) as client:
        await asyncio.gather(*(client.search_returns(page_size=10) for _ in range(4)))
        assert sim.refreshes == 1 and len(kept) == 1
        assert client.tokens == kept[0]
        assert kept[0].access_token == sim.shops["acme"].access_token
        assert kept[0].access_token_expires_at == sim.market.now() + 7 * 24 * 3600
        await client.search_returns(page_size=10)
    assert sim.refreshes == 1
    with pytest.raises(m.Refusal) as spent:
        sim.refresh(sim.shops["acme"].app_key, old_refresh)
    assert spent.value.code == p.CHOSEN_REFRESH_TOKEN_INVALID


async def test_a_token_about_to_expire_is_refreshed_before_the_call(sim):
    sim.clock.advance(days=7, minutes=-5)
    async with sim.client("acme", retry=FAST) as client:
        await client.search_returns(page_size=10)
    assert sim.refreshes == 1 and sim.calls["search"] == 1


async def test_a_refresh_the_marketplace_refuses_is_an_auth_error(sim):
    shop = sim.shops["acme"]
    async with sim.client("acme", retry=FAST) as client:
        held = client.tokens.access_token
        sim.refresh(shop.app_key, shop.refresh_token)  # someone else spent the refresh token
        sim.expire_access_token("acme", held)  # and the token the client holds expired
        with pytest.raises(AuthError) as refused:
            await client.search_returns(page_size=10)
    assert refused.value.code == p.CHOSEN_REFRESH_TOKEN_INVALID


# ----- calls in flight -----------------------------------------------------------------------

@pytest.mark.parametrize("limit", [2, 6])
async def test_calls_in_flight_stay_within_the_limit(sim, limit):
    rid = sim.create_return("acme")
    sim.faults.add(Fault("delay", endpoint="records", seconds=0.15, times=6))
    async with sim.client("acme", retry=FAST, limiter=limit) as client:
        await asyncio.gather(*(client.get_records(rid) for _ in range(6)))
    assert sim.max_in_flight == limit


async def test_a_limiter_shared_by_two_shops_bounds_them_together():
    sim = Simulator([ShopConfig.make("acme"), ShopConfig.make("globex")], clock=MovableClock())
    a, g = sim.create_return("acme"), sim.create_return("globex")
    sim.faults.add(Fault("delay", endpoint="records", seconds=0.15, times=6))
    shared = asyncio.Semaphore(3)
    async with sim.serve():
        async with sim.client("acme", limiter=shared) as ca, \
                sim.client("globex", limiter=shared) as cg:
            await asyncio.gather(*(c.get_records(r) for c, r in [(ca, a), (cg, g)] * 3))
    assert sim.max_in_flight == 3
