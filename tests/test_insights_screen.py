"""The Insights screen (key `i`, DESIGN §9): the figures of returns_tui.insights on screen, the
period and shop keys, live reads, hostile text kept as text, and snapshots at 80×24 and 120×36.

After a deliberate change: `pytest tests/test_insights_screen.py --snapshot-update`, then look
at the SVGs in tests/__snapshots__/test_insights_screen/ before committing."""

from __future__ import annotations

import pytest

from returns_tui import domain as d
from returns_tui.roles import BUYER
from returns_tui.screens.insights import InsightsScreen
from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    HOSTILE,
    NOW,
    FakeClock,
    console,
    dismiss,
    loaded,
    opened,
    opens,
    screen_text,
    seeded_svc,
    wait_for,
)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


async def shown(pilot, app) -> InsightsScreen:
    """Open the Insights screen and wait for its figures."""
    screen = await opens(pilot, app, "i", "InsightsScreen")
    assert isinstance(screen, InsightsScreen)
    await wait_for(pilot, lambda: screen.figures is not None, what="the figures")
    return screen


async def test_i_opens_the_figures_the_viewer_may_see_and_esc_goes_back(svc):
    async with opened(svc, "alice", size=(80, 24)) as (app, pilot):
        screen = await shown(pilot, app)
        assert screen.figures.shops == ("acme",)
        text = screen_text(app)
        assert "Insights · last 30 days" in text
        assert "Approved by the clock (nobody answered in 48 h): 0 requests" in text
        assert "Requests by day and outcome" in text
        await dismiss(pilot, app)


async def test_the_period_and_shop_keys(svc):
    async with opened(svc, "sam") as (app, pilot):
        screen = await shown(pilot, app)
        every = screen.figures
        assert every.shops is None and every.shops_seen == ("acme", "globex")
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.figures.period.days == 90, what="90 days")
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.figures.period.days == 7, what="7 days")
        assert screen.figures.period.until == NOW.date()
        await pilot.press("h")
        await wait_for(pilot, lambda: screen.figures.shops == ("acme",), what="acme alone")
        assert screen.figures.requests < every.requests
        assert "shop acme" in screen_text(app)
        await pilot.press("h", "h")
        await wait_for(pilot, lambda: screen.figures.shops is None, what="every shop again")


async def test_the_figures_follow_other_peoples_changes(svc):
    async with opened(svc, "alice") as (app, pilot):
        screen = await shown(pilot, app)
        screen.reload_seconds = 0
        before = screen.figures.requests
        svc.submit(BUYER, _submission("R9001", sku="LIVE-1"), NOW.subtract(minutes=5))
        await wait_for(pilot, lambda: screen.figures.requests == before + 1, what="a re-read")
        assert "LIVE-1" in [s.sku for s in screen.figures.skus]


async def test_text_from_the_data_is_shown_as_text(svc):
    svc.submit(BUYER, _submission("R9002", sku=HOSTILE), NOW.subtract(minutes=5))
    async with opened(svc, "alice", size=(120, 90)) as (app, pilot):
        screen = await shown(pilot, app)
        assert HOSTILE in [s.sku for s in screen.figures.skus]
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in text and "␛[31mred" in text


def _submission(rid: str, sku: str) -> d.Submission:
    return d.Submission(
        id=rid, order_id="O" + rid, shop="acme", type="refund", buyer="Ana", product="Mug",
        sku=sku, quantity=1, amount="9.99", currency="USD", reason="damaged", note="",
    )  # fmt: skip


def at_insights():
    async def run_before(pilot) -> None:
        await loaded(pilot, pilot.app)
        await shown(pilot, pilot.app)
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize(
    "who, size", [("alice", (80, 24)), ("sam", (120, 36))], ids=["alice_80x24", "sam_120x36"]
)
def test_snapshot(snap_compare, svc, who, size):
    app = console(svc, who, FakeClock())
    assert snap_compare(app, terminal_size=size, run_before=at_insights())


async def test_i_is_in_the_help_and_the_palette(svc):
    async with opened(svc, "sam") as (app, pilot):
        assert ("i", "Insights") in app.main.key_rows()
        titles = [c.title for c in app.get_system_commands(app.main)]
        assert "Insights" in titles
