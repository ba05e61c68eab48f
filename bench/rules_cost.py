"""The cost of automation rules on `apply` (DESIGN §10): the same 4 000-line stream (1 000
requests: submit, accept, ship, receive; bench/cli_figures.py's) applied by the installed
`returns-tui apply` on a fresh SQLite database with no rule, and with 20 rules of alice's that
every arrival must weigh without any of them acting (so every line is still applied as the
stream says). The two are run alternately, `--rounds` times each; medians of the wall time
(lines per second, as cli_figures.py's apply) and of the CPU time the command used (user +
system, from getrusage: on a shared, loaded machine it moves far less than the wall time).

    .venv/bin/python bench/rules_cost.py [--rounds 5] [--requests 1000]

The 20 rules: 10 that a reason rules out (the cheap case), and 10 whose every other condition
holds, so that each arrival also counts the buyer's requests of 90 days (one query per owner),
with a limit of 1 that the buyer, who asked once before the stream, is always over.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import pendulum

sys.path.insert(0, str(Path(__file__).parent))
import cli_figures as cf  # noqa: E402

from returns_tui import domain as d  # noqa: E402
from returns_tui import rulebook  # noqa: E402
from returns_tui.roles import BUYER  # noqa: E402
from returns_tui.services import Returns  # noqa: E402
from returns_tui.store.chain import KEY_ENV, create_key  # noqa: E402
from returns_tui.store.engine import open_engine  # noqa: E402


def database(tmp: Path, rules: int) -> dict[str, str]:
    """A fresh database: the bench's login an admin, alice an operator of acme since before
    the stream, the buyer's one request before it, and `rules` rules made before it."""
    path = tmp / "rules.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "RETURNS_TUI_DB": f"sqlite:///{path}",
           "RETURNS_TUI_CONFIG": str(tmp / "no-config.toml")}  # fmt: skip
    cf.command(env, "init")
    cf.command(env, "users", "add", cf.ADMIN, "--role", "admin")
    start = pendulum.now("UTC").subtract(days=30).start_of("day")  # the stream's first line
    engine = open_engine(env["RETURNS_TUI_DB"])
    svc = Returns(engine)
    svc.add_user(cf.ADMIN, "alice", "operator", ("acme",), start.subtract(days=2))
    svc.submit(BUYER, d.Submission("R-before", "O-before", "acme", "refund", "Ana Lima",
                                   "Mug", "MUG-1", 1, "5.00", "USD", "damaged"),
               start.subtract(days=1))  # fmt: skip
    for n in range(rules):
        if n % 2:
            new = rulebook.NewRule(reasons=["not_received"])
        else:
            new = rulebook.NewRule(
                type="return_and_refund", reasons=["damaged"], currency="USD",
                max_amount="20.00", max_buyer_requests=1,
            )  # fmt: skip
        rulebook.add(svc, "alice", f"rule{n:02d}", new, start.subtract(hours=20 - n))
    engine.dispose()
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    lines = args.requests * 4
    rates: dict[int, list[float]] = {0: [], 20: []}
    cpu: dict[int, list[float]] = {0: [], 20: []}
    with tempfile.TemporaryDirectory(prefix="returns-rules-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ[KEY_ENV] = str(create_key(tmp / "chain.key")[0].path)
        stream = tmp / "stream.jsonl"
        stream.write_text(cf.apply_stream(args.requests), encoding="utf-8")
        for _ in range(args.rounds):
            for rules in rates:
                env = database(tmp, rules)
                out = tmp / "verdicts.jsonl"
                used = _children_cpu()
                with out.open("w") as verdicts:
                    seconds = cf.command(env, "apply", str(stream), stdout=verdicts)
                cpu[rules].append(_children_cpu() - used)
                refused = sum('"ok": true' not in x for x in out.read_text().splitlines())
                assert refused == 0, f"{refused} lines were refused with {rules} rules"
                rates[rules].append(lines / seconds)
    print(f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"| rules | apply {lines:,} lines: lines/s (median) | each run | CPU s (median) "
          "| each run |")  # fmt: skip
    print("|---|---|---|---|---|")
    for rules, got in rates.items():
        runs = " / ".join(f"{r:,.0f}" for r in got)
        used = " / ".join(f"{c:.2f}" for c in cpu[rules])
        print(f"| {rules} | {statistics.median(got):,.0f} | {runs} | "
              f"{statistics.median(cpu[rules]):.2f} | {used} |")  # fmt: skip


def _children_cpu() -> float:
    """User + system seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
