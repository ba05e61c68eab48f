"""The request table as a user meets it: the mouse wheel and clicks, text cut to its column,
the countdowns that tick while the rows stay put, and a narrow terminal."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual import events

from returns_tui import domain as d
from returns_tui.money import format_amount
from returns_tui.screens.main import ConsoleScreen
from returns_tui.timefmt import countdown
from returns_tui.widgets.cells import amount_in, countdown_text, seconds_left
from returns_tui.widgets.request_table import fit
from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    NOW,
    FakeClock,
    loaded,
    new_service,
    opened,
    screen_text,
    seed,
    seeded_svc,
    submit,
    table_ids,
    wait_for,
)


@pytest.mark.parametrize(
    "text, width, shown",
    [
        ("Ana Lima", 10, "Ana Lima  "),
        ("Chloé Martin", 9, "Chloé Ma…"),
        ("山田太郎さん", 7, "山田太…"),  # two cells a character: the cut never splits one
        ("🙂🙂🙂", 4, "🙂 …"),
        ("", 3, "   "),
    ],
)
def test_a_cell_is_cut_to_exactly_its_width(text, width, shown):
    assert fit(text, width) == shown
    assert cell_len(fit(text, width)) == width
    assert cell_len(fit(text, width, right=True)) == width


STYLES = {"warning": "bold", "urgent": "reverse"}


@pytest.mark.parametrize(
    "status, hours, shown, style",
    [
        (d.Status.PENDING, 30, "30h 00m", ""),
        (d.Status.PENDING, 5, "5h 00m", "reverse"),  # under 6 h: urgent
        (d.Status.PENDING, -1, "due", "reverse"),  # the sweep moves it at once
        (d.Status.BUYER_SHIPPED, 20, "20h 00m", "bold"),  # under 24 h: a warning
        # A rejection's window is the buyer's: shown, never urgent, and gone once it closes.
        (d.Status.REJECTED, 5, "5h 00m", "dim"),
        (d.Status.REJECTED, -1, "—", "dim"),
        (d.Status.COMPLETED, 5, "—", "dim"),
    ],
)
def test_the_deadline_cell_warns_only_where_the_request_moves_by_itself(
    status, hours, shown, style
):
    text = countdown_text(NOW.add(hours=hours), status.value, NOW, STYLES)
    assert (text.plain, str(text.style)) == (shown, style)
    assert countdown_text(None, status.value, NOW, STYLES).plain == "—"


def wheel(table, down: bool = True) -> None:
    kind = events.MouseScrollDown if down else events.MouseScrollUp
    table.post_message(kind(table, 5, 3, 0, 1 if down else -1, 0, False, False, False))


async def test_the_wheel_moves_the_cursor_and_reads_the_next_window(svc, monkeypatch):
    monkeypatch.setattr(ConsoleScreen, "page_size", 10)
    for i in range(35):
        submit(svc, f"P{i:03d}", NOW.subtract(hours=40).add(minutes=i), n=i)
    async with opened(svc, "alice") as (app, pilot):
        table = app.main.table
        first = table_ids(app)
        wheel(table)
        await wait_for(pilot, lambda: table.cursor_row == 3)
        wheel(table)
        wheel(table)
        await wait_for(pilot, lambda: table.cursor_row == 9)
        wheel(table)  # past the window: the next one, three rows in less the one it took
        await wait_for(pilot, lambda: table_ids(app)[:1] != first[:1], what="the next window")
        assert table.cursor_row == 2
        wheel(table, down=False)
        await wait_for(pilot, lambda: table.cursor_row == 0)
        wheel(table, down=False)
        await wait_for(pilot, lambda: table_ids(app) == first, what="the window before")
        assert table.cursor_row == 7


async def test_a_click_highlights_a_row_and_a_second_click_opens_its_records(svc):
    async with opened(svc, "alice") as (app, pilot):
        table = app.main.table
        third = table_ids(app)[2]
        await pilot.click(table, offset=(20, 3))  # line 0 is the header
        await wait_for(pilot, lambda: table.highlighted_id == third)
        await wait_for(pilot, lambda: app.main.detail and app.main.detail.request.id == third)
        await pilot.click(table, offset=(20, 0))  # the header: nothing
        assert table.highlighted_id == third and isinstance(app.screen, ConsoleScreen)
        await pilot.click(table, offset=(20, 3))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RecordsScreen")
        assert third in screen_text(app)


async def test_countdowns_tick_on_screen(svc):
    clock = FakeClock()
    async with opened(svc, "alice", clock) as (app, pilot):
        await pilot.press("2")
        await wait_for(pilot, lambda: app.main.tab == d.Tab.TO_PROCEED and app.main.window
                       and app.main.window.view == app.main.view)  # fmt: skip
        table = app.main.table
        rid = table.highlighted_id
        row = table.rows_by_id[rid]
        before = table.get_cell(rid, "due").plain
        clock.advance(minutes=61)
        await wait_for(pilot, lambda: table.get_cell(rid, "due").plain != before, 3, "a tick")
        assert table.get_cell(rid, "due").plain == countdown(seconds_left(row.deadline_at, clock()))
        line = next(x for x in screen_text(app).splitlines() if rid in x)
        assert line.rstrip().endswith(table.get_cell(rid, "due").plain)


async def test_a_narrow_terminal_scrolls_sideways_and_keeps_the_cursor(svc):
    async with opened(svc, "alice", size=(60, 30)) as (app, pilot):
        table = app.main.table
        assert "Request" in screen_text(app) and "Deadline" not in screen_text(app)
        await pilot.press("right")  # a whole column at a time
        await wait_for(pilot, lambda: table.scroll_x == 3, what="the mark column to go")
        await pilot.press(*["right"] * 5)
        await wait_for(pilot, lambda: "Deadline" in screen_text(app), what="the last column")
        assert table.highlighted_id == table_ids(app)[0]
        await pilot.press("left")
        await wait_for(pilot, lambda: table.scroll_x < table.max_scroll_x)
        starts = [sum(c.width + 2 for c in table.columns[:i]) for i in range(len(table.columns))]
        assert table.scroll_x in starts  # where a column starts


async def test_at_80_columns_the_countdown_stays_in_sight_and_the_detail_keeps_the_rest(svc):
    async with opened(svc, "alice", size=(80, 24)) as (app, pilot):
        await pilot.press("2")
        await loaded(pilot, app)
        table = app.main.table
        header = screen_text(app).splitlines()[3]
        assert header.split() == ["Request", "Buyer", "Amount", "Status", "Deadline"]
        assert table.max_scroll_x == 0  # nothing to scroll to
        rid = table.highlighted_id
        row = app.main.detail.request
        assert row.id == rid and row.order_id in screen_text(app)  # the order, in the detail
        await pilot.resize_terminal(120, 36)
        await wait_for(pilot, lambda: len(table.columns) == 9, what="every column back")
        header = screen_text(app).splitlines()[3]
        assert "Order" in header and "Product" in header and "Type" in header


async def test_a_refresh_that_lands_late_leaves_the_cursor_where_the_user_moved_it(svc):
    from returns_tui.screens.messages import WindowLoaded

    async with opened(svc, "alice") as (app, pilot):
        screen, table = app.main, app.main.table
        first = table.highlighted_id
        await pilot.press("down", "down", "down")
        await wait_for(pilot, lambda: table.cursor_row == 3)
        # The reply to a refresh asked for while the cursor was still on the first row.
        screen.post_message(WindowLoaded(screen._rows_seq, screen.window, first, 0))
        await pilot.pause(0.1)
        assert table.cursor_row == 3 and table.highlighted_id == table_ids(app)[3]


@pytest.mark.parametrize(
    "cents, currency, width, shown",
    [
        (1234567, "USD", 12, "12345.67 USD"),  # fits: in full
        (123456789, "USD", 12, "1.23M USD"),  # rounded down, never up
        (1234500, "USD", 11, "12.34k USD"),
        (999999999999, "USD", 11, "9.99B USD"),  # the largest amount there is
        (99999999999, "JPY", 11, "999.99M JPY"),
        (1200, "JPY", 8, "12 JPY"),
    ],
)
def test_an_amount_is_shortened_never_cut_from_its_currency(cents, currency, width, shown):
    assert amount_in(cents, currency, width) == shown
    assert amount_in(cents, currency) == f"{format_amount(cents, currency)} {currency}"


async def test_a_large_amount_keeps_its_currency_on_screen(svc):
    submit(svc, "BIG1", NOW.subtract(hours=1), amount="9999999.99", n=1)
    submit(svc, "BIG2", NOW.subtract(hours=2), shop="globex", amount="12345.67", n=2)
    async with opened(svc, "sam") as (app, pilot):  # the shop column: the narrowest amounts
        table = app.main.table
        assert table.shown_cell("BIG1", "amount").strip() == "9.99M USD"
        assert table.shown_cell("BIG2", "amount").strip() == "12345.67 EUR"
        lines = [line for line in screen_text(app).splitlines() if "BIG1" in line]
        assert lines and "9.99M USD" in lines[0]


async def test_at_200_columns_the_columns_take_the_room(svc):
    submit(svc, "LONG1", NOW.subtract(hours=1), buyer="Maximiliane Weißenbach-Ortega", n=1)
    async with opened(svc, "sam", size=(200, 50)) as (app, pilot):
        table = app.main.table
        header = next(line for line in screen_text(app).splitlines() if "Request" in line)
        assert len(header.rstrip()) >= 190, header
        row = next(line for line in screen_text(app).splitlines() if "LONG1" in line)
        assert "Maximiliane Weißenbach-Ortega" in row and "Wool scarf" in row
        await pilot.resize_terminal(120, 36)  # and back to 120: every column fits again
        await wait_for(pilot, lambda: sum(c.width + 2 for c in table.columns) <= 120)
        assert [c.key for c in table.columns][:3] == ["mark", "id", "order"]
