"""Every action, declared once: who may take it, the fields it takes, the record it writes,
the rule that decides it, and the console's words and key for it.

Whatever lists the actions reads them from here: roles.ALLOWED, the services' parameter check
and dispatch (Returns.perform), apply's field checks, and the console's guards, keys, footer,
help and palette (screens/main.py). The rules themselves stay in domain.py; an entry only
names its rule.

Adding an action: write its rule in domain.py (a function of the request and what it needs
that returns a domain.Change, refusing with domain.Refused), give its record kind its edges in
domain.EDGES, and add one entry to ACTIONS below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pendulum import DateTime

from returns_tui import domain as d

# The JSON types a field of an `apply` line may have (apply._check_fields says which is which).
TEXT = "text"
WHOLE_NUMBER = "whole number"
DECIMAL_STRING = "decimal string"  # money: a JSON number cannot hold it exactly
FLAG = "true, false or null"  # a yes/no whose absence (or null) means no


@dataclass(frozen=True)
class Field:
    name: str
    type: str = TEXT
    optional: bool = False


@dataclass(frozen=True)
class Facts:
    """What a rule may be given besides the request and the action's fields: who acts, when,
    the market's rules, and (for an action declared with `order=True`) the order's history."""

    actor: str
    now: DateTime
    rules: d.Rules
    order: d.OrderHistory = field(default_factory=d.OrderHistory)


# A rule as the services call it: the request (its deadlines already applied), the facts, and
# the action's fields by name (a field the caller left out is None, so that the rule refuses
# it in a sentence).
Rule = Callable[[d.Request, Facts, Mapping[str, Any]], d.Change]


@dataclass(frozen=True)
class Action:
    """One action. `roles` are Role values (roles.py turns them into Roles: this module sits
    below roles.py). `fields` are the action's own, besides the request id that every line
    names. `rule` is None only for submit, which makes a request instead of changing one."""

    name: str
    roles: frozenset[str]
    kind: d.Kind
    rule: Rule | None
    fields: tuple[Field, ...] = ()
    order: bool = False  # the rule looks at the order's other requests
    # The console's: the key, its footer label, the word for done, the palette's title and help.
    key: str | None = None
    label: str | None = None
    done: str | None = None
    title: str | None = None
    help: str | None = None

    @property
    def params(self) -> tuple[str, ...]:
        """The names of its fields, in the order they are declared (and named in messages)."""
        return tuple(f.name for f in self.fields)

    @property
    def optional(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.optional)

    @property
    def starts(self) -> frozenset[d.Status | None]:
        """The statuses it may start from, by the state machine (domain.EDGES)."""
        return frozenset(start for start, _ in d.EDGES[self.kind])


_BUYER = frozenset({"buyer"})
_OPERATOR = frozenset({"operator"})

# In the order `apply` lists them when it meets an unknown action.
ACTIONS: tuple[Action, ...] = (
    Action(
        "submit",
        _BUYER,
        d.Kind.SUBMITTED,
        None,
        (
            Field("order_id"),
            Field("shop"),
            Field("type"),
            Field("buyer"),
            Field("product"),
            Field("sku"),
            Field("quantity", WHOLE_NUMBER),
            Field("amount", DECIMAL_STRING),
            Field("currency"),
            Field("reason"),
            Field("note", optional=True),
        ),  # fmt: skip
    ),
    Action("cancel", _BUYER, d.Kind.CANCELLED, lambda r, f, p: d.cancel(r, f.now)),
    Action(
        "ship",
        _BUYER,
        d.Kind.SHIPPED,
        lambda r, f, p: d.ship(r, f.now, f.rules, p["tracking"]),
        (Field("tracking"),),
    ),
    Action(
        "appeal",
        _BUYER,
        d.Kind.APPEALED,
        lambda r, f, p: d.appeal(r, f.order, f.now, f.rules),
        order=True,
    ),
    Action(
        "accept",
        _OPERATOR,
        d.Kind.ACCEPTED,
        lambda r, f, p: d.accept(r, f.actor, f.now, f.rules, p["keep_item"]),
        # DESIGN §7: true refunds a return at once and the buyer keeps the item; absent, null
        # or false is a plain accept.
        (Field("keep_item", FLAG, optional=True),),
        key="a",
        label="Accept",
        done="accepted",
        title="Accept request",
        help="Accept the highlighted request (asks first)",
    ),
    Action(
        "reject",
        _OPERATOR,
        d.Kind.REJECTED,
        lambda r, f, p: d.reject(r, f.actor, f.now, f.rules, p["reason"], p["note"]),
        (Field("reason"), Field("note", optional=True)),
        key="r",
        label="Reject",
        done="rejected",
        title="Reject request",
        help="Reject the highlighted request with a reason and a note",
    ),
    Action(
        "receive",
        _OPERATOR,
        d.Kind.RECEIVED,
        lambda r, f, p: d.receive(r, f.actor, f.now),
        key="c",
        label="Receipt",
        done="received; the refund is issued",
        title="Confirm receipt",
        help="The returned item arrived: issue the refund",
    ),
    Action(
        "mediate",
        frozenset({"agent"}),
        d.Kind.MEDIATED,
        lambda r, f, p: d.mediate(r, f.actor, f.now, f.rules, p["decision"], p["note"]),
        (Field("decision"), Field("note")),
        key="m",
        label="Mediate",
        done="mediated",
        title="Mediate appeal",
        help="Decide an appeal for the buyer or the seller",
    ),
    Action(
        "note",
        frozenset({"operator", "agent"}),
        d.Kind.NOTED,
        lambda r, f, p: d.add_note(r, f.actor, f.now, p["note"]),
        (Field("note"),),
        key="n",
        label="Note",
        done="noted",
        title="Add note",
        help="Add a note to the highlighted request",
    ),
    # DESIGN §7: one partial refund offered per request and the buyer's answer to it (its
    # lapse at offer_by is time's: domain.deadline_passes), and a returned package rejected
    # at receipt. The buyer's answers have no console key: buyers answer through `apply`.
    Action(
        "offer",
        _OPERATOR,
        d.Kind.OFFERED,
        lambda r, f, p: d.offer(r, f.actor, f.now, f.rules, p["amount"]),
        (Field("amount", DECIMAL_STRING),),
        key="o",
        label="Offer",
        done="offered a partial refund; the buyer answers",
        title="Offer partial refund",
        help="Offer the buyer part of the amount asked; they keep the item if they agree",
    ),
    Action("agree", _BUYER, d.Kind.AGREED, lambda r, f, p: d.agree(r, f.now)),
    Action("decline", _BUYER, d.Kind.DECLINED, lambda r, f, p: d.decline(r, f.now, f.rules)),
    Action(
        "reject_receipt",
        _OPERATOR,
        d.Kind.RECEIPT_REJECTED,
        lambda r, f, p: d.reject_receipt(r, f.actor, f.now, f.rules, p["reason"], p["note"]),
        (Field("reason"), Field("note")),
        key="x",
        label="Reject receipt",
        done="rejected at receipt",
        title="Reject returned package",
        help="The returned package is not acceptable: reject it with a reason and a note",
    ),
)

# The accept dialog's third answer for a return (accept with keep_item true, DESIGN §7).
KEEP_ITEM_LABEL = "Refund, buyer keeps it"

BY_NAME: dict[str, Action] = {action.name: action for action in ACTIONS}
NAMES = tuple(BY_NAME)


def get(name: Any) -> Action | None:
    """The action called `name`, or None: `name` comes from outside and may be anything JSON
    holds (a list cannot even be looked up)."""
    return BY_NAME.get(name) if isinstance(name, str) else None
