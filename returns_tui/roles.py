"""Who may do what (DESIGN §3), as pure checks. The services call these on every read and
write, so that no screen or script can get around them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from returns_tui import actions
from returns_tui.domain import quoted
from returns_tui.errors import Forbidden


class Role(StrEnum):
    OPERATOR = "operator"
    AGENT = "agent"
    ADMIN = "admin"
    BUYER = "buyer"  # not a user: buyers' actions arrive through `apply` and the demo
    SYSTEM = "system"  # the deadlines


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    shops: frozenset[str] = frozenset()

    @property
    def sees_all_shops(self) -> bool:
        return self.role in (Role.AGENT, Role.ADMIN, Role.BUYER, Role.SYSTEM)

    def visible_shops(self) -> frozenset[str] | None:
        """The shops this actor may see, or None for every shop."""
        return None if self.sees_all_shops else self.shops

    def sees(self, shop: str) -> bool:
        return self.sees_all_shops or shop in self.shops


BUYER = Actor("buyer", Role.BUYER)

# Who the records name that is not a user (DESIGN §4): the buyer, the clock, the marketplace,
# and the automation rules (`rule:OWNER/NAME`). A user may not take such a name.
NOT_USERS = frozenset({"buyer", "system", "marketplace"})
RULE_PREFIX = "rule:"
SYSTEM = Actor("system", Role.SYSTEM)

# action -> the roles that may take it (DESIGN §2's "actor" column), as actions.py declares
ALLOWED: dict[str, frozenset[Role]] = {
    action.name: frozenset(Role(role) for role in action.roles) for action in actions.ACTIONS
}

ACTIONS = actions.NAMES

_WHO = {
    Role.BUYER: "the buyer",
    Role.OPERATOR: "a shop's operator",
    Role.AGENT: "a support agent",
}


def require(actor: Actor, action: str, shop: str) -> None:
    if actor.role not in ALLOWED[action]:
        who = " or ".join(_WHO[r] for r in sorted(ALLOWED[action]))
        raise Forbidden(f"Only {who} may {action}; {_name(actor)} is {_article(actor.role)}.")
    if actor.role is Role.OPERATOR and shop not in actor.shops:
        # A shop's name comes from outside (an apply line, a sync job): quoted like an id.
        raise Forbidden(f"{_name(actor)} is not an operator of shop {quoted(shop, 64)}.")


def require_admin(actor: Actor, what: str) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden(f"Only an admin may {what}; {_name(actor)} is {_article(actor.role)}.")


def _name(actor: Actor) -> str:
    # Users' names are printable when added, but an Actor may be built from anything.
    return quoted(actor.name, 64)


def _article(role: Role) -> str:
    return f"an {role.value}" if role.value[0] in "aeiou" else f"a {role.value}"
