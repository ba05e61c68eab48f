"""The console's dialogs and frame under what a working day does to them: a request with
thousands of notes, a terminal squeezed to 1×1 and back, a narrow terminal, a request that
changes while its dialog is open. In a real terminal (tmux) where the defect was seen in one.
"""

from __future__ import annotations

import shutil
import time

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import Label

from returns_tui import domain as d
from returns_tui.screens.form import NoteField
from returns_tui.screens.note import NoteScreen
from returns_tui.screens.records import record_text
from tests.dialog_data import Host, screen_text
from tests.support.console import (
    NOW,
    FakeClock,
    new_service,
    opened,
    opens,
    seed,
    submit,
    wait_for,
)
from tests.support.run_console import in_tmux, set_clock
from tests.support.tmux import Tmux

tmux_only = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

NOTES = 3000
S = d.Status


@pytest.fixture
def start(tmp_path):
    sessions: list[Tmux] = []

    def start(svc, login: str = "alice", *, width: int = 120, height: int = 36) -> Tmux:
        clock = tmp_path / "clock"
        set_clock(clock, NOW)
        tmux = in_tmux(str(svc.engine.url), login, clock, width=width, height=height)
        sessions.append(tmux)
        tmux.wait(r"row 1 of \d+", timeout=30)
        return tmux

    yield start
    for tmux in sessions:
        tmux.kill()


@pytest.fixture
def many_notes(tmp_path):
    svc = new_service(f"sqlite:///{tmp_path / 'notes.db'}")
    submit(svc, "R1", NOW.subtract(hours=1))
    alice = svc.login("alice")
    for i in range(NOTES):
        svc.note(alice, "R1", NOW.subtract(minutes=59).add(seconds=i), f"note number {i}")
    yield svc
    svc.engine.dispose()


@pytest.fixture
def seeded(tmp_path):
    svc = new_service(f"sqlite:///{tmp_path / 'seeded.db'}")
    seed(svc)
    yield svc
    svc.engine.dispose()


@tmux_only
def test_the_records_of_3000_notes_open_at_once_and_reach_the_last(start, many_notes):
    tmux = start(many_notes)
    tmux.keys("v")
    tmux.wait(r"Return records of R1: 3001 records(.|\n)*request submitted by the buyer")
    # How fast it opens is bench/records_open.py's figure (docs/PERFORMANCE.md), not a bound
    # here: this test shows every record is reachable.
    tmux.keys("End")
    tmux.wait(rf"note number {NOTES - 1}\s")
    assert f"note number {NOTES - 2}" in tmux.screen()
    tmux.keys("Home")
    tmux.wait(r"request submitted by the buyer")
    tmux.wait_gone(rf"note number {NOTES - 1}\s")
    # Page by page from the top, the notes come in order.
    tmux.keys("PageDown")
    tmux.wait(r"note number \d+")
    tmux.keys("Escape")
    tmux.wait_gone("Return records of")


@tmux_only
def test_a_1x1_resize_and_back_repaints_without_a_key(start, seeded):
    tmux = start(seeded)
    tmux.run("resize-window", "-t", "t", "-x", "1", "-y", "1")
    time.sleep(0.5)  # the console sees the 1×1 terminal and lays itself out for it
    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "36")
    screen = tmux.wait(r"returns-tui │ alice(.|\n)*R1002(.|\n)*\? Help\s+\^q Quit").string
    assert "row 1 of 16" in screen


# ---------------------------------------------------------------------------------------------
# Issue 10 item 8, the smaller ones


@pytest.mark.parametrize("login, warned", [("alice", True), ("sam", False)])
async def test_an_agent_gets_no_due_soon_toast_but_hears_of_the_approval(tmp_path, login, warned):
    svc = new_service(f"sqlite:///{tmp_path / 'due.db'}")
    submit(svc, "R1", NOW.subtract(hours=47, minutes=30))  # due within the hour
    clock = FakeClock()
    try:
        async with opened(svc, login, clock) as (app, pilot):

            def titles() -> list[str]:
                return [n.title for n in app._notifications]

            if warned:
                await wait_for(pilot, lambda: "Due soon" in titles(), what="Due soon")
            # Past the deadline: this console's sweep approves it and says so.
            clock.advance(hours=1)
            await wait_for(pilot, lambda: "Auto-approved" in titles(), what="Auto-approved")
            assert ("Due soon" in titles()) is warned, titles()
    finally:
        svc.engine.dispose()


async def test_the_note_counter_of_a_huge_paste_stays_on_one_line():
    app = Host(NoteScreen("R1"))
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.screen.query_one(NoteField)
        field.input.value = "x" * 10000
        await pilot.pause()
        counter = app.screen.query_one("#note-count", Label)
        assert field.counter_text == "10000/500"
        size = counter.outer_size
        painted = [strip.text for strip in counter.render_lines(Region(0, 0, *size))]
        assert [line.strip() for line in painted if line.strip()] == ["10000/500"], painted


def test_the_timeline_keeps_its_columns_for_long_actor_names():
    rules = d.Rules()
    lines = [
        record_text(
            d.Record(NOW, actor, d.Kind.NOTED, S.PENDING, S.PENDING, {"note": "x"}), rules
        ).plain.splitlines()[0]
        for actor in ("sam", "a-very-long-operator-name-indeed", "李小龍李小龍李小龍")
    ]
    columns = {cell_len(line.split("(pending)")[0]) for line in lines}
    assert len(columns) == 1, lines
    assert "a-very-long…" in lines[1]


async def test_help_at_80x24_shows_its_prose_first_and_each_key_once(seeded):
    async with opened(seeded, "alice", size=(80, 24)) as (app, pilot):
        await opens(pilot, app, "question_mark", "HelpScreen")
        await pilot.pause()
        text = screen_text(app)
        prose = text.index("To Proceed holds the requests")
        assert text.index("Help: tabs, deadlines and keys") < prose < text.index("Key ")
        assert "moments; it turns amber" in text  # the whole paragraph, above the keys
        assert "Esc, ? or q closes" in text
        keys = [key for key, _ in app.main.key_rows()]
        assert "^p" in keys and "ctrl+p" not in keys and len(keys) == len(set(keys))
        assert "← →" in keys


@pytest.mark.parametrize("how", ["auto_approved", "accepted_elsewhere"])
async def test_a_confirm_closes_when_its_request_changes_under_it(tmp_path, how):
    """Issue 10 item 8: the accept dialog stayed open across its request's auto-approval, and
    its Enter then answered a question about a request that was no longer pending."""
    svc = new_service(f"sqlite:///{tmp_path / 'confirm.db'}")
    submit(svc, "R1", NOW.subtract(hours=47, minutes=59))  # due in a minute
    clock = FakeClock()
    try:
        async with opened(svc, "alice", clock) as (app, pilot):
            await pilot.press("a")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen",
                           what="the accept dialog")  # fmt: skip
            dialog = app.screen
            if how == "auto_approved":
                clock.advance(minutes=2)  # the console's own sweep approves it
            else:
                svc.perform(svc.login("bob"), "accept", "R1", clock())

            def told() -> bool:
                said = [str(n.message) for n in app._notifications]
                return any("R1 changed meanwhile: it is now" in m for m in said)

            await wait_for(pilot, told, what="the toast")
            assert app.screen is not dialog and dialog.watch == ("R1", "pending")
            records = svc.records(svc.login("alice"), "R1")
            kinds = [r.kind for r in records]
            # Nothing by alice: the auto-approval or bob's accept, and nothing after it.
            assert [r.actor for r in records if r.kind is d.Kind.ACCEPTED] == (
                [] if how == "auto_approved" else ["bob"]
            )
            assert kinds.count(d.Kind.AUTO_APPROVED) == (how == "auto_approved")
    finally:
        svc.engine.dispose()


async def test_the_footer_keeps_help_and_quit_on_screen_at_every_width(tmp_path):
    """Issue 10 item 8: at 80×24 the footer cut `? Help` and `^q Quit` off its end. Keys that
    are also in help and the palette give way instead, and come back when there is room."""
    from textual.widgets._footer import FooterKey

    svc = new_service(f"sqlite:///{tmp_path / 'footer.db'}")
    seed(svc)

    def on_screen(app, width: int) -> list[str]:
        return [
            key.key_display
            for key in app.screen.query(FooterKey)
            if key.display and key.region.width and key.region.right <= width
        ]

    try:
        async with opened(svc, "alice", FakeClock(), size=(80, 24)) as (app, pilot):
            await wait_for(pilot, lambda: "^q" in on_screen(app, 80), what="^q at 80 columns")
            shown = on_screen(app, 80)
            assert {"?", "^q", "a", "r", "v", "/"} <= set(shown), shown
            assert "A" not in shown  # accept marked gave way first
            await pilot.resize_terminal(160, 36)
            await wait_for(pilot, lambda: "A" in on_screen(app, 160), what="all keys at 160")
            assert {"?", "^q", "i", "c", "s", "␣", "A"} <= set(on_screen(app, 160))
    finally:
        svc.engine.dispose()


async def test_the_footer_is_made_again_only_when_its_keys_change(tmp_path):
    """Textual makes the footer anew whenever the screen's bindings are refreshed: every
    search, filter and saved view, with the same keys as before (at 200 columns and 1M, a
    view's "loading…" came 320-430 ms after its key). It is kept while its keys stay, and
    still follows them."""
    from textual.widgets._footer import FooterKey

    from returns_tui.filters import Narrowing
    from returns_tui.saved_views import SavedView, save_views, views_file
    from returns_tui.settings import Settings
    from returns_tui.store.queries import Sort
    from returns_tui.widgets.footer import ConsoleFooter

    svc = new_service(f"sqlite:///{tmp_path / 'footer.db'}")
    seed(svc)
    view = SavedView("mugs", 1, d.Tab.TO_PROCEED, Sort.DEADLINE, "mug", Narrowing(type="refund"))
    save_views(views_file(tmp_path, "alice"), [view])
    settings = Settings(poll_seconds=60, views_dir=tmp_path)
    try:
        async with opened(svc, "alice", FakeClock(), size=(160, 36), settings=settings) as (
            app,
            pilot,
        ):
            screen = app.screen
            footer = screen.query_one(ConsoleFooter)
            await wait_for(pilot, lambda: screen.window is not None, what="the first window")
            # Made once its bindings are known (the first window may come before that).
            await wait_for(pilot, lambda: footer._composed is not None, what="the footer")
            keys = list(screen.query(FooterKey))
            assert keys
            # A saved view (its search and filters), its filters cleared, then its search:
            # each refreshes the bindings, none changes the keys.
            await pilot.press("f1")
            await wait_for(pilot, lambda: screen.window.view == screen.view, what="the view")
            assert screen.narrow == view.narrow and screen.search == "mug"
            await pilot.press("F", "escape")
            await wait_for(pilot, lambda: not screen.search and not screen.narrow, what="cleared")
            await pilot.pause(0.2)
            assert list(screen.query(FooterKey)) == keys  # the same widgets: not made again
            # A key that goes (as the role's do): the footer follows.
            allowed = screen.check_action
            screen.check_action = lambda action, parameters: (
                action != "sort" and allowed(action, parameters)
            )
            screen.refresh_bindings()
            await wait_for(
                pilot,
                lambda: "Sort" not in [k.description for k in screen.query(FooterKey)],
                what="Sort gone from the footer",
            )
    finally:
        svc.engine.dispose()


async def test_a_request_the_clock_approved_says_so_in_its_row_and_detail(tmp_path):
    """Issue 10 item 10: "auto-approved" said plainly, on the completed row and in the detail
    (a refund nobody answered in time), and not on one a person accepted."""
    from returns_tui.screens.main import ConsoleScreen
    from returns_tui.widgets.detail import DetailPanel

    svc = new_service(f"sqlite:///{tmp_path / 'auto.db'}")
    submit(svc, "R1", NOW.subtract(hours=49))  # a refund, approved by the clock
    submit(svc, "R2", NOW.subtract(hours=1), order="O2")
    svc.perform(svc.login("alice"), "accept", "R2", NOW.subtract(minutes=30))
    svc.sweep(NOW)
    try:
        async with opened(svc, "alice", FakeClock()) as (app, pilot):
            await pilot.press("4")  # Completed
            screen = app.screen
            assert isinstance(screen, ConsoleScreen)
            await wait_for(pilot, lambda: screen.table.row_count == 2, what="two rows")
            rows = {r.id: r for r in screen.window.rows}
            assert (rows["R1"].auto_approved, rows["R2"].auto_approved) == (1, 0)
            for rid, said in (("R1", True), ("R2", False)):
                cell = screen.table._cell(rows[rid], "status")
                assert (cell.plain == "auto-approved") is said, cell.plain
                ids = [r.id for r in screen.window.rows]
                screen.table.move_cursor(row=ids.index(rid))
                panel = screen.query_one(DetailPanel)
                await wait_for(
                    pilot,
                    lambda rid=rid, panel=panel: (
                        panel.detail is not None and panel.detail.request.id == rid
                    ),
                    what=f"the detail of {rid}",
                )
                text = panel._render_detail(NOW).plain
                assert ("auto-approved by the system at" in text) is said, text
    finally:
        svc.engine.dispose()
