"""The torture test's workers: each in its own OS process (multiprocessing `spawn`), with its
own engine, acting through the services as one person would, as fast as it can, until the
time is up. Every attempt is logged with its outcome; the test then matches the logs against
the records.

Time: every worker reads one shared simulated clock, `START + (wall time - wall start) ×
SPEED`, so that the windows (48 h, 5 days, 8 days) pass within seconds and deadlines race
with people. Each attempt gets an `at` no other attempt has: microseconds ≡ the worker's
index modulo the number of workers, strictly increasing within a worker. A record written by
a person is therefore found from the log by (request, actor, kind, at), and an attempt that
was refused must have left no record at its `at`.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import sqlalchemy as sa

START = pendulum.datetime(2026, 6, 1, tz="UTC")
# Simulated seconds per real second: two days, so that a request waits about a second for
# its operator, five days to ship take 2.5 s, eight to arrive 4 s.
SPEED = 2 * 24 * 3600
# Shops and their operators. Nobody works for initech: its requests are approved, expire
# and are refunded by the deadlines alone, racing the buyers and the agent.
SHOPS = {"acme": ("alice", "bob"), "globex": ("olga",), "initech": ()}
REASONS = ["no_proof", "item_used_or_damaged", "not_as_claimed", "outside_policy", "other"]

# What each role does, and the record kind each action writes.
KIND_OF = {
    "submit": "submitted",
    "accept": "accepted",
    "reject": "rejected",
    "cancel": "cancelled",
    "ship": "shipped",
    "receive": "received",
    "appeal": "appealed",
    "mediate": "mediated",
    "note": "noted",
}


@dataclass
class Job:
    url: str
    role: str  # "buyer", "sweeper", or a user's login (operators and the agent)
    index: int
    workers: int
    seconds: float
    seed: int
    out: str
    pause: float = 0.0  # between attempts (SQLite: lets every writer in; see test_races)
    shops: tuple[str, ...] = ()


@dataclass
class Attempt:
    worker: int
    actor: str  # the actor's name as the records show it ("buyer", "alice", "system")
    action: str
    request_id: str
    at: int  # microseconds since the epoch
    ok: bool = False
    error: str = ""
    note: str | None = None
    swept: list[list[Any]] = field(default_factory=list)  # for sweeps: [rid, kind, at]


class Clock:
    """The shared simulated clock, giving this worker's unique times."""

    def __init__(self, job: Job, wall_start: float) -> None:
        self.job = job
        self.wall_start = wall_start
        self.start_us = int(START.timestamp()) * 1_000_000
        self.last = -1

    def next(self) -> int:
        elapsed = max(0.0, time.time() - self.wall_start)
        us = self.start_us + int(elapsed * SPEED * 1_000_000)
        us = us - us % self.job.workers + self.job.index
        if us <= self.last:
            us = self.last + self.job.workers
        self.last = us
        return us


def at_of(us: int) -> pendulum.DateTime:
    return pendulum.from_timestamp(us // 1_000_000, tz="UTC").add(microseconds=us % 1_000_000)


def run(job: Job, barrier, wall_start) -> None:
    """The worker's body (the multiprocessing target). It gets ready, waits at `barrier`
    for the others, then works from `wall_start` (a shared double the parent sets before it
    joins the barrier) for job.seconds."""
    log: list[Attempt] = []
    crash = ""
    try:
        _work(job, log, barrier, wall_start)
    except BaseException:  # the test reports it: a crash is a failure
        crash = traceback.format_exc()
    Path(job.out).write_text(json.dumps({"crash": crash, "log": [asdict(a) for a in log]}))


def _work(job: Job, log: list[Attempt], barrier, wall_start) -> None:
    from returns_tui import domain as d
    from returns_tui.errors import Refused
    from returns_tui.roles import BUYER
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine

    engine = open_engine(job.url)
    svc = Returns(engine)
    rng = random.Random(job.seed)
    me = BUYER if job.role in ("buyer", "sweeper") else svc.login(job.role)
    sweeper = svc.login("root-admin") if job.role == "sweeper" else None  # any user may sweep
    _pick(engine, ())  # connect before the start
    barrier.wait()
    clock = Clock(job, wall_start.value)
    while time.time() < clock.wall_start:
        time.sleep(0.001)
    end = clock.wall_start + job.seconds
    n = 0
    while time.time() < end:
        n += 1
        if job.pause:
            time.sleep(job.pause)
        if job.role == "sweeper":
            at = clock.next()
            attempt = Attempt(job.index, "system", "sweep", "", at, ok=True)
            for swept in svc.sweep(at_of(at), sweeper):
                attempt.swept.append([swept.request_id, swept.kind.value, _us(swept.at)])
            log.append(attempt)
            time.sleep(0.02)
            continue
        plan = _choose(job, rng, engine, n)
        if plan is None:
            continue
        action, rid, params, actor = plan
        who = BUYER if actor == "buyer" else (me if actor == job.role else svc.login(actor))
        at = clock.next()
        attempt = Attempt(job.index, actor, action, rid, at, note=params.get("note"))
        try:
            if action == "submit":
                svc.submit(who, d.Submission(**params["submission"]), at_of(at))
            else:
                svc.perform(who, action, rid, at_of(at), **params)
            attempt.ok = True
        except Refused as exc:
            attempt.error = exc.message
        log.append(attempt)
    engine.dispose()


def _us(at: pendulum.DateTime) -> int:
    from returns_tui.timefmt import to_micros

    return to_micros(at)


def _pick(
    engine, statuses: tuple[str, ...], shops: tuple[str, ...] = (), newest: bool = False
) -> Any:
    """A random request in one of these statuses (of these shops), or None; with `newest`,
    the one that entered its status last."""
    from returns_tui.store.schema import requests

    query = sa.select(
        requests.c.id, requests.c.status, requests.c.shop, requests.c.order_id,
        requests.c.arbitration,
    )  # fmt: skip
    if statuses:
        query = query.where(requests.c.status.in_(statuses))
    if shops:
        query = query.where(requests.c.shop.in_(shops))
    with engine.connect() as conn:
        order = requests.c.status_since.desc() if newest else sa.func.random()
        return conn.execute(query.order_by(order).limit(1)).first()


def _choose(job: Job, rng: random.Random, engine, n: int):
    """(action, request id, parameters, actor) for the next attempt, or None."""
    tag = f"{job.role}#{job.index}.{n}"  # makes every note unique
    if job.role == "buyer":
        return _buyer(job, rng, engine, n, tag)
    if job.role == "sam":
        row = _pick(engine, ("in_mediation",)) if rng.random() < 0.7 else None
        if row is not None:
            decision = rng.choice(["buyer", "seller"])
            return "mediate", row.id, {"decision": decision, "note": f"decided {tag}"}, "sam"
        if rng.random() < 0.1:  # an agent never accepts: refused, no trace
            row = _pick(engine, ("pending",))
            return ("accept", row.id, {}, "sam") if row else None
        row = _pick(engine, ())
        return ("note", row.id, {"note": f"agent {tag}"}, "sam") if row else None
    # An operator of job.shops.
    if rng.random() < 0.08:  # another shop's request, or a wrong action: refused
        row = _pick(engine, ())
        if row is None:
            return None
        action = rng.choice(["accept", "reject", "receive", "mediate"])
        params = {"reason": "no_proof", "note": ""} if action == "reject" else {}
        if action == "mediate":
            params = {"decision": "buyer", "note": f"not mine {tag}"}
        return action, row.id, params, job.role
    roll = rng.random()
    if roll < 0.12:
        row = _pick(engine, (), job.shops)
        return ("note", row.id, {"note": f"operator {tag}"}, job.role) if row else None
    if roll < 0.3:
        # The parcel that arrived last is unpacked first: older ones may reach their
        # receive_by and be refunded automatically.
        row = _pick(engine, ("buyer_shipped",), job.shops, newest=True)
        return ("receive", row.id, {}, job.role) if row else None
    # Newest first, mostly: a request left waiting in a long queue is auto-approved.
    row = _pick(engine, ("pending",), job.shops, newest=rng.random() < 0.6)
    if row is None:
        return None
    if rng.random() < 0.55:
        return "accept", row.id, {}, job.role
    reason = rng.choice(REASONS)
    note = f"because {tag}" if reason == "other" or rng.random() < 0.5 else ""
    if rng.random() < 0.05:
        reason = "bogus"  # not on the list: refused
    return "reject", row.id, {"reason": reason, "note": note}, job.role


def _buyer(job: Job, rng: random.Random, engine, n: int, tag: str):
    roll = rng.random()
    if roll < 0.4:
        shop = rng.choice(["acme", "acme", "globex", "initech"])
        rid = f"B{job.index}-{n}"
        order = f"O{job.index}-{n}"
        if roll < 0.08:  # on an order that has requests: allowed after one rejection only
            row = _pick(engine, ())
            if row is not None:
                order, shop = row.order_id, row.shop
                if roll < 0.02:
                    rid = row.id  # an id that exists: refused
        sub = {
            "id": rid, "order_id": order, "shop": shop,
            "type": rng.choice(["refund", "return_and_refund", "return_and_refund"]),
            "buyer": f"Buyer {tag}", "product": "Mug", "sku": "MUG-1", "quantity": 1,
            "amount": f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}", "currency": "USD",
            "reason": "damaged", "note": f"asked {tag}",
        }  # fmt: skip
        return "submit", rid, {"submission": sub, "note": sub["note"]}, "buyer"
    row = _pick(engine, ("awaiting_buyer_ship", "rejected", "pending"))
    if row is None:
        return None
    if row.status == "awaiting_buyer_ship":
        roll = rng.random()
        if roll < 0.3:
            return None  # the buyer forgets it for now: some miss their ship_by
        if roll < 0.9:
            tracking = f"1Z{job.index}X{n}" if rng.random() < 0.95 else "not a tracking no"
            return "ship", row.id, {"tracking": tracking}, "buyer"
        return "cancel", row.id, {}, "buyer"
    if row.status == "rejected":
        if row.arbitration is not None and rng.random() < 0.9:
            return None  # decided: appealing again is refused, now and then tried all the same
        return "appeal", row.id, {}, "buyer"
    return ("cancel", row.id, {}, "buyer") if rng.random() < 0.15 else None
