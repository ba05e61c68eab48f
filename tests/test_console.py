"""The console driven as a person drives it: keys in, then what the screen shows and what the
database holds. A real SQLite file per test, a clock that moves only when the test says."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from returns_tui import domain as d
from returns_tui.money import format_amount, grouped_amount
from returns_tui.screens.main import ConsoleScreen
from returns_tui.settings import Settings
from returns_tui.store.queries import DEFAULT_SORT
from returns_tui.widgets.banner import Banner
from returns_tui.widgets.detail import DetailPanel
from returns_tui.widgets.status_line import StatusLine, at_stake
from returns_tui.widgets.tab_bar import TabBar, short_count
from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    HOSTILE,
    NOW,
    FakeClock,
    dismiss,
    footer_text,
    loaded,
    new_service,
    opened,
    opens,
    screen_text,
    seed,
    seeded_svc,
    submit,
    table_ids,
    toasts,
    wait_for,
)


def tab_labels(app) -> list[str]:
    return app.main.query_one(TabBar).labels()


def status_line(app) -> str:
    return str(app.main.query_one(StatusLine).content)


def detail_text(app) -> str:
    return str(app.main.query_one(DetailPanel).content)


def request(svc, rid: str, who: str = "alice") -> d.Request:
    """The request as `who` reads it from the database."""
    return svc.get(svc.login(who), rid)


def records(svc, rid: str, who: str = "alice") -> list[d.Record]:
    """The request's records as `who` reads them from the database."""
    return svc.records(svc.login(who), rid)


async def goto(pilot, app, key: str) -> None:
    await pilot.press(key)
    await loaded(pilot, app)


async def highlight(pilot, app, rid: str) -> None:
    table = app.main.table
    table.move_cursor(row=table.ids.index(rid))
    await wait_for(pilot, lambda: app.main.detail and app.main.detail.request.id == rid)


# ---------------------------------------------------------------------------------------------
# The tabs


async def test_tabs_show_counts_and_each_tab_its_rows_in_its_order(svc):
    alice = svc.login("alice")
    async with opened(svc, "alice") as (app, pilot):
        assert tab_labels(app) == [
            "1 All 16",
            "2 To Proceed 6",
            "3 In Process 3",
            "4 Completed 3",
            "5 Closed 2",
            "6 Appeals 2",
        ]
        for key, tab in zip("123456", [t for t in d.Tab], strict=True):
            await goto(pilot, app, key)
            expected = [r.id for r in svc.page(alice, tab, app.main.sorts[tab])]
            assert table_ids(app) == expected, tab
            assert app.main.tab is tab
        # To Proceed: the most urgent first; Appeals: the oldest appeal first.
        await goto(pilot, app, "2")
        assert table_ids(app) == ["R1007", "R1006", "R1008", "R1004", "R1003", "R1002"]
        assert "row 1 of 6" in status_line(app)
        assert "most urgent first" in status_line(app)
        await goto(pilot, app, "6")
        assert table_ids(app) == ["R1021", "R1019"]
        text = screen_text(app)
        assert "Appeals 2" in text and "R1021" in text


async def test_a_click_on_a_tab_shows_it(svc):
    async with opened(svc, "alice") as (app, pilot):
        bar = screen_text(app).splitlines()[1]
        for label, tab in (("4 Completed 3", d.Tab.COMPLETED), ("1 All 16", d.Tab.ALL)):
            column = bar.index(label) + 2
            await pilot.click(TabBar, offset=(column, 0))
            await wait_for(pilot, lambda tab=tab: app.main.tab is tab, what=f"{tab} clicked")
            await loaded(pilot, app)
            assert app.main.query_one(TabBar).active is tab  # the one underlined
        # Past the last tab: nothing.
        await pilot.click(TabBar, offset=(len(bar.rstrip()) + 5, 0))
        await pilot.pause(0.1)
        assert app.main.tab is d.Tab.ALL


async def test_the_header_keeps_the_clock_in_sight_and_gives_up_the_last_read_first(svc):
    clock = NOW.format("YYYY-MM-DD HH:mm") + " UTC"
    async with opened(svc, "alice", FakeClock(), size=(120, 36)) as (app, pilot):
        top = screen_text(app).splitlines()[0]
        assert "alice (operator) │ shop acme │ " + clock in top and "refreshed" in top
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "refreshed" not in screen_text(app).splitlines()[0])
        assert clock in screen_text(app).splitlines()[0]
        await pilot.resize_terminal(40, 24)  # the left part is cut, the clock stays
        await wait_for(pilot, lambda: "…" in screen_text(app).splitlines()[0])
        assert screen_text(app).splitlines()[0].rstrip().endswith(clock)


async def test_at_80_columns_every_tab_stays_in_sight_without_its_key_number(svc):
    full = ["All 16", "To Proceed 6", "In Process 3", "Completed 3", "Closed 2", "Appeals 2"]
    async with opened(svc, "alice", size=(80, 24)) as (app, pilot):
        await goto(pilot, app, "6")  # the last tab: Textual scrolls the bar to show it
        bar = screen_text(app).splitlines()[1]
        assert [name for name in full if name in bar] == full, bar
        assert tab_labels(app) == full  # the keys went; the footer still names them
        await pilot.resize_terminal(120, 36)
        await wait_for(pilot, lambda: tab_labels(app)[0] == "1 All 16", what="the keys back")
        assert tab_labels(app)[-1] == "6 Appeals 2"


async def test_at_80_columns_counts_of_a_million_are_shortened_not_cut(svc):
    counts = {d.Tab.ALL: 1_000_000, d.Tab.TO_PROCEED: 166_627, d.Tab.IN_PROCESS: 65_004,
              d.Tab.COMPLETED: 407_555, d.Tab.CLOSED: 260_804, d.Tab.APPEALS: 9_999}  # fmt: skip
    short = ["All 1.0M", "To Proceed 167k", "In Process 65k", "Completed 408k", "Closed 261k",
             "Appeals 10k"]  # fmt: skip
    async with opened(svc, "alice", size=(80, 24)) as (app, pilot):
        app.main.query_one(TabBar).set_counts(counts)
        await pilot.pause()
        assert tab_labels(app) == short
        bar = screen_text(app).splitlines()[1]
        assert [name for name in short if name in bar] == short, bar
        await pilot.resize_terminal(200, 50)  # room for them whole, with their keys
        await wait_for(pilot, lambda: tab_labels(app)[0] == "1 All 1,000,000")
        assert tab_labels(app)[-1] == "6 Appeals 9,999"


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0"), (999, "999"), (1_000, "1.0k"), (1_234, "1.2k"), (9_949, "9.9k"),
     (9_950, "10k"), (166_627, "167k"), (999_499, "999k"), (999_500, "1.0M"),
     (9_949_999, "9.9M"), (9_950_000, "10M"), (123_456_789, "123M"), (10**10, "10000M")],
)  # fmt: skip
def test_a_short_count_keeps_its_magnitude_in_four_characters(count, shown):
    assert short_count(count) == shown and (len(shown) <= 4 or count >= 10**9)


async def test_an_agent_sees_every_shop_with_a_shop_column_and_the_appeal_details(svc):
    async with opened(svc, "sam") as (app, pilot):
        assert "6 Appeals 3" in tab_labels(app)
        await goto(pilot, app, "6")
        assert table_ids(app) == ["R1021", "R1020", "R1019"]
        text = screen_text(app)
        assert "Shop" in text and "globex" in text
        await wait_for(pilot, lambda: "appealed" in detail_text(app))
        detail = detail_text(app)
        assert "The photos show a different item." in detail
        assert "Item is not as the buyer claims" in detail
        assert "appealed 2026-11-19 21:00 UTC" in detail
        # Keys an agent may not use are not shown and do nothing.
        footer = await footer_text(pilot, app)
        assert "Mediate" in footer and "Accept" not in footer and "Reject" not in footer
        await pilot.press("a", "r", "c", "space", "A")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConsoleScreen)
        assert app.main.table.marked == set()


async def test_the_detail_panel_shows_the_deadline_in_local_time_and_the_buyers_options(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        detail = detail_text(app)
        assert "R1007" in detail and "Ben Okafor" in detail and "arrived damaged" in detail
        assert "Answer by 2026-11-21 12:48 UTC (3h 48m, auto-approved then)" in detail
        await goto(pilot, app, "5")
        await highlight(pilot, app, "R1016")
        detail = detail_text(app)
        assert "No photo of the damage." in detail
        assert "The buyer may submit a second request or appeal." in detail


async def test_countdowns_repaint_each_second_and_turn_colour(svc):
    clock = FakeClock()
    async with opened(svc, "alice", clock) as (app, pilot):
        await goto(pilot, app, "2")
        table = app.main.table
        cell = table.get_cell("R1007", "due")
        assert cell.plain == "3h 48m" and "reverse" in str(cell.style)  # urgent: under 6 h
        assert "reverse" not in str(table.get_cell("R1008", "due").style)
        assert "bold" in str(table.get_cell("R1008", "due").style)  # warning: under 24 h...
        assert table.get_cell("R1002", "due").style in ("", None)  # ...not at 44 h
        clock.advance(hours=2, minutes=47)
        await wait_for(pilot, lambda: table.get_cell("R1007", "due").plain == "1h 01m")
        clock.advance(minutes=2)
        await wait_for(pilot, lambda: table.get_cell("R1007", "due").plain == "59m 00s")


# ---------------------------------------------------------------------------------------------
# The actions


async def test_accept_asks_first_then_the_request_moves_and_the_counts_change(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        assert app.main.table.highlighted_id == "R1007"
        await opens(pilot, app, "a", "ConfirmScreen")
        assert "Accept request R1007?" in screen_text(app)
        assert "59.79 USD is refunded to Ben Okafor now; the buyer keeps Wool scarf." in (
            screen_text(app)
        )
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert request(svc, "R1007").status is d.Status.PENDING
        await opens(pilot, app, "a", "ConfirmScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "R1007" not in table_ids(app))
        await wait_for(pilot, lambda: "2 To Proceed 5" in tab_labels(app))
        assert "4 Completed 4" in tab_labels(app)
        assert "R1007 accepted." in toasts(app)
        req = request(svc, "R1007")
        assert req.status is d.Status.COMPLETED  # a refund: completed at once
        rec = records(svc, "R1007")[-1]
        assert (rec.kind, rec.actor, rec.at) == (d.Kind.ACCEPTED, "alice", NOW)


async def test_reject_checks_the_note_in_the_dialog_then_rejects(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        dialog = await opens(pilot, app, "r", "RejectScreen")
        dialog.query_one("#reason", Select).value = "other"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "note is required" in dialog.error_text)
        dialog.query_one("#note-input", Input).value = "x" * 501
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "501 characters" in dialog.error_text)
        assert app.screen is dialog  # still open: nothing reached the database
        assert request(svc, "R1007").status is d.Status.PENDING
        dialog.query_one("#note-input", Input).value = "Not sold by us"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "R1007" not in table_ids(app))
        assert "R1007 rejected." in toasts(app)
        # The counts are their own read; they may land a moment after the rows.
        await wait_for(pilot, lambda: "5 Closed 3" in tab_labels(app))
        rec = records(svc, "R1007")[-1]
        assert rec.kind is d.Kind.REJECTED
        assert rec.details == {"reason": "other", "note": "Not sold by us"}


async def test_reject_dialog_cancelled_changes_nothing(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        await opens(pilot, app, "r", "RejectScreen")
        await dismiss(pilot, app)
        assert request(svc, "R1007").status is d.Status.PENDING
        assert table_ids(app)[0] == "R1007"


async def test_view_records_shows_the_timeline(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "6")
        await opens(pilot, app, "v", "RecordsScreen")
        text = screen_text(app)
        assert "R1021" in text and "The photos show a different item." in text
        await dismiss(pilot, app)
        await opens(pilot, app, "enter", "RecordsScreen")  # Enter on a row opens its records too


async def test_confirm_receipt_completes_a_shipped_return(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "3")
        await highlight(pilot, app, "R1009")
        await opens(pilot, app, "c", "ConfirmScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "R1009" not in table_ids(app))
        assert request(svc, "R1009").status is d.Status.COMPLETED
        assert records(svc, "R1009")[-1].kind is d.Kind.RECEIVED
        # A request that was not shipped cannot be received: refused in a toast at once, with
        # no dialog promising a refund, and no change.
        await highlight(pilot, app, "R1012")
        await pilot.press("c")
        await wait_for(pilot, lambda: any("cannot be received" in t for t in toasts(app)))
        assert app.screen is app.main
        assert request(svc, "R1012").status is d.Status.AWAITING_BUYER_SHIP
        # The same for accept and reject on a request they cannot start from.
        for key, verb in (("a", "accepted"), ("r", "rejected")):
            await pilot.press(key)
            await wait_for(pilot, lambda v=verb: any(f"cannot be {v}" in t for t in toasts(app)))
            assert app.screen is app.main, key
    async with opened(svc, "sam") as (app, pilot):  # and mediate, for an agent
        await highlight(pilot, app, "R1007")  # pending: not an appeal
        await pilot.press("m")
        await wait_for(pilot, lambda: any("cannot be mediated" in t for t in toasts(app)))
        assert app.screen is app.main


async def test_add_note(svc):
    async with opened(svc, "alice") as (app, pilot):
        await opens(pilot, app, "n", "NoteScreen")
        await pilot.press(*"called")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "R1002 noted." in toasts(app))
        rec = records(svc, "R1002")[-1]
        assert (rec.kind, rec.details["note"]) == (d.Kind.NOTED, "called")


async def test_agent_mediates_an_appeal_through_the_dialog(svc):
    async with opened(svc, "sam") as (app, pilot):
        await goto(pilot, app, "6")
        assert app.main.table.highlighted_id == "R1021"
        dialog = await opens(pilot, app, "m", "MediateScreen")
        dialog.query_one("#buyer").value = True
        dialog.query_one("#note-input", Input).value = "The photo shows the crack."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "R1021" not in table_ids(app))
        req = request(svc, "R1021", "sam")
        assert req.status is d.Status.AWAITING_BUYER_SHIP
        assert req.arbitration is d.Arbitration.SUPPORT_BUYER
        rec = records(svc, "R1021", "sam")[-1]
        assert rec.details == {"decision": "buyer", "note": "The photo shows the crack."}
        await wait_for(pilot, lambda: "6 Appeals 2" in tab_labels(app))
        await goto(pilot, app, "3")
        assert "R1021" in table_ids(app)


async def test_operators_have_no_mediate_key_and_admins_are_read_only(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "6")
        assert "Mediate" not in await footer_text(pilot, app)
        await pilot.press("m")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConsoleScreen)
    async with opened(svc, "root-admin") as (app, pilot):
        footer = await footer_text(pilot, app)
        for word in ("Accept", "Reject", "Receipt", "Note", "Mediate", "Mark"):
            assert word not in footer
        assert "Search" in footer and "Sort" in footer and "Help" in footer
        await goto(pilot, app, "2")
        await pilot.press("a", "r", "c", "n", "m", "space", "A")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConsoleScreen)
        assert request(svc, "R1001", "root-admin").status is d.Status.PENDING


async def test_search_filters_rows_and_counts_and_escape_clears_it(svc):
    async with opened(svc, "alice") as (app, pilot):
        await pilot.press("slash")
        await pilot.press(*"trail")
        assert table_ids(app)[0] == "R1002"  # typing does not search yet
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.search == "trail")
        await loaded(pilot, app)
        assert set(table_ids(app)) == {"R1003", "R1009", "R1015", "R1021"}
        assert "1 All 4" in tab_labels(app)
        assert "search: trail" in status_line(app)
        for text, ids in (("R1012", {"R1012"}), ("O1004", {"R1004"}), ("1Z0011TRACK", {"R1011"})):
            await pilot.press("slash")
            app.main.query_one("#search", Input).value = text
            await pilot.press("enter")
            await wait_for(pilot, lambda t=text: app.main.search == t)
            await loaded(pilot, app)
            assert set(table_ids(app)) == ids
        await pilot.press("slash", "escape")
        await wait_for(pilot, lambda: app.main.search == "")
        await loaded(pilot, app)
        assert len(table_ids(app)) == 16
        # Esc clears a search from the table too, once Enter gave it the keys back.
        await pilot.press("slash", *"trail", "enter")
        await wait_for(pilot, lambda: app.main.search == "trail")
        assert app.main.table.has_focus
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.main.search == "")
        await loaded(pilot, app)
        assert len(table_ids(app)) == 16 and not app.main.query_one("#search").display


async def test_sort_cycles_through_the_orders(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        urgent = table_ids(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: "newest first" in status_line(app))
        await loaded(pilot, app)
        assert table_ids(app) == ["R1002", "R1003", "R1004", "R1008", "R1006", "R1007"]
        await pilot.press("s")
        await wait_for(pilot, lambda: "oldest first" in status_line(app))
        await loaded(pilot, app)
        assert table_ids(app) == list(
            reversed(["R1002", "R1003", "R1004", "R1008", "R1006", "R1007"])
        )
        await pilot.press("s", "s")
        await wait_for(pilot, lambda: "most urgent first" in status_line(app))
        await loaded(pilot, app)
        assert table_ids(app) == urgent


async def test_accept_marked_asks_only_for_those_still_acceptable_and_lists_them(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        await pilot.press("space", "space", "space", "space")
        assert app.main.table.marked == {"R1007", "R1006", "R1008", "R1004"}
        assert "4 marked" in status_line(app)
        assert app.main.table.get_cell("R1006", "mark").plain == "●"
        await pilot.press("up", "space")  # unmark R1004
        assert app.main.table.marked == {"R1007", "R1006", "R1008"}
        # Meanwhile bob (another console) rejects one of them: asked for 3, 2 can be accepted.
        svc.reject(svc.login("bob"), "R1006", NOW, "no_proof")
        await opens(pilot, app, "A", "ConfirmScreen")
        text = screen_text(app)
        assert "Accept 2 of the 3 marked requests?" in text
        ready = [request(svc, rid) for rid in ("R1007", "R1008")]
        for r in ready:
            assert f"{r.id}  {r.buyer} · {r.product} · " in text
        total = format_amount(sum(r.amount_cents for r in ready), "USD")
        assert f"Total: {total} USD" in text
        assert "1 of the 3 marked can no longer be accepted and is left out:" in text
        assert "R1006 cannot be accepted: it is rejected" in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: "2 requests accepted." in toasts(app))
        assert not any("Refused" in t or "cannot" in t for t in toasts(app))
        await wait_for(pilot, lambda: not app.main.table.marked)
        assert request(svc, "R1007").status is d.Status.COMPLETED
        assert request(svc, "R1008").status is d.Status.AWAITING_BUYER_SHIP
        assert request(svc, "R1006").status is d.Status.REJECTED
        assert request(svc, "R1004").status is d.Status.PENDING


async def test_help_lists_the_keys_the_viewer_may_use(svc):
    async with opened(svc, "sam") as (app, pilot):
        await opens(pilot, app, "question_mark", "HelpScreen")
        text = screen_text(app)
        assert "Mediate" in text and "Search" in text
        assert "Accept marked" not in text
        await dismiss(pilot, app)
        rows = app.main.key_rows()
        assert rows[0] == ("1", "All")  # the console's keys first, none of every screen's
        assert not {"Focus Next", "Focus Previous", "Copy selected text"} & {d for _, d in rows}
        assert rows[-1][0] == "^c"  # written as the footer writes keys (^q, ^p)


async def test_keys_are_remapped_by_the_settings(svc):
    async with opened(
        svc, "alice", settings=Settings(poll_seconds=0.1, sweep_seconds=0.2, keys={"accept": "y"})
    ) as (app, pilot):
        await goto(pilot, app, "2")
        assert "y Accept" in await footer_text(pilot, app)
        await opens(pilot, app, "y", "ConfirmScreen")


async def test_the_palette_offers_every_allowed_action_and_no_screenshot(svc):
    async with opened(svc, "alice") as (app, pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Accept request",
            "Reject request",
            "View return records",
            "Confirm receipt",
            "Add note",
            "Search",
            "Cycle sort",
            "Mark row",
            "Accept marked",
            "Help",
            "Tab: Appeals",
            "Quit",
        ):
            assert title in titles
        assert "Screenshot" not in titles and "Mediate appeal" not in titles
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"reject r")
        await pilot.pause(0.3)
        await opens(pilot, app, "enter", "RejectScreen")
    async with opened(svc, "sam") as (app, pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Mediate appeal" in titles and "Accept request" not in titles


async def test_ctrl_q_quits(svc):
    async with opened(svc, "alice") as (app, pilot):
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
        assert not app.is_running


# ---------------------------------------------------------------------------------------------
# Outside text, time, paging, other people, the database going away


async def test_buyer_text_is_shown_literally_and_clicking_it_does_nothing(svc):
    submit(svc, "R2000", NOW.subtract(hours=1), buyer="[@click=app.quit]x[/]", note=HOSTILE)
    async with opened(svc, "alice") as (app, pilot):
        assert table_ids(app)[0] == "R2000"
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in text
        assert "[@click=app.quit]x[/] [bold] [00] ␛[31mred" in text  # ESC as its picture
        assert "\x1b" not in detail_text(app)
        # Click on the buyer's name in the table, then on the note in the detail panel.
        line = text.splitlines().index(
            next(x for x in text.splitlines() if "R2000" in x and "[@click" in x)
        )
        col = text.splitlines()[line].index("[@click")
        await pilot.click(offset=(col + 2, line))
        note_line = next(i for i, x in enumerate(text.splitlines()) if "[bold]" in x)
        await pilot.click(offset=(text.splitlines()[note_line].index("[@click") + 2, note_line))
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        await goto(pilot, app, "2")  # still answering keys


async def test_a_request_reaching_its_deadline_is_auto_approved_while_the_console_is_open(svc):
    clock = FakeClock()
    async with opened(svc, "alice", clock) as (app, pilot):
        await goto(pilot, app, "2")
        assert "R1007" in table_ids(app) and "2 To Proceed 6" in tab_labels(app)
        deadline = request(svc, "R1007").respond_by  # NOW + 3h 48m
        # An hour before: warned once, however many sweeps run.
        clock.at = deadline.subtract(minutes=59)
        await wait_for(
            pilot, lambda: any("R1007 will be auto-approved in 59m" in t for t in toasts(app))
        )
        await pilot.pause(0.5)
        assert sum("R1007" in t and "will be" in t for t in toasts(app)) == 1
        clock.at = deadline.add(minutes=1)
        await wait_for(pilot, lambda: "R1007" not in table_ids(app), what="the row to leave")
        await wait_for(pilot, lambda: "2 To Proceed 5" in tab_labels(app))
        assert "4 Completed 4" in tab_labels(app)
        assert any("R1007 was auto-approved" in t for t in toasts(app))
        rec = records(svc, "R1007")[-1]
        assert (rec.kind, rec.actor, rec.at) == (d.Kind.AUTO_APPROVED, "system", deadline)
        await pilot.press("4")
        await loaded(pilot, app)
        await highlight(pilot, app, "R1007")
        await opens(pilot, app, "v", "RecordsScreen")
        text = screen_text(app)
        assert "auto" in text.lower() and deadline.format("HH:mm") in text


async def test_a_rejection_shows_the_buyers_window_quietly_and_no_countdown_once_it_closed(svc):
    clock = FakeClock()
    async with opened(svc, "alice", clock) as (app, pilot):
        await goto(pilot, app, "5")
        await highlight(pilot, app, "R1016")  # rejected 43 h ago: the buyer has 5 h left
        table = app.main.table
        cell = table.get_cell("R1016", "due")
        # Under 6 h, yet not urgent: the window is the buyer's, not the seller's to answer.
        assert (cell.plain, str(cell.style)) == ("5h 00m", "dim")
        assert "Buyer may act until" in detail_text(app)
        assert "(5h 00m)" in detail_text(app)
        clock.advance(hours=6)
        # "(passed)" at the next tick; once the detail is read again, no deadline line at all.
        await wait_for(
            pilot,
            lambda: "(passed)" in detail_text(app) or "resubmit has closed" in detail_text(app),
            what="the window to close",
        )
        # The row says it too, at its own tick (the detail may be read again before it).
        await wait_for(
            pilot, lambda: table.get_cell("R1016", "due").plain == "—", what="the row's dash"
        )  # not "due": nothing will happen


async def test_a_busy_desk_is_warned_about_the_soonest_and_forgets_passed_deadlines(
    svc, monkeypatch
):
    from returns_tui.screens import live_feed

    monkeypatch.setattr(live_feed, "DUE_SOON_READ", 3)
    for i in range(4):  # due 30, 31, 32 and 33 minutes from now
        submit(svc, f"Q{i}", NOW.subtract(hours=47, minutes=30 - i), n=100 + i)
    clock = FakeClock()
    async with opened(svc, "alice", clock) as (app, pilot):
        await wait_for(pilot, lambda: any("Q0, Q1, Q2 and more" in t for t in toasts(app)))
        assert set(app.main._warned) == {"Q0", "Q1", "Q2"}  # only the soonest were read
        clock.at = NOW.add(minutes=34)  # all passed: approved, and forgotten
        await wait_for(pilot, lambda: request(svc, "Q3").status is not d.Status.PENDING)
        await wait_for(pilot, lambda: not app.main._warned, what="passed deadlines forgotten")


@pytest.fixture
def long_tab(svc, monkeypatch) -> list[str]:
    """All of alice's tab in windows of 10 rows: 51 requests, their ids in the tab's order."""
    monkeypatch.setattr(ConsoleScreen, "page_size", 10)
    start = NOW.subtract(hours=40)
    for i in range(35):
        submit(svc, f"P{i:03d}", start.add(minutes=i), n=i)
    alice = svc.login("alice")
    everything = [r.id for r in svc.page(alice, d.Tab.ALL, app_sort(), limit=1000)]
    assert len(everything) == 51
    return everything


async def test_paging_through_a_long_tab_with_keyset_windows(svc, long_tab):
    everything = long_tab
    async with opened(svc, "alice") as (app, pilot):
        table = app.main.table
        assert table_ids(app) == everything[:10] and table.row_count == 10
        table.move_cursor(row=9)
        await pilot.press("down")  # past the window: the next page, cursor on its first row
        await wait_for(pilot, lambda: table_ids(app) == everything[10:20])
        assert table.highlighted_id == everything[10]
        assert "row 11 of 51" in status_line(app)
        await pilot.press("up")  # back before the window
        await wait_for(pilot, lambda: table_ids(app) == everything[:10])
        assert table.highlighted_id == everything[9]
        await pilot.press("end")
        await wait_for(pilot, lambda: table_ids(app) == everything[-10:])
        assert table.highlighted_id == everything[-1]
        assert "row 51 of 51" in status_line(app)
        await pilot.press("pageup")
        await wait_for(pilot, lambda: table.cursor_row == 0)
        await pilot.press("pageup")
        await wait_for(pilot, lambda: table_ids(app) == everything[31:41])
        await pilot.press("home")
        await wait_for(pilot, lambda: table_ids(app) == everything[:10])
        assert "row 1 of 51" in status_line(app)
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: table.cursor_row == 9)
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: table_ids(app)[:1] == everything[10:11])


async def test_an_edge_message_about_a_window_no_longer_shown_is_one_step(svc, long_tab):
    """The table posts EdgeReached at its window's edge; on a busy machine the next window
    may be shown before the screen reads a second one the table posted about the first (keys
    reach it one at a time). That one is a step from where the cursor is now: it read a whole
    window more (row 201 for 105 in tmux), or lost the step going up."""
    from returns_tui.widgets.request_table import RequestTable

    everything = long_tab
    async with opened(svc, "alice") as (app, pilot):
        table = app.main.table
        table.move_cursor(row=9)
        await pilot.press("down")
        await wait_for(pilot, lambda: table_ids(app) == everything[10:20])
        assert table.highlighted_id == everything[10]
        # The second ↓ pressed at the first window's last row, read late.
        table.post_message(RequestTable.EdgeReached("next", 0, everything[9]))
        await wait_for(pilot, lambda: table.highlighted_id == everything[11])
        await pilot.pause(0.2)
        assert table_ids(app) == everything[10:20] and "row 12 of 51" in status_line(app)
        # Going up: back to the first window, then an ↑ posted at the second's first row.
        await pilot.press("up", "up")
        await wait_for(pilot, lambda: table_ids(app) == everything[:10])
        assert table.highlighted_id == everything[9]
        table.post_message(RequestTable.EdgeReached("previous", 0, everything[10]))
        await wait_for(pilot, lambda: table.highlighted_id == everything[8])
        assert "row 9 of 51" in status_line(app)


def app_sort():
    from returns_tui.store.queries import DEFAULT_SORT

    return DEFAULT_SORT[d.Tab.ALL]


async def test_others_changes_appear_without_a_key_and_the_cursor_keeps_its_row(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        await highlight(pilot, app, "R1004")
        # Someone else accepts the first row and a buyer submits a new, more urgent request.
        svc.accept(svc.login("bob"), "R1007", NOW)
        submit(svc, "R3000", NOW.subtract(hours=47), n=3)
        await wait_for(pilot, lambda: table_ids(app)[:2] == ["R3000", "R1006"], timeout=2)
        assert app.main.table.highlighted_id == "R1004"
        assert app.main.detail.request.id == "R1004"
        await wait_for(pilot, lambda: "2 To Proceed 6" in tab_labels(app), timeout=2)


async def test_a_lost_database_shows_a_banner_and_the_console_recovers(svc):
    from sqlalchemy import event

    broken = {"on": False}

    @event.listens_for(svc.engine, "before_cursor_execute")
    def _fail(conn, cursor, statement, params, context, executemany):
        if broken["on"]:
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")

    async with opened(svc, "alice") as (app, pilot):
        banner = app.main.query_one(Banner)
        assert not banner.shown
        broken["on"] = True
        await pilot.press("2")
        await wait_for(pilot, lambda: banner.shown)
        assert "Database unreachable" in screen_text(app) and "retrying" in screen_text(app)
        await opens(pilot, app, "a", "ConfirmScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Nothing was changed" in t for t in toasts(app)))
        broken["on"] = False
        svc.accept(svc.login("bob"), "R1008", NOW)
        await wait_for(pilot, lambda: not banner.shown, timeout=3)
        await loaded(pilot, app)
        assert "R1008" not in table_ids(app) and app.is_running


async def test_after_a_second_request_the_first_cannot_be_appealed_times_in_the_viewers_zone(
    svc,
):
    alice = svc.login("alice")
    svc.reject(alice, "R1002", NOW, "no_proof")
    submit(svc, "R1002B", NOW.add(minutes=5), order="O1002", n=2)
    async with opened(svc, "alice", FakeClock(NOW.add(minutes=6)), tz="Asia/Tokyo") as (app, pilot):
        await goto(pilot, app, "5")
        await highlight(pilot, app, "R1002")
        detail = detail_text(app)
        assert "The buyer can no longer appeal this request." in detail
        assert "Buyer may act until" not in detail  # the window is not theirs to use any more
        assert "2026-11-21 18:00 +09" in detail  # rejected at 09:00 UTC, with its offset


# ---------------------------------------------------------------------------------------------
# Issue 10 (console side): the table, the status line, the dialogs


async def test_opening_the_search_bar_keeps_every_column_at_120(svc):
    async with opened(svc, "sam", size=(120, 36)) as (app, pilot):
        header = next(line for line in screen_text(app).splitlines() if "Request" in line)
        assert "Order" in header
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.main.query_one("#search").has_focus)
        await pilot.pause(0.1)
        header = next(line for line in screen_text(app).splitlines() if "Request" in line)
        assert "Order" in header and "Deadline" in header, header
        assert app.main.table.size.width == 120


async def test_a_superseded_rejection_counts_nothing_down(svc):
    # R1016 was rejected; the buyer's second request on its order supersedes it: the buyer
    # can no longer appeal R1016, so neither its row nor its detail counts a window down.
    submit(svc, "R2016", NOW.subtract(hours=1), order="O1016", n=3)
    async with opened(svc, "sam") as (app, pilot):
        await goto(pilot, app, "5")
        table = app.main.table
        assert table.get_cell("R1018", "due").plain.endswith("m")  # rejected, not superseded
        assert table.get_cell("R1016", "due").plain == "—"
        await highlight(pilot, app, "R1016")
        shown = detail_text(app)
        assert "can no longer appeal" in shown
        assert "Buyer may act until" not in shown


async def test_the_screens_show_labels_never_codes(svc):
    from returns_tui.screens.mediate import case_rows

    async with opened(svc, "sam") as (app, pilot):
        await goto(pilot, app, "6")
        table = app.main.table
        assert table.get_cell("R1019", "type").plain == "return and refund"
        await highlight(pilot, app, "R1019")
        shown = detail_text(app)
        assert "reason arrived damaged" in shown
        assert "arbitration under way" in shown and "type return and refund" in shown
        for code in ("in_progress", "return_and_refund", "in_mediation", "damaged "):
            assert code not in shown.replace("arrived damaged", ""), code
        rows = dict(case_rows(request(svc, "R1019", "sam"), [], svc.rules, "UTC"))
        assert rows["Buyer's reason"].startswith("arrived damaged: ")
        assert rows["Request"].endswith("return and refund")


def stake(svc, who: str, tab: d.Tab, search: str = "") -> str:
    """The money of a view per currency, summed here from the rows themselves."""
    sums: dict[str, int] = {}
    actor = svc.login(who)
    for row in svc.page(actor, tab, DEFAULT_SORT[tab], search, limit=1000):
        sums[row.currency] = sums.get(row.currency, 0) + row.amount_cents
    return ", ".join(f"{grouped_amount(sums[cur], cur)} {cur}" for cur in sorted(sums))


def test_the_money_at_stake_groups_its_thousands_in_each_currencys_digits():
    assert at_stake({"BRL": 1_575_651_532, "JPY": 123_456_700, "USD": 999}) == (
        "15,756,515.32 BRL, 1,234,567 JPY, 9.99 USD"
    )


async def test_the_status_line_says_the_money_at_stake_per_currency(svc):
    async with opened(svc, "sam") as (app, pilot):
        await goto(pilot, app, "2")
        expected = stake(svc, "sam", d.Tab.TO_PROCEED)
        assert "EUR" in expected and "USD" in expected  # two currencies, never added up
        await wait_for(pilot, lambda: f"at stake {expected}" in status_line(app))
        await goto(pilot, app, "4")
        expected = stake(svc, "sam", d.Tab.COMPLETED)
        await wait_for(pilot, lambda: f"at stake {expected}" in status_line(app))
        await goto(pilot, app, "1")
        await pilot.press("slash", *"ana", "enter")
        expected = stake(svc, "sam", d.Tab.ALL, "ana")
        assert expected != stake(svc, "sam", d.Tab.ALL)
        await wait_for(pilot, lambda: f"search: ana · at stake {expected}" in status_line(app))


async def test_a_search_paste_too_long_is_cut_and_says_why(svc):
    from textual import events

    async with opened(svc, "alice") as (app, pilot):
        await pilot.press("slash")
        bar = app.main.query_one("#search", Input)
        await wait_for(pilot, lambda: bar.has_focus)
        bar.post_message(events.Paste("R1007 " + "x" * 250))
        await wait_for(pilot, lambda: bar.value)
        assert bar.value == ("R1007 " + "x" * 250)[:200]
        said = [t for t in toasts(app) if "at most 200 characters" in t]
        assert said == [
            "A search holds at most 200 characters: the last 56 of what was pasted were left out."
        ]


async def test_accept_and_next_accepts_then_highlights_the_row_below(svc):
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        table = app.main.table
        first, second, third = table.ids[:3]
        await opens(pilot, app, "y", "ConfirmScreen")
        assert f"Accept request {first}?" in screen_text(app)
        await dismiss(pilot, app, "enter")
        await wait_for(pilot, lambda: f"{first} accepted." in toasts(app))
        await loaded(pilot, app)
        # The accepted row left To Proceed; the next one is highlighted, and goes next.
        await wait_for(pilot, lambda: table.highlighted_id == second)
        await opens(pilot, app, "y", "ConfirmScreen")
        await dismiss(pilot, app, "enter")
        await wait_for(pilot, lambda: table.highlighted_id == third)
        assert request(svc, first).status is not d.Status.PENDING
        assert request(svc, second).status is not d.Status.PENDING
        assert request(svc, third).status is d.Status.PENDING
        # In All the accepted row stays: the cursor still moves to the one below it.
        await goto(pilot, app, "1")
        rows = table.ids
        pending = next(r for r in rows if request(svc, r).status is d.Status.PENDING)
        await highlight(pilot, app, pending)
        await opens(pilot, app, "y", "ConfirmScreen")
        await dismiss(pilot, app, "enter")
        await wait_for(pilot, lambda: f"{pending} accepted." in toasts(app))
        assert table.highlighted_id == rows[rows.index(pending) + 1]


async def test_export_writes_the_tab_or_search_to_a_new_file_and_says_where(svc, tmp_path):
    import csv

    path = tmp_path / "to-proceed.csv"
    async with opened(svc, "alice") as (app, pilot):
        await goto(pilot, app, "2")
        dialog = await opens(pilot, app, "e", "ExportScreen")
        assert "Export To Proceed" in screen_text(app)
        dialog.query_one("#path", Input).value = str(path)
        await dismiss(pilot, app, "enter")
        await wait_for(pilot, lambda: any("Exported" in t for t in toasts(app)))
        assert f"Exported 6 requests to {path}" in toasts(app)
        with path.open(newline="") as f:
            ids = [row["id"] for row in csv.DictReader(f)]
        assert sorted(ids) == sorted(table_ids(app))
        # A search: only what it finds. Then the refusals, each one line in the dialog.
        await pilot.press("slash", *"R1007", "enter")
        await loaded(pilot, app)
        dialog = await opens(pilot, app, "e", "ExportScreen")
        assert "Export To Proceed, search: R1007" in screen_text(app)
        field = dialog.query_one("#path", Input)
        field.value = str(path)
        await pilot.press("enter")
        assert dialog.error_text.endswith("already exists; choose another name.")
        field.value = str(tmp_path / "nowhere" / "x.jsonl")
        await pilot.press("enter")
        assert dialog.error_text.startswith("There is no folder ")
        field.value = str(tmp_path / "one.jsonl")
        await dismiss(pilot, app, "enter")
        one = f"Exported 1 request to {tmp_path / 'one.jsonl'}"
        await wait_for(pilot, lambda: one in toasts(app))
        lines = (tmp_path / "one.jsonl").read_text().splitlines()
        assert len(lines) == 1 and '"id": "R1007"' in lines[0]
