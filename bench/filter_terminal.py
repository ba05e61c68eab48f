"""A filtered tab's paint as the operator sees it (issue 16: under 100 ms p95 at 1M): the
console in a real terminal (tmux), each filter of bench/filter_figures.py a saved view, its
key pressed, timed until the screen shows that view whole.

    .venv/bin/python bench/filter_terminal.py --url sqlite:////tmp/rt-sq/requests-1000000.db
    .venv/bin/python bench/filter_terminal.py --url postgresql+psycopg://…/rt_bench --rounds 20

The database is one bench/run.py made (its users, and filter_figures' "alice"); set
RETURNS_TUI_CHAIN_KEY where its key is not beside an SQLite file. For each viewer of the
cases, their filters are saved as views (slots F1…, the first a plain All: the baseline)
in a folder of this run's own, the console is started in tmux (200×50), and the keys are
pressed in turn, round after round. A paint is timed from `send-keys` until `capture-pane`
shows the view's status line with its count ("row 1 of N": its window and its counts read;
"loading…" until both are) and its money at stake (or "no requests"). The console's clock
approves what falls due meanwhile, as it would for an operator. The detail panel of the
highlighted request is not waited for. Each figure includes tmux's own latency (a capture
every few milliseconds). The first round is left out (each view's first paint); medians and
p95 (nearest rank) of the rest are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import console_timing  # noqa: E402  (bench/console_timing.py: Pane)
import filter_figures  # noqa: E402

WIDTH, HEIGHT = 200, 50  # the terminal's size: the status line's money is not cut


def painted(tab, sort, text: str, narrow):
    """Whether a capture of the pane shows the view painted: its status line names its tab,
    sort, search and filters, and has both its count (given once its rows and its counts
    are read; "loading…" before) and its money at stake (once the money is read), or says
    it has no requests."""
    what = rf" · sort: {re.escape(sort.label)}"
    if text:
        what += rf" · search: {re.escape(text)}"
    if narrow:
        what += rf" · filters: {re.escape(narrow.describe())}"
    line = re.compile(
        rf"{re.escape(tab.label)} · (row 1 of [\d,]+{what} · at stake |no requests{what})"
    )
    return lambda screen: bool(line.search(screen))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_viewer(url: str, who: str, cases, rounds: int, folder: Path) -> None:
    from returns_tui.domain import Tab
    from returns_tui.filters import Narrowing
    from returns_tui.saved_views import SavedView, save_views, views_file
    from returns_tui.store.queries import DEFAULT_SORT

    cases = [(Tab.ALL, "", Narrowing(), "All, no filter (baseline)"), *cases][:9]
    views, checks = [], []
    for slot, (tab, text, narrow, _label) in enumerate(cases, start=1):
        views.append(SavedView(f"v{slot}", slot, tab, DEFAULT_SORT[tab], text, narrow))
        checks.append(painted(tab, DEFAULT_SORT[tab], text, narrow))
    save_views(views_file(folder / "views", who), views)
    command = f"{sys.executable} {Path(__file__).resolve()} --console {url} {who} {folder}"
    pane = console_timing.Pane(command, width=WIDTH, height=HEIGHT)
    times: list[list[float]] = [[] for _ in cases]
    try:
        pane.until(lambda text: bool(console_timing.ROW.search(text)))
        for round_ in range(rounds + 1):
            for i, check in enumerate(checks):
                pane.keys(f"F{i + 1}")
                took = pane.until(check, timeout=30)
                if round_:
                    times[i].append(took * 1000)
        pane.keys("C-q")
    finally:
        pane.close()
    for (_tab, _text, _narrow, label), samples in zip(cases, times, strict=True):
        print(
            f"  {who:<14} {label:<45} {statistics.median(samples):6.0f} {p95(samples):6.0f}",
            flush=True,
        )


def run_console(url: str, login: str, folder: str) -> int:
    """What tmux runs: the console on `url` as `login`, its views in `folder`/views."""
    from returns_tui.app import run_console as run
    from returns_tui.services import Returns
    from returns_tui.settings import Settings
    from returns_tui.store.engine import open_engine

    service = Returns(open_engine(url))
    settings = Settings(views_dir=Path(folder) / "views")
    return run(service, service.login(login), settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the bench's database (SQLite or PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only", help="only the cases whose label holds this text")
    parser.add_argument("--console", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.console:
        return run_console(*args.console)
    # Run from a test (pytest sets them), COLUMNS=80 and LINES=24 reach the tmux server and
    # its panes, and the console (through shutil) believes them over the pane's own size.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
    by_viewer: dict[str, list] = {}
    for who, tab, text, narrow, label in filter_figures.cases():
        if not args.only or args.only in label:
            by_viewer.setdefault(who, []).append((tab, text, narrow, label))
    print(f"bench: {filter_figures.run.machine()}; {args.url.split('/')[-1]}; "
          f"{args.rounds} rounds; ms from the key to the view on screen", flush=True)  # fmt: skip
    print(f"  {'viewer':<14} {'view':<45} {'median':>6} {'p95':>6}")
    with tempfile.TemporaryDirectory(prefix="filter-terminal-") as folder:
        for who, cases in by_viewer.items():
            # At most 8 filters a console (F1 is the baseline); more: another console.
            for start in range(0, len(cases), 8):
                run_viewer(args.url, who, cases[start : start + 8], args.rounds, Path(folder))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TERM", "xterm-256color")
    raise SystemExit(main())
