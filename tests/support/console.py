"""Helpers for the console tests: a clock the test moves, a seeded database in every status,
and waiting for what the screen shows (never a bare sleep: poll a condition with a deadline)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from pendulum import DateTime
from textual.pilot import Pilot
from textual.screen import Screen

from returns_tui import domain as d
from returns_tui.app import ReturnsApp
from returns_tui.roles import BUYER, Actor
from returns_tui.screens.main import ConsoleScreen
from returns_tui.services import Returns
from returns_tui.settings import Settings
from returns_tui.store.engine import open_engine, upgrade
from tests.support.cast import T0, add_cast

# The console's "now" in the tests: a day after T0.
NOW = T0.add(hours=24)
FAST = Settings(poll_seconds=0.25, sweep_seconds=0.5)
HOSTILE = "[@click=app.quit]x[/] [bold] [00] \x1b[31mred"
# The terminal the console tests run in, columns × rows.
SIZE = (120, 36)


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, at: DateTime = NOW) -> None:
        self.at = at

    def __call__(self) -> DateTime:
        return self.at

    def advance(self, **kw: float) -> DateTime:
        self.at = self.at.add(**kw)
        return self.at


def new_service(url: str) -> Returns:
    """A fresh database at `url` with the cast: alice and bob (acme), olga (globex),
    sam (agent), root-admin (admin)."""
    engine = open_engine(url)
    upgrade(engine)
    return add_cast(Returns(engine))


BUYERS = ["Ana Lima", "Ben Okafor", "Chloé Martin", "Dev Patel", "Eun-ji Park", "Femi Ade"]
PRODUCTS = ["Stoneware mug", "Wool scarf", "Desk lamp", "Trail shoes", "Phone case", "Tea set"]


def submit(
    svc: Returns,
    rid: str,
    at: DateTime,
    *,
    shop: str = "acme",
    kind: str = "refund",
    n: int = 0,
    buyer: str | None = None,
    note: str = "arrived damaged",
    order: str | None = None,
    amount: str | None = None,
) -> None:
    svc.submit(
        BUYER,
        d.Submission(
            id=rid,
            order_id=order or "O" + rid[1:],
            shop=shop,
            type=kind,
            buyer=buyer or BUYERS[n % len(BUYERS)],
            product=PRODUCTS[n % len(PRODUCTS)],
            sku=f"SKU-{n % 7}",
            quantity=1 + n % 3,
            amount=amount or f"{10 + 7 * n}.{n % 10}9",
            currency="USD" if shop == "acme" else "EUR",
            reason="damaged",
            note=note,
        ),
        at,
    )


def seed(svc: Returns) -> None:
    """Requests in every status, created before NOW, with deadlines after it (so nothing is
    swept unless a test moves the clock). Deterministic: the snapshots depend on it."""
    alice, olga, sam = svc.login("alice"), svc.login("olga"), svc.login("sam")
    n = 0

    def at(hours: float) -> DateTime:
        return T0.add(minutes=round(hours * 60))

    # To Proceed: respond_by = created + 48 h; NOW = T0 + 24 h.
    for i, hours in enumerate([23.5, 20, 12, 3, -1, -18.5, -20.2, -10]):
        n += 1
        shop = "acme" if i % 4 else "globex"
        submit(
            svc,
            f"R{1000 + n}",
            at(hours),
            shop=shop,
            kind="return_and_refund" if i % 2 else "refund",
            n=n,
        )
    # In Process: approved (awaiting the buyer), and shipped back.
    for i in range(4):
        n += 1
        rid = f"R{1000 + n}"
        shop = "acme" if i != 1 else "globex"
        submit(svc, rid, at(-30 + i), shop=shop, kind="return_and_refund", n=n)
        svc.accept(alice if shop == "acme" else olga, rid, at(-29 + i))
        if i % 2 == 0:
            svc.ship(BUYER, rid, at(-10 + i), f"1Z{n:04d}TRACK")
    # Completed: a refund accepted, and a return received.
    for i in range(3):
        n += 1
        rid = f"R{1000 + n}"
        submit(svc, rid, at(-40 + i), kind="refund" if i < 2 else "return_and_refund", n=n)
        svc.accept(alice, rid, at(-39 + i))
        if i == 2:
            svc.ship(BUYER, rid, at(-35), f"1Z{n:04d}BACK")
            svc.receive(alice, rid, at(-33))
    # Closed: rejected and cancelled.
    for i in range(3):
        n += 1
        rid = f"R{1000 + n}"
        submit(svc, rid, at(-20 + i), shop="acme" if i < 2 else "globex", n=n)
        if i == 0:
            svc.reject(alice, rid, at(-19), "no_proof", "No photo of the damage.")
        elif i == 1:
            svc.cancel(BUYER, rid, at(-18))
        else:
            svc.reject(olga, rid, at(-17), "other", "Bought in a sale: final.")
    # Appeals: rejected, then appealed (oldest appeal first in the queue).
    for i in range(3):
        n += 1
        rid = f"R{1000 + n}"
        shop = "acme" if i != 1 else "globex"
        submit(svc, rid, at(-16 + i), shop=shop, kind="return_and_refund", n=n)
        svc.reject(
            alice if shop == "acme" else olga,
            rid,
            at(-15 + i),
            "not_as_claimed",
            "The photos show a different item.",
        )
        svc.appeal(BUYER, rid, at(-12 + 2 * (2 - i)))
    del sam


@pytest.fixture(name="svc")
def seeded_svc(tmp_path, schema_template) -> Iterator[Returns]:
    """The console tests' `svc`: a seeded SQLite database of its own (a copy of conftest's
    schema_template: the migrations run once per session). A module takes it in place of
    conftest's by importing it: `from tests.support.console import seeded_svc`."""
    path = tmp_path / "console.db"
    shutil.copyfile(schema_template["sqlite"], path)
    service = new_service(f"sqlite:///{path}")
    seed(service)
    yield service
    service.engine.dispose()


def console(
    svc: Returns,
    who: str,
    clock: FakeClock | None = None,
    settings: Settings = FAST,
    tz: str = "UTC",
) -> ReturnsApp:
    return ReturnsApp(svc, svc.login(who), settings, clock=clock or FakeClock(), tz=tz)


@contextlib.asynccontextmanager
async def opened(
    svc: Returns, who: str, clock: FakeClock | None = None, *, size=SIZE, **kw
) -> AsyncIterator[tuple[ReturnsApp, Pilot]]:
    """`who`'s console (see console(); `kw`: settings, tz) running at `size`, its first view
    loaded: `async with opened(svc, "alice") as (app, pilot):`."""
    app = console(svc, who, clock, **kw)
    async with app.run_test(size=size) as pilot:
        await loaded(pilot, app)
        yield app, pilot


async def opens(pilot, app: ReturnsApp, key: str, screen: str) -> Screen:
    """Press `key` and wait until the screen (dialog) of class `screen` is on top; it."""
    await pilot.press(key)
    await wait_for(pilot, lambda: type(app.screen).__name__ == screen, what=f"{screen} to open")
    return app.screen


async def dismiss(pilot, app: ReturnsApp, key: str = "escape") -> None:
    """Press `key` and wait until the console is on top again."""
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen), what="the console")


def screen_of(app: ReturnsApp) -> ConsoleScreen:
    return app.main


def table_ids(app: ReturnsApp) -> list[str]:
    return app.main.table.ids


def row_text(app: ReturnsApp, rid: str) -> list[str]:
    table = app.main.table
    return [getattr(c, "plain", str(c)) for c in table.get_row(rid)]


def screen_text(app: ReturnsApp) -> str:
    """What the active screen shows now, as plain text, one line per terminal row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def toasts(app: ReturnsApp) -> list[str]:
    """The messages of the notifications on screen now."""
    return [n.message for n in app._notifications]


async def footer_text(pilot, app: ReturnsApp) -> str:
    """The footer line, once painted (the footer recomposes whenever the bindings change)."""
    await wait_for(
        pilot, lambda: screen_text(app).splitlines()[-1].strip(), 5, "the footer to be painted"
    )
    await pilot.pause(0.05)
    await wait_for(
        pilot, lambda: screen_text(app).splitlines()[-1].strip(), 5, "the footer to be painted"
    )
    return screen_text(app).splitlines()[-1]


async def wait_for(
    pilot, condition: Callable[[], object], timeout: float = 5.0, what: str = ""
) -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.03)


async def loaded(pilot, app: ReturnsApp, timeout: float = 5.0) -> None:
    """Wait until the table and the counts of the current view are on screen."""
    screen = app.main
    await wait_for(
        pilot,
        lambda: (
            screen.window is not None
            and screen.window.view == screen.view
            and screen._pending is None
            and screen.counts is not None
            and (screen.table.row_count == 0 or screen.detail)
        ),
        timeout,
        "the console to load",
    )


def actor(svc: Returns, who: str) -> Actor:
    return svc.login(who)
