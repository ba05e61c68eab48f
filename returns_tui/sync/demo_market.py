"""`returns-tui demo --marketplace`: a simulated TikTok Shop in-process, synced both ways with
the demo database while the console runs.

One daemon thread runs an event loop holding: the simulator (marketplace.simulator) on the real
clock with short windows (minutes, not days, so deadlines pass while one watches), its buyers
and platform acting every few seconds (new returns, shipments, answers to offers, appeals,
rulings), the sync engine doing a round every few seconds, and the webhook listener the
simulator notifies, so a change on the marketplace reaches the console at once. The operator's
decisions on the synced shop go out through the outbox and the marketplace's answers come back.

Nothing here writes to the terminal (the console owns it): the sync's lines go to `sync.log`
in the demo's directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from concurrent.futures import Future
from pathlib import Path

from returns_tui.marketplace.client import RetryPolicy
from returns_tui.marketplace.simulator import ShopConfig, Simulator, Windows
from returns_tui.marketplace.simulator import model as m
from returns_tui.services import Returns
from returns_tui.sync import config as cfg
from returns_tui.sync.engine import Engine, Teller
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.webhooks import Listener, serve

log = logging.getLogger(__name__)

SHOP = "tiktok-demo"
SEEDED = 60
ROUND_SECONDS = 5.0
# Minutes instead of TikTok's days: the demo shows deadlines passing.
WINDOWS = Windows(respond=20 * 60, offer=10 * 60, ship=30 * 60, appeal=20 * 60, payout=120)
BUYER_EVERY = (3.0, 8.0)  # seconds between two moves of the buyers or the platform, at pace 1


class MarketplaceDemo(threading.Thread):
    def __init__(self, service: Returns, directory: Path, *, pace: float = 1.0,
                 seed: int | None = None) -> None:
        super().__init__(name="returns-tui-demo-marketplace", daemon=True)
        self.service = service
        self.directory = directory
        self.pace = pace
        self.rng = random.Random(seed)
        self.ready: Future[str] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halted: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported through `ready`, or logged
            if not self.ready.done():
                self.ready.set_exception(exc)
            log.debug("demo marketplace ended", exc_info=True)

    def halt(self) -> None:
        if self._loop is not None and self._halted is not None:
            self._loop.call_soon_threadsafe(self._halted.set)
        self.join(timeout=10)

    async def _main(self) -> None:
        self._loop, self._halted = asyncio.get_running_loop(), asyncio.Event()
        sim = Simulator([ShopConfig.make(SHOP, seed=str(self.rng.random()))],
                        webhook_retry_delays=(2.0, 10.0, 30.0), tick_interval=0.5)
        # The backlog is seeded by TikTok's windows (its stories take days); what happens from
        # now on runs by the demo's short ones.
        sim.seed(SHOP, SEEDED, seed=self.rng.randrange(1 << 30))
        sim.market.windows = WINDOWS
        async with sim.serve() as base_url:
            path = self._write_config(sim)
            teller = Teller(open(self.directory / "sync.log", "a", buffering=1))  # noqa: SIM115
            engine = Engine(cfg.load(path), Ledger(self.service), teller=teller,
                            retry=RetryPolicy(max_attempts=3, backoff_base=0.2), settle=5)
            async with engine:
                listener = Listener(engine)
                runner = await serve(listener, "127.0.0.1", 0)
                host, port = runner.addresses[0][:2]
                sim.shops[SHOP].webhook_url = f"http://{host}:{port}/tiktok"
                self.ready.set_result(base_url)
                tasks = [asyncio.ensure_future(self._rounds(engine)),
                         asyncio.ensure_future(self._buyers(sim))]
                try:
                    await self._halted.wait()
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await runner.cleanup()
                    teller.stream.close()

    def _write_config(self, sim: Simulator) -> Path:
        path = self.directory / "sync.toml"
        text = f"[shops.{SHOP}]\n" + "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in sim.sync_table(SHOP).items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return path

    async def _rounds(self, engine: Engine) -> None:
        while True:
            for report in await engine.round():
                if not report.ok:
                    engine.teller.say(f"shop {report.shop}: {report.error}")
            await asyncio.sleep(ROUND_SECONDS)

    async def _buyers(self, sim: Simulator) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(*BUYER_EVERY) * self.pace)
            try:
                self._move(sim)
            except m.MoveRefused:
                pass  # the return moved meanwhile: buyers are refused all the time

    def _move(self, sim: Simulator) -> None:
        """One thing a buyer or the platform does, chosen at random among what is possible."""
        rets = [r for r in sim.market.returns.values() if r.shop == SHOP]
        by = {s: [r for r in rets if r.return_status == s and r.arbitration_status != m.IN_PROGRESS]
              for s in (m.AWAITING_BUYER_SHIP, m.AWAITING_BUYER_RESPONSE, m.REJECTED)}
        in_arbitration = [r for r in rets if r.arbitration_status == m.IN_PROGRESS]
        appealable = [r for r in by[m.REJECTED] if r.arbitration_status is None]
        moves = [("create", 4)]
        moves += [("ship", 3)] if by[m.AWAITING_BUYER_SHIP] else []
        moves += [("answer", 3)] if by[m.AWAITING_BUYER_RESPONSE] else []
        moves += [("appeal", 1)] if appealable else []
        moves += [("rule", 1)] if in_arbitration else []
        move = self.rng.choices([n for n, _ in moves], [w for _, w in moves])[0]
        if move == "create":
            kind = self.rng.choice((m.REFUND, m.RETURN_AND_REFUND, m.RETURN_AND_REFUND))
            amount = f"{self.rng.randint(8, 120)}.{self.rng.randint(0, 99):02d}"
            sim.create_return(SHOP, kind, amount,
                              can_buyer_keep_item=self.rng.random() < 0.8)
        elif move == "ship":
            sim.ship(self.rng.choice(by[m.AWAITING_BUYER_SHIP]).return_id)
        elif move == "answer":
            ret = self.rng.choice(by[m.AWAITING_BUYER_RESPONSE])
            (sim.agree if self.rng.random() < 0.6 else sim.decline)(ret.return_id)
        elif move == "appeal":
            sim.appeal(self.rng.choice(appealable).return_id, "The seller is wrong.")
        else:
            sim.rule(self.rng.choice(in_arbitration).return_id,
                     self.rng.choice((m.SUPPORT_BUYER, m.SUPPORT_SELLER)))
