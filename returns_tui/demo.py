"""`returns-tui demo`: the console on a fresh demo database, with buyers acting live.

The database is a new SQLite file in a new temporary directory, so nothing of the user's is
read or touched; its path is printed before the console opens, and the directory is removed
when the demo ends (`--keep` keeps it, and says so at the end). It holds about 300 seeded
requests over two shops in every status (seed.py makes a few of them minutes from
auto-approval, and so does this module), the login as an operator of both shops (or as the
support agent with `--as agent`), an admin and the other role's user.

While the console runs, a daemon thread plays the buyers through the same services and
rules as everyone else: a new request every 20 to 40 seconds; now and then a shipment, a
cancellation, an appeal of a recent rejection, or an answer to a partial refund offered. What
the rules refuse is simply not done (a buyer who is too late is normal), and the thread never
writes to the terminal.
RETURNS_TUI_DEMO_PACE scales its intervals (0.05 makes it twenty times as lively), for the
terminal tests.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
from pendulum import DateTime

from returns_tui import domain as d
from returns_tui.clock import utc_now
from returns_tui.errors import Refused, ReturnsError
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.chain import KEY_FILE, ChainKey, create_key
from returns_tui.store.engine import open_engine, read, upgrade
from returns_tui.store.queries import ListRow, Sort

log = logging.getLogger(__name__)  # debug only: nothing may reach the terminal under the TUI

DEMO_SHOPS = ("acme-home", "nordic-outdoor")
ADMIN, OPERATOR, AGENT = "demo-admin", "demo-operator", "demo-agent"
DEMO_COUNT = 300
# Extra pending requests this many minutes before their auto-approval: two that pass while
# one watches, and one that brings the "an hour from auto-approval" toast.
NEAR_DEADLINE_MINUTES = (4, 9, 55)
PACE_ENV = "RETURNS_TUI_DEMO_PACE"

# The buyers' rhythm, in seconds at pace 1.0.
SUBMIT_EVERY = (20.0, 40.0)
EVENT_EVERY = (6.0, 20.0)
# How often each kind of buyer event is tried.
# A partial refund offered (DESIGN §7) is agreed to or declined; one left alone lapses.
EVENT_WEIGHTS = {"ship": 5, "appeal": 3, "cancel": 2, "agree": 2, "decline": 1}


# ---------------------------------------------------------------------------------------------
# The database


@dataclass(frozen=True)
class DemoDatabase:
    path: Path
    url: str
    login: str  # the user the console runs as
    users: dict[str, str]  # name -> role
    shops: tuple[str, ...]
    key: ChainKey  # what its records are chained with


def build(
    directory: Path,
    login: str,
    as_role: str = "operator",
    *,
    now: DateTime,
    count: int = DEMO_COUNT,
    seed: int = 0,
    rules: d.Rules | None = None,
    chain_key: ChainKey | None = None,
    synced_shops: tuple[str, ...] = (),
) -> DemoDatabase:
    """Create `directory`/demo.db with the schema, the users and the seeded requests, its
    records chained with `chain_key`, by default a key of its own in `directory`/chain.key
    (the demo reads nothing of the user's, their key included)."""
    from returns_tui import seed as seeding  # the seeder is only needed here

    if as_role not in ("operator", "agent"):
        raise ValueError(f"as_role must be operator or agent, not {as_role!r}")
    rules = rules or d.Rules()
    key = chain_key or create_key(directory / KEY_FILE)[0]
    path = directory / "demo.db"
    url = f"sqlite:///{path}"
    engine = open_engine(url)
    try:
        upgrade(engine, key)
        service = Returns(engine, rules, chain_key=key)
        users = _cast(login, as_role)
        admin = next(name for name, role in users.items() if role == "admin")
        for name, role in users.items():
            shops = DEMO_SHOPS + synced_shops if role == "operator" else ()
            service.add_user(admin, name, role, shops, now)
        seeding.seed_requests(
            engine, count, seed=seed, now=now, shops=DEMO_SHOPS, rules=rules, key=key
        )
        # Through the services, as a buyer would have submitted them back then.
        rng = random.Random(seed)
        with read(engine) as conn:
            number, order = seeding.next_numbers(conn)
        for n, minutes in enumerate(NEAR_DEADLINE_MINUTES):
            at = now - rules.respond_window + pendulum.duration(minutes=minutes)
            sub = seeding.random_submission(rng, at, DEMO_SHOPS, number=number + n, order=order + n)
            service.submit(BUYER, sub, at)
    finally:
        engine.dispose()
    return DemoDatabase(path, url, login, users, DEMO_SHOPS + synced_shops, key)


def _cast(login: str, as_role: str) -> dict[str, str]:
    """Who is in the demo, name -> role: the login in the chosen role, and demo users for the
    other roles (renamed should the login happen to be one of their names)."""
    names = {"admin": ADMIN, "operator": OPERATOR, "agent": AGENT}
    users = {login: as_role}
    for role, name in names.items():
        if role == as_role:
            continue
        while name in users:
            name += "-2"
        users[name] = role
    # The admin first: the first user of a database must be an admin.
    return dict(sorted(users.items(), key=lambda item: item[1] != "admin"))


# ---------------------------------------------------------------------------------------------
# The buyers


class BuyerSimulator:
    """The demo's buyers. `step(now)` does whatever is due by `now` and says what it did; the
    intervals come from `rng`, so a test that passes its own clock and seed gets the same
    story every time."""

    def __init__(
        self,
        service: Returns,
        shops: Sequence[str] = DEMO_SHOPS,
        *,
        rng: random.Random | None = None,
        pace: float = 1.0,
    ) -> None:
        self.service = service
        self.shops = tuple(shops)
        self.rng = rng or random.Random()
        self.pace = pace
        self._next_submit: DateTime | None = None
        self._next_event: DateTime | None = None
        # The next request and order numbers, continuing the database's (R0000304 after
        # R0000303); read at the first submission.
        self._numbers: tuple[int, int] | None = None

    def _after(self, now: DateTime, span: tuple[float, float]) -> DateTime:
        return now.add(seconds=self.rng.uniform(*span) * self.pace)

    def step(self, now: DateTime) -> list[tuple[str, str]]:
        """Act on what is due at `now`; the (action, request id) pairs the rules accepted."""
        if self._next_submit is None or self._next_event is None:
            # The first call starts the clock: nothing arrives the instant the demo opens.
            self._next_submit = self._after(now, SUBMIT_EVERY)
            self._next_event = self._after(now, EVENT_EVERY)
            return []
        done: list[tuple[str, str]] = []
        if now >= self._next_submit:
            self._next_submit = self._after(now, SUBMIT_EVERY)
            done += self._attempt("submit", self._submit, now)
        if now >= self._next_event:
            self._next_event = self._after(now, EVENT_EVERY)
            kinds = list(EVENT_WEIGHTS)
            kind = self.rng.choices(kinds, weights=[EVENT_WEIGHTS[k] for k in kinds])[0]
            done += self._attempt(kind, getattr(self, f"_{kind}"), now)
        return done

    def _attempt(
        self, action: str, act: Callable[[DateTime], str | None], now: DateTime
    ) -> list[tuple[str, str]]:
        try:
            request_id = act(now)
        except Refused as exc:
            # Someone was quicker, or a window closed: buyers are refused all the time.
            log.debug("demo buyer %s refused: %s", action, exc)
            return []
        return [] if request_id is None else [(action, request_id)]

    # What a buyer does. Each picks a candidate from what the services list, as a buyer's app
    # would show it, and asks the services to do it; the rules decide.

    def _submit(self, now: DateTime) -> str:
        from returns_tui.seed import next_numbers, random_submission

        if self._numbers is None:
            with read(self.service.engine) as conn:
                self._numbers = next_numbers(conn)
        number, order = self._numbers
        sub = random_submission(self.rng, now, self.shops, number=number, order=order)
        try:
            done = self.service.submit(BUYER, sub, now).id
        except Refused:
            self._numbers = None  # someone else took the numbers, perhaps: read them again
            raise
        self._numbers = (number + 1, order + 1)
        return done

    def _ship(self, now: DateTime) -> str | None:
        row = self._pick(d.Tab.IN_PROCESS, now, {d.Status.AWAITING_BUYER_SHIP})
        if row is None:
            return None
        return self.service.ship(BUYER, row.id, now, self._tracking()).id

    def _cancel(self, now: DateTime) -> str | None:
        row = self._pick(d.Tab.TO_PROCEED, now, {d.Status.PENDING})
        if row is None:
            row = self._pick(d.Tab.IN_PROCESS, now, {d.Status.AWAITING_BUYER_SHIP})
        if row is None:
            return None
        return self.service.cancel(BUYER, row.id, now).id

    def _appeal(self, now: DateTime) -> str | None:
        # A recent rejection: its deadline (the end of the buyer's window) still ahead.
        row = self._pick(d.Tab.CLOSED, now, {d.Status.REJECTED}, open_window=True)
        if row is None:
            return None
        return self.service.appeal(BUYER, row.id, now).id

    def _agree(self, now: DateTime) -> str | None:
        row = self._pick(d.Tab.IN_PROCESS, now, {d.Status.AWAITING_BUYER_RESPONSE})
        return None if row is None else self.service.agree(BUYER, row.id, now).id

    def _decline(self, now: DateTime) -> str | None:
        row = self._pick(d.Tab.IN_PROCESS, now, {d.Status.AWAITING_BUYER_RESPONSE})
        return None if row is None else self.service.decline(BUYER, row.id, now).id

    def _pick(
        self, tab: d.Tab, now: DateTime, statuses: set[d.Status], *, open_window: bool = False
    ) -> ListRow | None:
        rows = [
            row
            for row in self.service.page(BUYER, tab, Sort.NEWEST, limit=60)
            if row.status in statuses
            and (not open_window or (row.deadline_at is not None and row.deadline_at > now))
        ]
        return self.rng.choice(rows) if rows else None

    def _tracking(self) -> str:
        prefix = self.rng.choice(("1Z", "LX", "JD", "9400"))
        return prefix + "".join(self.rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=12))


class BuyerThread(threading.Thread):
    """Runs a simulator on the real clock until `halt()`; swallows every failure (the
    database busy, a refusal) because the buyers are scenery, not the product."""

    def __init__(self, simulator: BuyerSimulator, clock: Callable[[], DateTime] = utc_now):
        super().__init__(name="returns-tui-demo-buyers", daemon=True)
        self.simulator = simulator
        self.clock = clock
        self.tick = max(0.05, min(1.0, simulator.pace))
        self._halted = threading.Event()  # not `_stop`: Thread uses that name itself

    def run(self) -> None:
        while not self._halted.wait(self.tick):
            try:
                self.simulator.step(self.clock())
            except Exception:  # noqa: BLE001 - see the class docstring
                log.debug("demo buyers: step failed", exc_info=True)

    def halt(self) -> None:
        self._halted.set()
        self.join(timeout=5)


def pace_from_env() -> float:
    """RETURNS_TUI_DEMO_PACE as a positive number, else 1.0."""
    try:
        pace = float(os.environ.get(PACE_ENV, "1"))
    except ValueError:
        return 1.0
    return pace if math.isfinite(pace) and pace > 0 else 1.0


# ---------------------------------------------------------------------------------------------
# The command


def main(as_role: str = "operator", keep: bool = False, marketplace: bool = False) -> int:
    """Run the demo; the exit status of the command. Its database is removed at the end,
    however the console ends (an error, ctrl+c, a hang-up), unless `keep`. With
    `marketplace`, a simulated TikTok Shop runs in-process and is synced both ways
    (returns_tui.sync.demo_market)."""
    from returns_tui.settings import load_settings

    if as_role not in ("operator", "agent"):
        print(f"returns-tui: --as must be operator or agent, not {as_role!r}.", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ReturnsError as exc:
        print(f"returns-tui: {exc.message}", file=sys.stderr)
        return 1
    directory = Path(tempfile.mkdtemp(prefix="returns-tui-demo-"))
    path = directory / "demo.db"
    what = "kept when it ends" if keep else "removed when it ends; --keep keeps it"
    print(f"Demo database: {path} ({what})", flush=True)
    try:
        return _run(directory, as_role, settings, marketplace)
    finally:
        if keep:
            print(f"Demo database kept: {path}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _run(directory: Path, as_role: str, settings: Any, marketplace: bool = False) -> int:
    """Build the demo database in `directory`, start the buyers (and the marketplace) and open
    the console."""
    from returns_tui.identity import login_name
    from returns_tui.sync.demo_market import SHOP

    synced = (SHOP,) if marketplace else ()
    try:
        demo = build(
            directory, login_name(), as_role, now=utc_now(), rules=settings.rules,
            synced_shops=synced,
        )  # fmt: skip
    except ReturnsError as exc:
        print(f"returns-tui: the demo database could not be made: {exc.message}", file=sys.stderr)
        return 1
    engine = open_engine(demo.url)
    # The buyers get their own engine, as another process would have: the console sees their
    # changes arrive from outside, as it sees everyone else's.
    buyers_engine = open_engine(demo.url)
    service = Returns(engine, settings.rules, chain_key=demo.key)
    buyers_service = Returns(buyers_engine, settings.rules, chain_key=demo.key)
    buyers = BuyerThread(BuyerSimulator(buyers_service, DEMO_SHOPS, pace=pace_from_env()))
    market = _marketplace(demo, settings, directory) if marketplace else None
    try:
        actor = service.login(demo.login)
        buyers.start()
        title = "returns-tui demo"
        if market is not None:
            market.start()
            market.ready.result(timeout=60)
            title += " with TikTok Shop (simulated)"
        from returns_tui.app import run_console  # Textual loads only when a console opens

        return run_console(service, actor, settings, title=title)
    finally:
        if buyers.is_alive():
            buyers.halt()
        if market is not None and market.is_alive():
            market.halt()
        buyers_engine.dispose()
        engine.dispose()


def _marketplace(demo: DemoDatabase, settings: Any, directory: Path):
    """The simulated marketplace and the sync, on an engine of their own (another process
    would have one)."""
    from returns_tui.sync.demo_market import MarketplaceDemo

    sync_service = Returns(open_engine(demo.url), settings.rules, chain_key=demo.key)
    return MarketplaceDemo(sync_service, directory, pace=pace_from_env())
