"""N returns in a shop, in every status of the mapping table, made by the simulator's own rules.

Each return is requested and then moved through a scenario (approve, ship, reject, appeal...)
with the same methods the API and the tests use, at times in the past chosen so that whatever
deadline its final state has is still ahead: seeding never leaves a return the clock would move
at once. The marketplace runs in bulk mode meanwhile (no webhooks, indices built once at the
end), so 100 000 returns take seconds, not minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from returns_tui.marketplace.simulator.model import (
    CLOSED,
    EVIDENCE_HOST,
    RECEIPT_REASONS,
    REFUND,
    REPLACEMENT,
    REQUEST_REASONS,
    RETURN_AND_REFUND,
    SUPPORT_BUYER,
    SUPPORT_SELLER,
    Line,
    Marketplace,
    Return,
    Windows,
    money,
)
from returns_tui.money import minor_digits

PRODUCTS = (
    ("Linen shirt", "LS-001", "34.90"), ("Running shoes", "RS-220", "89.00"),
    ("Wireless earbuds", "WE-310", "59.99"), ("Ceramic mug set", "CM-004", "24.50"),
    ("Yoga mat", "YM-118", "29.00"), ("Phone case", "PC-777", "12.99"),
    ("Desk lamp", "DL-050", "41.25"), ("Backpack", "BP-300", "64.00"),
    ("Water bottle", "WB-750", "18.40"), ("Bluetooth speaker", "BS-900", "79.90"),
    ("Scarf", "SC-012", "22.00"), ("Sunglasses", "SG-404", "45.00"),
)
REASONS = (
    ("ecom_order_delivered_refund_and_return_reason_defective", "The item arrived broken"),
    ("ecom_order_delivered_refund_and_return_reason_wrong_item", "I received the wrong item"),
    ("ecom_order_delivered_refund_and_return_reason_not_as_described",
     "It does not look like the photos"),
    ("ecom_order_delivered_refund_reason_missing_package", "The package never arrived"),
)
HOSTILE = ("[bold red]FREE[/] \x1b[2J refund [link=https://x.invalid]now[/link]",
           "\u202eesrever\u202c [00] \x07 @click=app.quit")

_HOUR = 3600
# (weight, return type, moves after the request, the window that bounds the final state's age)
SCENARIOS: tuple[tuple[int, str, tuple[str, ...], str], ...] = (
    (22, REFUND, (), "respond"),
    (10, RETURN_AND_REFUND, (), "respond"),
    (4, RETURN_AND_REFUND, ("offer",), "offer"),
    (3, REFUND, ("offer", "decline"), "respond"),
    (8, RETURN_AND_REFUND, ("approve_return",), "ship"),
    (8, RETURN_AND_REFUND, ("approve_return", "ship"), "respond"),
    (4, REFUND, ("approve_refund",), "payout"),
    (14, REFUND, ("approve_refund", "payout"), "old"),
    (4, RETURN_AND_REFUND, ("approve_return", "ship", "receive", "payout"), "old"),
    (2, RETURN_AND_REFUND, ("keep_item", "payout"), "old"),
    (2, REFUND, ("offer", "agree", "payout"), "old"),
    (5, REFUND, ("reject_refund",), "old"),
    (2, RETURN_AND_REFUND, ("reject_return",), "old"),
    (3, RETURN_AND_REFUND, ("approve_return", "ship", "reject_receipt"), "old"),
    (4, REFUND, ("cancel",), "old"),
    (2, RETURN_AND_REFUND, ("approve_return", "cancel"), "old"),
    (2, REFUND, ("reject_refund", "appeal"), "old"),
    (1, RETURN_AND_REFUND, ("approve_return", "ship", "reject_receipt", "appeal"), "old"),
    (1, REFUND, ("reject_refund", "appeal", "support_buyer", "payout"), "old"),
    (1, REFUND, ("reject_refund", "appeal", "support_seller"), "old"),
    (1, REFUND, ("reject_refund", "appeal", "closed"), "old"),
    (2, REPLACEMENT, (), "respond"),
)
_OLD = 30 * 24 * _HOUR


def seed_shop(market: Marketplace, shop: str, count: int, *, currency: str = "USD",
              seed: int = 0, hostile_every: int = 0) -> list[str]:
    """Create `count` returns in `shop`; their ids, oldest request first not guaranteed."""
    rng = random.Random(seed)
    weights = [s[0] for s in SCENARIOS]
    now = market.now()
    ids = []
    with market.bulk():
        for n in range(count):
            _, return_type, moves, bound = rng.choices(SCENARIOS, weights)[0]
            hostile = HOSTILE[n % 2] if hostile_every and n % hostile_every == 0 else ""
            ids.append(_one(market, rng, shop, currency, return_type, moves, bound, now,
                            hostile).return_id)
    return ids


def _one(market: Marketplace, rng: random.Random, shop: str, currency: str, return_type: str,
         moves: tuple[str, ...], bound: str, now: int, hostile: str) -> Return:
    times = _times(rng, moves, bound, market.windows, now)
    reason, text = rng.choice(REASONS)
    n_lines = rng.choice((1, 1, 1, 2, 3))
    lines = tuple(_line(market, rng, currency) for _ in range(n_lines))
    quick = return_type == RETURN_AND_REFUND and "reject_receipt" not in moves
    ret = market.create_return(
        shop, return_type, lines, currency=currency,
        buyer_user_id=str(7494000000000000000 + rng.randrange(10**6)),
        return_reason=reason, return_reason_text=hostile or text,
        note=hostile or rng.choice(("", "Please check the photos.", "Sent back unused.")),
        can_buyer_keep_item="keep_item" in moves or rng.random() < 0.9,
        is_quick_refund=quick and rng.random() < 0.1, at=times[0])
    evidence = f"{EVIDENCE_HOST}/buyer/{ret.return_id}"
    ret.records[0] = replace(
        ret.records[0],
        images=tuple(f"{evidence}/{i}.jpg" for i in range(rng.choice((0, 1, 2)))),
        videos=(f"{evidence}/clip.mp4",) if rng.random() < 0.25 else ())
    for move, at in zip(moves, times[1:], strict=True):
        _MOVES[move](market, ret, at)
    return ret


def _times(rng: random.Random, moves: tuple[str, ...], bound: str, w: Windows,
           now: int) -> list[int]:
    """The request's time and each move's, ending within `bound` of now."""
    gaps = [w.payout if m == "payout" else rng.randint(_HOUR, 20 * _HOUR) for m in moves]
    age = {"respond": w.respond, "offer": w.offer, "ship": w.ship, "payout": w.payout,
           "old": _OLD}[bound]
    last = now - 60 - rng.randint(0, int(age * 0.8))
    times = [last]
    for gap in reversed(gaps):
        times.append(times[-1] - gap)
    return list(reversed(times))


def _line(market: Marketplace, rng: random.Random, currency: str) -> Line:
    name, sku, price = rng.choice(PRODUCTS)
    return market.make_line(name, sku, Decimal(price))


def _decide(decision: str, **body) -> Callable[[Marketplace, Return, int], None]:
    def move(m: Marketplace, ret: Return, at: int) -> None:
        m.decide(ret, decision, {"decision": decision, **body}, at)
    return move


def _offer(m: Marketplace, ret: Return, at: int) -> None:
    half = (ret.refund_total / 2).quantize(Decimal(1).scaleb(-minor_digits(ret.currency)))
    m.decide(ret, "OFFER_PARTIAL_REFUND", {"decision": "OFFER_PARTIAL_REFUND", "partial_refund": {
        "amount": money(half, ret.currency), "currency": ret.currency}}, at)


_MOVES: dict[str, Callable[[Marketplace, Return, int], None]] = {
    "approve_refund": _decide("APPROVE_REFUND"),
    "keep_item": _decide("APPROVE_REFUND", buyer_keep_item=True),
    "approve_return": _decide("APPROVE_RETURN"),
    "receive": _decide("APPROVE_RECEIVED_PACKAGE"),
    "offer": _offer,
    "reject_refund": _decide("REJECT_REFUND", reject_reason=REQUEST_REASONS[0][0],
                             comment="The photos show no damage."),
    "reject_return": _decide("REJECT_RETURN", reject_reason=REQUEST_REASONS[2][0]),
    "reject_receipt": _decide("REJECT_RECEIVED_PACKAGE", reject_reason=RECEIPT_REASONS[1][0],
                              comment="The shoes came back worn."),
    "agree": lambda m, r, at: m.buyer_agree(r, at),
    "decline": lambda m, r, at: m.buyer_decline(r, at),
    "ship": lambda m, r, at: m.buyer_ship(r, at=at),
    "cancel": lambda m, r, at: m.buyer_cancel(r, at),
    "appeal": lambda m, r, at: m.buyer_appeal(r, "The seller is wrong.", at=at),
    "support_buyer": lambda m, r, at: m.platform_rule(r, SUPPORT_BUYER, at),
    "support_seller": lambda m, r, at: m.platform_rule(r, SUPPORT_SELLER, at),
    "closed": lambda m, r, at: m.platform_rule(r, CLOSED, at),
    "payout": lambda m, r, at: m.pay_refund(r, at),
}
