"""Automation rules (DESIGN §10): an operator's standing answer to the obvious requests.

A rule is conditions on a request that has just arrived (shops, type, reasons, currency, a
largest amount, how many requests the buyer made in the owner's shops in the last 90 days)
and one action, accept (optionally keeping the item). Every condition given must hold. The
rule itself is `matches` and `decision`, pure functions; `on_arrival` finds, inside the
arrival's own transaction, the rule that acts: the oldest that matches among those that are
switched on, were made before the request arrived, and whose owner is still a user who still
has the request's shop. Both arrivals call it: `apply`'s submit (services.Returns._submit)
and the marketplace sync, each in the transaction that writes the new request.

Names: a rule acts as `rule:OWNER/NAME` in the records (the records' actor column holds 64
characters, and the name is shown on screens), so a name is 1 to 40 of A-Z, a-z, 0-9, `.`,
`_`, `-`, beginning with a letter or digit, and the whole actor must fit 64 characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import pendulum
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.money import format_amount, parse_amount
from returns_tui.roles import RULE_PREFIX
from returns_tui.store import rules_table
from returns_tui.timefmt import to_micros

ACTOR_PREFIX = RULE_PREFIX
ACTOR_MAX = 64  # records.actor
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
REASON_MAX = 100  # a request's reason (domain.check_submission)
MAX_BUYER_REQUESTS = 1_000_000
# The buyer's history a rule looks at: the requests created in (arrival - 90 days, arrival].
HISTORY = pendulum.duration(days=90)
TYPES = tuple(t.value for t in d.RequestType)


@dataclass(frozen=True)
class Conditions:
    """What a request must be for the rule to act. `shops` is never empty: the shops named
    when the rule was made, or all the owner's shops at that moment. `max_cents` is in
    hundredths, as every amount is stored (money.py), and inclusive."""

    shops: tuple[str, ...]
    type: str | None = None
    reasons: tuple[str, ...] = ()
    currency: str | None = None
    max_cents: int | None = None
    max_buyer_requests: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def describe(self, keep_item: bool) -> str:
        """The rule in words, for `rules list` and the Rules screen."""
        parts = [f"shop {', '.join(self.shops)}"]
        if self.type:
            parts.append(f"type {self.type}")
        if self.reasons:
            parts.append(f"reason {', '.join(self.reasons)}")
        if self.currency:
            parts.append(f"currency {self.currency}")
        if self.max_cents is not None:
            amount = format_amount(self.max_cents, self.currency or "")
            parts.append(f"amount at most {amount}")
        if self.max_buyer_requests is not None:
            parts.append(f"buyer's requests in 90 days at most {self.max_buyer_requests}")
        action = "accept, the buyer keeps the item" if keep_item else "accept"
        return f"{'; '.join(parts)} -> {action}"


@lru_cache(maxsize=1024)
def conditions_from_json(text: str) -> Conditions:
    """A stored rule's conditions (cached: every arrival reads its shop's rules again)."""
    raw = json.loads(text)
    return Conditions(
        shops=tuple(raw["shops"]),
        type=raw.get("type"),
        reasons=tuple(raw.get("reasons") or ()),
        currency=raw.get("currency"),
        max_cents=raw.get("max_cents"),
        max_buyer_requests=raw.get("max_buyer_requests"),
    )


@dataclass(frozen=True)
class Rule:
    id: int
    owner: str
    name: str
    conditions: Conditions
    keep_item: bool
    created_at: DateTime
    disabled: bool = False
    disabled_by: str | None = None

    @property
    def actor(self) -> str:
        return actor_name(self.owner, self.name)


def actor_name(owner: str, name: str) -> str:
    """Who a rule is in the records: `rule:OWNER/NAME` (DESIGN §10)."""
    return f"{ACTOR_PREFIX}{owner}/{name}"


# ---------------------------------------------------------------------------------------------
# The rule


def matches(cond: Conditions, req: Any, buyer_requests: Callable[[], int]) -> bool:
    """Whether every condition holds for the request (a d.Request, or a row with its shop,
    type, reason, currency and amount_cents). `buyer_requests` counts the buyer's
    requests in the owner's shops in the 90 days up to the request's arrival, this one
    included; it is asked last, and only when the rule has that condition (it is a query)."""
    if req.shop not in cond.shops:
        return False
    if cond.type is not None and req.type != cond.type:  # a RequestType or its text
        return False
    if cond.reasons and req.reason not in cond.reasons:
        return False
    if cond.currency is not None and req.currency != cond.currency:
        return False
    if cond.max_cents is not None and req.amount_cents > cond.max_cents:
        return False
    if cond.max_buyer_requests is not None and buyer_requests() > cond.max_buyer_requests:
        return False
    return True


def first_match(
    rules: Iterable[Rule], req: d.Request, buyer_requests: Callable[[str], int]
) -> Rule | None:
    """The rule that acts: the first that matches of `rules`, oldest first.
    `buyer_requests(owner)` counts as `matches` says, in that owner's shops."""
    for rule in rules:
        if matches(rule.conditions, req, lambda owner=rule.owner: buyer_requests(owner)):
            return rule
    return None


def decision(rule: Rule, req: d.Request, now: DateTime, policy: d.Rules) -> d.Change:
    """The rule's accept of a pending request, as an operator's accept (domain.accept) by
    `rule:OWNER/NAME`. Keeping the item is for a return: a refund-only request (which the
    rule may match when it names no type) has no item to send back, so it is accepted
    plainly, which is what keeping the item would mean for it."""
    keep = rule.keep_item and req.type is d.RequestType.RETURN_AND_REFUND
    return d.accept(req, rule.actor, now, policy, True if keep else None)


# ---------------------------------------------------------------------------------------------
# Arrival


@dataclass(frozen=True)
class Firing:
    """The rule that acts on an arrival: who it is in the records, and whether the buyer
    keeps the item (for a return)."""

    rule: Rule

    @property
    def actor(self) -> str:
        return self.rule.actor

    @property
    def keep_item(self) -> bool:
        return self.rule.keep_item


def on_arrival(conn: Connection, request: d.Request, now: DateTime) -> Firing | None:
    """The rule that acts on `request`, which has just arrived at `now` (written in this
    transaction or about to be: the buyer's count adds it either way); None when none does.
    A rule acts only on a pending request that just arrived: call this once, at its arrival,
    in the transaction that writes it. It changes nothing: the caller writes the accept (a
    submit, at once, by `decision`; the sync queues it as an operator's, and refuses to keep
    the item where the marketplace forbids it)."""
    if request.status is not d.Status.PENDING:
        return None
    arrived = to_micros(now)
    rules = [rule_of(row) for row in rules_table.acting_on(conn, request.shop, arrived)]
    if not rules:
        return None
    counts: dict[str, int] = {}

    def buyer_requests(owner: str) -> int:
        if owner not in counts:
            since = arrived - HISTORY_MICROS
            others = rules_table.buyer_count(conn, owner, request.buyer, since, arrived, request.id)
            counts[owner] = others + 1  # this one, whether or not it is written yet
        return counts[owner]

    rule = first_match(rules, request, buyer_requests)
    return None if rule is None else Firing(rule)


HISTORY_MICROS = int(HISTORY.total_seconds()) * 1_000_000


def rule_of(row: Any) -> Rule:
    """A stored rule (a rules_table row) as a Rule."""
    return Rule(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        conditions=conditions_from_json(row["conditions"]),
        keep_item=bool(row["keep_item"]),
        created_at=row["created_at"],
        disabled=bool(row["disabled"]),
        disabled_by=row["disabled_by"],
    )


# ---------------------------------------------------------------------------------------------
# A new rule's input


def check_name(owner: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise Refused(
            f"{d.quoted(name, 64)} cannot be a rule's name: it must be 1 to 40 letters, digits, "
            "dots, underscores or dashes, beginning with a letter or digit."
        )
    if len(actor_name(owner, name)) > ACTOR_MAX:
        room = ACTOR_MAX - len(actor_name(owner, ""))
        raise Refused(
            f"The rule's name is too long: its records name it rule:OWNER/NAME in at most "
            f"{ACTOR_MAX} characters, which leaves {max(room, 0)} for the name."
        )


def new_conditions(
    owner_shops: Iterable[str],
    shops: Sequence[str],
    rtype: str | None,
    reasons: Sequence[str],
    currency: str | None,
    max_amount: str | None,
    max_buyer_requests: int | None,
    keep_item: bool,
) -> Conditions:
    """A new rule's conditions, checked: every shop one of the owner's (none named: all of
    them), every value well formed, and no keeping of the item on refund-only requests."""
    mine = sorted(set(owner_shops))
    for shop in shops:
        if shop not in mine:
            raise Refused(
                f"The shop {d.quoted(shop, 64)} is not one of yours; a rule covers only your "
                "own shops."
            )
    if rtype is not None and rtype not in TYPES:
        raise Refused(f"The type must be refund or return_and_refund, not {d.quoted(rtype, 64)}.")
    for reason in reasons:
        if not reason or len(reason) > REASON_MAX or not reason.isprintable():
            raise Refused(
                f"{d.quoted(reason, 64)} cannot be a reason: it must be 1 to {REASON_MAX} "
                "printable characters."
            )
    if currency is not None and not d.CURRENCY_RE.fullmatch(currency):
        raise Refused("The currency must be three capital letters, such as USD.")
    max_cents = None
    if max_amount is not None:
        # In hundredths, as amounts are stored; a currency without minor units takes none.
        max_cents = parse_amount(max_amount, currency or "")
    if max_buyer_requests is not None and not 1 <= max_buyer_requests <= MAX_BUYER_REQUESTS:
        raise Refused(
            "The most requests of one buyer must be a whole number from 1 (this request "
            f"counts) to {MAX_BUYER_REQUESTS:,}."
        )
    if keep_item and rtype == d.RequestType.REFUND.value:
        raise Refused("A refund-only request has no item to keep; leave out --keep-item.")
    return Conditions(
        shops=tuple(sorted(set(shops))) if shops else tuple(mine),
        type=rtype,
        reasons=tuple(dict.fromkeys(reasons)),
        currency=currency,
        max_cents=max_cents,
        max_buyer_requests=max_buyer_requests,
    )
