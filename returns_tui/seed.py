"""Synthetic requests for demos and benchmarks: realistic, varied and reproducible.

Each order is lived event by event up to `now`: people act at random moments (the behaviour
tables below), and whenever a deadline comes first the request moves by itself, stamped with
the deadline, as the rules say. So every seeded request is one the rules could have produced:
its status is its last record's `to`, its records are a path of the state machine, and
nothing is left past a deadline. The same seed, count and `now` give the same data.

Speed decides the shape of this module: a million requests must be written in well under a
minute. Going through the domain's functions costs about 50 µs a request (frozen dataclasses
are rebuilt at every step), more than the whole budget, so `_Life` below applies the same
transitions to plain fields, with times as integer microseconds, which is what the database
stores. tests/test_seed.py replays every seeded request through the domain functions (submit,
accept, reject, appeal, mediate, ship, receive, cancel, add_note, catch_up) and requires the
very same request and records: the domain stays the one authority on the rules. The rows are
then written with the driver's executemany, as SQLAlchemy's per-row processing would cost as
much again. Living the requests still costs more than writing them, so a big seed is cut
into chunks, each with its own seeded generator, that worker processes live while this one
writes: the data does not depend on how many processes there are.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import TypeVar

from pendulum import DateTime
from sqlalchemy.engine import Connection, Engine

from returns_tui import domain as d
from returns_tui.clock import utc_now
from returns_tui.money import format_amount, minor_digits, parse_amount
from returns_tui.store import bulk, chain, search
from returns_tui.store.chain import ChainKey
from returns_tui.store.engine import write
from returns_tui.store.insight_queries import ANSWER_KINDS
from returns_tui.store.schema import orders, records, requests
from returns_tui.timefmt import span_micros, to_micros

# ---------------------------------------------------------------------------------------------
# Vocabularies (also used by the demo's live buyers)

SHOPS = ("acme", "globex", "initech", "umbrella", "hooli", "wonka")

# Operators per shop, as the records name them; the test fixtures and the demo use these.
OPERATORS = {
    "acme": ("alice", "bob"),
    "globex": ("olga", "piet"),
    "initech": ("chen", "dana"),
    "umbrella": ("emeka", "farah"),
    "hooli": ("goran", "hana"),
    "wonka": ("ines", "jamal"),
}
AGENTS = ("sam", "tess", "uma")

BUYERS = (
    "Ana Lima", "José Álvarez", "Zoë Müller", "Chloé Dubois", "Łukasz Nowak", "Søren Dahl",
    "Nguyễn Thị Mai", "Aylin Yılmaz", "Björn Andersson", "Priya Sharma", "田中 花子",
    "김민준", "Olúwaseun Adébáyọ̀", "Mateo García 🎸", "Fatima Zahra El Amrani",
    "Siobhán O'Brien", "Ελένη Παπαδοπούλου", "Иван Петров", "محمد علي", "Lucy Chen 🌸",
    "Kwame Mensah", "Ingrid Solberg", "Rafael Souza", "Mei Ling", "Tomás Ó Briain",
    "Hannah Schmidt", "Arjun Patel", "Sofia Rossi", "Yuki Sato", "Omar Haddad",
    "Emily Johnson", "Pedro Gonçalves", "Noémie Laurent", "Dmitri Volkov", "Amara Okafor",
    "Liam O'Connor", "Chen Wei", "Camille Bernard", "Mohammed Al-Sayed", "Jana Dvořák",
)

# (product, SKU prefix, price in US cents)
PRODUCTS = (
    ("Stoneware mug", "MUG", 1299),
    ("Wireless earbuds", "EAR", 4999),
    ("Running shoes", "SHO", 8900),
    ("Linen shirt", "SHI", 3450),
    ("Cast-iron skillet", "SKL", 3999),
    ("Mechanical keyboard", "KBD", 11900),
    ("Yoga mat", "YOG", 2500),
    ("Smartwatch strap", "STR", 1599),
    ("Bluetooth speaker", "SPK", 6999),
    ("Ceramic vase", "VAS", 2799),
    ("Phone case", "CAS", 999),
    ("Desk lamp", "LMP", 4450),
    ("Wool scarf", "SCF", 2999),
    ("Coffee grinder", "GRN", 7900),
    ("Children's raincoat", "RNC", 3299),
    ("Noise-cancelling headphones", "HPH", 24900),
    ("Backpack 25 L", "BPK", 5900),
    ("Silk pillowcase", "PIL", 3900),
    ("LED strip lights 5 m", "LED", 1899),
    ("Fountain pen", "PEN", 6500),
)

# (currency, how often, value of 1 USD in it); JPY and KRW have no minor units.
CURRENCIES = (
    ("USD", 40, 1.0),
    ("EUR", 25, 0.92),
    ("GBP", 10, 0.79),
    ("JPY", 10, 150.0),
    ("SGD", 5, 1.34),
    ("BRL", 5, 5.0),
    ("KRW", 5, 1350.0),
)

# The buyer's reason codes, each with notes a buyer might write ("" = no note).
BUYER_REASONS = {
    "damaged": ("Arrived cracked.", "The box was crushed and the item is broken 😞", ""),
    "defective": ("Stopped working after two days.", "Faulty from day one.", "Geht nicht."),
    "wrong_item": ("I ordered blue, got red.", "Wrong size in the box.", ""),
    "not_as_described": ("Colour is nothing like the photos.", "Much smaller than stated.", ""),
    "missing_parts": ("A part is missing from the box.", "Only half of the set came.", ""),
    "changed_mind": ("", "Found it cheaper elsewhere, sorry!", "No longer needed."),
    "arrived_late": ("Arrived after the event I needed it for.", "Llegó dos semanas tarde.", ""),
    "size_fit": ("Too small, please refund.", "La taille ne convient pas.", ""),
}

REJECT_NOTES = (
    "",
    "Photos show wear from use.",
    "Tracking shows delivery on time.",
    "Item returned is not the one we sold.",
    "Buyer agreed to a partial refund by chat.",
    "No photos received after two requests.",
)
AGENT_NOTES = (
    "Photos clearly show the damage.",
    "Seller's evidence is convincing.",
    "Carrier confirmed the parcel was damaged in transit.",
    "Buyer did not provide the requested proof.",
    "Checked the chat history with both parties.",
)
RECEIPT_NOTES = (
    "The box was empty.",
    "A different model came back.",
    "The charger and cable are missing.",
    "Heavy scratches; it was not like this when sent.",
)
# An offer's share of the amount asked, in per cent (DESIGN §7's partial refund).
OFFER_SHARES = (50, 60, 70, 80, 90)
STAFF_NOTES = (
    "Called the buyer, waiting for photos.",
    "Escalated to the warehouse.",
    "Refund confirmed by finance.",
    "Buyer says the parcel is at the post office.",
    "Checked stock: replacement not available.",
)

# ---------------------------------------------------------------------------------------------
# How people behave: in each status, what happens next and how often. "wait" means nobody
# acts, so the deadline (if the status has one) decides. These are also the only moves the
# simulation makes in each status: all of them ones the rules allow there.

_BEHAVIOUR: dict[d.Status, tuple[tuple[str, ...], tuple[int, ...]]] = {
    # accept_keep: accept with keep_item (a refund-only request is accepted plainly); offer: a
    # partial refund, once per request (a second time, a plain accept). DESIGN §7.
    d.Status.PENDING: (
        ("accept", "accept_keep", "offer", "reject", "wait", "cancel", "note"),
        (44, 5, 6, 22, 12, 5, 6),
    ),
    d.Status.AWAITING_BUYER_RESPONSE: (("agree", "decline", "wait", "note"), (55, 25, 15, 5)),
    d.Status.AWAITING_BUYER_SHIP: (("ship", "wait", "cancel"), (82, 13, 5)),
    d.Status.BUYER_SHIPPED: (("receive", "reject_receipt", "wait", "note"), (74, 5, 16, 5)),
    d.Status.REJECTED: (("appeal", "resubmit", "wait"), (35, 30, 35)),
    d.Status.IN_MEDIATION: (("mediate_buyer", "mediate_seller", "note"), (45, 45, 10)),
    d.Status.COMPLETED: (("wait", "note"), (96, 4)),
    d.Status.CANCELLED: (("wait", "note"), (97, 3)),
}
_CUMULATIVE = {
    status: (names, tuple(accumulate(weights))) for status, (names, weights) in _BEHAVIOUR.items()
}

HOUR = 3600
DAY = 24 * HOUR
# How long after the previous event each move comes, in seconds (low, high).
_DELAYS = {
    "accept": (5 * 60, 40 * HOUR),
    "accept_keep": (5 * 60, 40 * HOUR),
    "offer": (5 * 60, 40 * HOUR),
    "agree": (10 * 60, 40 * HOUR),
    "decline": (10 * 60, 40 * HOUR),
    "reject_receipt": (1 * DAY, 7 * DAY + 12 * HOUR),
    "reject": (5 * 60, 40 * HOUR),
    "cancel": (10 * 60, 36 * HOUR),
    "note": (5 * 60, 30 * HOUR),
    "ship": (2 * HOUR, 4 * DAY + 12 * HOUR),
    "receive": (1 * DAY, 7 * DAY + 12 * HOUR),
    "mediate_buyer": (2 * HOUR, 4 * DAY),
    "mediate_seller": (2 * HOUR, 4 * DAY),
}
# Scripted orders act quickly, so that their whole script fits in their age.
_QUICK = (10 * 60, 6 * HOUR)


@dataclass(frozen=True)
class _Showcase:
    """An order whose story is fixed, so that even a small seed shows every status and
    outcome. `age` is how long before `now` it was submitted, in seconds, given the rules."""

    kind: d.RequestType
    script: tuple[str, ...]
    age: Callable[[d.Rules], float]


def _hours(h: float) -> Callable[[d.Rules], float]:
    return lambda _rules: h * HOUR


def _before_respond_by(minutes: float) -> Callable[[d.Rules], float]:
    return lambda rules: rules.respond_window.total_seconds() - minutes * 60


_RR, _REFUND = d.RequestType.RETURN_AND_REFUND, d.RequestType.REFUND
SHOWCASES = (
    _Showcase(_RR, ("wait",), _before_respond_by(20)),  # 20 minutes from auto-approval
    _Showcase(_REFUND, ("wait",), _hours(1)),  # fresh
    _Showcase(_RR, ("accept", "wait"), _hours(48)),  # awaiting the buyer's parcel
    _Showcase(_RR, ("accept", "ship", "wait"), _hours(96)),  # on its way back
    _Showcase(_RR, ("accept", "ship", "receive"), _hours(288)),  # received, refunded
    _Showcase(_REFUND, ("accept",), _hours(120)),  # refund only, accepted
    _Showcase(_REFUND, ("wait",), _hours(72)),  # auto-approved
    _Showcase(_RR, ("accept", "wait"), _hours(240)),  # not shipped in time: expired
    _Showcase(_RR, ("accept", "ship", "wait"), _hours(480)),  # refunded automatically
    _Showcase(_RR, ("cancel",), _hours(24)),  # withdrawn by the buyer
    _Showcase(_RR, ("reject", "wait"), _hours(30)),  # rejected, buyer's window open
    _Showcase(_RR, ("reject", "appeal", "wait"), _hours(72)),  # being mediated
    _Showcase(_RR, ("reject", "appeal", "mediate_buyer", "ship", "receive"), _hours(480)),
    _Showcase(_REFUND, ("reject", "appeal", "mediate_seller"), _hours(144)),
    _Showcase(_RR, ("reject", "resubmit", "accept", "wait"), _hours(96)),  # second request
    _Showcase(_RR, ("reject", "resubmit", "reject", "appeal", "wait"), _hours(144)),
    # DESIGN §7
    _Showcase(_RR, ("accept_keep",), _hours(20)),  # refunded, the buyer keeps the item
    _Showcase(_RR, ("offer", "wait"), _hours(8)),  # a partial refund offered, unanswered
    _Showcase(_RR, ("offer", "agree"), _hours(30)),  # the buyer took the offer
    _Showcase(_RR, ("offer", "decline", "wait"), _hours(24)),  # declined: the seller again
    _Showcase(_RR, ("offer", "wait"), _hours(60)),  # the offer lapsed
    _Showcase(_RR, ("accept", "ship", "reject_receipt", "wait"), _hours(200)),
    _Showcase(_RR, ("accept", "ship", "reject_receipt", "appeal", "mediate_buyer"), _hours(400)),
    _Showcase(_RR, ("accept", "ship", "reject_receipt", "appeal", "mediate_seller"), _hours(400)),
)

# How long ago the other orders were submitted: a share are pending and an hour or so from
# auto-approval (the seller has not answered), a share are from the last 48 hours, the rest
# from the last 45 days. The mix fills every tab of a demo.
_NEAR_DEADLINE_SHARE = 0.06
_RECENT_SHARE = 0.30
_HISTORY_HOURS = 45 * 24

T = TypeVar("T")
_ID_RE = re.compile(r"[RO](\d+)")


def request_id(number: int) -> str:
    return f"R{number:07d}"


def order_id(number: int) -> str:
    return f"O{number:07d}"


# ---------------------------------------------------------------------------------------------
# Buyers' submissions


def random_submission(
    rng: random.Random,
    now: DateTime | None,
    shops: Sequence[str] = SHOPS,
    *,
    number: int,
    order: int | None = None,
    kind: d.RequestType | None = None,
) -> d.Submission:
    """A buyer's new request on a new order, drawn from the vocabularies above (the demo's
    live buyers use it too). Its ids are R`number` and O`order` (default: `number`). `now` is
    accepted for the callers' convenience only: a submission carries no time, the services
    stamp it when it arrives."""
    del now
    product, sku, usd_cents = _pick(rng, PRODUCTS)
    quantity = 1 if rng.random() < 0.85 else _pick(rng, (2, 3))
    currency = _pick_currency(rng)
    reason = _pick(rng, _BUYER_REASON_CODES)
    if kind is None:
        kind = _REFUND if rng.random() < 0.3 else _RR
    return d.Submission(
        id=request_id(number),
        order_id=order_id(number if order is None else order),
        shop=_pick(rng, shops),
        type=kind.value,
        buyer=_pick(rng, BUYERS),
        product=product,
        sku=f"{sku}-{1 + int(rng.random() * 40):02d}",
        quantity=quantity,
        amount=_amount(rng, usd_cents * quantity, currency),
        currency=currency,
        reason=reason,
        note=_pick(rng, BUYER_REASONS[reason]),
    )


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    """rng.choice at a third of its cost, which counts at a million requests."""
    return items[int(rng.random() * len(items))]


_BUYER_REASON_CODES = tuple(BUYER_REASONS)
_CURRENCY_TOTAL = sum(w for _c, w, _r in CURRENCIES)


def _pick_currency(rng: random.Random) -> str:
    pick = rng.random() * _CURRENCY_TOTAL
    for code, weight, _rate in CURRENCIES:
        pick -= weight
        if pick < 0:
            return code
    return CURRENCIES[-1][0]


_RATES = {code: rate for code, _w, rate in CURRENCIES}


def _amount(rng: random.Random, usd_cents: int, currency: str) -> str:
    """The refund asked for, in `currency`: usually the price, sometimes part of it."""
    share = 1.0 if rng.random() < 0.85 else _pick(rng, (0.3, 0.5, 0.75))
    cents = max(1, round(usd_cents * share * _RATES.get(currency, 1.0)))
    if minor_digits(currency) == 0:  # whole amounts only
        cents = max(100, round(cents, -2))
    return format_amount(cents, currency)


_TRACKING_PREFIXES = ("1Z", "9400", "JD", "LX", "DHL")


def _tracking(rng: random.Random) -> str:
    return f"{_pick(rng, _TRACKING_PREFIXES)}{rng.getrandbits(56):014X}"


# ---------------------------------------------------------------------------------------------
# Living a request: the domain's transitions on plain fields (see the module's docstring)

_TIMED = frozenset(d.TIMED_STATUSES)
_SECOND = 1_000_000


@dataclass(frozen=True)
class _Windows:
    """The rules' windows in microseconds."""

    respond: int
    ship: int
    receive: int
    after_rejection: int
    offer: int

    @classmethod
    def of(cls, rules: d.Rules) -> _Windows:
        return cls(
            span_micros(rules.respond_window),
            span_micros(rules.ship_window),
            span_micros(rules.receive_window),
            span_micros(rules.after_rejection_window),
            span_micros(rules.offer_window),
        )


Details = dict[str, str | bool] | None
RecordRow = tuple[int, str, str, d.Status | None, d.Status, Details]


class _Life:
    """One request as it moves. Each method does what the domain function of the same name
    does to a request (and the record it writes); times are microseconds since the epoch.
    What time does, and where an approval leads, are the domain's own (deadline_passes,
    approved): a rule of time changes there, and here with it."""

    __slots__ = (
        "sub", "type", "cents", "w", "created", "attempt", "status", "arbitration", "respond_by",
        "deadline", "rejected_at", "tracking", "status_since", "records", "refund", "offer",
        "offer_by", "keep_item", "reject_stage",
    )

    def __init__(self, sub: d.Submission, at: int, attempt: int, w: _Windows) -> None:
        self.sub, self.w, self.created, self.attempt = sub, w, at, attempt
        self.type = d.RequestType(sub.type)
        self.cents = parse_amount(sub.amount, sub.currency)
        self.status: d.Status = d.Status.PENDING
        self.arbitration: d.Arbitration | None = None
        self.respond_by = self.deadline = at + w.respond
        self.rejected_at: int | None = None
        self.tracking: str | None = None
        self.status_since = at
        self.refund: int | None = None
        self.offer: int | None = None
        self.offer_by: int | None = None
        self.keep_item = False
        self.reject_stage: str | None = None
        note = {"note": sub.note} if sub.note else None
        self.records: list[RecordRow] = [(at, "buyer", "submitted", None, d.Status.PENDING, note)]

    def _move(self, at: int, actor: str, kind: str, to: d.Status, details: Details = None):
        if to is not self.status:
            self.status_since = at
        self.records.append((at, actor, kind, self.status, to, details))
        self.status = to

    def due(self) -> int | None:
        return self.deadline if self.status in _TIMED else None

    def _approve(self, at: int, actor: str, kind: str, details: Details = None) -> None:
        self.refund = self.cents
        status, self.deadline = d.approved(self.type, at, self.w.ship)
        self._move(at, actor, kind, status, details)

    def catch_up(self, due: int) -> None:
        """The deadline of the current status, which falls at `due`."""
        kind, status, self.deadline = d.deadline_passes(
            self.status, self.type, due, self.w.ship, self.w.respond
        )
        if kind is d.Kind.OFFER_LAPSED:
            self.respond_by = self.deadline
        self.refund = d.refund_after(status, self.cents)
        self._move(due, "system", kind.value, status)

    def accept(self, at: int, actor: str) -> None:
        self._approve(at, actor, "accepted")

    def accept_keep(self, at: int, actor: str) -> None:
        self.refund, self.keep_item, self.deadline = self.cents, True, None
        self._move(at, actor, "accepted", d.Status.COMPLETED, {"keep_item": True})

    def offer_(self, at: int, actor: str, cents: int) -> None:
        self.offer, self.offer_by = cents, at + self.w.offer
        self.deadline = self.offer_by
        details = {"amount": format_amount(cents, self.sub.currency)}
        self._move(at, actor, "offered", d.Status.AWAITING_BUYER_RESPONSE, details)

    def agree(self, at: int) -> None:
        self.refund, self.keep_item, self.deadline = self.offer, True, None
        details = {"amount": format_amount(self.offer or 0, self.sub.currency)}
        self._move(at, "buyer", "agreed", d.Status.COMPLETED, details)

    def decline(self, at: int) -> None:
        self.respond_by = self.deadline = at + self.w.respond
        self._move(at, "buyer", "declined", d.Status.PENDING)

    def reject_receipt(self, at: int, actor: str, reason: str, note: str) -> None:
        self.rejected_at, self.refund, self.reject_stage = at, None, "receipt"
        self.deadline = at + self.w.after_rejection if self.arbitration is None else None
        details = {"reason": reason, "note": note}
        self._move(at, actor, "receipt_rejected", d.Status.REJECTED, details)

    def reject(self, at: int, actor: str, reason: str, note: str) -> None:
        self.rejected_at, self.deadline = at, at + self.w.after_rejection
        self.reject_stage = "request"
        details = {"reason": reason, "note": note} if note else {"reason": reason}
        self._move(at, actor, "rejected", d.Status.REJECTED, details)

    def cancel(self, at: int) -> None:
        self.deadline, self.refund = None, None
        self._move(at, "buyer", "cancelled", d.Status.CANCELLED)

    def ship(self, at: int, tracking: str) -> None:
        self.tracking, self.deadline = tracking, at + self.w.receive
        self._move(at, "buyer", "shipped", d.Status.BUYER_SHIPPED, {"tracking": tracking})

    def receive(self, at: int, actor: str) -> None:
        self.deadline = None
        self._move(at, actor, "received", d.Status.COMPLETED)

    def appeal(self, at: int) -> None:
        self.arbitration, self.deadline = d.Arbitration.IN_PROGRESS, None
        self._move(at, "buyer", "appealed", d.Status.IN_MEDIATION)

    def mediate(self, at: int, actor: str, decision: str, note: str) -> None:
        details = {"decision": decision, "note": note}
        if decision == "buyer" and self.reject_stage == "receipt":
            self.arbitration, self.deadline = d.Arbitration.SUPPORT_BUYER, None
            self.refund = self.cents
            self._move(at, actor, "mediated", d.Status.COMPLETED, details)
        elif decision == "buyer":
            self.arbitration = d.Arbitration.SUPPORT_BUYER
            self._approve(at, actor, "mediated", details)
        else:
            self.arbitration, self.deadline = d.Arbitration.SUPPORT_SELLER, None
            self._move(at, actor, "mediated", d.Status.REJECTED, details)

    def add_note(self, at: int, actor: str, note: str) -> None:
        self._move(at, actor, "noted", self.status, {"note": note})


class _Orders:
    """Lives orders one after another, from one random generator."""

    def __init__(self, rng: random.Random, now: int, shops: Sequence[str], rules: d.Rules):
        self.rng, self.now, self.shops, self.rules = rng, now, tuple(shops), rules
        self.w = _Windows.of(rules)
        self.reasons = tuple(rules.reasons)
        self.receipt_reasons = tuple(rules.receipt_reasons)

    def order(
        self, order_no: int, request_no: int, room: int, showcase: _Showcase | None
    ) -> list[_Life]:
        """The requests of one order: one, or two after a rejection and a second request
        (when `room` allows)."""
        kind = showcase.kind if showcase else None
        rng, shops = self.rng, self.shops
        sub = random_submission(rng, None, shops, number=request_no, order=order_no, kind=kind)
        if showcase is not None:
            age, script = showcase.age(self.rules), list(showcase.script)
        else:
            age, script = self._random_age()
        # Never after now, whatever windows the settings give (a 10-minute respond window).
        at = self.now - max(0, int(age)) * _SECOND
        lives: list[_Life] = []
        while True:
            attempt = 1 + sum(life.rejected_at is not None for life in lives)
            life = _Life(sub, at, attempt, self.w)
            resubmit_at = self._live(life, lives, script, can_resubmit=room > len(lives) + 1)
            lives.append(life)
            if resubmit_at is None:
                return lives
            sub, at = _second_request(sub, request_no + len(lives)), resubmit_at

    def _random_age(self) -> tuple[float, list[str] | None]:
        """Seconds since submission, and the script: pending ones near their deadline are
        those the seller has not answered."""
        rng, respond = self.rng, self.w.respond / _SECOND
        pick = rng.random()
        if pick < _NEAR_DEADLINE_SHARE:
            return respond - rng.uniform(60, min(6 * HOUR, respond)), ["wait"]
        if pick < _NEAR_DEADLINE_SHARE + _RECENT_SHARE:
            return rng.uniform(0, respond), None
        return rng.uniform(0, _HISTORY_HOURS * HOUR), None

    def _live(
        self, life: _Life, earlier: list[_Life], script: list[str] | None, can_resubmit: bool
    ) -> int | None:
        """Move one request from its submission up to now: the next move or the next
        deadline, whichever comes first (a deadline wins a tie, as in the rules), until both
        lie beyond now. Returns when the buyer submits a second request, or None."""
        at = life.created
        while True:
            move = self._next_move(life, earlier, script, can_resubmit)
            move_at = None if move is None else at + self._delay(move, script is not None)
            due = life.due()
            if due is not None and (move_at is None or due <= move_at):
                if due > self.now:
                    return None
                life.catch_up(due)
                at = due
            elif move_at is None or move_at > self.now:
                return None
            elif move == "resubmit":
                return move_at
            else:
                self._act(move, life, move_at)
                at = move_at

    def _next_move(
        self, life: _Life, earlier: list[_Life], script: list[str] | None, can_resubmit: bool
    ) -> str | None:
        """What happens next to this request (None: nobody acts), among the moves its status
        allows (the behaviour table lists them) and its order's history still permits."""
        names, cumulative = _CUMULATIVE[life.status]
        if script is not None:
            move = script.pop(0) if script else "wait"
            if move not in names:
                move = "wait"  # a deadline came first (short windows): the story ends here
        else:
            move = names[bisect_right(cumulative, self.rng.random() * cumulative[-1])]
        if life.status is d.Status.REJECTED and life.arbitration is not None:
            move = "wait"  # upheld by the platform: nothing more to do
        elif move == "appeal" and any(e.arbitration is not None for e in earlier):
            move = "wait"  # one appeal per order
        elif move == "resubmit" and (
            not can_resubmit or life.attempt >= 2 or life.reject_stage == "receipt"
        ):
            move = "wait"  # rejected twice, or at receipt: only an appeal is left
        elif move == "accept_keep" and life.sub.type == d.RequestType.REFUND:
            move = "accept"  # nothing to keep
        elif move == "offer" and (life.offer is not None or _offer_cents(life, 50) is None):
            move = "accept"  # one offer per request, and one below the amount
        return None if move == "wait" else move

    def _delay(self, move: str, quick: bool) -> int:
        rng = self.rng
        if move in ("appeal", "resubmit"):
            # Within the buyer's window after the rejection, which began at the last event.
            return int(self.w.after_rejection * rng.uniform(0.02, 0.95)) // _SECOND * _SECOND
        low, high = _QUICK if quick else _DELAYS[move]
        return (low + int(rng.random() * (high - low))) * _SECOND

    def _act(self, move: str, life: _Life, at: int) -> None:
        rng = self.rng
        if move == "accept":
            life.accept(at, self._operator(life))
        elif move == "accept_keep":
            life.accept_keep(at, self._operator(life))
        elif move == "offer":
            cents = _offer_cents(life, _pick(rng, OFFER_SHARES)) or _offer_cents(life, 50)
            life.offer_(at, self._operator(life), cents or 0)
        elif move == "agree":
            life.agree(at)
        elif move == "decline":
            life.decline(at)
        elif move == "reject_receipt":
            reason, note = _pick(rng, self.receipt_reasons), _pick(rng, RECEIPT_NOTES)
            life.reject_receipt(at, self._operator(life), reason, note)
        elif move == "reject":
            reason, note = _pick(rng, self.reasons), _pick(rng, REJECT_NOTES)
            if reason == "other" and not note:
                note = "Buyer agreed to a partial refund by chat."
            life.reject(at, self._operator(life), reason, note)
        elif move == "cancel":
            life.cancel(at)
        elif move == "ship":
            life.ship(at, _tracking(rng))
        elif move == "receive":
            life.receive(at, self._operator(life))
        elif move == "appeal":
            life.appeal(at)
        elif move in ("mediate_buyer", "mediate_seller"):
            decision = "buyer" if move == "mediate_buyer" else "seller"
            life.mediate(at, _pick(rng, AGENTS), decision, _pick(rng, AGENT_NOTES))
        elif move == "note":
            staff = AGENTS if life.status is d.Status.IN_MEDIATION else self._operators(life)
            life.add_note(at, _pick(rng, staff), _pick(rng, STAFF_NOTES))
        else:
            raise ValueError(f"unknown move {move!r}")

    def _operator(self, life: _Life) -> str:
        return _pick(self.rng, self._operators(life))

    @staticmethod
    def _operators(life: _Life) -> tuple[str, ...]:
        return OPERATORS.get(life.sub.shop, (f"{life.sub.shop}-ops",))


def _offer_cents(life: _Life, percent: int) -> int | None:
    """`percent` of the amount asked, in the currency's minor units (money is never a float),
    if that is a valid offer (at least one minor unit, below the amount); else None."""
    unit = 100 if minor_digits(life.sub.currency) == 0 else 1
    cents = life.cents * percent // 100 // unit * unit
    return cents if unit <= cents < life.cents else None


def _second_request(first: d.Submission, number: int) -> d.Submission:
    """The buyer's second request on the same order, after the first was rejected."""
    note = "Second request: " + (first.note or "please reconsider.")
    return d.Submission(**{**first.__dict__, "id": request_id(number), "note": note})


# ---------------------------------------------------------------------------------------------
# Rows

_REQUEST_COLUMNS = (
    "id", "order_id", "shop", "type", "buyer", "product", "sku", "quantity", "amount_cents",
    "currency", "reason", "buyer_note", "created_at", "attempt", "status", "tab",
    "arbitration", "respond_by", "deadline_at", "rejected_at", "tracking", "status_since",
    "version", "refund_cents", "offer_cents", "offer_by", "keep_item", "reject_stage",
    "source", "marketplace_status", "can_keep_item", "quick_refund",
    "first_answer_at", "first_answer_by", "search_text", "has_later", "seal", "chain",
)  # fmt: skip
_RECORD_COLUMNS = (*chain.RECORD_FIELDS, "chain")
# The fixed fields lead a request's row, in the order the chain seals them.
_FIXED = len(chain.FIXED_FIELDS)
assert _REQUEST_COLUMNS[:_FIXED] == chain.FIXED_FIELDS
_ORDER_COLUMNS = ("order_id", "shop", "version")
_TABLES = ((requests, _REQUEST_COLUMNS), (records, _RECORD_COLUMNS), (orders, _ORDER_COLUMNS))
# Every column but the records' own key: a column added to the schema must be seeded too.
assert all(
    set(columns) == {c.name for c in table.columns} - {"id" if table is records else ""}
    for table, columns in _TABLES
), "seed.py's columns no longer match the schema"

Rows = tuple[list[tuple], list[tuple], list[tuple]]


def _rows(order_lives: list[list[_Life]], key: ChainKey) -> Rows:
    """Request, record and order rows, ready for executemany; the same values as
    store.rows.request_values and record_values give (the tests compare them), each request
    sealed and its records chained with `key` as the services do (store/chain.py)."""
    reqs: list[tuple] = []
    recs: list[tuple] = []
    ords: list[tuple] = []
    for lives in order_lives:
        latest = max(lives, key=lambda life: (life.attempt, life.created, life.sub.id))
        for life in lives:
            row = (*_request_row(life), life is not latest)  # has_later
            seal = key.seal(row[:_FIXED])
            rid = life.sub.id
            chained, head = key.chained(
                seal,
                [
                    (rid, seq, at, actor, kind, _TEXT[src], _TEXT[dst], _details_text(det))
                    for seq, (at, actor, kind, src, dst, det) in enumerate(life.records, 1)
                ],
            )
            reqs.append((*row, seal, head))
            recs.extend(chained)
        first = lives[0].sub
        # The order's compare-and-set counter as the services leave it: one step for each
        # submission and each appeal.
        appeals = sum(life.arbitration is not None for life in lives)
        ords.append((first.order_id, first.shop, len(lives) + appeals))
    return reqs, recs, ords


def _request_row(life: _Life) -> tuple:
    sub, status, arbitration = life.sub, life.status, life.arbitration
    return (
        sub.id, sub.order_id, sub.shop, sub.type, sub.buyer, sub.product, sub.sku, sub.quantity,
        life.cents, sub.currency, sub.reason, sub.note, life.created, life.attempt,
        _TEXT[status], _TAB_TEXT[status], _TEXT[arbitration],
        life.respond_by, life.deadline, life.rejected_at, life.tracking, life.status_since,
        len(life.records), life.refund, life.offer, life.offer_by, life.keep_item,
        life.reject_stage, "local", None, None, None,  # seeded requests are local (§8)
        *_first_answer(life.records), search.search_text(
            sub.id, sub.order_id, life.tracking, sub.shop, sub.buyer, sub.product, sub.sku,
            sub.reason,
        ),
    )  # fmt: skip


def _first_answer(recs: list[RecordRow]) -> tuple[int | None, str | None]:
    """(at, actor) of the first answer among a request's records, as the services store it
    (store/writes.note_first_answers); (None, None) while unanswered."""
    for at, actor, kind, *_ in recs:
        if kind in ANSWER_KINDS:
            return at, actor
    return None, None


# Enum members' `.value` is a descriptor call: these tables cost a lookup.
_TEXT: dict[object, str | None] = {None: None} | {m: m.value for m in (*d.Status, *d.Arbitration)}
_TAB_TEXT = {status: tab.value for status, tab in d.TAB_OF_STATUS.items()}


def _details_text(details: Details) -> str | None:
    """As store.rows.record_values writes details. Most are drawn from short lists of notes
    and reasons, so their JSON is remembered."""
    return _json_object(tuple(details.items())) if details else None


@lru_cache(maxsize=4096)
def _json_object(items: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(items), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Writing

# From this many requests on (and when they at least double the table), SQLite's request
# indexes are dropped and built again after the rows are in: sorting a million keys once is
# several times faster than a million inserts at random places in eight indexes.
REBUILD_FROM = 100_000
# The most requests one seed adds: ten times the benchmark's million. The seed is one
# transaction of a few kB a request; a count beyond this is a typo.
MAX_COUNT = 10_000_000


def seed_requests(
    engine: Engine,
    count: int,
    *,
    seed: int = 0,
    now: DateTime | None = None,
    shops: Sequence[str] = SHOPS,
    rules: d.Rules | None = None,
    workers: int | None = None,
    key: ChainKey | None = None,
) -> int:
    """Add `count` synthetic requests to the database, numbered after those already there,
    lived up to `now` (the real clock by default) under `rules`, in one transaction: all of
    them or, if interrupted, none. `workers` processes live the requests of a big seed
    (default: one a core; 0: this process alone); the data is the same either way. The
    records are chained with `key` (default: the key file's). Returns the number added."""
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"The count must be from 0 to {MAX_COUNT}.")
    if not shops:
        raise ValueError("At least one shop is needed.")
    key = key or chain.load_key()
    # Lived up to a whole second, so that every seeded time is whole seconds.
    now_us = to_micros(now or utc_now()) // _SECOND * _SECOND
    added = 0
    with write(engine) as conn, bulk.big_cache(conn):
        chain.require_key(conn, key)
        first_request, first_order = next_numbers(conn)
        chunks = _chunks(
            count, first_request, first_order, seed, now_us, tuple(shops), rules or d.Rules(), key
        )
        write_rows = bulk.writer(conn)
        with _indexes_rebuilt(conn, count):
            for rows in _rows_in_order(chunks, workers):
                for (table, columns), table_rows in zip(_TABLES, rows, strict=True):
                    write_rows(table, columns, table_rows)
                added += len(rows[0])
    return added


# ---------------------------------------------------------------------------------------------
# Chunks: the unit of reproducible, parallel work

CHUNK = 20_000  # requests


@dataclass(frozen=True)
class _Chunk:
    """`count` requests numbered from `first_request`, on orders numbered from `first_order`,
    lived from a generator seeded with (seed, index). Chunks are independent: any process
    may live any of them, and the data is the same. A chunk has fewer orders than requests
    (second requests), so order numbers leave a gap after each chunk, as real order numbers
    do: most orders never see a return request."""

    index: int
    count: int
    first_request: int
    first_order: int
    seed: int
    now: int  # microseconds since the epoch
    shops: tuple[str, ...]
    rules: d.Rules
    key: ChainKey = field(repr=False)


def _chunks(
    count: int,
    first_request: int,
    first_order: int,
    seed: int,
    now: int,
    shops: tuple[str, ...],
    rules: d.Rules,
    key: ChainKey,
) -> list[_Chunk]:
    return [
        _Chunk(i, min(CHUNK, count - start), first_request + start, first_order + start,
               seed, now, shops, rules, key)
        for i, start in enumerate(range(0, count, CHUNK))
    ]  # fmt: skip


def _chunk_rows(chunk: _Chunk) -> Rows:
    """The rows of one chunk's requests, ready for executemany. The first orders of the
    first chunk are the showcases, so that even a small seed shows every status."""
    rng = random.Random(f"{chunk.seed}:{chunk.index}")
    lives = _Orders(rng, chunk.now, chunk.shops, chunk.rules)
    made, order_no, orders = 0, chunk.first_order, []
    while made < chunk.count:
        index = order_no - chunk.first_order
        showcase = SHOWCASES[index] if chunk.index == 0 and index < len(SHOWCASES) else None
        order = lives.order(order_no, chunk.first_request + made, chunk.count - made, showcase)
        orders.append(order)
        made, order_no = made + len(order), order_no + 1
    return _rows(orders, chunk.key)


def _rows_in_order(chunks: list[_Chunk], workers: int | None) -> Iterator[Rows]:
    """The rows of each chunk, in order. Living requests costs more than writing them, so
    with several chunks, worker processes live the next ones while this process writes."""
    if workers is None:
        workers = os.cpu_count() or 1
    workers = min(workers, len(chunks) - 1)
    context = _fork_context()
    if workers < 1 or context is None:
        yield from map(_chunk_rows, chunks)
        return
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_ctrl_c) as pool:
        pending: deque[Future[Rows]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_chunk_rows, chunk))
                if len(pending) > 2 * workers:  # a few chunks ahead, not the whole seed
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _fork_context() -> multiprocessing.context.BaseContext | None:
    """`fork`, when it is safe: the workers start at once and re-import nothing (`spawn`
    would run the caller's main script again, and break one without a __main__ guard). A
    process with other threads (a console) may have a lock held mid-fork, so it seeds alone;
    so does a platform without fork. The workers never touch the parent's databases."""
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _ignore_ctrl_c() -> None:
    # Ctrl-C reaches the whole process group; the parent stops the seed and rolls it back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _indexes_rebuilt(conn: Connection, count: int) -> Iterator[None]:
    """For a big seed (at least REBUILD_FROM requests, and at least as many as are there),
    the request indexes are built once afterwards (bulk.indexes_rebuilt)."""
    if count < max(REBUILD_FROM, bulk.request_count(conn)):
        yield
        return
    with bulk.indexes_rebuilt(conn):
        yield


def next_numbers(conn: Connection) -> tuple[int, int]:
    """The first request and order numbers after those already in the database, so that
    seeding twice (or the demo's live buyers) adds to the data instead of colliding with it."""
    return (
        bulk.max_number(conn, "requests", "id", _ID_RE) + 1,
        bulk.max_number(conn, "orders", "order_id", _ID_RE) + 1,
    )
