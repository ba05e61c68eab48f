"""The sync's figures against the simulator (issue 14, DESIGN §8), on this machine:

    .venv/bin/python bench/sync_figures.py [--returns 100000] [--parallel 16] [--shops 10]
        [--webhooks 20] [--decisions 400] [--only first,incremental,decisions,webhook]

- first: a first sync of N returns with their records: the simulator in a process of its own
  (`python -m returns_tui.marketplace.simulator`, seeded with N returns in one shop), the sync's
  engine in this one, on a fresh SQLite file; one round, timed whole (pages of 50, records
  fetched in parallel within --parallel); returns/s.
- incremental: 10 shops of 200 returns each synced once; then rounds with nothing new, timed
  (median, p95).
- decisions: D synced requests accepted by an operator (the outbox), then one round sends them
  all (approve, fetch again, confirm); decisions/s.
- webhook: the simulator and the sync (with its webhook listener) in a thread, the console
  (ReturnsApp, headless, 120×50, its default 1 s poll) in this one on its own engine; a buyer
  creates a return on the marketplace, and the time to the row in the database (the listener's
  commit) and to the row painted on the console's screen is taken; median and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pendulum  # noqa: E402

from returns_tui.identity import login_name  # noqa: E402
from returns_tui.services import Returns  # noqa: E402
from returns_tui.store.engine import open_engine, upgrade  # noqa: E402
from returns_tui.sync import config as cfg  # noqa: E402
from returns_tui.sync.engine import Engine, Teller  # noqa: E402
from returns_tui.sync.ledger import Ledger  # noqa: E402

ME = login_name()


def database(directory: Path, shops: tuple[str, ...]) -> Returns:
    engine = open_engine(f"sqlite:///{directory / 'sync.db'}")
    upgrade(engine)
    service = Returns(engine)
    now = pendulum.now("UTC")
    service.add_user(ME, ME, "admin", (), now)
    service.add_user(ME, "olive", "operator", shops, now)
    return service


class SimulatorProcess:
    """`python -m returns_tui.marketplace.simulator`, serving until stopped."""

    def __init__(self, directory: Path, shops: list[str], returns: int, port: int) -> None:
        self.config = directory / "sync.toml"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "returns_tui.marketplace.simulator", "--port", str(port),
             "--shops", ",".join(shops), "--returns", str(returns),
             "--config-out", str(self.config)],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("serving"):
            raise SystemExit(f"the simulator did not start: {line!r}")
        print(f"  simulator: {line.strip()}", flush=True)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def engine_for(config: Path, service: Returns, parallel: int) -> Engine:
    return Engine(cfg.load(config), Ledger(service), parallel=parallel,
                  teller=Teller(open(os.devnull, "w")))  # noqa: SIM115


async def first_sync(n: int, parallel: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sim = SimulatorProcess(directory, ["bench"], n, free_port())
        try:
            service = database(directory, ("bench",))
            async with engine_for(sim.config, service, parallel) as engine:
                started = time.perf_counter()
                (report,) = await engine.round()
                took = time.perf_counter() - started
            assert report.ok, report.error
        finally:
            sim.stop()
    return {"returns": n, "created": report.created, "seconds": took,
            "returns_per_s": report.created / took,
            "steps_s": {k: round(v, 2) for k, v in report.seconds.items()}}


async def incremental_and_decisions(shops: int, decisions: int, parallel: int,
                                    rounds: int = 15) -> dict:
    names = [f"shop{n}" for n in range(shops)]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sim = SimulatorProcess(directory, names, 200, free_port())
        try:
            service = database(directory, tuple(names))
            async with engine_for(sim.config, service, parallel) as engine:
                reports = await engine.round()
                assert all(r.ok for r in reports), [r.error for r in reports]
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    reports = await engine.round()
                    times.append(time.perf_counter() - started)
                    assert all(r.ok and r.created == r.changed == 0 for r in reports)
                olive = service.login("olive")
                pending = _pending(service, olive, decisions)
                now = pendulum.now("UTC")
                for rid in pending:
                    service.accept(olive, rid, now)
                started = time.perf_counter()
                reports = await engine.round()
                push = time.perf_counter() - started
                sent = sum(r.sent for r in reports)
        finally:
            sim.stop()
    return {"shops": shops, "round_median_ms": statistics.median(times) * 1000,
            "round_p95_ms": _p95(times) * 1000, "decisions": sent, "push_seconds": push,
            "decisions_per_s": sent / push}


def _pending(service: Returns, olive, limit: int) -> list[str]:
    from returns_tui import domain as d
    from returns_tui.store.queries import Sort

    rows = service.page(olive, d.Tab.TO_PROCEED, Sort.NEWEST, limit=limit * 2)
    return [row.id for row in rows if row.status == d.Status.PENDING][:limit]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# ----- webhook -> painted row ---------------------------------------------------------------


class MarketThread(threading.Thread):
    """The simulator, the engine and its webhook listener on one loop in a thread."""

    def __init__(self, service: Returns, directory: Path) -> None:
        super().__init__(daemon=True)
        self.service, self.directory = service, directory
        self.ready: Future = Future()
        self.stored: dict[str, float] = {}

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from returns_tui.marketplace.simulator import ShopConfig, Simulator
        from returns_tui.sync.webhooks import Listener, serve
        from tests.support.sync_sim import write_config

        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.sim = Simulator([ShopConfig.make("live")], tick_interval=0.5)
        async with self.sim.serve():
            path = write_config(self.directory / "sync.toml", self.sim, ["live"])
            async with engine_for(path, self.service, 8) as engine:
                listener = Listener(engine, on_stored=lambda t: self.stored.__setitem__(
                    t.return_id, time.perf_counter()))
                runner = await serve(listener, "127.0.0.1", 0)
                host, port = runner.addresses[0][:2]
                self.sim.shops["live"].webhook_url = f"http://{host}:{port}/hook"
                self.ready.set_result(True)
                await self.stop.wait()
                await runner.cleanup()

    def create(self, product: str) -> str:
        async def inside() -> str:
            return self.sim.create_return("live", "REFUND", "19.99", product_name=product)
        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(10)

    def halt(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.join(10)


async def webhook_to_paint(count: int) -> dict:
    from returns_tui.app import ReturnsApp
    from returns_tui.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        service = database(directory, ("live",))
        market = MarketThread(Returns(open_engine(f"sqlite:///{directory / 'sync.db'}")),
                              directory)
        market.start()
        market.ready.result(30)
        settings = load_settings(directory / "no-settings.toml")  # the defaults: a 1 s poll
        app = ReturnsApp(service, service.login("olive"), settings)
        to_db, to_paint = [], []
        try:
            async with app.run_test(size=(120, 50)) as pilot:
                await pilot.press("1")  # All, newest first
                await pilot.pause(1.0)
                for n in range(count):
                    product = f"Item {n:04d}"  # the id is cut short on screen; this is not
                    started = time.perf_counter()
                    rid = await asyncio.to_thread(market.create, product)
                    painted = await _painted(pilot, app, product, started + 10)
                    to_paint.append(painted - started)
                    to_db.append(market.stored[rid] - started)
                    await pilot.pause(0.3)
        finally:
            market.halt()
    return {"webhooks": count, "db_median_ms": statistics.median(to_db) * 1000,
            "db_p95_ms": _p95(to_db) * 1000,
            "paint_median_ms": statistics.median(to_paint) * 1000,
            "paint_p95_ms": _p95(to_paint) * 1000}


async def _painted(pilot, app, product: str, deadline: float) -> float:
    while time.perf_counter() < deadline:
        strips = app.screen._compositor.render_strips()
        if any(product in strip.text for strip in strips):
            return time.perf_counter()
        await pilot.pause(0.01)
    text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
    raise SystemExit(f"{product} was not painted within 10 s; the screen:\n{text}")


def main() -> None:
    # A chain key of the bench's own (the records are chained as anywhere else).
    from returns_tui.store.chain import KEY_ENV, create_key

    keys = tempfile.mkdtemp(prefix="sync-bench-key-")
    os.environ[KEY_ENV] = str(create_key(Path(keys) / "chain.key")[0].path)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--returns", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--shops", type=int, default=10)
    parser.add_argument("--webhooks", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--only", default="first,incremental,webhook")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "first" in only:
        print(f"first sync: {args.returns} returns, --parallel {args.parallel}", flush=True)
        print(f"  {asyncio.run(first_sync(args.returns, args.parallel))}", flush=True)
    if "incremental" in only:
        print(f"incremental rounds and decisions: {args.shops} shops", flush=True)
        figures = asyncio.run(incremental_and_decisions(args.shops, args.decisions,
                                                        args.parallel))
        print(f"  {figures}", flush=True)
    if "webhook" in only:
        print(f"webhook -> row in the database -> row painted: {args.webhooks} returns",
              flush=True)
        print(f"  {asyncio.run(webhook_to_paint(args.webhooks))}", flush=True)


if __name__ == "__main__":
    main()
