"""Snapshots of the console's six tabs at 120×36: a seeded database, a fixed clock, UTC.

After a deliberate change: `pytest tests/test_snapshots_tabs.py --snapshot-update`, then look
at the SVGs in tests/__snapshots__/test_snapshots_tabs/ before committing."""

from __future__ import annotations

import pytest

from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    T0,
    FakeClock,
    console,
    loaded,
    new_service,
    seed,
    seeded_svc,
    submit,
)

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


def at_tab(key: str):
    async def run_before(pilot) -> None:
        await loaded(pilot, pilot.app)
        await pilot.press(key)
        await loaded(pilot, pilot.app)
        await pilot.pause(0.1)
        await loaded(pilot, pilot.app)

    return run_before


@pytest.mark.parametrize(
    "key, who",
    [
        ("1", "alice"),
        ("2", "alice"),
        ("3", "alice"),
        ("4", "alice"),
        ("5", "alice"),
        ("6", "sam"),
    ],
    ids=["all", "to_proceed", "in_process", "completed", "closed", "appeals_agent"],
)
def test_tab(snap_compare, svc, key, who):
    app = console(svc, who, FakeClock())
    assert snap_compare(app, terminal_size=SIZE, run_before=at_tab(key))


@pytest.fixture
def long_tab(tmp_path):
    """The seeded requests and 60 more waiting for an answer: To Proceed holds more rows than
    a screen."""
    service = new_service(f"sqlite:///{tmp_path / 'long.db'}")
    seed(service)
    for i in range(60):
        submit(service, f"R{3000 + i}", T0.add(hours=2, minutes=7 * i), n=i)
    yield service
    service.engine.dispose()


def scrolled(downs: int):
    async def run_before(pilot) -> None:
        await at_tab("2")(pilot)
        await pilot.press(*["down"] * downs)
        await loaded(pilot, pilot.app)
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_a_scrolled_table_shows_its_highlighted_row(snap_compare, long_tab, size):
    """Past a screenful: the table has scrolled, the highlighted row is its last line."""
    app = console(long_tab, "alice", FakeClock())
    assert snap_compare(app, terminal_size=size, run_before=scrolled(25))
