"""`returns-tui sync [--once] [--shop SHOP] [--listen HOST:PORT] [--parallel N]` (DESIGN §8).

`--once`: one round of each shop, a summary line per shop on stdout, exit status 0 when every
shop's round completed (the marketplace's refusals and unknown statuses told on stderr, not
failures), 1 when a shop could not be synced. Without it: a round at once, then each shop again
every `interval` seconds of its table, until SIGTERM or SIGINT, which end it cleanly (status 0):
the round under way is cancelled, which loses nothing (every step is its own transaction, the
cursor and the outbox are in the database). `--listen` also takes webhooks meanwhile.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass

from returns_tui.errors import ReturnsError
from returns_tui.services import Returns
from returns_tui.sync import config as cfg
from returns_tui.sync.engine import Engine, ShopSync, Teller
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.webhooks import Listener, serve
from returns_tui.textsafe import safe


class SyncUsage(ReturnsError):
    """A wrong --shop or --listen (the command line's fault)."""


@dataclass(frozen=True)
class Options:
    once: bool = False
    shops: tuple[str, ...] = ()
    listen: tuple[str, int] | None = None
    parallel: int | None = None


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isascii() or not port.isdigit() or not (
            0 < int(port) < 65536):
        raise ValueError(f"{text!r} is not HOST:PORT (a port from 1 to 65535)")
    return host, int(port)


def run(service: Returns, options: Options) -> int:
    config = cfg.load()
    unknown = [s for s in options.shops if s not in config.shops]
    if unknown:
        raise SyncUsage(f"The sync config {safe(str(config.path))} has no shop "
                        f"{safe(unknown[0])!r}; it has {', '.join(map(safe, config.shops))}.")
    engine = Engine(config, Ledger(service), shops=list(options.shops) or None,
                    parallel=options.parallel)
    return asyncio.run(_main(engine, options))


async def _main(engine: Engine, options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with engine:
        runner = None
        if options.listen is not None:
            try:
                runner = await serve(Listener(engine), *options.listen)
            except OSError as exc:
                host, port = options.listen
                raise ReturnsError(f"Cannot listen on {safe(host)}:{port}: "
                                   f"{exc.strerror or exc}.") from None
        try:
            if options.once:
                return await _once(engine, stop)
            await _forever(engine, stop)
            return 0
        finally:
            if runner is not None:
                await runner.cleanup()


async def _once(engine: Engine, stop: asyncio.Event) -> int:
    work = asyncio.ensure_future(engine.round())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        engine.teller.say("stopped before the round ended; what was brought in stays.")
        return 1
    reports = work.result()
    for report in reports:
        print(safe(report.summary()), flush=True)
        if not report.ok:
            engine.teller.say(f"shop {report.shop} could not be synced: {report.error}")
    return 0 if all(r.ok for r in reports) else 1


async def _forever(engine: Engine, stop: asyncio.Event) -> None:
    loops = [asyncio.ensure_future(_shop_loop(shop, engine.teller, stop))
             for shop in engine.shops.values()]
    stopping = asyncio.ensure_future(stop.wait())
    # A shop's loop ends only when stopped, or by a failure no round expects (a bug): then
    # the whole sync ends with it rather than run on without that shop.
    await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
    for task in [stopping, *loops]:
        task.cancel()
    results = await asyncio.gather(*loops, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result


async def _shop_loop(shop: ShopSync, teller: Teller, stop: asyncio.Event) -> None:
    while not stop.is_set():
        report = await shop.round()
        if not report.ok:
            teller.say(f"shop {shop.name} could not be synced this round: {report.error}")
        try:
            await asyncio.wait_for(stop.wait(), shop.table.interval)
        except TimeoutError:
            pass


def main_sync(service: Returns, options: Options) -> int:
    """The CLI's entry; a config refused or a wrong --shop raises ReturnsError (status 1)."""
    try:
        return run(service, options)
    except KeyboardInterrupt:  # a signal before the handlers were set
        print("returns-tui: interrupted.", file=sys.stderr)
        return 130
