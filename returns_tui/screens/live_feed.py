"""The console's live feed: what keeps a screen current without a key press. A poll asks the
database whether anyone committed (store/changes.py) and reads again if so; a sweep applies the
deadlines that have passed and tells the user what the clock approved and what is due soon;
a confirm dialog about a request that changed meanwhile is closed. Each runs in a worker, and
never two of a kind at once: a timer that fires while the last run is still going skips
(`_polling`, `_sweeping`), so a slow database makes runs rarer instead of piling them up.

ConsoleScreen (screens/main.py) is one: it gives the feed its service, viewer, clock and
`reload`, and shows what it reads.
"""

from __future__ import annotations

import logging
import threading

import pendulum
from pendulum import DateTime
from textual import on, work
from textual.screen import Screen

from returns_tui import domain as d
from returns_tui import labels
from returns_tui.clock import Clock
from returns_tui.errors import ReturnsError, StoreError
from returns_tui.roles import Actor
from returns_tui.screens.confirm import ConfirmScreen
from returns_tui.screens.messages import Changed, Problem, StoreFailed, SweepDone
from returns_tui.services import Returns
from returns_tui.store.changes import ChangeWatcher
from returns_tui.textsafe import safe
from returns_tui.timefmt import countdown

log = logging.getLogger(__name__)

WARN_BEFORE = pendulum.duration(hours=1)
# The soonest requests read for that warning each sweep. A busy desk (an agent at a million
# requests) has tens of thousands due within the hour; reading them all every few seconds cost
# more than the console's own work and made Python's full garbage collections take ~100 ms
# (seen as tab switches of 130 ms). Past the soonest 100, a request is warned about when it
# becomes one of them, still before its deadline.
DUE_SOON_READ = 100


class LiveFeed(Screen):
    """A screen kept current by a poll and a sweep (see the module)."""

    service: Returns
    actor: Actor
    clock: Clock
    store_error: str | None

    def __init__(self, service: Returns) -> None:
        super().__init__()
        # One more each time the database is seen reachable again: a read that began before
        # that and failed says nothing of now (Guard, _store_failed).
        self.store_epoch = 0
        self.watcher = ChangeWatcher(service.engine)
        self._watcher_lock = threading.Lock()
        self._watcher_closed = False
        self._sweeping = False
        self._polling = False
        # Warned about as due soon, by deadline, until a sweep has seen the deadline pass (and
        # told whether someone else's sweep approved it): never warned twice, and a console
        # left open for days keeps only what is due within the hour.
        self._warned: dict[str, DateTime] = {}

    def reload(self) -> None:
        """Read what the screen shows again (the screen's own)."""
        raise NotImplementedError

    def _guard(self) -> Guard:
        return Guard(self)

    def close_feed(self) -> None:
        # Not while a poll thread is using the watcher's connection: closing a connection
        # under another thread's feet can crash the driver.
        with self._watcher_lock:
            self._watcher_closed = True
            self.watcher.close()

    def start_poll(self) -> None:
        if not self._polling:
            self._polling = True
            self._poll()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        try:
            with self._guard(), self._watcher_lock:
                if self._watcher_closed:
                    return
                # While the database is down every poll retries the reads; otherwise only
                # when someone committed.
                if self.watcher.changed() or self.store_error is not None:
                    self.post_message(Changed())
        finally:
            self._polling = False

    @on(Changed)
    def _changed(self) -> None:
        self.reload()
        self._recheck_dialog()

    def _recheck_dialog(self) -> None:
        """Someone committed: if a confirm dialog is open about one request, read that
        request again (its status may have moved under the question)."""
        dialog = self.app.screen
        if isinstance(dialog, ConfirmScreen) and dialog.watch is not None:
            self._reread_watched(dialog)

    @work(thread=True, group="watch", exit_on_error=False)
    def _reread_watched(self, dialog: ConfirmScreen) -> None:
        assert dialog.watch is not None
        rid, asked_about = dialog.watch
        with self._guard():
            status = self.service.get(self.actor, rid).status
            if status.value != asked_about:
                self.app.call_from_thread(self._close_stale, dialog, rid, status)

    def _close_stale(self, dialog: ConfirmScreen, rid: str, status: d.Status) -> None:
        if self.app.screen is not dialog:
            return  # answered meanwhile
        dialog.dismiss(False)
        self.notify(
            f"{safe(rid)} changed meanwhile: it is now {labels.status(status)}. Nothing was done.",
            severity="warning",
            markup=False,
        )

    def start_sweep(self) -> None:
        """Apply the deadlines, unless the last sweep is still running: sweeps never overlap."""
        if not self._sweeping:
            self._sweeping = True
            self._sweep(dict(self._warned))

    @work(thread=True, group="sweep", exit_on_error=False, description="sweep")
    def _sweep(self, warned: dict[str, DateTime]) -> None:
        try:
            with self._guard():
                now = self.clock()
                swept = self.service.sweep(now)
                notices = self.service.sweep_notices(
                    self.actor, now, warned, WARN_BEFORE, DUE_SOON_READ
                )
                ours = {s.request_id for s in swept}
                by_others = [rid for rid in notices.approved_elsewhere if rid not in ours]
                self.post_message(SweepDone(swept, notices.due_soon, by_others, notices.passed))
        finally:
            self._sweeping = False

    @on(SweepDone)
    def _swept(self, msg: SweepDone) -> None:
        approved = [
            s.request_id
            for s in msg.swept
            if s.kind is d.Kind.AUTO_APPROVED and self.actor.sees(s.shop)
        ] + msg.approved_elsewhere
        for rid in msg.passed:
            self._warned.pop(rid, None)
        if approved:
            self.notify(
                _listed(
                    approved,
                    "was auto-approved: its time to answer passed.",
                    "were auto-approved: their time to answer passed.",
                ),
                title="Auto-approved",
                severity="warning",
                markup=False,
                timeout=10,
            )
        fresh = [(rid, at) for rid, at in msg.due_soon if rid not in self._warned]
        self._warned.update(fresh)
        if fresh:
            first_left = countdown((fresh[0][1] - self.clock()).total_seconds())
            self.notify(
                _listed(
                    [rid for rid, _ in fresh],
                    f"will be auto-approved in {first_left} unless answered.",
                    "will be auto-approved within the hour unless answered.",
                    at_least=len(msg.due_soon) >= DUE_SOON_READ,  # more were not read
                ),
                title="Due soon",
                severity="warning",
                markup=False,
                timeout=10,
            )
        if msg.swept:
            self.reload()


class Guard:
    """In a worker: turn any failure into a banner (the database) or a toast (anything else
    with a sentence for people) instead of a traceback."""

    def __init__(self, screen: LiveFeed) -> None:
        self.screen = screen
        self.epoch = screen.store_epoch  # when the read began

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        if isinstance(exc, StoreError):
            self.screen.post_message(StoreFailed(exc.message, self.epoch))
        elif isinstance(exc, ReturnsError):
            self.screen.post_message(Problem(exc.message))
        else:
            # A driver error outside SQLAlchemy's translation (the change watcher's own
            # connection), or a bug: the banner says so, and the poll keeps retrying.
            log.exception("console read failed")
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            self.screen.post_message(StoreFailed(first, self.epoch))
        return True


def _listed(ids: list[str], one: str, many: str, *, at_least: bool = False) -> str:
    more = len(ids) - 5
    shown = ", ".join(ids[:5])
    if at_least:
        shown += f" and at least {max(more, 0):,} more" if more > 0 else " and more"
    elif more > 0:
        shown += f" and {more:,} more"
    return f"{shown} {one if len(ids) == 1 and not at_least else many}"
