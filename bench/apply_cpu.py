"""Apply's wall and CPU time for several installed `returns-tui` commands (e.g. two revisions
that bench/compare_revisions.sh installed), alternately on the same stream: on a loaded
machine the CPU time the command used (user + system, from getrusage) moves far less than
its wall time.

    .venv/bin/python bench/apply_cpu.py [--rounds 7] [--requests 1000] COMMAND...

The stream is bench/cli_figures.py's (submit, accept, ship, receive; four lines a request),
each run on a fresh SQLite database made by that command's own `init` and `users add`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cli_figures as cf  # noqa: E402

from returns_tui.store.chain import KEY_ENV, create_key  # noqa: E402


def run(command: str, env: dict[str, str], *args: str, stdout=subprocess.DEVNULL) -> None:
    subprocess.run([command, *args], env=env, check=True, stdout=stdout)


def one(command: str, tmp: Path, stream: Path) -> tuple[float, float]:
    """(seconds, CPU seconds) of `command apply` on a fresh database."""
    path = tmp / "apply.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "RETURNS_TUI_DB": f"sqlite:///{path}",
           "RETURNS_TUI_CONFIG": str(tmp / "no-config.toml")}  # fmt: skip
    run(command, env, "init")
    run(command, env, "users", "add", cf.ADMIN, "--role", "admin")
    run(command, env, "users", "add", "alice", "--role", "operator", "--shop", "acme")
    before, start = _children_cpu(), time.perf_counter()
    with (tmp / "verdicts.jsonl").open("w") as out:
        run(command, env, "apply", str(stream), stdout=out)
    return time.perf_counter() - start, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("commands", nargs="+", metavar="COMMAND")
    args = parser.parse_args()
    lines = 4 * args.requests
    got: dict[str, list[tuple[float, float]]] = {c: [] for c in args.commands}
    with tempfile.TemporaryDirectory(prefix="returns-apply-cpu-") as name:
        tmp = Path(name)
        os.environ[KEY_ENV] = str(create_key(tmp / "chain.key")[0].path)
        stream = tmp / "stream.jsonl"
        stream.write_text(cf.apply_stream(args.requests), encoding="utf-8")
        for _ in range(args.rounds):
            for command in args.commands:
                got[command].append(one(command, tmp, stream))
    print(f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(
        f"| command | apply {lines:,} lines: lines/s (median) | CPU s (median) | CPU s, each run |"
    )
    print("|---|---|---|---|")
    for command, runs in got.items():
        rate = statistics.median(lines / wall for wall, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        each = " / ".join(f"{c:.2f}" for _, c in runs)
        print(f"| {command} | {rate:,.0f} | {cpu:.2f} | {each} |")


if __name__ == "__main__":
    main()
