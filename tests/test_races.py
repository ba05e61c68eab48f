"""Real races between OS processes on one database (SQLite file in WAL mode, PostgreSQL):
exactly one transition wins, the losers are refused naming the winner, and no record is lost
or doubled (DESIGN §2, *Concurrency*).

The processes are started with multiprocessing's `spawn` (nothing is shared but the
database) and released together from a barrier.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import random
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui.roles import BUYER
from returns_tui.store.schema import records, requests
from tests.conftest import T0, submission

N = 200
DECISIONS = ("accepted", "rejected", "auto_approved")
SEC = pendulum.duration(seconds=1)
RESPOND = pendulum.duration(hours=48)
JOIN_TIMEOUT = 90


def rid_of(i: int) -> str:
    return f"R{i:03d}"


def created_at(i: int) -> pendulum.DateTime:
    """Request i is submitted i seconds after T0, so the 200 deadlines are spread over 200 s
    and the sweeper, sweeping a little further each time, reaches them one slice at a time."""
    return T0 + pendulum.duration(seconds=i)


# ---------------------------------------------------------------------------------------------
# The workers: each in its own process, with its own engine


def _worker(url: str, job: dict, barrier, out: str) -> None:
    from returns_tui import domain as d
    from returns_tui.errors import Refused
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine

    results: list[list] = []
    try:
        engine = open_engine(url)
        svc = Returns(engine)
        actor = BUYER if job["actor"] == "buyer" else svc.login(job["actor"])
        if "batch" in job:  # small sweep batches, so that concurrent sweeps interleave
            import returns_tui.services

            returns_tui.services.SWEEP_BATCH = job["batch"]
        barrier.wait()
        for step in job["steps"]:
            time.sleep(job.get("pause", 0))
            kind, rid, at = step[0], step[1], pendulum.parse(step[2])
            try:
                if kind == "sweep":
                    for swept in svc.sweep(at, actor=actor):
                        results.append(["swept", swept.request_id, swept.kind.value, True, ""])
                    continue
                if kind == "accept":
                    svc.accept(actor, rid, at)
                elif kind == "reject":
                    svc.reject(actor, rid, at, "no_proof", "")
                elif kind == "offer":
                    svc.offer(actor, rid, at, "6.50")
                elif kind == "appeal":
                    svc.appeal(actor, rid, at)
                elif kind == "submit":
                    svc.submit(actor, d.Submission(**step[3]), at)
                results.append([kind, rid, step[3] if kind == "submit" else "", True, ""])
            except Refused as exc:
                results.append([kind, rid, "", False, exc.message])
        engine.dispose()
    except BaseException:  # the parent reports it: a crash is a failure of the rules
        results.append(["crash", "", "", False, traceback.format_exc()])
    Path(out).write_text(json.dumps(results))


def race(url: str, jobs: list[dict], tmp_path: Path) -> list[list[list]]:
    """Run each job in its own process, all released at once; their results, in job order."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(jobs), timeout=JOIN_TIMEOUT)
    outs = [tmp_path / f"worker{n}.json" for n in range(len(jobs))]
    procs = [
        ctx.Process(target=_worker, args=(url, job, barrier, str(out)))
        for job, out in zip(jobs, outs, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(JOIN_TIMEOUT)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
            pytest.fail("a race worker did not finish in time")
    results = []
    for p, out in zip(procs, outs, strict=True):
        assert p.exitcode == 0, p.exitcode
        got = json.loads(out.read_text())
        crashes = [r[4] for r in got if r[0] == "crash"]
        assert not crashes, crashes[0]
        results.append(got)
    return results


# ---------------------------------------------------------------------------------------------
# Accept, reject and sweep over the same 200 requests


def history(engine) -> dict[str, list]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(records).order_by(records.c.request_id, records.c.seq))
        by_request: dict[str, list] = defaultdict(list)
        for row in rows:
            by_request[row.request_id].append(row)
        return by_request


def test_four_processes_race_accept_reject_and_sweep(svc, engine, db_url, tmp_path):
    svc.add_user("root-admin", "carol", "operator", ("acme",), T0)
    for i in range(N):
        svc.submit(BUYER, submission(rid_of(i), f"O{i:03d}"), created_at(i))
    ids = [rid_of(i) for i in range(N)]

    def act(kind: str, order: list[str]) -> list:
        # Each action at the last second it may win: one second before respond_by.
        return [[kind, rid, str(created_at(int(rid[1:])) + RESPOND - SEC)] for rid in order]

    alice_order = random.Random(1).sample(ids, N)
    bob_order = random.Random(2).sample(ids, N)
    carol_order = list(reversed(ids))
    # The sweeper moves through the deadlines a second at a time (as many transactions as an
    # operator makes), then sweeps past them all.
    sweeps = [["sweep", "", str(T0 + RESPOND + pendulum.duration(seconds=s))] for s in range(N + 1)]
    jobs = [
        {"actor": "alice", "steps": act("accept", alice_order)},
        {"actor": "bob", "steps": act("reject", bob_order)},
        # Any user may sweep; one who sees every shop is told of every deadline it applied
        # (an operator of another shop would apply them unseen: tests/test_authz_cli.py).
        {"actor": "sam", "steps": sweeps},
        {
            "actor": "carol",
            "steps": [
                step
                for rid in carol_order
                for step in act("accept" if int(rid[1:]) % 2 == 0 else "reject", [rid])
            ],
        },
    ]
    if db_url.startswith("sqlite"):
        # SQLite's busy handler lets the writer that just committed take the lock again
        # before the sleeping ones wake; a short pause between transactions lets all four in.
        for job in jobs:
            job["pause"] = 0.002
    results = race(db_url, jobs, tmp_path)

    # Every request ended with exactly one decision, and no record is doubled.
    by_request = history(engine)
    assert sorted(by_request) == ids
    winner: dict[str, tuple[str, str]] = {}
    for rid, recs in by_request.items():
        kinds = Counter(r.kind for r in recs)
        decisions = [r for r in recs if r.kind in DECISIONS]
        assert len(decisions) == 1, (rid, [r.kind for r in recs])
        assert all(n == 1 for n in kinds.values()), (rid, kinds)
        assert [r.seq for r in recs] == list(range(1, len(recs) + 1)), rid
        winner[rid] = (decisions[0].kind, decisions[0].actor)
        if decisions[0].kind == "auto_approved":
            assert decisions[0].at == created_at(int(rid[1:])) + RESPOND  # the deadline
    with engine.connect() as conn:
        for rid, version, status in conn.execute(
            sa.select(requests.c.id, requests.c.version, requests.c.status)
        ):
            assert version == len(by_request[rid]), rid
            expected = "rejected" if winner[rid][0] == "rejected" else "awaiting_buyer_ship"
            assert status == expected, rid

    # Every win a worker saw is the winner in the database; every refusal names that winner.
    wins: Counter[str] = Counter()
    for job, got in zip(jobs, results, strict=True):
        for kind, rid, detail, ok, message in got:
            if kind == "swept":
                assert detail == "auto_approved", detail
                assert ok and winner[rid] == ("auto_approved", "system"), rid
                wins["sweep"] += 1
                continue
            past = {"accept": "accepted", "reject": "rejected"}[kind]
            if ok:
                assert winner[rid] == (past, job["actor"]), (rid, job["actor"], kind)
                wins[job["actor"]] += 1
            else:
                won_kind, won_by = winner[rid]
                named = f"{won_kind.replace('_', ' ')} by {won_by}"
                assert named in message, (rid, job["actor"], message)
                assert message.startswith(rid), message
    # Exactly one win per request, counted from the workers' side too: none applied twice.
    assert sum(wins.values()) == N, wins
    # The race was real: the sweep won some requests and the operators won others.
    assert wins["sweep"] > 0 and sum(wins.values()) - wins["sweep"] > 0, wins


def test_three_sweeps_at_once_apply_each_deadline_once(svc, engine, db_url, tmp_path):
    for i in range(N):
        svc.submit(BUYER, submission(rid_of(i), f"O{i:03d}"), created_at(i))
    sweeps = [
        ["sweep", "", str(T0 + RESPOND + pendulum.duration(seconds=s))] for s in range(0, N + 1, 5)
    ]
    # Sweepers who see the requests (acme's), so that each deadline is told to one of them.
    jobs = [{"actor": name, "steps": sweeps, "batch": 7} for name in ("alice", "sam", "bob")]
    results = race(db_url, jobs, tmp_path)
    swept = Counter(rid for got in results for _kind, rid, *_ in got)
    assert sorted(swept) == [rid_of(i) for i in range(N)]
    assert set(swept.values()) == {1}, [rid for rid, n in swept.items() if n > 1]
    by_request = history(engine)
    for i in range(N):
        recs = by_request[rid_of(i)]
        assert [(r.kind, r.actor) for r in recs] == [
            ("submitted", "buyer"),
            ("auto_approved", "system"),
        ]
        assert recs[1].at == created_at(i) + RESPOND
    assert svc.sweep(T0 + RESPOND + pendulum.duration(hours=1)) == []


# ---------------------------------------------------------------------------------------------
# Order-wide rules: two submits on one order; an appeal against a second request


def test_two_processes_race_submit_and_appeal_against_a_second_request(
    svc, engine, db_url, tmp_path
):
    bob = svc.login("bob")
    # Orders A00..A19: both processes submit, half of them with the same request id.
    # Orders B00..B19: R1 was rejected; one process appeals it, the other submits a second
    # request, which would make R1 no longer the latest.
    for n in range(20):
        svc.submit(BUYER, submission(f"B{n:02d}-1", f"B{n:02d}"), T0)
        svc.reject(bob, f"B{n:02d}-1", T0 + pendulum.duration(hours=1), "no_proof", "")
    at = str(T0 + pendulum.duration(hours=2))

    def sub(rid: str, order: str) -> dict:
        return dataclasses.asdict(submission(rid, order))

    jobs = []
    for who in ("x", "y"):
        steps = []
        for n in range(20):
            rid = f"A{n:02d}-1" if n < 10 else f"A{n:02d}-{who}"
            steps.append(["submit", rid, at, sub(rid, f"A{n:02d}")])
            if who == "x":
                steps.append(["appeal", f"B{n:02d}-1", at])
            else:
                steps.append(["submit", f"B{n:02d}-2", at, sub(f"B{n:02d}-2", f"B{n:02d}")])
        jobs.append({"actor": "buyer", "steps": steps})
    x, y = race(db_url, jobs, tmp_path)

    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(requests))}
    for n in range(20):
        order = f"A{n:02d}"
        on_order = [r for r in rows.values() if r.order_id == order]
        assert len(on_order) == 1, order  # exactly one submit won
        outcomes = [r for r in x + y if r[0] == "submit" and r[1].startswith(order)]
        assert sorted(r[3] for r in outcomes) == [False, True], outcomes
        [loser] = [r for r in outcomes if not r[3]]
        assert "already has an open request" in loser[4] or "already exists" in loser[4], loser

        order = f"B{n:02d}"
        [appeal] = [r for r in x if r[1] == f"{order}-1"]
        [second] = [r for r in y if r[1] == f"{order}-2"]
        assert appeal[3] != second[3], (appeal, second)  # exactly one of them won
        first = rows[f"{order}-1"]
        if appeal[3]:
            assert first.status == "in_mediation" and f"{order}-2" not in rows
            assert "already has an open request" in second[4], second
        else:
            assert first.status == "rejected" and first.arbitration is None
            assert rows[f"{order}-2"].status == "pending" and rows[f"{order}-2"].attempt == 2
            assert f"a later request ({order}-2)" in appeal[4], appeal
    by_request = history(engine)
    for rid, row in rows.items():
        assert row.version == len(by_request[rid]), rid


# ---------------------------------------------------------------------------------------------
# DESIGN §7: an offer and an accept on the same requests


def test_an_offer_and_an_accept_race_one_wins_the_other_is_told_who(
    svc, engine, db_url, tmp_path
):
    n = 60
    for i in range(n):
        svc.submit(BUYER, submission(rid_of(i), f"O{i:03d}"), created_at(i))
    ids = [rid_of(i) for i in range(n)]
    at = str(T0 + pendulum.duration(hours=1))
    jobs = [
        {"actor": "alice", "steps": [["offer", rid, at] for rid in ids]},
        {"actor": "bob", "steps": [["accept", rid, at] for rid in reversed(ids)]},
    ]
    if db_url.startswith("sqlite"):
        for job in jobs:
            job["pause"] = 0.002
    results = race(db_url, jobs, tmp_path)

    by_request = history(engine)
    winner = {}
    for rid in ids:
        decisions = [r for r in by_request[rid] if r.kind in ("offered", "accepted")]
        assert len(decisions) == 1, (rid, [r.kind for r in by_request[rid]])
        winner[rid] = (decisions[0].kind, decisions[0].actor)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(requests.c.id, requests.c.status)).all())
    wins = Counter()
    for job, got in zip(jobs, results, strict=True):
        for kind, rid, _detail, ok, message in got:
            past = {"offer": "offered", "accept": "accepted"}[kind]
            if ok:
                assert winner[rid] == (past, job["actor"]), (rid, message)
                wins[job["actor"]] += 1
            else:
                won_kind, won_by = winner[rid]
                assert f"{won_kind} by {won_by}" in message, (rid, message)
                assert message.startswith(rid), message
            expected = "awaiting_buyer_response" if winner[rid][0] == "offered" else (
                "awaiting_buyer_ship"
            )
            assert statuses[rid] == expected, rid
    assert sum(wins.values()) == n, wins  # exactly one winner a request
