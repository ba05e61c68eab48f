"""What the sync's tests share: the simulator served on the real clock from a thread of its own
(so a `returns-tui sync` subprocess, or an engine in the test's loop, talks to it over real HTTP),
the sync's TOML config written for its shops, and a database whose admin is this account."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pendulum

from returns_tui import cli
from returns_tui.identity import login_name
from returns_tui.marketplace.simulator import ShopConfig, Simulator
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade

T = TypeVar("T")
COMMAND = Path(sys.executable).with_name("returns-tui")
ME = login_name()


class SimThread:
    """A Simulator on its own event loop in a daemon thread. `call(fn, ...)` runs fn in that
    loop's thread (the simulator is not thread-safe) and returns its result."""

    def __init__(self, shops: list[ShopConfig], **options: Any) -> None:
        options.setdefault("webhook_retry_delays", (0.2, 0.5, 1.0))
        options.setdefault("tick_interval", 0.1)
        self.sim = Simulator(shops, **options)
        self.loop = asyncio.new_event_loop()
        self._ready: Future[str] = Future()
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="simulator")

    def __enter__(self) -> SimThread:
        self.thread.start()
        self.base_url = self._ready.result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.sim.serve() as base_url:
            self._ready.set_result(base_url)
            await self._stop.wait()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def inside() -> T:
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(timeout=60)

    def idle_webhooks(self, timeout: float = 20) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.webhooks.idle(timeout), self.loop).result(
            timeout + 5)


def sync_toml(tables: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, table in tables.items():
        lines.append(f"[shops.{name}]")
        for key, value in table.items():
            if isinstance(value, str):
                value = json.dumps(value)  # a JSON string is a TOML basic string here
            lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)


def write_config(path: Path, sim: Simulator, shops: list[str], **extra: Any) -> Path:
    tables = {name: {**sim.sync_table(name), "interval": 1, **extra.get(name, {})}
              for name in shops}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(sync_toml(tables))
    return path


def make_database(url: str, operator_shops: tuple[str, ...] = ("acme", "globex")) -> Returns:
    """The schema, this account as the admin (it runs `sync`), and an operator `olive` of the
    shops (who makes the decisions the sync sends)."""
    engine = open_engine(url)
    upgrade(engine)
    service = Returns(engine)
    now = pendulum.now("UTC")
    service.add_user(ME, ME, "admin", (), now)
    service.add_user(ME, "olive", "operator", operator_shops, now)
    return service


def env_for(db_url: str, config: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RETURNS_TUI_DB": db_url, "RETURNS_TUI_SYNC_CONFIG": str(config),
            "RETURNS_TUI_CONFIG": str(tmp_path / "no-settings.toml")}


def run_sync(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), "sync", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def export(db_url: str, capsys) -> list[dict]:
    status = cli.main(["--db", db_url, "export"], login=ME)
    out, err = capsys.readouterr()
    assert status == 0, err
    return [json.loads(line) for line in out.splitlines()]
