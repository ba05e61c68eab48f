"""The Rules screen (key `u`, DESIGN §10): the viewer's rules (an admin's: every rule) and what
each accepted in the last 7 days, read-only; names and reasons shown as text."""

from __future__ import annotations

import pytest

from returns_tui import rulebook
from returns_tui.roles import BUYER
from returns_tui.screens.rules import RulesScreen
from tests.conftest import submission
from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    HOSTILE,
    NOW,
    dismiss,
    opened,
    opens,
    screen_text,
    seeded_svc,
    wait_for,
)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


def with_rules(svc) -> None:
    """alice's rule accepted two requests in the last 7 days (USD and JPY); bob's nothing."""
    made = NOW.subtract(hours=20)  # the cast became users at NOW - 24 h
    rulebook.add(svc, "alice", "small", rulebook.NewRule(type="refund"), made)
    rulebook.add(svc, "bob", "never", rulebook.NewRule(reasons=["no_such_reason"]), made)
    for rid, amount, cur in (("RU1", "9.99", "USD"), ("RJ1", "500", "JPY")):
        sub = submission(rid, f"O-{rid}", type="refund", amount=amount, currency=cur)
        svc.submit(BUYER, sub, NOW.subtract(hours=2))


async def shown(pilot, app) -> RulesScreen:
    screen = await opens(pilot, app, "u", "RulesScreen")
    assert isinstance(screen, RulesScreen)
    await wait_for(pilot, lambda: screen.rows is not None, what="the rules")
    await pilot.pause(0.05)
    return screen


async def test_u_shows_the_viewers_rules_and_what_they_accepted_in_7_days(svc):
    with_rules(svc)
    async with opened(svc, "alice") as (app, pilot):
        screen = await shown(pilot, app)
        assert [a.rule.actor for a in screen.rows] == ["rule:alice/small"]
        text = screen_text(app)
        assert "rule:alice/small" in text and "rule:bob/never" not in text
        assert "500 JPY, 9.99 USD" in text
        assert "type refund -> accept" in text
        await dismiss(pilot, app)


async def test_an_admin_sees_every_rule_and_which_are_off(svc):
    with_rules(svc)
    rulebook.disable(svc, "root-admin", "bob", "never")
    async with opened(svc, "root-admin") as (app, pilot):
        screen = await shown(pilot, app)
        assert [(a.rule.actor, a.accepted) for a in screen.rows] == [
            ("rule:alice/small", 2), ("rule:bob/never", 0),
        ]  # fmt: skip
        assert "off (by root-admin)" in screen_text(app)


async def test_an_operator_without_rules_is_told_how_to_make_one(svc):
    async with opened(svc, "olga") as (app, pilot):
        await shown(pilot, app)
        assert "No rules yet: `returns-tui rules add` makes one." in screen_text(app)


async def test_markup_and_control_characters_are_shown_as_text(svc):
    login = "[b]eve[/b]"  # a login may hold brackets
    svc.add_user("root-admin", login, "operator", ("acme",), NOW.subtract(days=9))
    reason = HOSTILE.replace("\x1b", "")  # control characters are refused when a rule is made
    rulebook.add(svc, login, "x", rulebook.NewRule(reasons=[reason]), NOW.subtract(days=8))
    async with opened(svc, "root-admin") as (app, pilot):
        await shown(pilot, app)
        text = screen_text(app)
        assert "rule:[b]eve[/b]/x" in text
        assert "[@click=app.quit]x[/]" in text
        assert app.is_running  # nothing was run as an action


async def test_u_is_in_the_help_and_the_palette(svc):
    async with opened(svc, "alice") as (app, pilot):
        assert ("u", "Rules") in app.main.key_rows()
        titles = [c.title for c in app.get_system_commands(app.main)]
        assert "Automation rules" in titles
