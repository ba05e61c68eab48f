"""The command line's figures on SQLite, measured as a user gets them: each is the wall time of
the installed `returns-tui` command (process start included), in a fresh temporary directory.

    .venv/bin/python bench/cli_figures.py [--runs 3] [--scale 1.0]

Prints a markdown table of medians. Seeding a million requests is run once (it also makes the
database that the export runs read); the others `--runs` times, each on fresh data. `--scale`
shrinks every size, to try the script quickly.

- seed: `returns-tui seed --count 1000000` into an empty database.
- sweep: 100 000 requests submitted (through domain.submit) three days ago, so all are past
  their 48 hours; `returns-tui sweep` auto-approves every one.
- apply: a stream of 20 000 lines (5 000 requests: submit, accept, ship, receive, in time
  order, a month ago); lines per second of `returns-tui apply FILE`.
- export: `returns-tui export > /dev/null` of the million seeded requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pendulum
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.identity import login_name
from returns_tui.seed import SHOPS, random_submission
from returns_tui.store.chain import KEY_ENV, chain_values, create_key, load_key
from returns_tui.store.engine import is_sqlite, open_engine, write
from returns_tui.store.rows import record_values, request_values
from returns_tui.store.schema import orders, records, requests

COMMAND = str(Path(sys.executable).with_name("returns-tui"))
ADMIN = login_name()  # the bench runs the commands as its own login, made an admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    sizes = {
        name: max(1, int(size * args.scale))
        for name, size in {"seed": 1_000_000, "sweep": 100_000, "apply": 20_000}.items()
    }
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="returns-bench-") as tmp:
        os.environ[KEY_ENV] = str(create_key(Path(tmp) / "chain.key")[0].path)
        rows = [
            *seed_and_export(Path(tmp), sizes["seed"], args.runs),
            sweep(Path(tmp), sizes["sweep"], args.runs),
            apply(Path(tmp), sizes["apply"], args.runs),
        ]
    print(table(rows))


# ---------------------------------------------------------------------------------------------
# Running the command


def fresh_database(tmp: Path, name: str) -> dict[str, str]:
    """The environment of a new, initialised database with the bench's login as admin and
    alice as an operator of acme."""
    path = tmp / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = {
        **os.environ,
        "RETURNS_TUI_DB": f"sqlite:///{path}",
        "RETURNS_TUI_CONFIG": str(tmp / "no-config.toml"),
    }
    command(env, "init")
    command(env, "users", "add", ADMIN, "--role", "admin")
    command(env, "users", "add", "alice", "--role", "operator", "--shop", "acme")
    return env


def command(env: dict[str, str], *args: str, stdout=subprocess.DEVNULL) -> float:
    """Run `returns-tui ARGS`; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([COMMAND, *args], env=env, check=True, stdout=stdout)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The figures


def seed_and_export(tmp: Path, count: int, runs: int) -> list[tuple]:
    env = fresh_database(tmp, "million")
    seeded = command(env, "seed", "--count", str(count))
    exports = [command(env, "export") for _ in range(runs)]
    return [
        (f"seed {count:,} requests", "< 60 s", f"{seeded:.1f} s", "1",
         f"returns-tui seed --count {count}"),
        (f"export {count:,} requests (jsonl)", "< 30 s", f"{statistics.median(exports):.1f} s",
         str(runs), "returns-tui export > /dev/null"),
    ]  # fmt: skip


def sweep(tmp: Path, count: int, runs: int) -> tuple:
    times = []
    for _ in range(runs):
        env = fresh_database(tmp, "sweep")
        submit_overdue(env["RETURNS_TUI_DB"], count)
        times.append(command(env, "sweep"))
    return (f"sweep {count:,} due requests", "< 5 s", f"{statistics.median(times):.2f} s",
            str(runs), "returns-tui sweep")  # fmt: skip


def submit_overdue(url: str, count: int) -> None:
    """`count` requests submitted three days ago through domain.submit: all are past their
    48 hours. Written in one transaction, as the setup, not the measure."""
    rules, rng, key = d.Rules(), random.Random(1), load_key()
    created = pendulum.now("UTC").subtract(days=3)
    reqs, recs, ords = [], [], []
    for number in range(1, count + 1):
        sub = random_submission(rng, created, SHOPS, number=number)
        change = d.submit(sub, d.OrderHistory(), created, rules)
        req = replace(change.after, version=len(change.records))
        values = request_values(req)
        rec_values = [record_values(req.id, i, rec) for i, rec in enumerate(change.records, 1)]
        chain_values(key, values, rec_values)  # as the services chain what they write
        reqs.append(values)
        recs += rec_values
        ords.append({"order_id": req.order_id, "shop": req.shop, "version": 1})
    engine = open_engine(url)
    with write(engine) as conn:
        for table, values in ((requests, reqs), (records, recs), (orders, ords)):
            conn.execute(sa.insert(table), values)
    if not is_sqlite(engine):
        # The statistics autovacuum gathers within a minute of such an insert, and any live
        # database has: without them PostgreSQL plans the sweep's reads for a handful of rows.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def apply(tmp: Path, lines: int, runs: int) -> tuple:
    stream = tmp / "stream.jsonl"
    stream.write_text(apply_stream(lines // 4), encoding="utf-8")
    rates = []
    for _ in range(runs):
        env = fresh_database(tmp, "apply")
        out = tmp / "verdicts.jsonl"
        with out.open("w") as verdicts:
            seconds = command(env, "apply", str(stream), stdout=verdicts)
        refused = sum('"ok": true' not in x for x in out.read_text().splitlines())
        assert refused == 0, f"{refused} lines of the bench stream were refused"
        rates.append(lines / seconds)
    return (f"apply {lines:,} lines", ">= 2 000 lines/s",
            f"{statistics.median(rates):,.0f} lines/s", str(runs),
            f"returns-tui apply stream.jsonl ({lines:,} lines)")  # fmt: skip


def apply_stream(count: int) -> str:
    """`count` requests a minute apart, a month ago; each submitted, accepted an hour later,
    shipped five hours later and received two days later: four lines a request, in time
    order."""
    start = pendulum.now("UTC").subtract(days=30).start_of("day")
    events = []
    for n in range(count):
        at, rid = start.add(minutes=n), f"R{n:07d}"
        submit = dict(
            request_id=rid, order_id=f"O{n:07d}", shop="acme", type="return_and_refund",
            buyer="Ana Lima", product="Stoneware mug", sku="MUG-1", quantity=1,
            amount="12.99", currency="USD", reason="damaged", note="cracked",
        )  # fmt: skip
        events += [
            (at, "buyer", "submit", submit),
            (at.add(hours=1), "alice", "accept", {"request_id": rid}),
            (at.add(hours=5), "buyer", "ship", {"request_id": rid, "tracking": f"1Z{n:09d}"}),
            (at.add(days=2), "alice", "receive", {"request_id": rid}),
        ]
    events.sort(key=lambda event: event[0])
    return "".join(
        json.dumps({"at": at.to_iso8601_string(), "actor": actor, "action": action, **fields})
        + "\n"
        for at, actor, action, fields in events
    )


def table(rows: list[tuple]) -> str:
    head = ("figure", "goal", "median", "runs", "command")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
