"""Write docs/screenshot.svg: the console on the demo's data, To Proceed tab, at 120×36.

    .venv/bin/python docs/make_screenshot.py

The data and the clock are fixed, so the picture changes only when the console does."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pendulum

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TZ"] = "UTC"

NOW = pendulum.datetime(2026, 11, 27, 10, 0, 0)


async def main() -> None:
    from returns_tui.app import ReturnsApp
    from returns_tui.demo import build
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine
    from tests.support.console import loaded

    with tempfile.TemporaryDirectory() as tmp:
        demo = build(Path(tmp), "alice", now=NOW)
        service = Returns(open_engine(demo.url))
        app = ReturnsApp(service, service.login("alice"), Settings(), clock=lambda: NOW, tz="UTC")
        async with app.run_test(size=(120, 36)) as pilot:
            await loaded(pilot, app)
            await pilot.press("2")
            await loaded(pilot, app)
            await pilot.press("down", "down")
            await pilot.pause(0.5)
            app.clear_notifications()
            await pilot.pause(0.2)
            app.save_screenshot(filename="screenshot.svg", path=str(ROOT / "docs"))
        service.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
