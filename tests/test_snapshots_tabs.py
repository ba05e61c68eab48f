"""Snapshots of the console's six tabs at 120×36: a seeded database, a fixed clock, UTC.

After a deliberate change: `pytest tests/test_snapshots_tabs.py --snapshot-update`, then look
at the SVGs in tests/__snapshots__/test_snapshots_tabs/ before committing."""

from __future__ import annotations

import pytest

from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    FakeClock,
    console,
    loaded,
    seeded_svc,
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
