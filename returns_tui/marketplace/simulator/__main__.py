"""`python -m returns_tui.marketplace.simulator`: serve the simulator until interrupted.

    python -m returns_tui.marketplace.simulator --port 8765 --shops acme,globex --returns 1000 \
        --config-out /tmp/sim-sync.toml

`--returns` is per shop. `--config-out` writes the shops' tables for the sync's TOML
configuration (mode 0600: it holds the simulated secrets); nothing secret is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time

from returns_tui.marketplace.simulator.sim import ShopConfig, Simulator

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a bare TOML key, so the tables need no quoting


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m returns_tui.marketplace.simulator",
        description="A simulator of TikTok Shop's Return & Refund API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--shops", default="acme", help="shop names, comma-separated")
    parser.add_argument("--returns", type=int, default=100, help="returns seeded in each shop")
    parser.add_argument("--seed", type=int, default=0, help="the random seed of the data")
    parser.add_argument("--webhook", default=None, help="URL the shops' notifications go to")
    parser.add_argument("--shared-app", action="store_true",
                        help="all shops under one app (webhooks then need shop_id to route)")
    parser.add_argument("--hostile-every", type=int, default=0,
                        help="every Nth seeded return carries markup and control characters")
    parser.add_argument("--config-out", default=None, help="write the sync's TOML tables here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.shops.split(",") if n.strip()]
    if not names or not all(_NAME.fullmatch(n) for n in names):
        parser.error("shop names are letters, digits, - and _, separated by commas")
    if args.returns < 0:
        parser.error("the number of returns cannot be below 0")
    args.names = names
    return args


def toml_tables(sim: Simulator) -> str:
    lines = []
    for name in sim.shops:
        lines.append(f"[shops.{name}]")
        for key, value in sim.sync_table(name).items():
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
        lines.append("")
    return "\n".join(lines)


def write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


async def run(args: argparse.Namespace) -> None:
    app = ("6a" + "shared0000", "sharedsecret" * 2) if args.shared_app else None
    shops = [ShopConfig.make(n, seed=str(args.seed), app=app, webhook_url=args.webhook)
             for n in args.names]
    sim = Simulator(shops)
    started = time.perf_counter()
    for n, shop in enumerate(args.names):
        sim.seed(shop, args.returns, seed=args.seed * 1000 + n)
    seeded = time.perf_counter() - started
    async with sim.serve(args.host, args.port) as base_url:
        if args.config_out:
            write_private(args.config_out, toml_tables(sim))
        print(f"serving {base_url}: shops {', '.join(args.names)}, {len(sim.market.returns)} "
              f"returns (seeded in {seeded:.1f} s); Ctrl-C stops", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"simulator: cannot serve on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
