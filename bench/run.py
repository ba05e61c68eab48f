"""The benchmark suite: every figure of docs/PERFORMANCE.md, with its baselines, in one run.

    .venv/bin/python bench/run.py                      # 10 000, 100 000 and 1 000 000 requests
    .venv/bin/python bench/run.py --sizes 10000 --quick   # the CI smoke run (~1 min)
    .venv/bin/python bench/run.py --pg                 # the same against RETURNS_TUI_TEST_PG

For each size it builds once (and keeps, under bench/data/) a seeded database of that many
requests, swept up to now, with the users bench-admin, bench-agent (every shop) and
bench-operator (acme), then measures, each as a median and p95 over repeated runs:

- launch: a new console process in tmux (120x36) until the first request row is on screen;
  beside it an empty Textual app (what starting Python and Textual costs) and the naive way, a
  Textual DataTable filled with every row of the tab (10 000 and 100 000 only, time-limited);
- peak RSS of that console (VmHWM), and the countdown tick: process CPU over an idle window on
  To Proceed (every row a countdown), minus the same console with the tick switched off (both
  without poll and sweep, whose live work would drown the tick);
- tab switch, page down and jump to the end, driven headless by Textual's Pilot in this
  process: from the key to the fresh window shown and the screen idle again;
- the page fetch through the service the console uses, against the floor: the very same SQL
  statement and parameters through the bare driver (sqlite3 / psycopg);
- search, as the console does it (the window and the tab counts): by an exact request id and by
  a part of a buyer's name, beside the scan that the search index replaced;
- sweep of 10 000 and 100 000 due requests, apply (lines/s) and export (requests/s), and seed,
  each as the installed `returns-tui` command (bench/cli_figures.py's way).

Results go to stdout, to bench/data/results-<backend>.json and, unless --quick or --no-docs,
into docs/PERFORMANCE.md between its `bench:` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cli_figures  # noqa: E402  (bench/cli_figures.py: the command line's figures)
import console_timing  # noqa: E402  (bench/console_timing.py: tmux panes)

DATA = ROOT / "bench" / "data"
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin {} -->", "<!-- bench:end {} -->"
USERS = [("bench-admin", "admin", ()), ("bench-agent", "agent", ()),
         ("bench-operator", "operator", ("acme",))]  # fmt: skip
NAIVE_UP_TO = 100_000
NAME_PART = "lima"  # "Ana Lima", one buyer in forty of the seeded ones
SHORT_PART = "li"  # two characters: no trigram, a scan


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figure:
    size: int
    key: str
    name: str
    unit: str
    samples: list[float]
    goal: str = ""  # e.g. "< 1.5 s"
    stat: str = "median"  # which statistic the goal is judged on: median or p95
    limit: float | None = None  # the goal's number, in `unit`
    higher_is_better: bool = False
    baseline: str = ""
    baseline_samples: list[float] = field(default_factory=list)
    ratio_goal: float | None = None  # within this many times the floor, or this many times faster
    faster: bool = False  # the ratio is baseline / ours: how many times faster we are
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def p95(self) -> float | None:
        return p95(self.samples)

    @property
    def ratio(self) -> float | None:
        """ours / baseline for a floor; baseline / ours for a naive way (how many times
        faster we are)."""
        if not self.samples or not self.baseline_samples:
            return None
        ours, base = statistics.median(self.samples), statistics.median(self.baseline_samples)
        if self.faster:
            return base / ours if ours else None
        return ours / base if base else None

    @property
    def verdict(self) -> str:
        checks = []
        value = self.p95 if self.stat == "p95" else self.median
        if self.limit is not None and value is not None:
            checks.append(value >= self.limit if self.higher_is_better else value < self.limit)
        if self.ratio_goal is not None and self.ratio is not None:
            if self.faster:
                checks.append(self.ratio >= self.ratio_goal)
            else:
                checks.append(self.ratio <= self.ratio_goal)
        if not checks:
            return ""
        return "pass" if all(checks) else "**miss**"


def p95(samples: list[float]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class Suite:
    def __init__(self, args: argparse.Namespace, backend: Backend) -> None:
        self.args = args
        self.backend = backend
        self.figures: list[Figure] = []
        self.quick = args.quick

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        med, high = figure.median, figure.p95
        ratio = f"  ratio {figure.ratio:.1f}" if figure.ratio is not None else ""
        base = (
            f"  [{figure.baseline}: {fmt(statistics.median(figure.baseline_samples))}]"
            if figure.baseline_samples
            else ""
        )
        print(
            f"{figure.size:>9,}  {figure.name:<44} {fmt(med):>10} {figure.unit:<6}"
            f" p95 {fmt(high):>10}  n={len(figure.samples):<3} {figure.verdict}{base}{ratio}",
            flush=True,
        )
        return figure

    def runs(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# ---------------------------------------------------------------------------------------------
# Databases: SQLite files under bench/data, or databases on the PostgreSQL server


class Backend:
    name = "sqlite"

    def __init__(self, data: Path) -> None:
        self.data = data

    def url(self, size: int) -> str:
        return f"sqlite:///{self.data / f'requests-{size}.db'}"

    def exists(self, size: int) -> bool:
        return (self.data / f"requests-{size}.db").exists()

    def fresh(self, name: str) -> str:
        path = self.data / f"tmp-{name}.db"
        self.drop(f"sqlite:///{path}")
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)

    def commit_build(self, tmp_url: str, size: int) -> str:
        tmp = Path(tmp_url.removeprefix("sqlite:///"))
        final = self.data / f"requests-{size}.db"
        tmp.rename(final)
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        return self.url(size)

    def floor(self, url: str) -> Callable[[str, Any], list[Any]]:
        """The bare driver on the same database: run a statement, fetch every row."""
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
        return lambda sql, params: conn.execute(sql, params).fetchall()


class PgBackend(Backend):
    name = "postgresql"

    def __init__(self, data: Path, server: str) -> None:
        super().__init__(data)
        import sqlalchemy as sa

        self.sa = sa
        self.server = sa.engine.make_url(server)
        self.admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")

    def _url(self, database: str) -> str:
        return self.server.set(database=database).render_as_string(hide_password=False)

    def url(self, size: int) -> str:
        return self._url(f"rt_bench_{size}")

    def exists(self, size: int) -> bool:
        with self.admin.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (f"rt_bench_{size}",)
            ).first()
        return found is not None

    def fresh(self, name: str) -> str:
        database = f"rt_bench_tmp_{name}".replace("-", "_")
        self.drop(self._url(database))
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        return self._url(database)

    def drop(self, url: str) -> None:
        database = self.sa.engine.make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def commit_build(self, tmp_url: str, size: int) -> str:
        database = self.sa.engine.make_url(tmp_url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" RENAME TO "rt_bench_{size}"')
        return self.url(size)

    def floor(self, url: str) -> Callable[[str, Any], list[Any]]:
        import psycopg

        conninfo = self.sa.engine.make_url(url).set(drivername="postgresql")
        conn = psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True)
        return lambda sql, params: conn.execute(sql, params).fetchall()


def database(suite: Suite, size: int) -> str:
    """The seeded database of `size` requests, built once; swept up to now and with the
    users it needs, each time."""
    from returns_tui.clock import utc_now
    from returns_tui.identity import login_name
    from returns_tui.seed import seed_requests
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine, upgrade

    backend = suite.backend
    if not backend.exists(size):
        url = backend.fresh(f"build_{size}")
        engine = open_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        seed_requests(engine, size, seed=0, now=utc_now())
        print(f"built {size:,} requests in {time.perf_counter() - started:.1f} s", flush=True)
        engine.dispose()
        backend.commit_build(url, size)
    url = backend.url(size)
    engine = open_engine(url)
    upgrade(engine)  # a database built before a migration gets it
    svc = Returns(engine)
    now = utc_now()
    have = set()
    if svc.has_users():
        have = {name for name, _role, _shops in svc.list_users(USERS[0][0])}
    for name, role, shops in [*USERS, (login_name(), "admin", ())]:
        if name not in have:
            svc.add_user(USERS[0][0], name, role, shops, now)
    svc.sweep(now)  # so the consoles measured find the deadlines already applied
    engine.dispose()
    return url


# ---------------------------------------------------------------------------------------------
# What tmux runs: the console, an empty Textual app and the naive DataTable


def run_console(url: str, login: str) -> int:
    from returns_tui.app import run_console as run
    from returns_tui.screens.main import ConsoleScreen
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine

    _write_pid()
    if os.environ.get("RT_BENCH_NO_TICK"):
        # The baseline of the countdown tick: the same console with its 1 s timer doing
        # nothing after the first paint.
        first = ConsoleScreen._tick
        calls = [0]

        def once(self):
            calls[0] += 1
            if calls[0] == 1:
                first(self)

        ConsoleScreen._tick = once
    settings = Settings()
    if os.environ.get("RT_BENCH_QUIET"):
        # For the tick alone: no poll and no sweep, whose work (at 1 000 000 the seeded
        # requests reach their deadlines every few seconds) varies more than the tick costs.
        settings = Settings(poll_seconds=3600, sweep_seconds=3600)
    service = Returns(open_engine(url))
    return run(service, service.login(login), settings)


def run_hello() -> int:
    from textual.app import App
    from textual.widgets import Static

    class Hello(App):
        def compose(self):
            yield Static(" R0000000 ready")

    _write_pid()
    Hello().run()
    return 0


def run_naive(url: str) -> int:
    """What a tutorial does: every row of the tab into a DataTable, then show it."""
    import sqlalchemy as sa
    from rich.text import Text
    from textual.app import App
    from textual.widgets import DataTable

    _write_pid()
    engine = sa.create_engine(url)

    class Naive(App):
        def compose(self):
            yield DataTable(cursor_type="row", zebra_stripes=True)

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Request", "Order", "Buyer", "Product", "Type", "Amount",
                              "Status", "Deadline")  # fmt: skip
            with engine.connect() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT id, order_id, buyer, product, type, amount_cents, currency, "
                    "status, deadline_at FROM requests ORDER BY created_at DESC, id DESC"
                ).all()
            table.add_rows(
                [Text(r[0]), Text(r[1]), Text(r[2]), Text(r[3]), Text(r[4]),
                 Text(f"{r[5] / 100:.2f} {r[6]}"), Text(r[7]), Text(str(r[8] or "—"))]
                for r in rows
            )  # fmt: skip

    Naive().run()
    return 0


def _write_pid() -> None:
    if pidfile := os.environ.get("RT_BENCH_PIDFILE"):
        Path(pidfile).write_text(str(os.getpid()))


class Pane(console_timing.Pane):
    """A tmux pane (bench/console_timing.py) running one of the modes above, whose process
    id is known."""

    def __init__(self, mode: list[str], **env: str) -> None:
        self.pidfile = Path(tempfile.mkstemp(prefix="rt-bench-pid-")[1])
        self.pidfile.write_text("")
        settings = " ".join(f"{k}={v}" for k, v in env.items())
        command = (
            f"RT_BENCH_PIDFILE={self.pidfile} {settings} {sys.executable} "
            f"{Path(__file__).resolve()} {' '.join(mode)}"
        )
        super().__init__(command)

    @property
    def pid(self) -> int:
        deadline = time.perf_counter() + 30
        while not (text := self.pidfile.read_text().strip()):
            if time.perf_counter() > deadline:
                raise TimeoutError("no pid")
            time.sleep(0.01)
        return int(text)

    def close(self) -> None:
        super().close()
        self.pidfile.unlink(missing_ok=True)


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main_thread_cpu_seconds(pid: int) -> float:
    """The CPU time of the process's main thread (where Textual renders), in nanoseconds'
    precision (schedstat), where stat counts 10 ms ticks."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e9


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmHWM")


def launch(mode: list[str], timeout: float = 120.0, **env: str) -> tuple[float, Pane]:
    """Seconds from starting the process to the first request row on screen; the pane is
    left running."""
    pane = Pane(mode, **env)
    try:
        pane.until(lambda text: bool(console_timing.ROW.search(text)), timeout=timeout)
    except BaseException:
        pane.close()
        raise
    return time.perf_counter() - pane.started, pane


# ---------------------------------------------------------------------------------------------
# The figures of one size


def measure_size(suite: Suite, size: int) -> None:
    url = database(suite, size)
    terminal_figures(suite, size, url)
    pilot_figures(suite, size, url)
    service_figures(suite, size, url)


def terminal_figures(suite: Suite, size: int, url: str) -> None:
    runs = suite.runs(5, 3)
    ours, rss = [], []
    for _ in range(runs):
        seconds, pane = launch(["--console", url, "bench-agent"])
        ours.append(seconds * 1000)
        pane.close()
    hello = []
    for _ in range(suite.runs(3, 2)):
        seconds, pane = launch(["--hello"])
        hello.append(seconds * 1000)
        pane.close()
    suite.add(Figure(size, "launch_floor", "launch: an empty Textual app (floor)", "ms", hello))
    naive: list[float] = []
    note = ""
    if size <= NAIVE_UP_TO:
        limit = 20.0 if suite.quick else 90.0
        for _ in range(suite.runs(3 if size <= 10_000 else 2, 1)):
            try:
                seconds, pane = launch(["--naive", url], timeout=limit)
            except TimeoutError:
                note = f"the naive DataTable did not paint within {limit:.0f} s"
                naive.append(limit * 1000)
                break
            naive.append(seconds * 1000)
            pane.close()
        suite.add(Figure(size, "naive_launch", "launch: naive DataTable of every row", "ms",
                         naive, note=note))  # fmt: skip
    suite.add(
        Figure(size, "launch", "launch to first painted table (tmux, cold)", "ms", ours,
               goal="< 1.5 s", limit=1500,
               baseline="naive DataTable" if naive else "", baseline_samples=naive,
               ratio_goal=50 if size == NAIVE_UP_TO else None, faster=True,
               note="ratio: naive / ours (goal ≥ 50× at 100 000)" if naive else "")
    )  # fmt: skip

    # The countdown tick: an idle console on To Proceed, with and without its 1 s timer, both
    # without poll and sweep ("quiet"); and the same console as it runs (poll, sweeps, tick).
    window = 2.0 if suite.quick else 10.0
    cpu: dict[str, list[float]] = {"live": [], "on": [], "off": []}
    main: dict[str, list[float]] = {"live": [], "on": [], "off": []}
    runs = {
        "live": {},
        "on": {"RT_BENCH_QUIET": "1"},
        "off": {"RT_BENCH_QUIET": "1", "RT_BENCH_NO_TICK": "1"},
    }
    for _ in range(suite.runs(2, 1)):
        for name, env in runs.items():
            _seconds, pane = launch(["--console", url, "bench-agent"], **env)
            try:
                pane.keys("2")
                pane.until(console_timing.shows("To Proceed"))
                time.sleep(1.0 if suite.quick else 2.0)
                pid = pane.pid
                before, main_before = proc_cpu_seconds(pid), main_thread_cpu_seconds(pid)
                time.sleep(window)
                cpu[name].append((proc_cpu_seconds(pid) - before) / window * 1000)
                main[name].append((main_thread_cpu_seconds(pid) - main_before) / window * 1000)
                if name == "live":
                    rss.append(proc_peak_rss_mb(pid))
            finally:
                pane.close()
    tick = [a - b for a, b in zip(main["on"], main["off"], strict=True)]
    suite.add(Figure(size, "idle_cpu", "idle console CPU, To Proceed on screen", "ms/s",
                     cpu["live"], baseline="no poll, sweep or tick", baseline_samples=cpu["off"],
                     note="whole process (10 ms ticks): poll, sweeps, the auto-approvals "
                     "they find, and the tick"))  # fmt: skip
    suite.add(Figure(size, "tick", "countdown tick (main-thread CPU, tick on − off)", "ms/s",
                     tick, goal="< 5 ms/s", limit=5.0,
                     note=f"no poll or sweep in either; on {fmt(statistics.median(main['on']))}"
                     f", off {fmt(statistics.median(main['off']))} ms/s"))  # fmt: skip
    suite.add(Figure(size, "rss", "console peak RSS (VmHWM)", "MB", rss, goal="< 250 MB",
                     limit=250))  # fmt: skip


def pilot_figures(suite: Suite, size: int, url: str) -> None:
    switches, downs, edge_downs, ends = asyncio.run(_drive(suite, url))
    suite.add(Figure(size, "tab_switch", "tab switch (Pilot: key → fresh window)", "ms",
                     switches, goal="p95 < 50 ms", stat="p95", limit=50))  # fmt: skip
    suite.add(Figure(size, "page_down", "page down, every press (Pilot)", "ms", downs,
                     goal="p95 < 50 ms", stat="p95", limit=50))  # fmt: skip
    suite.add(Figure(size, "page_down_read", "page down across a window edge (a read)", "ms",
                     edge_downs, goal="p95 < 50 ms", stat="p95", limit=50))  # fmt: skip
    suite.add(Figure(size, "jump_end", "jump to the end and back (End / Home)", "ms", ends))


async def _drive(suite: Suite, url: str) -> tuple[list[float], ...]:
    """Keys sent as the terminal driver sends them; each timed from sending it to the first
    frame composed after the key was handled, or, when it asked for a window, after that
    window was shown. Headless, a frame is composed (every widget rendered) but not written
    to a terminal; Pilot's own waits (CPU-idle heuristics) are not used, as on a busy
    machine they wait up to a second."""
    from textual import events

    from returns_tui.app import ReturnsApp
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine

    engine = open_engine(url)
    service = Returns(engine)
    actor = service.login("bench-agent")
    switches: list[float] = []
    downs: list[float] = []
    edge_downs: list[float] = []
    ends: list[float] = []
    for _ in range(suite.runs(3, 1)):
        app = ReturnsApp(service, actor, Settings())
        frames: list[float] = []
        shown: list[float] = []
        display = app._display

        def framed(screen, renderable, display=display, frames=frames):
            if renderable is not None:
                frames.append(time.perf_counter())
            return display(screen, renderable)

        app._display = framed  # type: ignore[method-assign]
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.main
            table = screen.table
            show_rows = table.show_rows

            def showing(*args, show_rows=show_rows, shown=shown, **kw):
                shown.append(time.perf_counter())
                return show_rows(*args, **kw)

            table.show_rows = showing  # type: ignore[method-assign]
            await _settled(pilot, screen, first=True)

            async def timed(
                key: str, app=app, screen=screen, frames=frames, shown=shown
            ) -> tuple[float, bool]:
                seq = screen._rows_seq
                start = time.perf_counter()
                char = key if len(key) == 1 else None
                event = events.Key(key, char)
                event.set_sender(app)
                app._driver.send_message(event)
                first = await _frame_after(frames, start)
                read = screen._rows_seq != seq
                if not read:
                    return (first - start) * 1000, False
                deadline = time.perf_counter() + 60
                while screen._pending is not None:
                    if time.perf_counter() > deadline:
                        raise TimeoutError("the window never came")
                    await asyncio.sleep(0.001)
                end = await _frame_after(frames, shown[-1])
                return (end - start) * 1000, True

            for _round in range(2):  # first visits, then again
                for key in "234561":
                    switches.append((await timed(key))[0])
                    await asyncio.sleep(0.05)
            for _ in range(suite.runs(30, 12)):
                ms, read = await timed("pagedown")
                downs.append(ms)
                if read:
                    edge_downs.append(ms)
                await asyncio.sleep(0.02)
            for _ in range(suite.runs(4, 2)):
                ends.append((await timed("end"))[0])
                await asyncio.sleep(0.05)
                ends.append((await timed("home"))[0])
                await asyncio.sleep(0.05)
    engine.dispose()
    return switches, downs, edge_downs, ends


async def _frame_after(frames: list[float], moment: float, timeout: float = 5.0) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        later = [t for t in frames[-5:] if t > moment]
        if later:
            return later[0]
        if time.perf_counter() > deadline:
            raise TimeoutError("no frame came")
        await asyncio.sleep(0.001)


async def _settled(pilot: Any, screen: Any, first: bool = False) -> None:
    """Until the first window is shown and the app is idle again."""
    deadline = time.perf_counter() + 120
    while screen._pending is not None or (first and screen.window is None):
        if time.perf_counter() > deadline:
            raise TimeoutError("the window never came")
        await asyncio.sleep(0.001)
    await pilot.pause()


def service_figures(suite: Suite, size: int, url: str) -> None:
    import sqlalchemy as sa

    from returns_tui import domain as d
    from returns_tui.console_data import FIRST, View, load_window
    from returns_tui.services import Returns
    from returns_tui.store import search
    from returns_tui.store.engine import open_engine
    from returns_tui.store.queries import DEFAULT_SORT

    engine = open_engine(url)
    svc = Returns(engine)
    agent = svc.login("bench-agent")
    floor = suite.backend.floor(url)
    reps = suite.runs(50, 15)

    # The page fetch against the floor: the same statement through the bare driver.
    for tab in (d.Tab.ALL, d.Tab.TO_PROCEED):
        sort = DEFAULT_SORT[tab]
        with captured(engine) as statements:
            svc.page(agent, tab, sort, limit=101)
        sql, params = next((s, p) for s, p in statements if "LIMIT" in s)
        ours = timed(lambda: svc.page(agent, tab, sort, limit=101), reps)  # noqa: B023
        bare = timed(lambda: floor(sql, params), reps)  # noqa: B023
        suite.add(Figure(size, f"page_{tab.value}", f"page fetch, {tab.label} (service)", "ms",
                         ours, goal="≤ 2× floor", baseline="floor (bare SQL)",
                         baseline_samples=bare, ratio_goal=2.0))  # fmt: skip

    # Search as the console does it: the first window and the tab counts.
    with sa.create_engine(url).connect() as conn:
        middle = conn.exec_driver_sql(
            f"SELECT id FROM requests ORDER BY id LIMIT 1 OFFSET {size // 2}"
        ).scalar_one()

    def console_search(text: str, tab: d.Tab = d.Tab.ALL) -> Callable[[], None]:
        def run() -> None:
            load_window(svc, agent, View(tab, DEFAULT_SORT[tab], text), FIRST)
            svc.counts(agent, text)

        return run

    def floor_of(text: str) -> list[float]:
        # Every statement the page sends about requests: on SQLite a search first asks the
        # index how many candidates it has (store.search.common), then reads the page.
        with captured(engine) as statements:
            svc.page(agent, d.Tab.ALL, DEFAULT_SORT[d.Tab.ALL], text, limit=101)
        sent = [(s, p) for s, p in statements if "LIMIT" in s]
        return timed(lambda: [floor(sql, params) for sql, params in sent], reps)

    scan_reps = suite.runs(3 if size >= 1_000_000 else 5, 2)
    # SQLite: with search.indexed off the LIKE scans, as before migration 0002. PostgreSQL's
    # planner may still use the pg_trgm indexes for that LIKE: no scan to compare with there.
    scan_label = "the scan it replaced"
    if suite.backend.name != "sqlite":
        scan_label = "search.indexed off (pg_trgm still there)"
    for key, name, text, limit in (
        ("search_id", "search by exact request id (window + counts)", middle, 20),
        ("search_name", f"search by a part of a name, '{NAME_PART}'", NAME_PART, 300),
    ):
        ours = timed(console_search(text), reps)
        to_proceed = timed(console_search(text, d.Tab.TO_PROCEED), reps)
        with mock.patch.object(search, "indexed", lambda _text: False):
            scan = timed(console_search(text), scan_reps)
        suite.add(Figure(size, key, name, "ms", ours, goal=f"< {limit} ms", limit=limit,
                         baseline=scan_label, baseline_samples=scan,
                         faster=True, note="ratio: scan / ours"))  # fmt: skip
        suite.add(Figure(size, key + "_tab", name + ", in To Proceed", "ms", to_proceed,
                         goal=f"< {limit} ms", limit=limit))  # fmt: skip
        suite.add(Figure(size, key + "_floor", name + ": its page, bare SQL (floor)", "ms",
                         floor_of(text)))  # fmt: skip
    short = timed(console_search(SHORT_PART), scan_reps)
    suite.add(Figure(size, "search_short", f"search by two letters, '{SHORT_PART}' (a scan)",
                     "ms", short, note="no trigram: window and exact counts scan"))  # fmt: skip
    engine.dispose()


@contextmanager
def captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def timed(run: Callable[[], Any], reps: int) -> list[float]:
    run()  # warm: caches, compiled statements
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1000)
    return out


# ---------------------------------------------------------------------------------------------
# The command line's figures (bench/cli_figures.py's way: the installed command, wall time)


def command_figures(suite: Suite, sizes: list[int]) -> None:
    backend = suite.backend
    env_base = {**os.environ, "RETURNS_TUI_CONFIG": str(backend.data / "no-config.toml")}

    def fresh(name: str) -> dict[str, str]:
        url = backend.fresh(name)
        env = {**env_base, "RETURNS_TUI_DB": url}
        cli_figures.command(env, "init")
        cli_figures.command(env, "users", "add", cli_figures.ADMIN, "--role", "admin")
        cli_figures.command(env, "users", "add", "alice", "--role", "operator", "--shop", "acme")
        return env

    largest = max(sizes)
    # Seed: the largest size, once, into an empty database.
    env = fresh("seed")
    seconds = cli_figures.command(env, "seed", "--count", str(largest))
    backend.drop(env["RETURNS_TUI_DB"])
    suite.add(Figure(largest, "seed", f"seed {largest:,} requests (returns-tui seed)", "s",
                     [seconds], goal="< 60 s" if largest >= 1_000_000 else "",
                     limit=60 if largest >= 1_000_000 else None))  # fmt: skip

    # Sweep of due requests.
    for count in (2_000, 5_000) if suite.quick else (10_000, 100_000):
        times = []
        for _ in range(suite.runs(3, 1)):
            env = fresh("sweep")
            cli_figures.submit_overdue(env["RETURNS_TUI_DB"], count)
            times.append(cli_figures.command(env, "sweep"))
            backend.drop(env["RETURNS_TUI_DB"])
        big = count >= 100_000
        suite.add(Figure(count, "sweep", f"sweep {count:,} due requests (returns-tui sweep)",
                         "s", times, goal="< 3 s" if big else "",
                         limit=3.0 if big else None))  # fmt: skip

    # Apply: lines per second.
    lines = 1_000 if suite.quick else 20_000
    stream = backend.data / "apply-stream.jsonl"
    stream.write_text(cli_figures.apply_stream(lines // 4), encoding="utf-8")
    rates = []
    for _ in range(suite.runs(3, 1)):
        env = fresh("apply")
        with open(os.devnull, "w") as out:
            seconds = cli_figures.command(env, "apply", str(stream), stdout=out)
        rates.append(lines / seconds)
        backend.drop(env["RETURNS_TUI_DB"])
    stream.unlink()
    suite.add(Figure(lines, "apply", f"apply {lines:,} lines (returns-tui apply)", "lines/s",
                     rates, goal="" if suite.quick else "≥ 2 000 lines/s",
                     limit=None if suite.quick else 2000, higher_is_better=True,
                     note="process start included"))  # fmt: skip

    # Export: requests per second, of each seeded database.
    for size in sizes:
        # As the bench's own login, an admin of every database it builds (see database()).
        env = {**env_base, "RETURNS_TUI_DB": backend.url(size)}
        rates = []
        for _ in range(suite.runs(1 if size >= 1_000_000 else 3, 1)):
            rates.append(size / cli_figures.command(env, "export"))
        suite.add(Figure(size, "export", f"export {size:,} requests (jsonl)", "req/s", rates,
                         goal="≥ 33 000 req/s" if size >= 1_000_000 else "",
                         limit=33_000 if size >= 1_000_000 else None, higher_is_better=True,
                         note="cli_figures' goal: 1 000 000 in < 30 s"))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The report


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    import textual

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{int(mem) / 1024 / 1024:.0f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "textual": textual.__version__,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def markdown(figures: list[Figure], info: dict[str, str]) -> str:
    head = ("requests", "figure", "median", "p95", "n", "goal", "baseline (median)",
            "ratio", "verdict")  # fmt: skip
    lines = [
        f"Run {info['date']} on {info['nproc']} cores ({info['cpu']}), {info['ram']} RAM, "
        f"Python {info['python']}, SQLite {info['sqlite']}, Textual {info['textual']}; "
        f"{info['backend']}; load average at the start {info['load_start']}, at the end "
        f"{info['load']}; {info['minutes']} minutes.",
        "",
        f"Command: `{info['command']}`",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for f in figures:
        base = ""
        if f.baseline_samples:
            base = f"{f.baseline}: {fmt(statistics.median(f.baseline_samples))} {f.unit}"
        ratio = f"{f.ratio:.1f}×" if f.ratio is not None else ""
        goal = f.goal + (f" ({f.stat})" if f.goal and f.stat == "p95" else "")
        name = f.name + (f" — {f.note}" if f.note else "")
        lines.append(
            f"| {f.size:,} | {name} | {fmt(f.median)} {f.unit} | {fmt(f.p95)} {f.unit} | "
            f"{len(f.samples)} | {goal} | {base} | {ratio} | {f.verdict} |"
        )
    return "\n".join(lines)


def write_doc(path: Path, backend: str, text: str) -> None:
    begin, end = BEGIN.format(backend), END.format(backend)
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller CLI figures")
    parser.add_argument("--pg", action="store_true", help="against RETURNS_TUI_TEST_PG")
    parser.add_argument("--data", type=Path, default=DATA, help="where databases are kept")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--no-docs", action="store_true", help="do not touch the doc")
    parser.add_argument("--only", choices=["console", "cli"], help="one half of the suite")
    parser.add_argument("--console", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--naive", help=argparse.SUPPRESS)
    parser.add_argument("--hello", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--render", type=Path, help="write the doc from a results file")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render, args.doc)
    if args.console:
        return run_console(*args.console)
    if args.naive:
        return run_naive(args.naive)
    if args.hello:
        return run_hello()
    if shutil.which("tmux") is None:
        print("bench: tmux is needed", file=sys.stderr)
        return 2
    args.data.mkdir(parents=True, exist_ok=True)
    _chain_key(args.data)
    if args.pg:
        server = os.environ.get("RETURNS_TUI_TEST_PG")
        if not server:
            print("bench: --pg needs RETURNS_TUI_TEST_PG", file=sys.stderr)
            return 2
        backend: Backend = PgBackend(args.data, server)
    else:
        backend = Backend(args.data)
    suite = Suite(args, backend)
    info = machine()
    info["load_start"] = info["load"]
    started = time.perf_counter()
    print(f"bench: {info}", flush=True)
    if args.only != "cli":
        for size in sorted(args.sizes):
            measure_size(suite, size)
    if args.only != "console":
        command_figures(suite, sorted(args.sizes))
    info |= machine() | {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": backend.name,
        "minutes": f"{(time.perf_counter() - started) / 60:.1f}",
        "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    figures = sorted(suite.figures, key=lambda f: (f.size, _ORDER.get(f.key.split("_tab")[0], 99)))
    results = {"machine": info, "figures": [asdict(f) | {"median": f.median, "p95": f.p95,
               "ratio": f.ratio, "verdict": f.verdict} for f in suite.figures]}  # fmt: skip
    (args.data / f"results-{backend.name}.json").write_text(json.dumps(results, indent=1))
    table = markdown(figures, info)
    print(table)
    if not args.quick and not args.no_docs:
        write_doc(args.doc, backend.name, table)
    return 0


def _chain_key(data: Path) -> None:
    """The key the bench's databases are chained with (store/chain.py): kept with them, for
    this process and the commands it runs, unless RETURNS_TUI_CHAIN_KEY names one."""
    from returns_tui.store.chain import KEY_ENV, create_key

    if KEY_ENV not in os.environ:
        os.environ[KEY_ENV] = str(create_key(data / "chain.key")[0].path)


def render(results: Path, doc: Path) -> int:
    """The doc's table again from a results file (after a change to how it is written)."""
    data = json.loads(results.read_text())
    names = {f.name for f in dataclasses.fields(Figure)}
    figures = [Figure(**{k: v for k, v in f.items() if k in names}) for f in data["figures"]]
    figures.sort(key=lambda f: (f.size, _ORDER.get(f.key.split("_tab")[0], 99)))
    write_doc(doc, data["machine"]["backend"], markdown(figures, data["machine"]))
    return 0


_ORDER = {k: i for i, k in enumerate([
    "launch", "launch_floor", "naive_launch", "rss", "tick", "idle_cpu", "tab_switch",
    "page_down", "page_down_read", "jump_end", "page_all", "page_to_proceed", "search_id",
    "search_id_floor", "search_name", "search_name_floor", "search_short", "seed", "sweep",
    "apply", "export",
])}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
