"""The demo: its database, its simulated buyers, and the command around them."""

from __future__ import annotations

import random
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import demo
from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.roles import BUYER, SYSTEM
from returns_tui.services import Returns
from returns_tui.store.chain import load_key
from returns_tui.store.engine import open_engine
from returns_tui.store.rows import to_record, to_request
from returns_tui.store.schema import requests

T0 = pendulum.datetime(2026, 11, 20, 9, 0, 0)


@pytest.fixture
def built(tmp_path):
    return demo.build(tmp_path, "tester", "operator", now=T0, chain_key=load_key())


@pytest.fixture
def service(built):
    engine = open_engine(built.url)
    yield Returns(engine)
    engine.dispose()


def statuses(service: Returns) -> Counter[str]:
    admin = service.login(demo.ADMIN)
    return Counter(row["status"] for row, _recs in service.export(admin))


# ---------------------------------------------------------------------------------------------
# The database


def test_build_creates_the_users_every_status_and_near_deadlines(built, service):
    assert built.path == built.path.parent / "demo.db" and built.path.exists()
    assert service.list_users(demo.ADMIN) == [
        ("demo-admin", "admin", ()),
        ("demo-agent", "agent", ()),
        ("tester", "operator", ("acme-home", "nordic-outdoor")),
    ]
    found = statuses(service)
    assert set(found) == {s.value for s in d.Status}, found
    assert 300 <= sum(found.values()) <= 310
    tester = service.login("tester")
    counts = service.counts(tester)
    assert counts[d.Tab.ALL] == sum(found.values())  # the login sees both shops, all of it
    # A few pending requests run out within minutes of the demo's start.
    soon = service.due_soon(tester, T0, T0.add(minutes=15))
    assert len(soon) >= 2
    assert check(service.engine, T0) == []


def test_build_as_agent_makes_the_login_the_agent(tmp_path):
    built = demo.build(tmp_path, "tester", "agent", now=T0, count=40, chain_key=load_key())
    engine = open_engine(built.url)
    try:
        users = Returns(engine).list_users(demo.ADMIN)
    finally:
        engine.dispose()
    assert users == [
        ("demo-admin", "admin", ()),
        ("demo-operator", "operator", ("acme-home", "nordic-outdoor")),
        ("tester", "agent", ()),
    ]


def test_a_login_named_like_a_demo_user_pushes_it_aside():
    assert demo._cast("demo-agent", "operator") == {
        "demo-admin": "admin",
        "demo-agent": "operator",
        "demo-agent-2": "agent",
    }
    cast = demo._cast("demo-admin", "agent")
    assert cast == {"demo-admin-2": "admin", "demo-admin": "agent", "demo-operator": "operator"}


# ---------------------------------------------------------------------------------------------
# The buyers


def run_buyers(service: Returns, seed: int, seconds: int, step: int = 5):
    """Drive the simulator on a fixed clock; the console's sweep every minute."""
    sim = demo.BuyerSimulator(service, demo.DEMO_SHOPS, rng=random.Random(seed))
    done: list[tuple[str, str]] = []
    now = T0
    for tick in range(seconds // step):
        now = T0.add(seconds=tick * step)
        if tick % 12 == 0:
            service.sweep(now, SYSTEM)
        done += sim.step(now)
    service.sweep(now, SYSTEM)
    return done, now


def test_buyers_act_through_the_services_and_keep_every_invariant(service):
    done, end = run_buyers(service, seed=7, seconds=3600)
    kinds = Counter(action for action, _ in done)
    # About one request every 30 s, and the other events in between.
    assert 90 <= kinds["submit"] <= 180, kinds
    assert kinds["ship"] > 0 and kinds["cancel"] > 0 and kinds["appeal"] > 0, kinds
    assert kinds["agree"] + kinds["decline"] > 0, kinds  # offers answered (DESIGN §7)
    assert check(service.engine, end) == []

    admin = service.login(demo.ADMIN)
    for action, request_id in done:
        req = service.get(admin, request_id)
        recs = service.records(admin, request_id)
        assert d.path_violations(req.status, recs, req.type) == []
        assert req.status is recs[-1].to_status
        expected = {
            "submit": d.Kind.SUBMITTED,
            "ship": d.Kind.SHIPPED,
            "cancel": d.Kind.CANCELLED,
            "appeal": d.Kind.APPEALED,
            "agree": d.Kind.AGREED,
            "decline": d.Kind.DECLINED,
        }[action]
        mine = [r for r in recs if r.kind is expected]
        assert mine and all(r.actor == "buyer" for r in mine)
        if action == "ship":
            assert d.TRACKING_RE.fullmatch(next(r for r in mine).details["tracking"])
        if action == "submit":
            assert req.shop in demo.DEMO_SHOPS
    # New requests continue the seeded numbering: R0000001, R0000002, ... and no gaps.
    submitted = [rid for action, rid in done if action == "submit"]
    with service.engine.connect() as conn:
        seeded = set(conn.scalars(sa.select(requests.c.id))) - set(submitted)
    assert all(re.fullmatch(r"R\d{7}", rid) for rid in seeded)
    first = max(int(rid[1:]) for rid in seeded) + 1
    assert submitted == [f"R{n:07d}" for n in range(first, first + len(submitted))]


def test_buyers_wait_before_the_first_request_and_keep_their_rhythm(service):
    sim = demo.BuyerSimulator(service, rng=random.Random(1))
    assert sim.step(T0) == []  # the first step only starts the clock
    early = [a for s in range(1, 20) for a, _ in sim.step(T0.add(seconds=s))]
    assert "submit" not in early  # no new request before 20 s
    times = []
    for second in range(20, 400):
        if any(a == "submit" for a, _ in sim.step(T0.add(seconds=second))):
            times.append(second)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps and all(20 <= g <= 41 for g in gaps), gaps


def test_pace_shortens_the_intervals(service):
    sim = demo.BuyerSimulator(service, rng=random.Random(1), pace=0.05)
    sim.step(T0)
    submitted = [a for s in range(0, 60) for a, _ in sim.step(T0.add(seconds=s)) if a == "submit"]
    assert len(submitted) >= 25


def test_the_same_seed_tells_the_same_story(tmp_path):
    stories = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        built = demo.build(
            tmp_path / name, "tester", "operator", now=T0, count=60, chain_key=load_key()
        )
        engine = open_engine(built.url)
        stories.append(run_buyers(Returns(engine), seed=3, seconds=600)[0])
        engine.dispose()
    assert stories[0] == stories[1] and stories[0]


def test_refusals_are_quiet_and_change_nothing(service, capsys):
    sim = demo.BuyerSimulator(service, rng=random.Random(2))
    before = statuses(service)
    # A buyer too late: every rejection's window has closed a week later, so appeals are
    # refused by the rules (or find no candidate); nothing is printed, nothing changes.
    later = T0.add(days=30)
    service.sweep(later, SYSTEM)
    swept = statuses(service)
    assert sim._attempt("appeal", sim._appeal, later) == []
    bad_ship = lambda now: service.ship(BUYER, "R0000001", now, "not a tracking number")  # noqa: E731
    assert sim._attempt("ship", bad_ship, later) == []
    assert statuses(service) == swept and sum(swept.values()) == sum(before.values())
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------------------------------
# The thread and the command


class Exploding:
    pace = 0.01

    def __init__(self) -> None:
        self.calls = 0

    def step(self, now):
        self.calls += 1
        raise RuntimeError("the database is busy")


def test_the_thread_swallows_failures_silently_and_stops(capsys):
    sim = Exploding()
    thread = demo.BuyerThread(sim)  # type: ignore[arg-type]
    thread.start()
    deadline = time.monotonic() + 5
    while sim.calls < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    thread.halt()
    assert sim.calls >= 3
    assert not thread.is_alive() and thread.daemon
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("value", "pace"), [(None, 1.0), ("0.05", 0.05), ("0", 1.0), ("nan", 1.0), ("fast", 1.0)]
)
def test_pace_from_env(monkeypatch, value, pace):
    if value is None:
        monkeypatch.delenv(demo.PACE_ENV, raising=False)
    else:
        monkeypatch.setenv(demo.PACE_ENV, value)
    assert demo.pace_from_env() == pace


@pytest.mark.parametrize("keep", [False, True])
def test_main_opens_the_console_on_a_fresh_database_and_prints_its_path(
    tmp_path, monkeypatch, capsys, keep
):
    """The path is printed before the console opens; the database is removed when the demo
    ends, unless kept."""
    import returns_tui.app

    users_db = tmp_path / "mine.db"
    monkeypatch.setenv("RETURNS_TUI_DB", f"sqlite:///{users_db}")
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv(demo.PACE_ENV, "0.01")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("returns_tui.identity.login_name", lambda: "tester")
    seen = {}

    def console(service, actor, settings, **extras):
        seen["printed"] = capsys.readouterr().out
        seen["actor"] = actor
        seen["threads"] = [t.name for t in threading.enumerate()]
        admin = service.login(demo.ADMIN)
        first = service.counts(admin)[d.Tab.ALL]
        deadline = time.monotonic() + 10
        while service.counts(admin)[d.Tab.ALL] == first and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["arrived"] = service.counts(admin)[d.Tab.ALL] - first
        return 0

    monkeypatch.setattr(returns_tui.app, "run_console", console)
    assert demo.main("agent", keep=keep) == 0
    assert seen["actor"].name == "tester" and seen["actor"].role == "agent"
    assert "returns-tui-demo-buyers" in seen["threads"]
    assert seen["arrived"] >= 1  # a buyer's request came in while the console was open
    path, what = seen["printed"].removeprefix("Demo database: ").rstrip(")\n").split(" (")
    assert seen["printed"].startswith("Demo database: ") and path.endswith("demo.db")
    assert path.startswith(str(tmp_path))
    out = capsys.readouterr()
    assert out.err == ""
    if keep:
        assert what == "kept when it ends"
        assert out.out == f"Demo database kept: {path}\n" and Path(path).exists()
    else:
        assert what == "removed when it ends; --keep keeps it"
        assert out.out == "" and not Path(path).parent.exists()
    assert not users_db.exists()
    assert "returns-tui-demo-buyers" not in [t.name for t in threading.enumerate()]


def test_the_database_is_removed_however_the_console_ends(tmp_path, monkeypatch):
    import returns_tui.app

    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("returns_tui.identity.login_name", lambda: "tester")

    def crash(service, actor, settings, **extras):
        raise KeyboardInterrupt

    monkeypatch.setattr(returns_tui.app, "run_console", crash)
    with pytest.raises(KeyboardInterrupt):
        demo.main("operator")
    assert list(tmp_path.glob("returns-tui-demo-*")) == []


def test_main_refuses_an_unknown_role(capsys):
    assert demo.main("admin") == 2
    assert "operator or agent" in capsys.readouterr().err


def test_records_of_seeded_requests_read_back(built, service):
    # The builder's extra near-deadline requests went through the services like any other.
    admin = service.login(demo.ADMIN)
    rows = list(service.export(admin))
    for row, recs in rows:
        req = to_request(row)
        assert d.path_violations(req.status, [to_record(r) for r in recs], req.type) == []
