"""The seller's decisions through the real client over HTTP, the refusal of every decision the
return's state does not allow, idempotency keys, the simulator's own deadlines, and the buyers'
and the platform's moves."""

from __future__ import annotations

import pytest

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.errors import Refused
from returns_tui.marketplace.simulator import MovableClock, MoveRefused, ShopConfig, Simulator
from returns_tui.marketplace.simulator import model as m

HOUR = 3600


@pytest.fixture
async def sim():
    simulator = Simulator([ShopConfig.make("acme")], clock=MovableClock())
    async with simulator.serve():
        yield simulator


@pytest.fixture
async def client(sim):
    async with sim.client("acme") as c:
        yield c


def decide(sim, rid, decision, **body):
    sim.market.decide(sim.market.get(rid), decision, {"decision": decision, **body})


REQUEST_REASON = m.REQUEST_REASONS[0][0]
RECEIPT_REASON = m.RECEIPT_REASONS[1][0]

# How to bring a return to each state, by the simulator's own rules.
STATES = {
    "PENDING": [],
    "AWAITING_BUYER_RESPONSE": [lambda s, r: decide(s, r, "OFFER_PARTIAL_REFUND", partial_refund={
        "amount": "10.00", "currency": "USD"})],
    "AWAITING_BUYER_SHIP": [lambda s, r: decide(s, r, "APPROVE_RETURN")],
    "BUYER_SHIPPED_ITEM": [lambda s, r: decide(s, r, "APPROVE_RETURN"), lambda s, r: s.ship(r)],
    "SUCCESS": [lambda s, r: decide(s, r, "APPROVE_REFUND", buyer_keep_item=True)],
    "COMPLETE": [lambda s, r: decide(s, r, "APPROVE_REFUND", buyer_keep_item=True),
                 lambda s, r: s.pay(r)],
    "REJECT": [lambda s, r: decide(s, r, "REJECT_RETURN", reject_reason=REQUEST_REASON)],
    "REJECT_RECEIVE_PACKAGE": [
        lambda s, r: decide(s, r, "APPROVE_RETURN"), lambda s, r: s.ship(r),
        lambda s, r: decide(s, r, "REJECT_RECEIVED_PACKAGE", reject_reason=RECEIPT_REASON)],
    "CANCEL": [lambda s, r: s.cancel(r)],
    "ARBITRATION": [lambda s, r: decide(s, r, "REJECT_RETURN", reject_reason=REQUEST_REASON),
                    lambda s, r: s.appeal(r)],
}


def in_state(sim, state, return_type="RETURN_AND_REFUND", **options) -> str:
    rid = sim.create_return("acme", return_type, "40.00", **options)
    for step in STATES[state]:
        step(sim, rid)
    return rid


# (decision, its arguments, the one state it is allowed in, the status it leads to)
DECISIONS = [
    ("approve", "APPROVE_RETURN", {}, "PENDING", m.AWAITING_BUYER_SHIP),
    ("approve", "APPROVE_REFUND", {"buyer_keep_item": True}, "PENDING", m.SUCCESS),
    ("approve", "OFFER_PARTIAL_REFUND", {"partial_refund": {"amount": "12.50",
                                                            "currency": "USD"}},
     "PENDING", m.AWAITING_BUYER_RESPONSE),
    ("approve", "APPROVE_RECEIVED_PACKAGE", {}, "BUYER_SHIPPED_ITEM", m.SUCCESS),
    ("reject", "REJECT_RETURN", {"reject_reason": REQUEST_REASON, "comment": "Worn."},
     "PENDING", m.REJECTED),
    ("reject", "REJECT_RECEIVED_PACKAGE", {"reject_reason": RECEIPT_REASON, "comment": "Empty"},
     "BUYER_SHIPPED_ITEM", m.REJECT_RECEIVE_PACKAGE),
]


async def send(client, endpoint, rid, decision, key, **body):
    call = client.approve if endpoint == "approve" else client.reject
    return await call(rid, decision, idempotency_key=key, **body)


@pytest.mark.parametrize("endpoint, decision, body, allowed_in, result", DECISIONS)
async def test_each_decision_does_what_the_table_says_and_only_where_allowed(
        sim, client, endpoint, decision, body, allowed_in, result):
    for n, state in enumerate(STATES):
        rid = in_state(sim, state)
        before = sim.view(rid)
        records = len(sim.market.get(rid).records)
        if state == allowed_in:
            assert await send(client, endpoint, rid, decision, f"k{n}", **body) == {}
            after = sim.view(rid)
            assert after["return_status"] == result
            assert after["update_time"] == sim.market.now()
            last = (await client.get_records(rid))[-1]
            assert last["role"] == "SELLER" and last["event"] == f"SELLER_{decision}"
            continue
        with pytest.raises(Refused) as refused:
            await send(client, endpoint, rid, decision, f"k{n}", **body)
        assert refused.value.code == p.CHOSEN_DECISION_NOT_ALLOWED, state
        assert refused.value.marketplace_message.startswith("The return is"), state
        assert sim.view(rid) == before and len(sim.market.get(rid).records) == records


async def test_a_refund_is_approved_or_rejected_as_a_refund(sim, client):
    ok, no, keep = (in_state(sim, "PENDING", "REFUND") for _ in range(3))
    await client.approve(ok, "APPROVE_REFUND", idempotency_key="a")
    assert sim.view(ok)["return_status"] == m.SUCCESS
    await client.reject(no, "REJECT_REFUND", idempotency_key="b", reject_reason=REQUEST_REASON)
    assert sim.view(no)["return_status"] == m.REJECTED
    for decision in ("APPROVE_RETURN", "APPROVE_RECEIVED_PACKAGE"):
        with pytest.raises(Refused):
            await client.approve(keep, decision, idempotency_key=decision)
    with pytest.raises(Refused) as refused:
        await client.approve(keep, "APPROVE_REFUND", idempotency_key="c", buyer_keep_item=True)
    assert "RETURN_AND_REFUND only" in refused.value.marketplace_message
    rar = in_state(sim, "PENDING")
    with pytest.raises(Refused):
        await client.reject(rar, "REJECT_REFUND", idempotency_key="d",
                            reject_reason=REQUEST_REASON)


async def test_a_replacement_is_approved_to_ship_back(sim, client):
    rid = in_state(sim, "PENDING", "REPLACEMENT")
    assert sim.view(rid)["seller_next_action_response"][0]["action"] == \
        "SELLER_RESPOND_REPLACEMENT"
    with pytest.raises(Refused):
        await client.approve(rid, "APPROVE_REFUND", idempotency_key="a")
    await client.approve(rid, "APPROVE_REPLACEMENT", idempotency_key="b")
    assert sim.view(rid)["return_status"] == m.AWAITING_BUYER_SHIP


async def test_the_flags_of_a_return_limit_its_decisions(sim, client):
    no_keep = in_state(sim, "PENDING", can_buyer_keep_item=False)
    with pytest.raises(Refused) as refused:
        await client.approve(no_keep, "APPROVE_REFUND", idempotency_key="a", buyer_keep_item=True)
    assert refused.value.marketplace_message == "The buyer cannot keep this item."
    with pytest.raises(Refused) as refused:
        await client.approve(no_keep, "APPROVE_REFUND", idempotency_key="b")
    assert "APPROVE_RETURN" in refused.value.marketplace_message
    quick = in_state(sim, "BUYER_SHIPPED_ITEM", is_quick_refund=True)
    with pytest.raises(Refused) as refused:
        await client.reject(quick, "REJECT_RECEIVED_PACKAGE", idempotency_key="c",
                            reject_reason=RECEIPT_REASON)
    assert "quick refund" in refused.value.marketplace_message
    assert sim.view(quick)["return_status"] == m.BUYER_SHIPPED


@pytest.mark.parametrize("partial, why", [
    ({"amount": "40.00", "currency": "USD"}, "below 40.00"),
    ({"amount": "0", "currency": "USD"}, "above 0"),
    ({"amount": "10.001", "currency": "USD"}, "not a USD amount"),
    ({"amount": "10.00", "currency": "EUR"}, "must be USD"),
    ({"amount": 10, "currency": "USD"}, "decimal string"),
])
async def test_a_partial_refund_must_be_a_real_part_of_the_amount(sim, client, partial, why):
    rid = in_state(sim, "PENDING")
    with pytest.raises(Refused) as refused:
        await client.approve(rid, "OFFER_PARTIAL_REFUND", idempotency_key="k",
                             partial_refund=partial)
    assert refused.value.code == p.INVALID_REQUEST and why in refused.value.marketplace_message
    assert sim.view(rid)["return_status"] == m.PENDING


async def test_one_partial_refund_per_return(sim, client):
    rid = in_state(sim, "AWAITING_BUYER_RESPONSE")
    sim.decline(rid)
    view = sim.view(rid)
    assert view["return_status"] == m.PENDING and view["buyer_rejected_partial_refund"]
    assert view["partial_refund"] == {"amount": "10.00", "currency": "USD"}
    with pytest.raises(Refused) as refused:
        await client.approve(rid, "OFFER_PARTIAL_REFUND", idempotency_key="k",
                             partial_refund={"amount": "5.00", "currency": "USD"})
    assert "already offered" in refused.value.marketplace_message


async def test_a_reject_needs_a_reason_of_the_stage_and_a_short_comment(sim, client):
    rid = in_state(sim, "PENDING")
    cases = [
        ({"reject_reason": RECEIPT_REASON}, p.CHOSEN_REJECT_REASON_INVALID),
        ({"reject_reason": ""}, p.INVALID_REQUEST),
        ({"reject_reason": REQUEST_REASON, "comment": "x" * 501}, p.INVALID_REQUEST),
    ]
    for n, (body, code) in enumerate(cases):
        with pytest.raises(Refused) as refused:
            await client.reject(rid, "REJECT_RETURN", idempotency_key=f"k{n}", **body)
        assert refused.value.code == code, body
    await client.reject(rid, "REJECT_RETURN", idempotency_key="ok", reject_reason=REQUEST_REASON,
                        comment="x" * 500, images=[{"image_id": "img1"}])
    last = sim.market.get(rid).records[-1]
    assert last.reason_text == m.REQUEST_REASONS[0][1] and last.images[0].endswith("img1.jpg")


# ----- idempotency ---------------------------------------------------------------------------

async def test_the_same_key_gets_the_same_answer_and_no_second_effect(sim, client):
    rid = in_state(sim, "PENDING")
    await client.approve(rid, "APPROVE_RETURN", idempotency_key="key-1")
    records = len(sim.market.get(rid).records)
    version = sim.market.get(rid).version
    await client.approve(rid, "APPROVE_RETURN", idempotency_key="key-1")
    assert sim.market.get(rid).version == version and len(sim.market.get(rid).records) == records
    with pytest.raises(Refused) as refused:
        await client.approve(rid, "APPROVE_RETURN", idempotency_key="key-2")
    assert refused.value.code == p.CHOSEN_DECISION_NOT_ALLOWED
    with pytest.raises(Refused) as refused:
        await client.approve(rid, "APPROVE_REFUND", idempotency_key="key-1", buyer_keep_item=True)
    assert refused.value.code == p.CHOSEN_IDEMPOTENCY_CONFLICT


async def test_a_refusal_is_replayed_too_byte_for_byte(sim):
    from tests.test_marketplace_simulator import raw

    rid = in_state(sim, "AWAITING_BUYER_SHIP")
    path = p.PATH_APPROVE.format(return_id=rid)
    body = {"decision": "APPROVE_RECEIVED_PACKAGE"}
    first = await raw(sim, "POST", path, query={"idempotency_key": "k"}, body=body)
    assert first[1]["code"] == p.CHOSEN_DECISION_NOT_ALLOWED
    sim.ship(rid)  # now the decision would be allowed, but the key already has its answer
    assert await raw(sim, "POST", path, query={"idempotency_key": "k"}, body=body) == first
    assert sim.view(rid)["return_status"] == m.BUYER_SHIPPED


# ----- deadlines ----------------------------------------------------------------------------

async def test_the_seller_deadline_approves_a_refund_at_its_moment(sim, client):
    rid = in_state(sim, "PENDING", "REFUND")
    deadline = sim.market.now() + 48 * HOUR
    page = await client.search_returns(page_size=10, return_ids=[rid])
    assert page.return_orders[0]["seller_next_action_response"] == [
        {"action": "SELLER_RESPOND_REFUND", "deadline": deadline}]
    sim.clock.advance(seconds=48 * HOUR - 1)
    page = await client.search_returns(page_size=10, return_ids=[rid])
    assert page.return_orders[0]["return_status"] == m.PENDING
    sim.clock.advance(minutes=30)  # the next call applies it, at the deadline
    page = await client.search_returns(page_size=10, return_ids=[rid])
    ret = page.return_orders[0]
    assert ret["return_status"] == m.SUCCESS and ret["seller_next_action_response"] == []
    assert ret["update_time"] == sim.market.now()
    last = (await client.get_records(rid))[-1]
    assert (last["event"], last["role"], last["create_time"]) == (
        "SYSTEM_AUTO_APPROVE", "SYSTEM", deadline)
    with pytest.raises(Refused):
        await client.approve(rid, "APPROVE_REFUND", idempotency_key="late")
    assert sim.advance(minutes=29) == 0
    assert sim.advance(minutes=2) == 1  # the refund is paid an hour after the success
    assert sim.view(rid)["return_status"] == m.COMPLETE
    assert sim.market.get(rid).records[-1].create_time == deadline + HOUR


async def test_every_clock_of_a_return(sim):
    rar = in_state(sim, "PENDING")
    shipped = in_state(sim, "BUYER_SHIPPED_ITEM")
    offered = in_state(sim, "AWAITING_BUYER_RESPONSE")
    unshipped = in_state(sim, "AWAITING_BUYER_SHIP")
    assert sim.view(shipped)["seller_next_action_response"][0]["action"] == \
        "SELLER_RESPOND_RECEIVE_PACKAGE"
    sim.advance(hours=48)
    assert sim.view(rar)["return_status"] == m.AWAITING_BUYER_SHIP
    assert sim.view(shipped)["return_status"] == m.SUCCESS
    lapsed = sim.view(offered)
    assert lapsed["return_status"] == m.PENDING and not lapsed["buyer_rejected_partial_refund"]
    assert lapsed["seller_next_action_response"][0]["deadline"] == sim.market.now() + 48 * HOUR
    sim.advance(days=5)
    assert sim.view(unshipped)["return_status"] == m.CANCELLED
    assert sim.view(rar)["return_status"] == m.AWAITING_BUYER_SHIP  # 7 days from its approval
    assert sim.view(offered)["return_status"] == m.AWAITING_BUYER_SHIP  # approved at its deadline


async def test_no_deadline_runs_while_a_return_is_in_arbitration(sim):
    rid = in_state(sim, "ARBITRATION")
    sim.advance(days=30)
    assert sim.view(rid)["arbitration_status"] == m.IN_PROGRESS
    sim.rule(rid, "SUPPORT_BUYER")
    assert sim.view(rid)["return_status"] == m.AWAITING_BUYER_SHIP


# ----- buyers and the platform --------------------------------------------------------------

async def test_the_buyer_moves(sim):
    shipped = in_state(sim, "AWAITING_BUYER_SHIP")
    sim.ship(shipped, tracking_number="1Z999")
    view = sim.view(shipped)
    assert view["return_status"] == m.BUYER_SHIPPED and view["return_tracking_number"] == "1Z999"
    agreed = in_state(sim, "AWAITING_BUYER_RESPONSE")
    sim.agree(agreed)
    assert sim.view(agreed)["return_status"] == m.SUCCESS
    assert sim.market.get(agreed).records[-1].event == "BUYER_ACCEPT_PARTIAL_REFUND"
    cancelled = in_state(sim, "PENDING")
    sim.cancel(cancelled)
    assert sim.view(cancelled)["return_status"] == m.CANCELLED
    for move, state in ((sim.cancel, "BUYER_SHIPPED_ITEM"), (sim.ship, "PENDING"),
                        (sim.agree, "PENDING"), (sim.decline, "SUCCESS"),
                        (sim.appeal, "PENDING"), (sim.cancel, "AWAITING_BUYER_RESPONSE")):
        rid = in_state(sim, state)
        with pytest.raises(MoveRefused):
            move(rid)


@pytest.mark.parametrize("state, return_type, ruling, status", [
    ("REJECT", "REFUND", "SUPPORT_BUYER", m.SUCCESS),
    ("REJECT", "RETURN_AND_REFUND", "SUPPORT_BUYER", m.AWAITING_BUYER_SHIP),
    ("REJECT_RECEIVE_PACKAGE", "RETURN_AND_REFUND", "SUPPORT_BUYER", m.SUCCESS),
    ("REJECT", "RETURN_AND_REFUND", "SUPPORT_SELLER", m.REJECTED),
    ("REJECT_RECEIVE_PACKAGE", "RETURN_AND_REFUND", "CLOSED", m.REJECT_RECEIVE_PACKAGE),
])
async def test_an_appeal_goes_to_arbitration_and_the_platform_rules(
        sim, client, state, return_type, ruling, status):
    if return_type == "REFUND":
        rid = sim.create_return("acme", "REFUND")
        decide(sim, rid, "REJECT_REFUND", reject_reason=REQUEST_REASON)
    else:
        rid = in_state(sim, state)
    sim.appeal(rid, "It was broken.")
    assert sim.view(rid)["arbitration_status"] == m.IN_PROGRESS
    assert await client.reject_reasons(rid) == []
    sim.rule(rid, ruling)
    view = sim.view(rid)
    assert (view["return_status"], view["arbitration_status"]) == (status, ruling)
    assert (await client.get_records(rid))[-1]["role"] == "OPERATOR"
    with pytest.raises(MoveRefused):
        sim.appeal(rid)


async def test_an_appeal_comes_within_its_window(sim):
    rid = in_state(sim, "REJECT")
    sim.advance(hours=48)
    with pytest.raises(MoveRefused, match="window"):
        sim.appeal(rid)


async def test_a_status_nobody_knows_can_be_set(sim, client):
    rid = in_state(sim, "PENDING")
    sim.force_status(rid, "RETURN_OR_REFUND_REQUEST_REJECTED")
    page = await client.search_returns(page_size=10, return_ids=[rid])
    assert page.return_orders[0]["return_status"] == "RETURN_OR_REFUND_REQUEST_REJECTED"
