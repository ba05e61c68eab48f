"""Snapshots of each dialog at 120×36 over a plain host screen, with fixed data in UTC.

Update them after a deliberate change with `pytest tests/test_snapshots_dialogs.py
--snapshot-update`, and look at the SVGs before committing."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from returns_tui import domain as d
from returns_tui.screens.confirm import ConfirmScreen
from returns_tui.screens.help import HelpScreen
from returns_tui.screens.mediate import MediateScreen
from returns_tui.screens.note import NoteScreen
from returns_tui.screens.records import RecordsScreen
from returns_tui.screens.reject import RejectScreen
from tests.dialog_data import APPEALED, DECIDED, KEYS, RECORDS, Host

SIZE = (120, 36)
RULES = d.Rules()


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


async def steady(pilot) -> None:
    """No blinking cursor: a snapshot must not depend on the moment it is taken."""
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def test_confirm(snap_compare):
    dialog = ConfirmScreen(
        "Accept R100234?", "Refund 34.99 USD to Ana Lima [bold]now[/].", "Accept"
    )
    assert snap_compare(Host(dialog), terminal_size=SIZE, run_before=steady)


def test_reject_empty(snap_compare):
    assert snap_compare(Host(RejectScreen("R100234", RULES)), terminal_size=SIZE, run_before=steady)


def test_reject_reason_list_open(snap_compare):
    assert snap_compare(
        Host(RejectScreen("R100234", RULES)), press=["enter"], terminal_size=SIZE, run_before=steady
    )


def test_reject_refused_other_without_note(snap_compare):
    async def run_before(pilot) -> None:
        pilot.app.screen.query_one("#reason", Select).value = "other"
        await steady(pilot)
        await pilot.press("enter")

    assert snap_compare(
        Host(RejectScreen("R100234", RULES)), terminal_size=SIZE, run_before=run_before
    )


def test_records(snap_compare):
    dialog = RecordsScreen("R100234", DECIDED, RULES, tz="UTC")
    assert snap_compare(Host(dialog), terminal_size=SIZE, run_before=steady)


def test_note_typed(snap_compare):
    async def run_before(pilot) -> None:
        await steady(pilot)
        await pilot.press(*"Called the buyer; photo follows.")

    assert snap_compare(Host(NoteScreen("R100234")), terminal_size=SIZE, run_before=run_before)


def test_mediate_refused_without_decision(snap_compare):
    async def run_before(pilot) -> None:
        await steady(pilot)
        await pilot.press("tab", *"photo is clear", "enter")

    dialog = MediateScreen(APPEALED, RECORDS, tz="UTC")
    assert snap_compare(Host(dialog), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare):
    assert snap_compare(Host(HelpScreen(KEYS)), terminal_size=SIZE, run_before=steady)
