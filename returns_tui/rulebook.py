"""The automation rules' commands (DESIGN §10), one transaction each, the roles checked:
an operator makes, lists, removes and tries their own rules, for their own shops; an admin
lists every rule and switches any off. The rule itself is automation.py's.

These sit beside services.Returns and use its transactions (`_retrying`, `_login_in`): the
caller is read again from the users table in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pendulum
from pendulum import DateTime
from sqlalchemy.engine import Connection

from returns_tui import automation as auto
from returns_tui import domain as d
from returns_tui.errors import Forbidden, Refused
from returns_tui.money import format_amount
from returns_tui.roles import Actor, Role, require_admin
from returns_tui.services import Returns
from returns_tui.store import rules_table
from returns_tui.store.engine import read

# The Rules screen's period: what each rule did in the last 7 days.
ACTIVITY = pendulum.duration(days=7)


@dataclass(frozen=True)
class NewRule:
    """`rules add`'s conditions, as typed (automation.new_conditions checks them)."""

    shops: Sequence[str] = ()
    type: str | None = None
    reasons: Sequence[str] = ()
    currency: str | None = None
    max_amount: str | None = None
    max_buyer_requests: int | None = None
    keep_item: bool = False


def add(svc: Returns, caller: str, name: str, new: NewRule, now: DateTime) -> auto.Rule:
    """Make the caller's rule `name`. Only an operator may, for their own shops."""

    def body(conn: Connection) -> auto.Rule:
        me = _operator(svc, conn, caller, "make rules")
        auto.check_name(me.name, name)
        cond = auto.new_conditions(
            me.shops, new.shops, new.type, new.reasons, new.currency, new.max_amount,
            new.max_buyer_requests, new.keep_item,
        )  # fmt: skip
        if rules_table.one(conn, me.name, name) is not None:
            raise Refused(f"You already have a rule called {name}; remove it first.")
        rules_table.add(conn, me.name, name, cond.to_json(), new.keep_item, now)
        return auto.rule_of(rules_table.one(conn, me.name, name))

    return svc._retrying(body)


def every(svc: Returns, caller: str) -> list[auto.Rule]:
    """The rules the caller may see: an admin every rule, anyone else their own."""
    with read(svc.engine) as conn:
        me = svc._login_in(conn, caller)
        owner = None if me.role is Role.ADMIN else me.name
        return [auto.rule_of(row) for row in rules_table.every(conn, owner)]


def remove(svc: Returns, caller: str, name: str) -> None:
    """Remove one of the caller's own rules. Its past records keep its name."""

    def body(conn: Connection) -> None:
        me = svc._login_in(conn, caller)
        if not (d.storable(name) and rules_table.remove(conn, me.name, name)):
            raise Refused(f"You have no rule called {d.quoted(name, 64)}.")

    svc._retrying(body)


def disable(svc: Returns, caller: str, owner: str, name: str) -> None:
    """Switch a rule off, as an admin (DESIGN §3); it stays listed, marked off."""

    def body(conn: Connection) -> None:
        me = svc._login_in(conn, caller)
        require_admin(me, "switch rules off")
        found = d.storable(owner) and d.storable(name) and rules_table.one(conn, owner, name)
        if not found:
            raise Refused(f"{d.quoted(owner, 64)} has no rule called {d.quoted(name, 64)}.")
        if found["disabled"]:
            raise Refused(f"The rule {owner}/{name} is already off.")
        rules_table.disable(conn, owner, name, me.name)

    svc._retrying(body)


def tried(svc: Returns, caller: str, name: str, since: dt.date) -> Iterator[dict[str, str]]:
    """`rules try`: each request that arrived since the start of `since` (UTC) and that the
    caller's rule `name` matches, as it stood at its arrival (the buyer's count then), in
    the shops the rule covers that are still the caller's; those it accepted included.
    {"id", "shop", "amount", "currency"}, in the order they arrived. Reads only."""
    start = pendulum.datetime(since.year, since.month, since.day)
    with read(svc.engine) as conn:
        me = svc._login_in(conn, caller)
        row = d.storable(name) and rules_table.one(conn, me.name, name)
        if not row:
            raise Refused(f"You have no rule called {d.quoted(name, 64)}.")
        rule = auto.rule_of(row)
        mine = rules_table.owner_shops(conn, me.name)
        covered = [shop for shop in rule.conditions.shops if shop in mine]
        if not covered:
            return
        yield from _matching(conn, rule.conditions, covered, mine, start)


def _matching(
    conn: Connection, cond: auto.Conditions, covered: list[str], mine: list[str], start: DateTime
) -> Iterator[dict[str, str]]:
    """The matching requests of `covered` since `start`. With a buyer condition, the buyer's
    requests in all the owner's shops `mine` are counted as they arrive, over the 90 days
    before each (so the stream starts 90 days early)."""
    counting = cond.max_buyer_requests is not None
    shops = mine if counting else covered
    seen: dict[str, deque[DateTime]] = defaultdict(deque)
    for req in rules_table.arrivals(conn, shops, start - auto.HISTORY if counting else start):
        count = 0
        if counting:
            times = seen[req.buyer]
            times.append(req.created_at)
            while times[0] <= req.created_at - auto.HISTORY:
                times.popleft()
            count = len(times)
        if req.created_at < start or req.shop not in covered:
            continue
        if auto.matches(cond, req, lambda n=count: n):
            amount = format_amount(req.amount_cents, req.currency)
            yield {"id": req.id, "shop": req.shop, "amount": amount, "currency": req.currency}


@dataclass
class Activity:
    """What a rule did in the last 7 days: requests accepted, and money per currency (in
    hundredths, never summed across currencies)."""

    rule: auto.Rule
    accepted: int = 0
    money: dict[str, int] = field(default_factory=dict)


def activity(svc: Returns, caller: str, now: DateTime) -> list[Activity]:
    """The caller's rules (an admin's: every rule) with what each accepted since
    now - 7 days, counting only its own records (after it was made)."""
    since = now - ACTIVITY
    with read(svc.engine) as conn:
        me = svc._login_in(conn, caller)
        owner = None if me.role is Role.ADMIN else me.name
        found = {
            rule.actor: Activity(rule)
            for rule in (auto.rule_of(row) for row in rules_table.every(conn, owner))
        }
        for actor, currency, cents, at in rules_table.activity(conn, since):
            act = found.get(actor)
            if act is None or at < act.rule.created_at:
                continue
            act.accepted += 1
            act.money[currency] = act.money.get(currency, 0) + cents
    return list(found.values())


def _operator(svc: Returns, conn: Connection, caller: str, what: str) -> Actor:
    me = svc._login_in(conn, caller)
    if me.role is not Role.OPERATOR:
        raise Forbidden(
            f"Only an operator may {what}: a rule accepts for its owner's shops, and "
            f"{d.quoted(me.name, 64)} is not an operator."
        )
    return me
