"""The console's filters, saved views, buyer's history and local time (DESIGN §10), driven
as a user does: keys, dialogs, what the screen then shows and what the files hold."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input

from returns_tui import domain as d
from returns_tui.app import ReturnsApp
from returns_tui.filters import Narrowing
from returns_tui.identity import login_name
from returns_tui.roles import BUYER
from returns_tui.saved_views import load_views, views_file
from returns_tui.screens.filters import FilterScreen
from returns_tui.widgets.detail import DetailPanel
from returns_tui.widgets.tab_bar import TabBar
from tests.support.console import (  # noqa: F401 - seeded_svc is the `svc` fixture
    FAST,
    HOSTILE,
    NOW,
    SIZE,
    FakeClock,
    dismiss,
    loaded,
    opened,
    opens,
    screen_text,
    seeded_svc,
    table_ids,
    toasts,
    wait_for,
)
from tests.support.tmux import Tmux

VENV_BIN = Path(sys.executable).parent
LOGIN = login_name()


def status_text(app) -> str:
    return screen_text(app).splitlines()[-3] + screen_text(app)


def detail_text(app) -> str:
    return str(app.main.query_one(DetailPanel).content)


async def fill(pilot, app, **fields: str) -> None:
    """Type into the filter dialog's fields (replacing what they hold)."""
    screen = app.screen
    assert isinstance(screen, FilterScreen)
    for name, value in fields.items():
        field = screen.query_one(f"#{name}", Input)
        field.value = value
    await pilot.pause()


async def filtered(pilot, app, **fields: str) -> None:
    await opens(pilot, app, "f", "FilterScreen")
    await fill(pilot, app, **fields)
    await dismiss(pilot, app, "enter")
    await loaded(pilot, app)


def shops_of(svc, app) -> set[str]:
    sam = svc.login("sam")
    return {svc.get(sam, rid).shop for rid in table_ids(app)}


async def test_f_filters_the_table_the_counts_and_the_status_line(svc, tmp_path):
    settings = replace(FAST, views_dir=tmp_path)
    async with opened(svc, "sam", settings=settings) as (app, pilot):
        before = dict(app.main.counts)
        assert shops_of(svc, app) == {"acme", "globex"}
        await filtered(pilot, app, shop="globex", type="refund")
        assert shops_of(svc, app) == {"globex"}
        assert {r.type for r in app.main.window.rows} == {"refund"}
        counts = app.main.counts
        expected = svc.counts(svc.login("sam"), narrow=Narrowing(shop="globex", type="refund"))
        assert counts == expected and counts[d.Tab.ALL] < before[d.Tab.ALL]
        assert app.main.query_one(TabBar).counts == counts  # the tab labels follow
        await wait_for(pilot, lambda: "filters: shop globex · refund" in screen_text(app))
        # One key clears them.
        await pilot.press("F")
        await loaded(pilot, app)
        assert app.main.narrow == Narrowing()
        assert app.main.counts == before
        assert "filters:" not in screen_text(app)


async def test_a_bad_filter_is_one_sentence_in_the_dialog_and_changes_nothing(svc, tmp_path):
    async with opened(svc, "sam", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        rows = table_ids(app)
        await opens(pilot, app, "f", "FilterScreen")
        await fill(pilot, app, currency="JPY", max_amount="10.5")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert app.screen.error_text == "JPY amounts have no minor units; 10.5 is not one."
        await dismiss(pilot, app)  # Esc: nothing changes
        assert app.main.narrow == Narrowing() and table_ids(app) == rows


async def test_an_operator_asking_for_another_shop_is_told_not_shown_nothing(svc, tmp_path):
    async with opened(svc, "alice", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        rows = table_ids(app)
        await opens(pilot, app, "f", "FilterScreen")
        await fill(pilot, app, shop="globex")  # alice runs acme only
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert app.screen.error_text == "'globex' is not one of your shops (acme)."
        await dismiss(pilot, app)
        assert app.main.narrow == Narrowing() and table_ids(app) == rows



async def test_the_dialog_completes_shops_types_and_reasons_as_they_are_typed(svc, tmp_path):
    async with opened(svc, "alice", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        await opens(pilot, app, "f", "FilterScreen")
        for name, typed, taken in (
            ("shop", "ac", "acme"),  # alice's one shop
            ("type", "ret", "return_and_refund"),
            ("reason", "DAM", "damaged"),
        ):
            field = app.screen.query_one(f"#{name}", Input)
            field.focus()
            await pilot.press(*typed, "right")
            await wait_for(pilot, lambda f=field, t=taken: f.value == t)
        # A code that no list holds is kept as typed: nothing is forced on it.
        reason = app.screen.query_one("#reason", Input)
        reason.value = ""
        reason.focus()
        await pilot.press(*"lost_in_transit", "right")
        await pilot.pause()
        assert reason.value == "lost_in_transit"
        await dismiss(pilot, app, "ctrl+s")
        await loaded(pilot, app)
        assert app.main.narrow == Narrowing(
            shop="acme", type="return_and_refund", reason="lost_in_transit"
        )

async def test_handled_by_me_shows_only_what_i_acted_on(svc, tmp_path):
    async with opened(svc, "alice", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        await opens(pilot, app, "f", "FilterScreen")
        app.screen.query_one("#mine", Checkbox).value = True
        await pilot.pause()
        await dismiss(pilot, app, "ctrl+s")
        await loaded(pilot, app)
        root = svc.login("root-admin")
        ids = table_ids(app)
        assert ids and all(
            any(rec.actor == "alice" for rec in svc.records(root, rid)) for rid in ids
        )
        assert "filters: mine" in screen_text(app)


async def test_a_saved_view_comes_back_on_its_function_key(svc, tmp_path):
    settings = replace(FAST, views_dir=tmp_path)
    async with opened(svc, "alice", settings=settings) as (app, pilot):
        await pilot.press("2")
        await loaded(pilot, app)
        await filtered(pilot, app, type="return_and_refund")
        wanted = table_ids(app)
        await opens(pilot, app, "w", "SaveViewScreen")
        app.screen.query_one("#name", Input).value = "returns due"
        await dismiss(pilot, app, "enter")
        saved = load_views(views_file(tmp_path, "alice"))
        assert [(v.name, v.slot, v.tab) for v in saved] == [("returns due", 1, d.Tab.TO_PROCEED)]
        assert saved[0].narrow == Narrowing(type="return_and_refund")
        # Somewhere else, unfiltered; then F1.
        await pilot.press("F", "1")
        await loaded(pilot, app)
        assert app.main.tab is d.Tab.ALL and app.main.narrow == Narrowing()
        await pilot.press("f1")
        await loaded(pilot, app)
        assert app.main.tab is d.Tab.TO_PROCEED
        assert app.main.narrow == Narrowing(type="return_and_refund")
        assert table_ids(app) == wanted
    # A new console of the same user finds it, in the palette too.
    async with opened(svc, "alice", settings=settings) as (app, pilot):
        titles = [c.title for c in app.get_system_commands(app.main)]
        assert "View: returns due (F1)" in titles and "Delete view: returns due" in titles
        app.main.delete_view("returns due")
        assert load_views(views_file(tmp_path, "alice")) == []


async def test_a_saved_view_of_a_shop_no_longer_mine_says_so(svc, tmp_path):
    from returns_tui.saved_views import SavedView, save_views
    from returns_tui.store.queries import Sort

    view = SavedView("globex days", 1, d.Tab.ALL, Sort.NEWEST, "", Narrowing(shop="globex"))
    save_views(views_file(tmp_path, "alice"), [view])  # alice runs acme only (now)
    async with opened(svc, "alice", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        await pilot.press("f1")
        await loaded(pilot, app)
        assert app.main.narrow == Narrowing(shop="globex") and table_ids(app) == []
        await wait_for(pilot, lambda: any("no longer one of your shops" in t for t in toasts(app)))


async def test_a_views_first_row_is_read_once_for_the_detail(svc, tmp_path, monkeypatch):
    """Its detail (with the buyer's history: thousands of requests at 1M) was read twice
    for a new view's first row, both reads running while the view's rows waited to be
    drawn."""
    from returns_tui.saved_views import SavedView, save_views
    from returns_tui.screens import main
    from returns_tui.store.queries import Sort

    reads: list[str] = []
    read = main.load_detail

    def counted(service, actor, request_id, now):
        reads.append(request_id)
        return read(service, actor, request_id, now)

    monkeypatch.setattr(main, "load_detail", counted)
    view = SavedView("refunds", 1, d.Tab.TO_PROCEED, Sort.DEADLINE, "", Narrowing(type="refund"))
    save_views(views_file(tmp_path, "alice"), [view])
    settings = replace(FAST, views_dir=tmp_path, poll_seconds=60)
    async with opened(svc, "alice", settings=settings) as (app, pilot):
        screen = app.main
        for key, tab in (("f1", d.Tab.TO_PROCEED), ("1", d.Tab.ALL), ("f1", d.Tab.TO_PROCEED)):
            reads.clear()
            await pilot.press(key)
            await loaded(pilot, app)
            assert screen.tab is tab
            first = table_ids(app)[0]
            await wait_for(pilot, lambda first=first: first in detail_text(app), what="detail")
            await pilot.pause(0.2)
            assert reads == [first], (key, reads)


async def test_the_buyers_history_and_mark_in_the_detail_panel(svc, tmp_path):
    for i in range(3):  # three more requests of one buyer, one of them rejected
        rid = f"R30{i}"
        svc.submit(
            BUYER,
            d.Submission(
                id=rid, order_id=f"O30{i}", shop="acme", type="refund", buyer=HOSTILE,
                product="Mug", sku="M", quantity=1, amount="3.00", currency="USD",
                reason="damaged", note="",
            ),
            NOW.subtract(hours=3 - i),
        )  # fmt: skip
    svc.reject(svc.login("alice"), "R300", NOW.subtract(minutes=30), "no_proof")
    settings = replace(FAST, views_dir=tmp_path, buyer_mark_threshold=2)
    async with opened(svc, "alice", settings=settings) as (app, pilot):
        table = app.main.table
        table.move_cursor(row=table.ids.index("R302"))
        await wait_for(pilot, lambda: app.main.detail and app.main.detail.request.id == "R302")
        text = detail_text(app)
        assert (
            "buyer's history 2 requests on other orders · 1 rejected · 0 appealed · 3 in 90 days"
            in text
        )
        assert "⚑ over 2 in 90 days" in text
        assert "\x1b" not in screen_text(app)  # the buyer's name stays text
        assert app.is_running


async def test_times_on_screen_are_in_the_viewers_zone_with_the_offset(svc, tmp_path):
    settings = replace(FAST, views_dir=tmp_path, timezone="Asia/Jakarta")
    app = ReturnsApp(svc, svc.login("alice"), settings, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        local = NOW.in_timezone("Asia/Jakarta").format("YYYY-MM-DD HH:mm")
        await wait_for(pilot, lambda: f"{local} +07" in screen_text(app), what="the clock")
        created = app.main.detail.request.created_at.in_timezone("Asia/Jakarta")
        assert f"submitted {created.format('YYYY-MM-DD HH:mm')} +07" in detail_text(app)
        await opens(pilot, app, "v", "RecordsScreen")
        assert f"{created.format('YYYY-MM-DD HH:mm')} +07" in screen_text(app)


async def test_a_zone_that_is_not_one_is_said_once_and_times_are_utc(svc, tmp_path):
    settings = replace(FAST, views_dir=tmp_path, timezone="Mars/Olympus")
    app = ReturnsApp(svc, svc.login("alice"), settings, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert (
            toasts(app).count("The time zone 'Mars/Olympus' is not one; times are shown in UTC.")
            == 1
        )
        assert f"{NOW.format('YYYY-MM-DD HH:mm')} UTC" in screen_text(app)


async def test_hostile_filter_values_and_view_names_stay_text(svc, tmp_path):
    settings = replace(FAST, views_dir=tmp_path)
    async with opened(svc, "sam", settings=settings) as (app, pilot):
        await filtered(pilot, app, shop=HOSTILE[:30], reason="[b]x\x1b]0;t\x07")
        assert table_ids(app) == []
        text = screen_text(app)
        assert "filters: shop [@click=app.quit]x[/]" in text
        assert "\x1b" not in text and "\x07" not in text
        await opens(pilot, app, "w", "SaveViewScreen")
        # The field shows a control character as its placeholder, and that is what is saved.
        app.screen.query_one("#name", Input).insert_text_at_cursor("[red]x\x1b")
        await dismiss(pilot, app, "enter")
        assert [v.name for v in load_views(views_file(tmp_path, "sam"))] == ["[red]x␛"]
        titles = [str(c.title) for c in app.get_system_commands(app.main)]
        assert "View: \\[red]x␛ (F1)" in titles  # escaped: the palette reads markup
        assert app.is_running


# ---------------------------------------------------------------------------------------------
# In a real terminal: the keys as tmux sends them (F1 is an escape sequence, not a name)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_filters_and_a_saved_view_on_f1_in_a_real_terminal(tmp_path):
    env = {
        "RETURNS_TUI_CONFIG": str(tmp_path / "config.toml"),  # none: views/ beside it
        "RETURNS_TUI_DEMO_PACE": "0.2",
        "TERM": "xterm-256color",
        "TZ": "Asia/Jakarta",
        "TMPDIR": str(tmp_path),
    }
    demo = ["env", *(f"{k}={v}" for k, v in env.items()), str(VENV_BIN / "returns-tui"), "demo"]
    tmux = Tmux(["sh", "-c", '"$@"; echo "[exited $?]"', "sh", *demo], history=50)
    try:
        tmux.wait(r"row 1 of \d+", timeout=30)
        tmux.wait(r"\d\d:\d\d \+07")  # the header's clock, in the host's TZ with its offset
        tmux.keys("f")
        tmux.wait(r"Filter the requests")
        tmux.keys("-l", "acme-home")  # the first field: the shop
        tmux.keys("Enter")
        tmux.wait(r"filters: shop acme-home")
        tmux.keys("w")
        tmux.wait(r"Save this view")
        tmux.keys("-l", "acme")
        tmux.keys("Enter")
        tmux.wait(r"Saved the view acme on F1\.")
        tmux.keys("F")
        tmux.wait_gone(r"filters: shop acme-home")
        tmux.keys("F1")
        tmux.wait(r"filters: shop acme-home")
        tmux.keys("C-q")
        tmux.wait(r"\[exited 0\]")
    finally:
        tmux.kill()
    saved = load_views(views_file(tmp_path / "views", LOGIN))
    assert [(v.name, v.narrow) for v in saved] == [("acme", Narrowing(shop="acme-home"))]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_the_filter_dialog_in_one_burst_and_on_a_small_terminal(tmp_path, size):
    """Typed in one go, Tabs and all, the fields fill in order (each key waits for the one
    before it: typeahead rule 4; "refund" went into the shop field before). The dialog is
    whole on 30 rows; on 24 it scrolls, and the refusal of the last field comes into view."""
    width, height = size
    env = {
        "RETURNS_TUI_CONFIG": str(tmp_path / "config.toml"),
        "RETURNS_TUI_DEMO_PACE": "1000",  # no buyer arrives meanwhile
        "TERM": "xterm-256color",
        "TMPDIR": str(tmp_path),
    }
    demo = ["env", *(f"{k}={v}" for k, v in env.items()), str(VENV_BIN / "returns-tui"), "demo"]
    tmux = Tmux(["sh", "-c", '"$@"; echo "[exited $?]"', "sh", *demo], width=width, height=height)
    try:
        tmux.wait(r"row 1 of \d+", timeout=30)
        tmux.keys("f")
        tmux.wait(r"Filter the requests")
        if height >= 30:
            screen = tmux.screen()
            for label in ("Shop", "Reason code", "Amount from", "Due in hours", "Handled by me",
                          "Apply", "Cancel"):  # fmt: skip
                assert label in screen, label
        tmux.keys("-l", "acme-home\trefund\t\t\t\t\tsoon")
        tmux.keys("Enter")
        tmux.wait(r"Due within must be a whole")
        tmux.keys("BSpace", "BSpace", "BSpace", "BSpace", "6", "Enter")
        tmux.wait(r"filters: shop acme-home · refund · due")  # (cut at 80 columns)
        tmux.keys("C-q")
        tmux.wait(r"\[exited 0\]")
    finally:
        tmux.kill()


async def test_export_writes_the_filtered_view(svc, tmp_path):
    import csv

    path = tmp_path / "refunds.csv"
    async with opened(svc, "sam", settings=replace(FAST, views_dir=tmp_path)) as (app, pilot):
        await filtered(pilot, app, type="refund", shop="acme")
        dialog = await opens(pilot, app, "e", "ExportScreen")
        assert "Export All, filters: shop acme · refund" in screen_text(app)
        dialog.query_one("#path", Input).value = str(path)
        await dismiss(pilot, app, "enter")
        await wait_for(pilot, lambda: any("Exported" in t for t in toasts(app)))
        with path.open(newline="") as f:
            ids = [row["id"] for row in csv.DictReader(f)]
        assert sorted(ids) == sorted(table_ids(app)) and ids
