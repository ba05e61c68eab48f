"""actions.py, the one declaration of every action, against what reads it and what it replaces:
the state machine's edges, the roles, the services' parameters, and the console's key tables
(which still live in screens/main.py until the console reads them from the registry)."""

from __future__ import annotations

import inspect

import pytest

from returns_tui import actions, roles
from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.roles import BUYER
from returns_tui.screens import main
from returns_tui.services import Returns
from tests.conftest import T0, submission

# The kinds no one takes: time moves a request by them (DESIGN §2, *Time moves by itself*).
AUTOMATIC = {d.Kind.AUTO_APPROVED, d.Kind.EXPIRED, d.Kind.AUTO_REFUNDED, d.Kind.OFFER_LAPSED}


def test_every_kind_of_the_state_machine_is_an_action_or_a_deadline():
    kinds = [a.kind for a in actions.ACTIONS]
    assert len(kinds) == len(set(kinds))
    # The sync's kinds are the marketplace's word, no one's action here (DESIGN §8).
    assert set(kinds) | AUTOMATIC | d.SYNC_KINDS == set(d.EDGES)
    assert not set(kinds) & AUTOMATIC


def test_starts_are_the_edges_starts():
    assert actions.BY_NAME["submit"].starts == {None}
    assert actions.BY_NAME["cancel"].starts == {d.Status.PENDING, d.Status.AWAITING_BUYER_SHIP}
    assert actions.BY_NAME["mediate"].starts == {d.Status.IN_MEDIATION}
    assert actions.BY_NAME["note"].starts == set(d.Status)


def test_roles_are_roles_and_read_from_the_registry():
    for action in actions.ACTIONS:
        assert roles.ALLOWED[action.name] == {roles.Role(r) for r in action.roles}
    assert roles.ACTIONS == actions.NAMES
    assert roles.ALLOWED["note"] == {roles.Role.OPERATOR, roles.Role.AGENT}


def test_each_action_has_a_rule_and_a_service_method_taking_its_fields():
    """Every action but submit has a rule; the services' named method of each takes exactly
    the declared fields (so that the named methods and `perform` cannot disagree)."""
    for action in actions.ACTIONS:
        method = inspect.signature(getattr(Returns, action.name))
        if action.name == "submit":
            assert action.rule is None
            continue
        assert action.rule is not None
        own = [
            name
            for name, p in method.parameters.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD
            and name not in ("self", "actor", "request_id", "now")
        ]
        assert own == list(action.params), action.name


def test_perform_refuses_fields_an_action_does_not_declare(svc):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    alice = svc.login("alice")
    with pytest.raises(Refused, match="The action accept takes no note."):
        svc.perform(alice, "accept", "R1", T0, note="hi")
    with pytest.raises(Refused, match="Unknown action 'submitt'."):
        svc.perform(alice, "submitt", "R1", T0)
    with pytest.raises(Refused, match=r"Unknown action \['accept'\]."):
        svc.perform(alice, ["accept"], "R1", T0)  # type: ignore[arg-type]


# The console reads its keys, guards, words and palette from the registry, beside commands of
# its own (marking, accept-and-next, search...): each action's are the registry's.


def test_console_guards_match_the_registry():
    keyed = {a.name for a in actions.ACTIONS if a.key is not None}
    assert {k: v for k, v in main.NEEDS_RULE.items() if k in keyed} == {k: k for k in keyed}
    # The console's own commands that act as an action (marking, accepting the marked,
    # accepting and moving to the next row).
    assert {k: v for k, v in main.NEEDS_RULE.items() if k not in keyed} == {
        "mark": "accept",
        "accept_marked": "accept",
        "accept_next": "accept",
    }


def test_console_done_words_match_the_registry():
    assert main.DONE_WORDS == {a.name: a.done for a in actions.ACTIONS if a.done is not None}


def test_console_palette_matches_the_registry():
    palette = {name: (title, text) for name, title, text in main.ConsoleScreen.PALETTE}
    declared = {a.name: (a.title, a.help) for a in actions.ACTIONS if a.title is not None}
    assert {name: palette[name] for name in declared} == declared


def test_console_keys_and_footer_labels_match_the_registry():
    bindings = {b.action: (b.key, b.description) for b in main.ConsoleScreen.BINDINGS}
    declared = {a.name: (a.key, a.label) for a in actions.ACTIONS if a.key is not None}
    assert {name: bindings[name] for name in declared} == declared
