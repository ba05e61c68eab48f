"""Crash: `returns-tui apply` of a large keyed stream, killed with SIGKILL at random moments.

The stream (a few thousand lines: submits, accepts, rejects with reasons and notes, appeals,
mediations, second requests, shipments, receipts, cancellations and notes, every line with
an idempotency key, times in the past in order) first runs once, uninterrupted, on a fresh
database: that export is the reference. Then, on another fresh database, the same stream is
started again and again as a subprocess (the installed command, run by the account that runs
the tests, the database's admin, as a sync job's account would be) and killed with SIGKILL
after a random delay, at least 20 times. After each kill: SQLite's `PRAGMA integrity_check`
is ok and the invariant checker finds nothing. Then the whole stream is sent once more, to
completion: every line's verdict is the one the uninterrupted run gave, lines seen before say
"duplicate", and the final `export --format jsonl` is byte-identical to the reference.

CI size: 20 kills per backend, on 700 requests (about 2 650 lines) on SQLite and 200 (about
760 lines) on PostgreSQL. RETURNS_TUI_TORTURE=large: 50 kills, 1 500 and 800 requests.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pendulum
import pytest

from returns_tui.check import check
from returns_tui.clock import parse_time, utc_now
from returns_tui.identity import login_name
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.timefmt import iso_utc

LARGE = os.environ.get("RETURNS_TUI_TORTURE") == "large"
# PostgreSQL applies a line in about three times SQLite's time: a shorter stream in CI.
REQUESTS = {"sqlite": 1500, "postgresql": 800} if LARGE else {"sqlite": 700, "postgresql": 200}
KILLS = 50 if LARGE else 20
RETURNS_TUI = Path(sys.executable).with_name("returns-tui")
ADMIN = login_name()  # the account that runs the stream, an admin (DESIGN §3: a user)
REASONS = ["no_proof", "item_used_or_damaged", "not_as_claimed", "outside_policy", "other"]


# ---------------------------------------------------------------------------------------------
# The stream


def stream(requests: int, seed: int = 6) -> list[str]:
    """A day-by-day history of `requests` requests as apply lines, in time order, keyed."""
    rng = random.Random(seed)
    end = utc_now().start_of("hour").subtract(days=2)
    start = end.subtract(minutes=100 * requests + 14 * 24 * 60)
    events: list[tuple[pendulum.DateTime, int, dict]] = []
    order = 0

    def at(base: pendulum.DateTime, hours: float) -> pendulum.DateTime:
        return base.add(seconds=round(hours * 3600))

    def add(when, fields) -> None:
        events.append((when, len(events), fields))

    for i in range(requests):
        t = start.add(minutes=100 * i)
        shop, operator = ("acme", "alice") if i % 10 < 7 else ("globex", "olga")
        rid, oid = f"R{i:05d}", f"O{i:05d}"
        kind = "refund" if i % 4 == 0 else "return_and_refund"
        add(t, submit(rid, oid, shop, kind, i, rng))
        path = rng.random()
        if rng.random() < 0.3:
            add(at(t, 0.3), {"actor": operator, "action": "note", "request_id": rid,
                             "note": f"looked at {rid} [b]"})  # fmt: skip
        if path < 0.35:  # accepted, then the return travels back (or not)
            add(at(t, 1), {"actor": operator, "action": "accept", "request_id": rid})
            ship_and_receive(add, at(t, 1), rid, operator, kind, rng)
        elif path < 0.65:  # rejected, then an appeal or a second request
            reject(add, at(t, 2), rid, operator, rng)
            if rng.random() < 0.55:
                add(at(t, 5), {"actor": "buyer", "action": "appeal", "request_id": rid})
                decision = rng.choice(["buyer", "seller"])
                note = f"decided for the {decision}"
                add(at(t, 26), {"actor": "sam", "action": "mediate", "request_id": rid,
                                "decision": decision, "note": note})  # fmt: skip
                if decision == "buyer":
                    ship_and_receive(add, at(t, 26), rid, operator, kind, rng)
            else:
                second = rid + "b"
                add(at(t, 10), submit(second, oid, shop, kind, i, rng))
                if rng.random() < 0.5:
                    reject(add, at(t, 12), second, operator, rng)
                    add(at(t, 13), {"actor": "buyer", "action": "appeal", "request_id": rid})
                else:
                    add(at(t, 12), {"actor": operator, "action": "accept", "request_id": second})
        elif path < 0.8:  # nobody answers: approved automatically at 48 h; a late accept
            add(at(t, 50), {"actor": operator, "action": "accept", "request_id": rid})
            ship_and_receive(add, at(t, 48), rid, operator, kind, rng)
        elif path < 0.9:  # the buyer withdraws it
            add(at(t, 0.5), {"actor": "buyer", "action": "cancel", "request_id": rid})
        else:  # the agent adds a note, and someone sends a bad line
            add(at(t, 3), {"actor": "sam", "action": "note", "request_id": rid,
                           "note": "called the buyer: ☎ ok"})  # fmt: skip
            add(at(t, 4), {"actor": "buyer", "action": "ship", "request_id": rid,
                           "tracking": "not valid!"})  # fmt: skip
        order += 1
    events.sort(key=lambda e: (e[0], e[1]))
    lines = []
    for n, (when, _, fields) in enumerate(events):
        assert when <= end.add(days=1)
        lines.append(json.dumps({"at": iso_utc(when), **fields, "key": f"evt-{n:06d}"},
                                ensure_ascii=False))  # fmt: skip
    return lines


def submit(rid: str, oid: str, shop: str, kind: str, i: int, rng: random.Random) -> dict:
    return {
        "actor": "buyer", "action": "submit", "request_id": rid, "order_id": oid, "shop": shop,
        "type": kind, "buyer": f"Buyer {i} «Ünïcødé»", "product": f"Product {i % 37}",
        "sku": f"SKU-{i % 11}", "quantity": 1 + i % 3,
        "amount": f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}",
        "currency": "USD" if shop == "acme" else "EUR", "reason": "damaged",
        "note": rng.choice(["", "cracked", "wrong size", "never arrived"]),
    }  # fmt: skip


def reject(add, when, rid: str, operator: str, rng: random.Random) -> None:
    reason = rng.choice(REASONS)
    note = "see the photos" if reason == "other" or rng.random() < 0.4 else ""
    add(when, {"actor": operator, "action": "reject", "request_id": rid, "reason": reason,
               "note": note})  # fmt: skip


def ship_and_receive(add, approved, rid, operator, kind, rng) -> None:
    if kind == "refund":
        return
    roll = rng.random()
    if roll < 0.15:
        return  # never shipped: expires after 5 days
    add(approved.add(hours=20), {"actor": "buyer", "action": "ship", "request_id": rid,
                                 "tracking": f"1Z-{rid}"})  # fmt: skip
    if roll < 0.85:
        add(approved.add(days=3), {"actor": operator, "action": "receive", "request_id": rid})
    # else: never confirmed, refunded automatically 8 days after shipping


# ---------------------------------------------------------------------------------------------
# Running the command


def prepare(url: str) -> None:
    engine = open_engine(url)
    upgrade(engine)
    svc = Returns(engine)
    t0 = utc_now().subtract(days=400)
    svc.add_user(ADMIN, ADMIN, "admin", (), t0)
    svc.add_user(ADMIN, "alice", "operator", ("acme",), t0)
    svc.add_user(ADMIN, "olga", "operator", ("globex",), t0)
    svc.add_user(ADMIN, "sam", "agent", (), t0)
    engine.dispose()


def command(url: str, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, RETURNS_TUI_DB=url)
    return subprocess.Popen(
        [str(RETURNS_TUI), *args], env=env, stdin=subprocess.DEVNULL, **kw
    )  # fmt: skip


def run_to_end(url: str, source: Path, out: Path) -> list[dict]:
    with out.open("wb") as sink:
        proc = command(url, "apply", str(source), stdout=sink, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-3000:]
    return verdicts(out)


def wait_then_kill(proc: subprocess.Popen, seconds: float) -> None:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def export(url: str) -> bytes:
    proc = command(url, "export", "--format", "jsonl", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)  # fmt: skip
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return out


def verdicts(path: Path) -> list[dict]:
    """The complete lines a (possibly killed) run wrote."""
    text = path.read_bytes().decode("utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def integrity(url: str) -> str:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_apply_killed_again_and_again_ends_as_if_run_once(backend, request, tmp_path):
    if backend == "postgresql":
        request.getfixturevalue("pg_url")  # skips without a server
    source = tmp_path / "stream.jsonl"
    lines = stream(REQUESTS[backend])
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    times = [parse_time(json.loads(line)["at"]) for line in lines]

    def fresh(name: str) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / name}.db"
        else:
            url = request.getfixturevalue("pg_url") if name == "crash" else new_pg(request)
        prepare(url)
        return url

    # The reference: once, uninterrupted.
    reference_url = fresh("reference")
    began = time.monotonic()
    reference = run_to_end(reference_url, source, tmp_path / "reference.out")
    full = time.monotonic() - began
    assert [v["line"] for v in reference] == list(range(1, len(lines) + 1))
    assert sum(v["ok"] for v in reference) > 0.85 * len(lines)
    expected_export = export(reference_url)

    # The crashes.
    url = fresh("crash")
    engine = open_engine(url)
    rng = random.Random(20261127)
    seen: dict[int, dict] = {}  # line -> verdict, from the killed runs' output
    kills = interrupted = 0
    reached = times[0].subtract(seconds=1)
    while kills < KILLS:
        out = tmp_path / f"run{kills}.out"
        # Most kills land while new lines are being applied (after the lines answered
        # before); the others at any moment: starting up, connecting, skipping duplicates.
        anywhere = rng.random() < 0.25
        with out.open("wb") as sink:
            proc = command(url, "apply", str(source), stdout=sink, stderr=subprocess.PIPE)
            if anywhere:
                wait_then_kill(proc, rng.uniform(0.05, 1.0))
            else:
                past = len(seen)
                while proc.poll() is None and out.read_bytes().count(b"\n") <= past:
                    time.sleep(0.005)
                wait_then_kill(proc, rng.uniform(0.0, 0.3))
            err = proc.stderr.read()
            proc.stderr.close()
        assert b"Traceback" not in err, err.decode()[-3000:]
        got = verdicts(out)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            interrupted += bool(got) and not got[-1].get("duplicate", False)
        else:
            assert proc.returncode == 0, err.decode()
        for v in got:
            seen.setdefault(v["line"], v)
            reached = max(reached, times[v["line"] - 1])
        if backend == "sqlite":
            assert integrity(url) == "ok"
        assert [str(v) for v in check(engine, reached)] == []

    # Send everything again, to the end.
    began = time.monotonic()
    final = run_to_end(url, source, tmp_path / "final.out")
    last = time.monotonic() - began
    assert [v["line"] for v in final] == list(range(1, len(lines) + 1))
    for before, after, ref in zip(
        (seen.get(n) for n in range(1, len(lines) + 1)), final, reference, strict=True
    ):
        strip = {k: v for k, v in after.items() if k != "duplicate"}
        assert strip == ref, (after, ref)  # the verdict an uninterrupted run gives
        if before is not None:
            assert after.get("duplicate"), after  # applied before: not applied again
            assert {k: v for k, v in before.items() if k != "duplicate"} == ref
    assert export(url) == expected_export
    assert check(engine, times[-1]) == []
    engine.dispose()
    print(
        f"\n[crash {backend}] {len(lines)} lines, uninterrupted {full:.1f} s, last run "
        f"{last:.1f} s; "
        f"{kills} SIGKILLs ({interrupted} while applying new lines), "
        f"{len(seen)} lines answered before the last run; export identical"
    )


def new_pg(request) -> str:
    """A second fresh PostgreSQL database (the pg_url fixture gives one per test)."""
    import uuid

    import sqlalchemy as sa

    from tests.conftest import PG_URL

    name = "rt_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    request.addfinalizer(drop)
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
