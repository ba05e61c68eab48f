"""The console: tabs, a table of one tab's requests, the highlighted request's detail, keys.

This screen shows and asks; the services decide. Every database call runs in a thread worker
that posts a message back (threads never touch widgets), so the screen never waits on the
database: a tab switch shows the tab's last window at once and the fresh one a moment later.

Three timers keep it live: a 1 s tick repaints the visible countdowns (no database); a poll asks
the ChangeWatcher whether anyone committed (a PRAGMA or a socket read) and re-reads only then;
a sweep applies the deadlines in a worker that is armed again only when the last one finished.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from pendulum import DateTime
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from returns_tui import actions
from returns_tui import domain as d
from returns_tui.clock import Clock
from returns_tui.console_data import (
    FIRST,
    LAST,
    PAGE,
    Anchor,
    Detail,
    View,
    Window,
    load_detail,
    load_window,
)
from returns_tui.errors import Refused, ReturnsError, StoreError
from returns_tui.filters import Narrowing
from returns_tui.money import format_amount
from returns_tui.paint import Paint
from returns_tui.roles import ALLOWED, Actor
from returns_tui.saved_views import SLOTS, SavedView, views_file
from returns_tui.screens.confirm import EXTRA, ConfirmScreen
from returns_tui.screens.export_dialog import ExportScreen
from returns_tui.screens.filters import FiltersAndViews
from returns_tui.screens.help import HelpScreen
from returns_tui.screens.live_feed import LiveFeed
from returns_tui.screens.mediate import MediateScreen
from returns_tui.screens.messages import (
    ActionsDone,
    CountsFinished,
    CountsLoaded,
    DetailLoaded,
    DialogData,
    Exported,
    MarksDone,
    Problem,
    StoreFailed,
    TotalsLoaded,
    WindowLoaded,
)
from returns_tui.screens.note import NoteScreen
from returns_tui.screens.offer import OfferScreen
from returns_tui.screens.records import RecordsScreen
from returns_tui.screens.reject import RejectScreen
from returns_tui.screens.sync_notices import SyncNotices, is_sent, sending_text
from returns_tui.services import Returns
from returns_tui.settings import Settings, views_dir
from returns_tui.store.queries import DEFAULT_SORT, Sort
from returns_tui.textsafe import safe
from returns_tui.timefmt import local_format, local_text
from returns_tui.widgets.banner import Banner
from returns_tui.widgets.detail import DetailPanel
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.footer import ConsoleFooter
from returns_tui.widgets.header import ConsoleHeader
from returns_tui.widgets.request_table import RequestTable
from returns_tui.widgets.search_bar import SearchBar
from returns_tui.widgets.status_line import StatusLine, at_stake
from returns_tui.widgets.tab_bar import TabBar

log = logging.getLogger(__name__)

# Which rule (roles.ALLOWED) each key needs; keys a role may not use are hidden and inert. Each
# action's key needs its own rule; the console's own commands that act as one, accept's.
NEEDS_RULE = {a.name: a.name for a in actions.ACTIONS if a.key is not None} | {
    "mark": "accept",
    "accept_marked": "accept",
    "accept_next": "accept",
}
SORT_CYCLE = [Sort.DEADLINE, Sort.NEWEST, Sort.OLDEST, Sort.WAITING]
DONE_WORDS = {a.name: a.done for a in actions.ACTIONS if a.done is not None}
_TABS = Binding.Group("Tabs", compact=True)


def _key_of(name: str) -> Binding:
    """An action's key, as actions.py declares it (its id is the action's name: [keys])."""
    action = actions.BY_NAME[name]
    assert action.key is not None and action.label is not None
    return Binding(action.key, name, action.label, id=name)


def _palette_of(name: str) -> tuple[str, str, str]:
    action = actions.BY_NAME[name]
    assert action.title is not None and action.help is not None
    return (name, action.title, action.help)


# The help's words for keys whose footer label is too short to explain them.
_KEY_HELP = {"command_palette": "Command palette: every action by name"}
# The bindings every Textual screen has (focus next/previous, copy), kept out of the help's list.
_TEXTUAL_SCREEN_ACTIONS = frozenset({"app.focus_next", "app.focus_previous", "screen.copy_text"})


# ---------------------------------------------------------------------------------------------


class ConsoleScreen(FiltersAndViews, LiveFeed, SyncNotices):
    BINDINGS = [
        Binding("1", "tab('all')", "All", id="tab_all", group=_TABS),
        Binding("2", "tab('to_proceed')", "To Proceed", id="tab_to_proceed", group=_TABS),
        Binding("3", "tab('in_process')", "In Process", id="tab_in_process", group=_TABS),
        Binding("4", "tab('completed')", "Completed", id="tab_completed", group=_TABS),
        Binding("5", "tab('closed')", "Closed", id="tab_closed", group=_TABS),
        Binding("6", "tab('appeals')", "Appeals", id="tab_appeals", group=_TABS),
        _key_of("accept"),
        # Out of the footer (it has room for the others only); in help and the palette.
        Binding("y", "accept_next", "Accept, next", id="accept_next", show=False),
        _key_of("reject"),
        _key_of("offer"),
        _key_of("reject_receipt"),
        Binding("v", "records", "View", id="records"),
        _key_of("receive"),
        _key_of("note"),
        _key_of("mediate"),
        Binding("slash", "search", "Search", id="search", key_display="/"),
        # Esc in the field clears it (SearchBar); this is Esc once the table has the keys back.
        Binding("escape", "clear_search", "Clear the search", show=False),
        Binding("s", "sort", "Sort", id="sort"),
        # DESIGN §10: filters beside the search, cleared with one key; saved views on F1-F9
        # (function keys reach the console through tmux and SSH, where ctrl+digit does not).
        Binding("f", "filter", "Filter", id="filter"),
        Binding(
            "F", "clear_filters", "Clear filters", id="clear_filters", key_display="F", show=False
        ),
        Binding("w", "save_view", "Save view", id="save_view", show=False),
        *[
            Binding(f"f{n}", f"view({n})", f"Saved view {n}", show=False)
            for n in range(1, SLOTS + 1)
        ],
        Binding("e", "export", "Export", id="export", show=False),
        Binding("space", "mark", "Mark", id="mark", key_display="␣"),
        Binding("A", "accept_marked", "Accept marked", id="accept_marked", key_display="A"),
        Binding("i", "insights", "Insights", id="insights"),
        Binding("u", "rules", "Rules", id="rules", show=False),  # in help and the palette
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
    ]

    # The command palette's title and help line of every action (app.get_system_commands).
    PALETTE: list[tuple[str, str, str]] = [
        _palette_of("accept"),
        ("accept_next", "Accept and next", "Accept the highlighted request, then go to the next"),
        _palette_of("reject"),
        _palette_of("offer"),
        _palette_of("reject_receipt"),
        ("records", "View return records", "The highlighted request's history"),
        _palette_of("receive"),
        _palette_of("note"),
        _palette_of("mediate"),
        ("search", "Search", "Any part of ids, tracking, shop, buyer, product, SKU, reason"),
        ("sort", "Cycle sort", "Change the order of the table"),
        ("filter", "Filter", "Shop, type, reason, currency, amount, due within, handled by me"),
        ("clear_filters", "Clear filters", "Show every request of the tab again"),
        ("save_view", "Save view", "Keep this tab, sort, search and filters by name, on a key"),
        ("export", "Export view", "Write this tab or search to a new CSV or JSON Lines file"),
        ("mark", "Mark row", "Mark or unmark the highlighted request"),
        ("accept_marked", "Accept marked", "Accept every marked request (asks first)"),
        ("insights", "Insights", "What returns cost and why, over 7, 30 or 90 days"),
        ("rules", "Automation rules", "Your rules and what each accepted in the last 7 days"),
        ("help", "Help", "Every key and what it does"),
    ]

    # Rows per window: a few screens' worth, so most moves need no read.
    page_size = PAGE

    def __init__(
        self,
        service: Returns,
        actor: Actor,
        settings: Settings,
        *,
        clock: Clock,
        tz: str | None = None,
        title: str = "returns-tui",
    ) -> None:
        super().__init__(service)
        self.service = service
        self.actor = actor
        self.settings = settings
        self.clock = clock
        self.tz = tz
        self.title_text = title
        self.tab = d.Tab.ALL
        self.sorts: dict[d.Tab, Sort] = dict(DEFAULT_SORT)
        self.search = ""
        self.narrow = Narrowing()  # the filters (DESIGN §10)
        self.views_path = views_file(views_dir(settings), actor.name)
        self.views: list[SavedView] = []
        self.window: Window | None = None
        self.counts: dict[d.Tab, int] | None = None
        self.totals: dict[str, int] | None = None  # the money at stake in the view shown
        self.detail: Detail | None = None
        self._detail_asked: str | None = None  # the request whose detail is being read
        self.store_error: str | None = None
        # Per tab, the window last shown and the request under the cursor, so that coming back
        # to a tab shows it at once, where it was left.
        self._places: dict[d.Tab, tuple[Window, str | None]] = {}
        self._rows_seq = 0
        # The search and filters being counted, if a count runs.
        self._counting: tuple[str, Narrowing] | None = None
        self._count_again = False
        self._pending: tuple[Anchor, str | None, int] | None = None
        self._pending_edge: str | None = None  # the edge whose window is being read, if one
        self._frozen = False

    # -----------------------------------------------------------------------------------------
    # Layout

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.actor, self.title_text, id="header")
        yield Banner(id="banner")
        yield TabBar(id="tabs")
        yield SearchBar(id="search")
        yield RequestTable(
            show_shop=self.actor.visible_shops() is None or len(self.actor.shops) > 1,
            id="table",
        )
        yield StatusLine(id="status")
        yield DetailPanel(
            self.service.rules,
            self.tz,
            mark_threshold=self.settings.buyer_mark_threshold,
            id="detail",
        )
        yield ConsoleFooter()

    @property
    def table(self) -> RequestTable:
        return self.query_one(RequestTable)

    @property
    def view(self) -> View:
        return View(self.tab, self.sorts[self.tab], self.search, self.narrow)

    def on_mount(self) -> None:
        focus_now(self.table)
        # The footer lists the keys once it hears that bindings changed; say so once mounted.
        self.call_after_refresh(self.refresh_bindings)
        self._read_views()
        self._tick()
        self.reload()
        self.start_sweep()
        self.set_interval(1.0, self._tick)
        self.set_interval(self.settings.poll_seconds, self.start_poll)
        self.set_interval(self.settings.sweep_seconds, self.start_sweep)

    def on_unmount(self) -> None:
        self.close_feed()

    # -----------------------------------------------------------------------------------------
    # Reading

    def reload(self, *, anchor: Anchor | None = None, keep_id: str | None = None) -> None:
        """Read counts, the window (where it is, unless `anchor` says where) and the detail."""
        self._load_sums()
        if anchor is None and self._pending is not None:
            # A move to another window is under way: read that one, not the one it leaves.
            self.load_rows(*self._pending)
        else:
            window = self.window if self.window and self.window.view == self.view else None
            if anchor is None:
                # Its offset counted again: rows before it may have come or gone.
                anchor = replace(window.anchor, before=None) if window else FIRST
            self.load_rows(
                anchor, keep_id=keep_id or self.table.highlighted_id, cursor=self.table.cursor_row
            )
        if rid := self.table.highlighted_id:
            self.load_detail(rid)
        self.load_refusals()  # the marketplace's answers to this user's decisions (§8)

    def load_rows(self, anchor: Anchor, keep_id: str | None, cursor: int) -> None:
        self._pending = (anchor, keep_id, cursor)
        self._pending_edge = None
        self._rows_seq += 1
        self._read_rows(self._rows_seq, self.view, anchor, keep_id, cursor)

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False, description="rows")
    def _read_rows(
        self, seq: int, view: View, anchor: Anchor, keep_id: str | None, cursor: int
    ) -> None:
        with self._guard():
            window = load_window(
                self.service, self.actor, view, anchor, self.page_size, self.clock()
            )
            self.post_message(WindowLoaded(seq, window, keep_id, cursor))

    def _load_sums(self) -> None:
        """Read the tab counts and the money of the view, a search's once for both (paint.py)."""
        paint = Paint(self.clock())
        self.load_counts(self.search, paint)
        self.load_totals(paint)

    def load_counts(self, search: str, paint: Paint | None = None) -> None:
        """Count the tabs, one count at a time: a search counts by scanning, and a thread
        cannot be stopped, so changes arriving meanwhile ask for one more count afterwards
        instead of piling up scans."""
        key = (search, self.narrow)
        if self._counting == key:
            self._count_again = True
            return
        self._counting = key
        self._read_counts(search, self.narrow, paint)

    @work(thread=True, group="counts", exit_on_error=False)
    def _read_counts(self, search: str, narrow: Narrowing, paint: Paint | None) -> None:
        try:
            with self._guard():
                counts = self.service.counts(
                    self.actor, search, narrow=narrow, now=self.clock(), paint=paint
                )
                self.post_message(CountsLoaded(search, counts, narrow))
        finally:
            self.post_message(CountsFinished(search, narrow))

    def load_totals(self, paint: Paint | None = None) -> None:
        self._read_totals(self.tab, self.search, self.narrow, paint)

    @work(thread=True, exclusive=True, group="totals", exit_on_error=False)
    def _read_totals(
        self, tab: d.Tab, search: str, narrow: Narrowing, paint: Paint | None
    ) -> None:
        with self._guard():
            totals = self.service.totals(
                self.actor, tab, search, narrow=narrow, now=self.clock(), paint=paint
            )
            self.post_message(TotalsLoaded(tab, search, totals, narrow))

    @on(TotalsLoaded)
    def _show_totals(self, msg: TotalsLoaded) -> None:
        if (msg.tab, msg.search, msg.narrow) == (self.tab, self.search, self.narrow):
            self.totals = msg.totals
            self._show_status()

    @on(CountsFinished)
    def _counts_finished(self, msg: CountsFinished) -> None:
        if self._counting == (msg.search, msg.narrow):
            self._counting = None
            if self._count_again:
                self._count_again = False
                self.load_counts(self.search)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load_detail(self, request_id: str) -> None:
        with self._guard():
            try:
                detail = load_detail(self.service, self.actor, request_id, self.clock())
            except Refused:  # gone from this actor's sight meanwhile
                detail = None
            self.post_message(DetailLoaded(request_id, detail))

    @on(WindowLoaded)
    def _show_window(self, msg: WindowLoaded) -> None:
        if msg.seq != self._rows_seq or msg.window.view != self.view:
            return  # a later read was asked for meanwhile
        # The cursor as pending says: further steps past the edge may have moved it (_edge).
        keep_id, cursor = msg.keep_id, msg.cursor
        if self._pending is not None:
            keep_id, cursor = self._pending[1], self._pending[2]
        self._pending = None
        self._pending_edge = None
        self._store_ok()
        shown = self.window
        if (
            keep_id is not None
            and shown is not None
            and self.table.row_count
            and ((shown.view, shown.anchor) == (msg.window.view, msg.window.anchor))
        ):
            # A refresh of the rows on screen: the cursor stays where the user moved it while
            # the read was under way, not where it was when the read was asked for.
            keep_id, cursor = self.table.highlighted_id, self.table.cursor_row
        self.window = msg.window
        self._freeze_once_loaded()
        self.table.show_rows(msg.window.rows, self.clock(), keep_id=keep_id, cursor=cursor)
        self.query_one(ConsoleHeader).set_refreshed(self._local(self.clock(), "HH:mm:ss"))
        self._show_status()
        after = self.table.highlighted_id
        if after is None:
            self._set_detail(None)
        else:
            self._ask_detail(after)  # unless it is shown or being read already

    @on(CountsLoaded)
    def _show_counts(self, msg: CountsLoaded) -> None:
        if (msg.search, msg.narrow) != (self.search, self.narrow):
            return
        self._store_ok()
        self.counts = msg.counts
        self.query_one(TabBar).set_counts(msg.counts)
        self._show_status()
        self._freeze_once_loaded()

    def _freeze_once_loaded(self) -> None:
        """Once the first view is on screen, move what exists by then (Textual, SQLAlchemy,
        the modules, ~150 000 objects) out of the garbage collector's full passes. Those
        passes took 60-120 ms on this thread now and then, seen as tab switches of 130 ms
        (bench/run.py, gc.callbacks); afterwards they scan only what was made since."""
        if not self._frozen and self.counts is not None and self.window is not None:
            self._frozen = True
            self.call_after_refresh(gc.freeze)

    @on(DetailLoaded)
    def _show_detail(self, msg: DetailLoaded) -> None:
        if msg.request_id == self._detail_asked:
            self._detail_asked = None
        if msg.request_id == self.table.highlighted_id:
            self._set_detail(msg.detail)

    def _set_detail(self, detail: Detail | None) -> None:
        self.detail = detail
        self.query_one(DetailPanel).show(detail, self.clock())

    def _show_status(self) -> None:
        total = self.counts.get(self.tab) if self.counts else None
        if self.window is None or self.window.view != self.view:
            total = None  # this view's rows are still being read: "loading…"
        position = None
        if self.window and self.window.rows and self.table.row_count:
            position = self.window.offset + self.table.cursor_row + 1
        self.query_one(StatusLine).show(
            tab_label=self.tab.label,
            position=position,
            total=total,
            sort_label=self.sorts[self.tab].label,
            marked=len(self.table.marked),
            search=self.search,
            totals=self.totals,
            filters=self.narrow.describe(),
        )

    @on(RequestTable.Highlighted)
    def _row_highlighted(self, event: RequestTable.Highlighted) -> None:
        self._show_status()
        if event.request_id:
            self._ask_detail(event.request_id)

    def _ask_detail(self, rid: str) -> None:
        """Read the detail of `rid` once the screen is refreshed, unless it is shown or being
        read: a new view's first row was asked for twice (its window shown, its row
        highlighted), and both reads (with the buyer's history, thousands of requests at 1M)
        ran while the view's rows waited to be drawn."""
        shown = self.detail.request.id if self.detail else None
        if rid not in (shown, self._detail_asked):
            self._detail_asked = rid
            self.call_after_refresh(self._read_detail, rid)

    def _read_detail(self, rid: str) -> None:
        if rid != self._detail_asked:
            return  # another row was highlighted meanwhile, and asked for
        if rid == self.table.highlighted_id:
            self.load_detail(rid)
        else:
            self._detail_asked = None

    @on(RequestTable.Selected)
    def _row_selected(self) -> None:
        self.action_records()

    @on(RequestTable.EdgeReached)
    def _edge(self, msg: RequestTable.EdgeReached) -> None:
        window = self.window
        if window is None:
            return
        if msg.edge in ("next", "previous") and window.rows:
            edge_row = window.rows[-1] if msg.edge == "next" else window.rows[0]
            if msg.at_id != edge_row.id:
                # Posted at the edge of a window no longer shown: the next one came before
                # this was read (keys held one at a time reach the table slowly on a busy
                # machine). Its step is taken from where the cursor is now, not from this
                # window's edge: that jumped a whole window (row 201 for row 105), or lost
                # the step going up.
                self.table.step(msg.overshoot + 1 if msg.edge == "next" else -msg.overshoot - 1)
                return
        if self._pending is not None and self._pending_edge == msg.edge:
            # The same edge again while its window is read (a held ↓ or PgDn): the cursor
            # lands that much further in it, instead of the key being lost.
            anchor, keep_id, cursor = self._pending
            step = msg.overshoot + 1
            if msg.edge == "next":
                self._pending = (anchor, keep_id, cursor + step)
            elif msg.edge == "previous":
                self._pending = (anchor, keep_id, cursor - step)
            return
        self._load_edge(window, msg)
        if self._pending is not None:
            self._pending_edge = msg.edge

    def _load_edge(self, window: Window, msg: RequestTable.EdgeReached) -> None:
        if msg.edge == "first":
            self.load_rows(FIRST, keep_id=None, cursor=0)
        elif msg.edge == "last":
            self.load_rows(LAST, keep_id=None, cursor=self.page_size)
        elif msg.edge == "next" and window.more_after and window.rows:
            last = window.offset + len(window.rows) - 1  # the rows before the window's last
            self.load_rows(Anchor(window.rows[-1], before=last), None, cursor=msg.overshoot)
        elif msg.edge == "previous" and window.more_before and window.rows:
            self.load_rows(
                Anchor(window.rows[0], backwards=True, before=window.offset),
                keep_id=None,
                cursor=self.page_size - 1 - msg.overshoot,
            )

    # -----------------------------------------------------------------------------------------
    # The database's health

    @on(StoreFailed)
    def _store_failed(self, msg: StoreFailed) -> None:
        if msg.epoch is not None and msg.epoch < self.store_epoch:
            # Begun while the database was down, and failed after a later read found it
            # back: the banner would come back for nothing until the next poll.
            return
        self.store_error = msg.message
        self.query_one(Banner).show(msg.message)

    @on(Problem)
    def _problem(self, msg: Problem) -> None:
        self.notify(safe(msg.message), severity="error", markup=False, timeout=10)

    def _store_ok(self) -> None:
        if self.store_error is not None:
            self.store_error = None
            self.store_epoch += 1
            self.query_one(Banner).hide()
            self.notify("The database is reachable again.", markup=False)

    # -----------------------------------------------------------------------------------------
    # Timers

    def _tick(self) -> None:
        now = self.clock()
        # From the theme each time: the palette's Theme command may have changed it.
        theme = self.app.current_theme
        self.table.countdown_styles = {
            "warning": f"bold {theme.warning}" if theme.warning else "bold yellow",
            "urgent": f"bold reverse {theme.error}" if theme.error else "bold reverse red",
        }
        # To the minute: a clock ticking by the second repainted the header, and over SSH sent
        # it, every second for every user, for nothing (bench/run.py's countdown tick). The
        # countdowns under an hour still count seconds.
        self.query_one(ConsoleHeader).set_clock(self._local(now))
        self.table.repaint_countdowns(now)
        if self.detail is not None:
            self.query_one(DetailPanel).tick(now)

    # -----------------------------------------------------------------------------------------
    # Keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        rule = NEEDS_RULE.get(action)
        if rule is not None and self.actor.role not in ALLOWED[rule]:
            return False
        if action == "clear_search":
            return bool(self.search)
        if action == "clear_filters":
            return bool(self.narrow)
        if action == "view":
            return any(v.slot == parameters[0] for v in self.views)
        return True

    def action_tab(self, name: str) -> None:
        self.switch_tab(d.Tab(name))

    def switch_tab(self, tab: d.Tab) -> None:
        if tab is self.tab:
            return
        if self.window is not None:
            self._places[self.tab] = (self.window, self.table.highlighted_id)
        self.tab = tab
        place = self._places.get(tab)
        # The read first: its thread then runs while this one repaints the tab bar.
        if place and place[0].view == self.view:
            window, keep = place
            self.load_rows(replace(window.anchor, before=None), keep_id=keep, cursor=0)
            # Meanwhile the tab as it was left; the read brings it up to date.
            self.window = window
            self.table.show_rows(window.rows, self.clock(), keep_id=keep, cursor=0)
        else:
            self.load_rows(FIRST, keep_id=None, cursor=0)
            self.window = None
        self.totals = None
        self.load_totals()
        self.query_one(TabBar).select(tab)
        self._show_status()

    @on(TabBar.Clicked)
    def _tab_clicked(self, event: TabBar.Clicked) -> None:
        self.switch_tab(event.tab)

    def action_sort(self) -> None:
        current = self.sorts[self.tab]
        self.sorts[self.tab] = SORT_CYCLE[(SORT_CYCLE.index(current) + 1) % len(SORT_CYCLE)]
        self._places.pop(self.tab, None)
        self.load_rows(FIRST, keep_id=self.table.highlighted_id, cursor=0)
        self._show_status()
        self.notify(f"Sorted {self.sorts[self.tab].label}.", markup=False, timeout=2)

    def action_search(self) -> None:
        self.query_one(SearchBar).open(self.search)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._apply_search(event.value.strip())
        focus_now(self.table)

    @on(SearchBar.Cleared)
    def _search_cleared(self) -> None:
        self.action_clear_search()

    def action_clear_search(self) -> None:
        self.query_one(SearchBar).close()
        focus_now(self.table)
        self._apply_search("")

    def _apply_search(self, text: str) -> None:
        if text == self.search:
            return
        self.search = text
        self._view_changed()
        if not text:
            self.query_one(SearchBar).close()

    def _view_changed(self) -> None:
        """The search or the filters changed: every tab's rows, counts and money again."""
        self._places.clear()
        self.counts = None
        self.totals = None
        self._load_sums()
        self.load_rows(FIRST, keep_id=None, cursor=0)
        self._show_status()

    def action_mark(self) -> None:
        rid = self.table.highlighted_id
        if rid is None:
            return
        self.table.toggle_mark(rid)
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)
        self._show_status()

    def _current(self, kind: d.Kind | None = None) -> str | None:
        """The highlighted request's id; None, said in one line, when there is none or when
        the action recorded as `kind` cannot start from its status (no dialog to fill in for
        nothing: the services check again when it is done)."""
        row = self.table.highlighted_row
        if row is None:
            self.notify("No request is highlighted.", markup=False, severity="warning")
            return None
        if kind is not None and (refusal := d.wrong_status(row.id, d.Status(row.status), kind)):
            self.notify(safe(refusal.message), markup=False, severity="warning")
            return None
        return row.id

    def action_accept_next(self) -> None:
        self.action_accept(then_next=True)

    def action_accept(self, then_next: bool = False) -> None:
        """Accept the highlighted request, once confirmed; `then_next`: and put the cursor on
        the row below it, which stays under the cursor when the accepted row leaves the tab."""
        row = self.table.highlighted_row
        if (rid := self._current(d.Kind.ACCEPTED)) is None or row is None:
            return
        money = f"{format_amount(row.amount_cents, row.currency)} {row.currency}"
        # DESIGN §7: a return may be refunded at once with the item left with the buyer.
        # A synced return's marketplace may not let the buyer keep the item (DESIGN §7).
        keepable = row.can_keep_item is None or bool(row.can_keep_item)
        keep = row.type == d.RequestType.RETURN_AND_REFUND and keepable
        if row.type == d.RequestType.REFUND:
            body = f"{money} is refunded to {row.buyer} now; the buyer keeps {row.product}."
        else:
            body = (
                f"{row.buyer} is asked to send {row.product} back; {money} is refunded "
                "when it arrives."
            )
            if keep:
                body += (
                    f" Or {money} is refunded now and the buyer keeps "
                    f"{row.product}: {actions.KEEP_ITEM_LABEL} (k)."
                )

        def done(answer: bool | str | None) -> None:
            if not answer:
                return
            if then_next and self.table.highlighted_id == rid:
                self.table.move_cursor(row=self.table.cursor_row + 1)
            if answer == EXTRA:
                self.act("accept", [rid], keep_item=True)
            else:
                self.act("accept", [rid])

        self.app.push_screen(
            ConfirmScreen(
                f"Accept request {safe(rid)}?",
                safe(body),
                "Accept",
                watch=(rid, row.status),
                extra=actions.KEEP_ITEM_LABEL if keep else None,
            ),
            done,
        )

    def action_accept_marked(self) -> None:
        ids = sorted(self.table.marked)
        if not ids:
            self.notify("Mark requests with space first.", markup=False, severity="warning")
            return
        # Read as they are now: a marked row may have changed elsewhere since it was marked,
        # and the question counts only those that can still be accepted.
        self._open_with(partial(self._read_marked, ids))

    def _read_marked(self, ids: list[str]) -> Callable[[], None]:
        ready: list[d.Request] = []
        not_now: list[str] = []
        for rid in ids:
            try:
                request = self.service.get(self.actor, rid)
            except Refused as exc:  # gone from this viewer's sight
                not_now.append(exc.message)
                continue
            if refusal := d.wrong_status(rid, request.status, d.Kind.ACCEPTED):
                not_now.append(refusal.message)
            else:
                ready.append(request)
        return lambda: self._confirm_marked(ids, ready, not_now)

    def _confirm_marked(self, ids: list[str], ready: list[d.Request], not_now: list[str]) -> None:
        if not ready:
            self.table.clear_marks(ids)
            self._show_status()
            self.notify(
                _marked_left_out(len(ids), not_now),
                title="Nothing to accept",
                severity="warning",
                markup=False,
                timeout=10,
            )
            return
        n = len(ready)
        title = f"Accept {n} marked request{'s' if n > 1 else ''}?"
        if not_now:
            title = f"Accept {n} of the {len(ids)} marked requests?"

        def done(ok: bool | None) -> None:
            if ok:
                self.table.clear_marks(ids)
                self.act("accept", [r.id for r in ready], batch=True)

        self.app.push_screen(
            ConfirmScreen(title, marked_body(ready, not_now, len(ids)), f"Accept {n}"),
            done,
        )

    def action_reject(self) -> None:
        if (rid := self._current(d.Kind.REJECTED)) is None:
            return
        if self._synced_row():
            return self.reject_synced(rid, d.RejectStage.REQUEST.value)

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.act("reject", [rid], reason=result[0], note=result[1])

        self.app.push_screen(RejectScreen(rid, self.service.rules), done)

    def action_offer(self) -> None:
        row = self.table.highlighted_row
        if (rid := self._current(d.Kind.OFFERED)) is None or row is None:
            return

        def done(amount: str | None) -> None:
            if amount is not None:
                self.act("offer", [rid], amount=amount)

        self.app.push_screen(OfferScreen(rid, row.amount_cents, row.currency), done)

    def action_reject_receipt(self) -> None:
        if (rid := self._current(d.Kind.RECEIPT_REJECTED)) is None:
            return
        if self._synced_row():
            return self.reject_synced(rid, d.RejectStage.RECEIPT.value)

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.act("reject_receipt", [rid], reason=result[0], note=result[1])

        rules = self.service.rules
        screen = RejectScreen(
            rid,
            rules,
            reasons=rules.receipt_reasons,
            title=f"Reject the returned package of {safe(rid)}",
            check=d.check_receipt_reject_input,
            note_required=True,
        )
        self.app.push_screen(screen, done)

    def _synced_row(self) -> bool:
        row = self.table.highlighted_row
        return row is not None and row.source == d.SYNCED

    def action_receive(self) -> None:
        row = self.table.highlighted_row
        if (rid := self._current(d.Kind.RECEIVED)) is None or row is None:
            return
        money = f"{format_amount(row.amount_cents, row.currency)} {row.currency}"
        self.app.push_screen(
            ConfirmScreen(
                f"Confirm receipt of {safe(rid)}?",
                # Buyer and product are outside text: the dialog shows its body as plain text,
                # and safe() makes control characters visible.
                safe(f"{row.product} is back from {row.buyer}; {money} is refunded now."),
                "Confirm receipt",
                watch=(rid, row.status),
            ),
            lambda ok: ok and self.act("receive", [rid]),
        )

    def action_note(self) -> None:
        if (rid := self._current()) is None:
            return

        def done(note: str | None) -> None:
            if note:
                self.act("note", [rid], note=note)

        self.app.push_screen(NoteScreen(rid), done)

    def action_records(self) -> None:
        row = self.table.highlighted_row
        if (rid := self._current()) is not None and row is not None:
            self._open_with(partial(self._read_records, rid, row.currency))

    def _read_records(self, rid: str, currency: str) -> Callable[[], None]:
        records = self.service.records(self.actor, rid)
        screen = RecordsScreen(rid, records, self.service.rules, self.tz, currency)
        return lambda: self.app.push_screen(screen)

    def action_mediate(self) -> None:
        if (rid := self._current(d.Kind.MEDIATED)) is not None:
            self._open_with(partial(self._read_mediate, rid))

    def _read_mediate(self, rid: str) -> Callable[[], None]:
        request = self.service.get(self.actor, rid)
        records = self.service.records(self.actor, rid)
        return lambda: self._push_mediate(request, records)

    def _open_with(self, read: Callable[[], Callable[[], None]]) -> None:
        """Open a dialog whose data is read first, in a worker. Keys typed meanwhile wait for
        the dialog (a second `v` or `m` too, which then does nothing): they are not the
        table's (typeahead.py)."""
        self.app.hold_keys()  # type: ignore[attr-defined]
        self._read_dialog(read)

    @work(thread=True, group="dialog", exit_on_error=False)
    def _read_dialog(self, read: Callable[[], Callable[[], None]]) -> None:
        opener = None
        try:
            with self._guard():
                opener = read()
        finally:
            self.post_message(DialogData(opener))

    def _push_mediate(self, request: d.Request, records: list[d.Record]) -> None:
        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.act("mediate", [request.id], decision=result[0], note=result[1])

        self.app.push_screen(
            MediateScreen(request, records, self.tz, rules=self.service.rules), done
        )

    @on(DialogData)
    def _open_dialog(self, msg: DialogData) -> None:
        if msg.open is None or not self.is_current:
            # The read failed (a toast or the banner says why), or another screen came up:
            # the keys typed for the dialog go nowhere.
            self.app.release_keys(drop=True)  # type: ignore[attr-defined]
            return
        msg.open()

    def action_export(self) -> None:
        what = self.tab.label + (f", search: {safe(self.search)}" if self.search else "")
        if self.narrow:
            what += f", filters: {self.narrow.describe()}"
        view = (self.tab, self.search, self.narrow)

        def done(path: str | None) -> None:
            if path is not None:
                self._export(*view, path)

        self.app.push_screen(ExportScreen(what, f"returns-{self.tab.value}.csv"), done)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, tab: d.Tab, search: str, narrow: Narrowing, path: str) -> None:
        with self._guard():
            try:
                where, count = self.service.export_view(
                    self.actor, tab, search, path, narrow=narrow, now=self.clock()
                )
            except Refused as exc:  # the name was taken meanwhile, the disk is full…
                self.post_message(Exported(refusal=exc.message))
            else:
                self.post_message(Exported(str(where), count))

    @on(Exported)
    def _exported(self, msg: Exported) -> None:
        if msg.refusal:
            self.notify(safe(msg.refusal), severity="error", markup=False, timeout=10)
            return
        n = f"{msg.count} request{'' if msg.count == 1 else 's'}"
        self.notify(safe(f"Exported {n} to {msg.path}"), markup=False, timeout=10)

    @on(MarksDone)
    def _unmark(self, msg: MarksDone) -> None:
        self.table.clear_marks(msg.ids)

    def action_insights(self) -> None:
        from returns_tui.screens.insights import InsightsScreen  # plotext loads only here

        self.app.push_screen(
            InsightsScreen(
                self.service, self.actor, clock=self.clock, poll_seconds=self.settings.poll_seconds
            )
        )

    def action_rules(self) -> None:
        from returns_tui.screens.rules import RulesScreen

        self.app.push_screen(RulesScreen(self.service, self.actor, clock=self.clock))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_rows(), rules=self.service.rules))

    def key_rows(self) -> list[tuple[str, str]]:
        """(key, what it does) for every key this viewer may use, as remapped."""
        rows: list[tuple[str, str]] = []
        for active in self.active_bindings.values():
            binding = active.binding
            if not binding.description or not active.enabled:
                continue
            if binding.action in _TEXTUAL_SCREEN_ACTIONS:
                continue  # every Textual screen's; copy is listed last, focus moves are noise
            if active.node is not self and binding.action not in (
                "quit",
                "app.quit",
                "command_palette",
            ):
                continue
            # Every key as the footer writes it (^p, ^q), each once.
            does = _KEY_HELP.get(binding.action, binding.description)
            rows.append((self.app.get_key_display(binding), does))
        if not self.narrow:  # its key works only while there are filters: say it all the same
            clear = next(b for b in self.BINDINGS if getattr(b, "id", None) == "clear_filters")
            rows.append((self.app.get_key_display(clear), "Clear filters (once there are some)"))
        rows += [
            ("F1–F9", "A saved view: its tab, sort, search and filters (w saves one)"),
            ("↑ ↓", "Move; past the window's end the next page is read"),
            ("← →", "A column sideways, on a terminal narrower than the table"),
            ("PgUp PgDn", "A screen up or down"),
            ("Home End", "First page, last page"),
            ("Enter", "View the return records"),
            ("^c", "Copy the text selected with the mouse"),
        ]
        return rows

    # -----------------------------------------------------------------------------------------
    # Changes

    def act(self, verb: str, ids: Sequence[str], *, batch: bool = False, **params: Any) -> None:
        self._act(verb, list(ids), batch, params)

    @work(thread=True, group="act", exit_on_error=False)
    def _act(self, verb: str, ids: list[str], batch: bool, params: dict[str, Any]) -> None:
        done: list[str] = []
        sending: list[str] = []  # synced: sent to the marketplace, not done yet (§8)
        refused: list[str] = []
        failed = ""
        method = getattr(self.service, verb)
        for rid in ids:
            try:
                req = method(self.actor, rid, self.clock(), **params)
                (sending if is_sent(req, verb) else done).append(rid)
            except StoreError as exc:
                failed = exc.message
                break
            except ReturnsError as exc:  # a refusal: a rule, a race lost, a role
                refused.append(exc.message)
            except Exception as exc:  # a bug must not take the console down
                log.exception("%s %s failed", verb, rid)
                refused.append(f"{rid}: {exc.__class__.__name__}: {exc}")
        self.post_message(ActionsDone(verb, done, refused, failed, sending))
        if batch:
            self.post_message(MarksDone(ids))

    @on(ActionsDone)
    def _acted(self, msg: ActionsDone) -> None:
        word = DONE_WORDS.get(msg.verb, msg.verb)
        if msg.done:
            if len(msg.done) == 1:
                text = f"{msg.done[0]} {word}."
            else:
                text = f"{len(msg.done)} requests {word}."
            self.notify(safe(text), markup=False)
        if msg.sending:
            self.notify(safe(sending_text(msg.verb, msg.sending)), markup=False)
        if msg.refused:
            self.notify(
                safe(
                    "\n".join(msg.refused[:10])
                    + (f"\n… and {len(msg.refused) - 10} more" if len(msg.refused) > 10 else "")
                ),
                title="Refused",
                severity="error",
                markup=False,
                timeout=10,
            )
        if msg.failed:
            self.notify(
                safe(f"Nothing was changed: {msg.failed}"),
                severity="error",
                markup=False,
                timeout=10,
            )
            self.post_message(StoreFailed(msg.failed))
        self.reload()
        self._show_status()

    # -----------------------------------------------------------------------------------------

    def _local(self, at: DateTime, fmt: str | None = None) -> str:
        """`at` in the viewer's zone: with its offset, or in `fmt` (timefmt)."""
        return local_text(at, self.tz) if fmt is None else local_format(at, self.tz, fmt)


MARKED_LISTED = 10  # requests listed by name in the accept-marked question


def marked_body(ready: Sequence[d.Request], not_now: Sequence[str], marked: int) -> str:
    """The accept-marked question's body: the requests that will be accepted (the first ten),
    their total per currency, and the marked ones left out, with why. Line by line through
    safe(): the buyer's and product's text may hold anything."""
    lines = [
        safe(f"{r.id}  {r.buyer} · {r.product} · ", single_line=True)
        + f"{format_amount(r.amount_cents, r.currency)} {safe(r.currency)}"
        for r in ready[:MARKED_LISTED]
    ]
    if len(ready) > MARKED_LISTED:
        lines.append(f"… and {len(ready) - MARKED_LISTED} more")
    sums: dict[str, int] = {}
    for r in ready:
        sums[r.currency] = sums.get(r.currency, 0) + r.amount_cents
    lines.append(f"Total: {at_stake(dict(sorted(sums.items())))}")
    if not_now:
        lines += ["", _marked_left_out(marked, not_now)]
    return "\n".join(lines)


def _marked_left_out(marked: int, not_now: Sequence[str]) -> str:
    n = len(not_now)
    head = (
        f"{n} of the {marked} marked can no longer be accepted and "
        f"{'is' if n == 1 else 'are'} left out:"
    )
    shown = [safe(m, single_line=True) for m in not_now[:5]]
    shown += [f"… and {n - 5} more"] if n > 5 else []
    return "\n".join([head, *shown])
