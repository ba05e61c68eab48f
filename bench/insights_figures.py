"""The Insights figures of issue 15 (DESIGN §9) on one size, beside their floors:

    .venv/bin/python bench/insights_figures.py --data /tmp/rt-bench          # SQLite, 1 000 000
    .venv/bin/python bench/insights_figures.py --data /tmp/rt-bench --pg     # RETURNS_TUI_TEST_PG
    .venv/bin/python bench/insights_figures.py --sizes 10000 --quick

It builds (or reuses) bench/run.py's seeded database of each size under --data (keep it outside
the repository: a million requests is about a gigabyte) and measures, as medians and p95:
- the screen's figures: returns_tui.insights.load for 7, 30 and 90 days ending today, every
  shop (bench-agent) and one shop (bench-operator, acme), as the Insights screen reads them;
- the floor beside each: the very same statements and parameters through the bare driver
  (sqlite3 / psycopg), so the difference is what Python adds;
- the screen's first paint: the console (bench-agent, every shop, headless at 120×36) from
  the key `i` to the first frame composed after the figures are shown (30 days, the screen's
  default), the screen closed and opened again each time;
- `returns-tui report --since <90 days ago> --format json`, the installed command's wall time
  (Python's start included), as the person running the bench (an admin of the bench database).
The seed's requests lie within the last 45 days, so 30 and 90 days read nearly all of them.
Results go to stdout only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_figures  # noqa: E402  (bench/cli_figures.py)
import run  # noqa: E402  (bench/run.py)


def screen_figures(suite: run.Suite, size: int, url: str) -> None:
    from returns_tui import insights
    from returns_tui.clock import utc_now
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine

    engine = open_engine(url)
    svc = Returns(engine)
    floor = suite.backend.floor(url)
    reps = suite.runs(7, 2)
    today = utc_now().date()
    for who, label in (("bench-agent", "every shop"), ("bench-operator", "one shop")):
        viewer = svc.login(who)
        for days in insights.PERIODS:
            period = insights.Period.ending(today, days)

            def load(viewer=viewer, period=period) -> None:
                insights.load(svc, viewer, period)

            with run.captured(engine) as statements:
                load()
            sent = [(s, p) for s, p in statements if " r WHERE" in s or " r JOIN" in s]
            ours = run.timed(load, reps)
            bare = run.timed(lambda sent=sent: [floor(sql, params) for sql, params in sent], reps)
            limit = 1000.0
            suite.add(run.Figure(
                size, f"insights_{days}_{who}", f"Insights figures, {days} days, {label}", "ms",
                ours, goal=f"< {limit:.0f} ms", limit=limit, baseline="bare SQL",
                baseline_samples=bare, note="ratio: ours / bare SQL",
            ))  # fmt: skip
    engine.dispose()


def paint_figure(suite: run.Suite, size: int, url: str) -> None:
    samples = asyncio.run(_paints(url, suite.runs(7, 3)))
    suite.add(run.Figure(
        size, "insights_paint", "Insights screen: key i to the figures painted (30 days)", "ms",
        samples, goal="< 1000 ms", limit=1000.0,
    ))  # fmt: skip


async def _paints(url: str, reps: int, timeout: float = 60) -> list[float]:
    from textual import events

    from returns_tui.app import ReturnsApp
    from returns_tui.screens.insights import InsightsScreen
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine

    engine = open_engine(url)
    service = Returns(engine)
    app = ReturnsApp(service, service.login("bench-agent"), Settings())
    frames: list[float] = []
    shown: list[float] = []
    display, show = app._display, InsightsScreen.show

    def framed(screen, renderable):
        if renderable is not None:
            frames.append(time.perf_counter())
        return display(screen, renderable)

    def showing(screen, figures):
        show(screen, figures)
        shown.append(time.perf_counter())

    app._display = framed  # type: ignore[method-assign]
    InsightsScreen.show = showing  # type: ignore[method-assign]
    samples = []
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await run._settled(pilot, app.main, first=True)
            for _ in range(reps):
                count = len(shown)
                start = time.perf_counter()
                app._driver.send_message(_key(events, app, "i"))
                deadline = start + timeout
                while len(shown) == count:
                    if time.perf_counter() > deadline:
                        raise TimeoutError("the figures never came")
                    await asyncio.sleep(0.001)
                samples.append((await run._frame_after(frames, shown[-1]) - start) * 1000)
                app._driver.send_message(_key(events, app, "escape"))
                while isinstance(app.screen, InsightsScreen):
                    await asyncio.sleep(0.01)
                await pilot.pause()
                await asyncio.sleep(0.2)
    finally:
        InsightsScreen.show = show  # type: ignore[method-assign]
        engine.dispose()
    return samples


def _key(events, app, key: str):
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    return event


def report_figure(suite: run.Suite, size: int, url: str) -> None:
    env = {
        **os.environ,
        "RETURNS_TUI_DB": url,
        "RETURNS_TUI_CONFIG": str(suite.backend.data / "no-config.toml"),
    }
    since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=89)).isoformat()
    args = ("report", "--since", since, "--format", "json")
    cli_figures.command(env, *args)  # warm: the file cache, the server's buffers
    samples = [cli_figures.command(env, *args) * 1000 for _ in range(suite.runs(5, 2))]
    for fmt in ("text", "csv"):
        samples_fmt = [cli_figures.command(env, "report", "--since", since, "--format", fmt)]
        print(f"           report --format {fmt}: {samples_fmt[0] * 1000:.0f} ms", flush=True)
    suite.add(run.Figure(
        size, "report_90", "returns-tui report, 90 days, json (the command)", "ms", samples,
        goal="< 2000 ms", limit=2000.0,
    ))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--data", type=Path, default=run.DATA)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    backend: run.Backend = run.Backend(args.data)
    if args.pg:
        backend = run.PgBackend(args.data, os.environ["RETURNS_TUI_TEST_PG"])
    suite = run.Suite(args, backend)
    print(f"bench: {run.machine()}", flush=True)
    for size in args.sizes:
        url = run.database(suite, size)
        screen_figures(suite, size, url)
        paint_figure(suite, size, url)
        report_figure(suite, size, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
