"""Several consoles on one database, as several people in their own processes: each app has
its own engine, and sees the others' changes only through the database (within 2 s, without
a key press). On SQLite (one file, WAL) and on PostgreSQL when RETURNS_TUI_TEST_PG is set."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from textual.widgets import Input, Select

from returns_tui import domain as d
from returns_tui.filters import Narrowing
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine
from returns_tui.widgets.banner import Banner
from returns_tui.widgets.tab_bar import TabBar
from tests.conftest import needs_pg
from tests.support.console import (
    NOW,
    console,
    loaded,
    new_service,
    screen_text,
    seed,
    table_ids,
    toasts,
    wait_for,
)

SIZE = (120, 36)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def seeded(url):
    svc = new_service(url)
    seed(svc)
    svc.engine.dispose()
    return url


def own_service(url: str) -> Returns:
    """What another process would have: its own engine on the same database."""
    return Returns(open_engine(url))


def tab_counts(app) -> str:
    return " ".join(app.main.query_one(TabBar).labels())


async def test_an_accept_in_one_console_appears_in_the_other_and_a_late_reject_is_refused(
    seeded,
):
    one, two = own_service(seeded), own_service(seeded)
    app1, app2 = console(one, "alice"), console(two, "bob")
    try:
        async with app1.run_test(size=SIZE) as p1, app2.run_test(size=SIZE) as p2:
            await loaded(p1, app1)
            await loaded(p2, app2)
            for pilot, app in ((p1, app1), (p2, app2)):
                await pilot.press("2")
                await loaded(pilot, app)
                assert app.main.table.highlighted_id == "R1007"
            # Bob starts rejecting R1007 while Alice accepts it.
            await p2.press("r")
            await wait_for(p2, lambda: type(app2.screen).__name__ == "RejectScreen")
            await p1.press("a")
            await wait_for(p1, lambda: type(app1.screen).__name__ == "ConfirmScreen")
            await p1.press("enter")
            await wait_for(p1, lambda: "R1007 accepted." in toasts(app1))
            # Bob's console shows it within 2 s, under his open dialog, without a key press.
            # The rows and the counts are separate reads; both must arrive within the 2 s.
            await wait_for(
                p2,
                lambda: "R1007" not in table_ids(app2) and "2 To Proceed 5" in tab_counts(app2),
                timeout=2,
            )
            dialog = app2.screen
            dialog.query_one("#reason", Select).value = "no_proof"
            dialog.query_one("#note-input", Input).value = "no photo"
            await p2.press("ctrl+s")
            await wait_for(p2, lambda: any("R1007 cannot be rejected" in t for t in toasts(app2)))
            refusal = next(t for t in toasts(app2) if "R1007 cannot be rejected" in t)
            assert "accepted by alice" in refusal
            req = one.get(one.login("alice"), "R1007")
            assert req.status is d.Status.COMPLETED
            assert [r.kind for r in one.records(one.login("alice"), "R1007")] == [
                d.Kind.SUBMITTED,
                d.Kind.ACCEPTED,
            ]
    finally:
        one.engine.dispose()
        two.engine.dispose()


async def test_a_mediation_reaches_the_sellers_console_within_two_seconds(seeded):
    agent_side, seller_side = own_service(seeded), own_service(seeded)
    sam, alice = console(agent_side, "sam"), console(seller_side, "alice")
    try:
        async with sam.run_test(size=SIZE) as ps, alice.run_test(size=SIZE) as pa:
            for pilot, app in ((ps, sam), (pa, alice)):
                await loaded(pilot, app)
                await pilot.press("6")
                await loaded(pilot, app)
            assert "R1021" in table_ids(alice)
            await ps.press("m")
            await wait_for(ps, lambda: type(sam.screen).__name__ == "MediateScreen")
            sam.screen.query_one("#seller").value = True
            sam.screen.query_one("#note-input", Input).value = "Photos show another item."
            await ps.press("ctrl+s")
            await wait_for(ps, lambda: "R1021" not in table_ids(sam))
            await wait_for(pa, lambda: "R1021" not in table_ids(alice), timeout=2)
            req = seller_side.get(seller_side.login("alice"), "R1021")
            assert (req.status, req.arbitration) == (
                d.Status.REJECTED,
                d.Arbitration.SUPPORT_SELLER,
            )
    finally:
        agent_side.engine.dispose()
        seller_side.engine.dispose()


async def test_a_buyers_new_request_appears_without_a_key_press(seeded):
    from tests.support.console import submit

    svc = own_service(seeded)
    buyers = own_service(seeded)
    app = console(svc, "alice")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            submit(buyers, "R5000", NOW.subtract(minutes=1), n=5)
            await wait_for(pilot, lambda: table_ids(app)[:1] == ["R5000"], timeout=2)
            # The counts are read on their own, and may land a moment after the rows.
            await wait_for(pilot, lambda: "1 All 17" in tab_counts(app), timeout=2)
    finally:
        svc.engine.dispose()
        buyers.engine.dispose()


@needs_pg
async def test_postgresql_going_away_shows_a_banner_and_the_console_comes_back(pg_url):
    svc = new_service(pg_url)
    seed(svc)
    name = sa.engine.make_url(pg_url).database
    admin = sa.create_engine(
        sa.engine.make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )

    def sql(statement: str) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)

    app = console(svc, "alice")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            banner = app.main.query_one(Banner)
            sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            await wait_for(pilot, lambda: banner.shown, timeout=5, what="the banner")
            assert "Database unreachable" in str(banner.content)
            assert app.is_running
            sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            # Meanwhile someone accepted a request: it shows once the database is back.
            other = own_service(pg_url)
            other.accept(other.login("bob"), "R1007", NOW)
            other.engine.dispose()
            await wait_for(pilot, lambda: not banner.shown, timeout=5, what="recovery")
            await pilot.press("2")
            await loaded(pilot, app)
            assert "R1007" not in table_ids(app)
    finally:
        sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        svc.engine.dispose()
        admin.dispose()


async def test_an_auto_approval_swept_by_someone_else_is_still_told(tmp_path):
    """A cron job (or another console) applies the deadline first: this console's own sweep
    finds nothing, yet the operator it warned is told that the request was auto-approved."""
    from tests.support.console import FakeClock

    url = f"sqlite:///{tmp_path / 'cron.db'}"
    svc = new_service(url)
    seed(svc)
    cron = own_service(url)
    clock = FakeClock()
    app = console(svc, "alice", clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            await pilot.press("2")
            await loaded(pilot, app)
            deadline = svc.get(svc.login("alice"), "R1007").respond_by
            clock.at = deadline.subtract(minutes=30)
            await wait_for(pilot, lambda: any("R1007 will be" in t for t in toasts(app)))
            swept = cron.sweep(deadline.add(minutes=1))
            assert [s.request_id for s in swept] == ["R1007"]
            clock.at = deadline.add(minutes=1)
            await wait_for(pilot, lambda: any("R1007 was auto-approved" in t for t in toasts(app)))
            await wait_for(pilot, lambda: "R1007" not in table_ids(app))
    finally:
        svc.engine.dispose()
        cron.engine.dispose()


def test_windows_walk_every_tab_and_order_forwards_and_backwards(seeded):
    """The console's windows (keyset pages of the services) cover each view exactly, in its
    order, forwards and backwards, with the right offsets, on both databases."""
    from returns_tui.console_data import FIRST, LAST, Anchor, View, load_window
    from returns_tui.store.queries import Sort
    from tests.support.console import submit

    svc = own_service(seeded)
    try:
        for i in range(25):
            submit(svc, f"P{i:03d}", NOW.subtract(hours=40).add(minutes=i), n=i)
        alice = svc.login("alice")
        for tab in d.Tab:
            for sort in Sort:
                view = View(tab, sort)
                expected = [r.id for r in svc.page(alice, tab, sort, limit=1000)]
                window = load_window(svc, alice, view, FIRST, 5)
                seen = [r.id for r in window.rows]
                while window.more_after:
                    window = load_window(svc, alice, view, Anchor(window.rows[-1]), 5)
                    assert window.offset == len(seen)
                    seen += [r.id for r in window.rows]
                assert seen == expected, (tab, sort)
                # The same steps told how many rows come before their anchor (the console's
                # steps from a window: Anchor.before) have the same offsets, uncounted.
                window = load_window(svc, alice, view, FIRST, 5)
                while window.more_after:
                    last = window.offset + len(window.rows) - 1
                    window = load_window(svc, alice, view, Anchor(window.rows[-1], before=last), 5)
                    assert window.offset == expected.index(window.rows[0].id), (tab, sort)
                while window.more_before:
                    step = Anchor(window.rows[0], backwards=True, before=window.offset)
                    window = load_window(svc, alice, view, step, 5)
                    assert window.offset == expected.index(window.rows[0].id), (tab, sort)
                window = load_window(svc, alice, view, LAST, 5)
                assert window.offset == len(expected) - len(window.rows), (tab, sort)
                back = [r.id for r in window.rows]
                while window.more_before:
                    window = load_window(
                        svc, alice, view, Anchor(window.rows[0], backwards=True), 5
                    )
                    back = [r.id for r in window.rows if r.id not in back] + back
                assert back == expected, (tab, sort)
        # The last page of a search and of a filter starts where their counts say.
        for view in (View(d.Tab.ALL, Sort.NEWEST, "p01"), View(d.Tab.ALL, Sort.DEADLINE,
                     narrow=Narrowing(type="refund"))):  # fmt: skip
            expected = svc.page(alice, view.tab, view.sort, view.search, limit=1000,
                                narrow=view.narrow)  # fmt: skip
            window = load_window(svc, alice, view, LAST, 5)
            assert window.rows == tuple(expected[-5:]) and len(expected) > 5
            assert window.offset == len(expected) - 5, view
    finally:
        svc.engine.dispose()


async def test_a_step_to_the_next_window_counts_nothing_and_a_reload_counts_again(
    seeded, monkeypatch
):
    """A step past a window's edge takes its offset from the window it leaves: counting the
    rows before it read every one (at 1M, 119-144 ms for a filtered tab's second window).
    A read of the same window after a change counts them again: rows before it may have
    come or gone."""
    from returns_tui.screens.main import ConsoleScreen

    monkeypatch.setattr(ConsoleScreen, "page_size", 4)
    svc = own_service(seeded)
    counted: list[str] = []
    position = svc.position

    def counting(actor, tab, sort, search, row, **kw):
        counted.append(row.id)
        return position(actor, tab, sort, search, row, **kw)

    monkeypatch.setattr(svc, "position", counting)
    try:
        app = console(svc, "sam")
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            rows = svc.page(svc.login("sam"), d.Tab.ALL, app.main.sorts[d.Tab.ALL], limit=1000)
            expected = [r.id for r in rows]
            assert len(expected) > 12
            for step in range(1, 11):  # down through three windows
                await pilot.press("down")
                await wait_for(pilot, lambda s=step: app.main.table.highlighted_id == expected[s])
            await wait_for(pilot, lambda: "row 11 of" in screen_text(app))
            for step in range(9, 4, -1):  # and up across an edge, not to the first window
                await pilot.press("up")
                await wait_for(pilot, lambda s=step: app.main.table.highlighted_id == expected[s])
            await wait_for(pilot, lambda: "row 6 of" in screen_text(app))
            assert counted == [] and app.main.window.more_before
            app.main.reload()
            await wait_for(pilot, lambda: app.main.window.rows[0].id in counted)
            await loaded(pilot, app)
            assert "row 6 of" in screen_text(app)
    finally:
        svc.engine.dispose()


def test_a_toast_of_many_requests_names_five_and_counts_the_rest_grouped():
    from returns_tui.screens.live_feed import _listed

    ids = [f"R{i:07d}" for i in range(10_720)]
    one, many = "was auto-approved.", "were auto-approved."
    first = "R0000000, R0000001, R0000002, R0000003, R0000004"
    assert _listed(ids, one, many) == f"{first} and 10,715 more were auto-approved."
    assert _listed(ids[:1], one, many) == "R0000000 was auto-approved."
    assert _listed(ids[:6], one, many, at_least=True) == f"{first} and at least 1 more {many}"
