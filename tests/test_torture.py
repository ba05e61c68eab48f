"""Concurrency torture: several OS processes act on the same requests at once, for a fixed
time, on SQLite (one file in WAL mode) and on PostgreSQL, as buyers, operators of two shops,
a support agent and a sweeper (tests/support/torture.py). Then:

- the invariant checker finds nothing, with the rules' windows checked too;
- every action a worker saw applied appears exactly once in the records (found by request,
  actor, kind and its unique time, with its unique note), and every record written by a
  person is one of them: nothing applied twice, nothing lost;
- every refused action left no trace (no record at its time, no request from a refused
  submit), and was refused with one sentence;
- every deadline a sweep reported appears exactly once, stamped with the deadline.

CI size: 8 s per backend with 7 processes. RETURNS_TUI_TORTURE=large: 60 s with 11.
The figures are printed (pytest -s) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.schema import records, requests
from returns_tui.timefmt import to_micros
from tests.support import torture as tt

LARGE = os.environ.get("RETURNS_TUI_TORTURE") == "large"
SECONDS = 60.0 if LARGE else 8.0
ROLES = ["buyer", "buyer", "alice", "bob", "olga", "sam", "sweeper"]
if LARGE:
    ROLES += ["buyer", "alice", "olga", "sweeper"]
SHOPS_OF = {"alice": ("acme",), "bob": ("acme",), "olga": ("globex",)}


def prepare(svc: Returns) -> None:
    """The cast, and requests already waiting when the clock starts."""
    t0 = tt.START.subtract(hours=1)
    svc.add_user("root-admin", "root-admin", "admin", (), t0)
    for name, shops in SHOPS_OF.items():
        svc.add_user("root-admin", name, "operator", shops, t0)
    svc.add_user("root-admin", "sam", "agent", (), t0)
    # Initech's operator is away (no worker plays ivan): its returns wait for the buyer, or
    # are on their way back, and only the deadlines move them.
    svc.add_user("root-admin", "ivan", "operator", ("initech",), t0)
    ivan = svc.login("ivan")
    for i in range(20):
        rid = f"I{i:02d}"
        sub = d.Submission(rid, "O" + rid, "initech", "return_and_refund", "Ivo", "Lamp", "L-1",
                           1, "19.00", "EUR", "broken", "")  # fmt: skip
        svc.submit(BUYER, sub, t0.subtract(hours=2))
        svc.accept(ivan, rid, t0.subtract(hours=1))
        if i % 2:
            svc.ship(BUYER, rid, t0, f"1Z-{rid}")
    for i in range(30):
        shop = "acme" if i % 3 else "globex"
        svc.submit(
            BUYER,
            d.Submission(
                f"S{i:02d}", f"OS{i:02d}", shop, "return_and_refund" if i % 2 else "refund",
                "Ana", "Mug", "MUG-1", 1, "9.99", "USD", "damaged", "",
            ),
            t0.add(seconds=i),
        )  # fmt: skip


def torture(url: str, tmp_path: Path) -> list[tt.Attempt]:
    """Run the workers; every attempt of every worker."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(ROLES) + 1, timeout=120)
    wall_start = ctx.Value("d", 0.0)
    pause = 0.001 if url.startswith("sqlite") else 0.0
    jobs = [
        tt.Job(
            url=url, role=role, index=i, workers=len(ROLES), seconds=SECONDS, seed=1000 + i,
            out=str(tmp_path / f"worker{i}.json"), pause=pause, shops=SHOPS_OF.get(role, ()),
        )
        for i, role in enumerate(ROLES)
    ]  # fmt: skip
    procs = [ctx.Process(target=tt.run, args=(job, barrier, wall_start)) for job in jobs]
    for p in procs:
        p.start()
    wall_start.value = time.time() + 0.2
    barrier.wait()
    for p in procs:
        p.join(SECONDS + 120)
    attempts: list[tt.Attempt] = []
    for p, job in zip(procs, jobs, strict=True):
        if p.is_alive():
            p.kill()
            pytest.fail(f"worker {job.index} ({job.role}) did not finish")
        assert p.exitcode == 0, (job.role, p.exitcode)
        got = json.loads(Path(job.out).read_text())
        assert not got["crash"], got["crash"]
        attempts += [tt.Attempt(**a) for a in got["log"]]
    return attempts


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_acting_at_once_lose_nothing_and_apply_nothing_twice(backend, request, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'torture.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    from returns_tui.store.engine import open_engine, upgrade

    engine = open_engine(url)
    upgrade(engine)
    svc = Returns(engine)
    prepare(svc)
    attempts = torture(url, tmp_path)
    try:
        verify(engine, svc, attempts, backend)
    finally:
        engine.dispose()


def verify(engine, svc: Returns, attempts: list[tt.Attempt], backend: str) -> None:
    # Sweep past the last attempt, then nothing may be wrong anywhere.
    end = tt.at_of(max(a.at for a in attempts) + 1)
    svc.sweep(end)
    assert [str(v) for v in check(engine, end, rules=d.Rules())] == []

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(records.c.request_id, records.c.actor, records.c.kind, records.c.at,
                      records.c.details)
        ).all()  # fmt: skip
        request_ids = {rid for (rid,) in conn.execute(sa.select(requests.c.id))}
    by_person = Counter(
        (r.request_id, r.actor, r.kind, to_micros(r.at)) for r in rows if r.actor != "system"
    )
    by_system = Counter(
        (r.request_id, r.kind, to_micros(r.at)) for r in rows if r.actor == "system"
    )
    notes = {
        (r.request_id, to_micros(r.at)): json.loads(r.details).get("note")
        for r in rows
        if r.details
    }
    person_times = {to_micros(r.at) for r in rows if r.actor != "system"}

    actions = [a for a in attempts if a.action != "sweep"]
    applied = [a for a in actions if a.ok]
    refused = [a for a in actions if not a.ok]

    # Applied exactly once: each applied action is one record, and each record by a person
    # is one applied action.
    expected = Counter((a.request_id, a.actor, tt.KIND_OF[a.action], a.at) for a in applied)
    assert set(expected.values()) == {1}
    missing = expected - by_person
    assert not missing, list(missing)[:5]
    extra = by_person - expected
    seeded = {k for k in extra if to_micros(tt.START) > k[3]}
    assert set(extra) == seeded and len(seeded) == 30 + 20 * 2 + 10, list(set(extra) - seeded)[:5]
    assert set(by_person.values()) == {1}
    for a in applied:
        if a.note and a.action != "submit":
            assert notes[(a.request_id, a.at)] == a.note, a
    # Refused: no trace at its time, and one sentence.
    for a in refused:
        assert a.at not in person_times, a
        assert a.error and a.error.endswith(".") and "\n" not in a.error, a
        if a.action == "submit" and "already exists" not in a.error:
            assert a.request_id not in request_ids, a
    # Each deadline a sweep applied is one record by the system, at the deadline.
    swept = Counter(tuple(s) for a in attempts if a.action == "sweep" for s in a.swept)
    assert set(swept.values()) <= {1}, [k for k, n in swept.items() if n > 1][:5]
    for rid, kind, at in swept:
        assert by_system[(rid, kind, at)] == 1, (rid, kind, at)
    assert set(by_system.values()) == {1}

    kinds = Counter(a.action for a in applied)
    auto = Counter(k for (_r, k, _a) in by_system)
    lost = [a for a in refused if " by " in a.error and a.action != "submit"]
    print(
        f"\n[torture {backend}] {len(ROLES)} processes, {SECONDS:.0f} s: "
        f"{len(actions)} actions tried, {len(applied)} applied, {len(refused)} refused "
        f"({len(lost)} lost a race), {sum(a.action == 'sweep' for a in attempts)} sweeps "
        f"applied {sum(swept.values())} deadlines; applied by kind {dict(sorted(kinds.items()))};"
        f" automatic {dict(sorted(auto.items()))}; violations 0"
    )
    shapes = Counter(" ".join(a.error.split()[1:5]) for a in refused)
    print(f"[torture {backend}] refusals, most common: {shapes.most_common(8)}")
    # The torture was real: every role got through, and the races were lost as well as won.
    assert {"submit", "accept", "reject", "ship", "receive", "note", "mediate", "appeal"} <= set(
        kinds
    ), kinds
    assert {"auto_approved", "expired", "auto_refunded"} <= set(auto), auto
    assert lost, "no action lost a race"
