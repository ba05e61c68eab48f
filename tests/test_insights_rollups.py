"""The Insights rollups (store/insight_rollups.py, migration 0010): kept by the database's
triggers in the transaction of each new request and record, whoever writes it, they always
add up to what the tables say; a big seed builds them once afterwards. On SQLite and
PostgreSQL. (tests/test_insights.py checks the figures read from them, exactly.)"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from returns_tui import seed
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import insight_rollups as rollups
from returns_tui.store.engine import WriteConflict, open_engine, read, upgrade, write
from tests.conftest import needs_pg, submission
from tests.test_check import NOW, at, build_scenario, cast


def differences(engine: sa.Engine) -> dict:
    with read(engine) as conn:
        return rollups.differences(conn)


def rows(engine: sa.Engine, table: str) -> list[tuple]:
    with read(engine) as conn:
        return sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))


def test_every_action_and_the_sweep_keep_the_rollups(engine):
    svc = Returns(engine)
    cast(svc)
    build_scenario(svc)  # every status, kind of record and decision, the clock's included
    assert differences(engine) == {}
    assert len(rows(engine, "insight_events")) > 10


def test_a_request_moves_from_one_status_to_the_next(svc, alice):
    svc.submit(BUYER, submission("R1", amount="12.50"), at(0))
    day = int(at(0).timestamp()) // 86_400
    assert rows(svc.engine, "insight_status") == [(day, "acme", "pending", 1)]
    svc.accept(alice, "R1", at(1))
    assert rows(svc.engine, "insight_status") == [
        (day, "acme", "awaiting_buyer_ship", 1),
        (day, "acme", "pending", 0),
    ]
    assert rows(svc.engine, "insight_skus")[0][-2:] == (1, 1250)
    assert differences(svc.engine) == {}


def test_a_write_that_fails_leaves_the_rollups_as_they_were(svc):
    svc.submit(BUYER, submission("R1"), at(0))
    before = [rows(svc.engine, t) for t in rollups.TABLES]
    try:
        with write(svc.engine) as conn:
            conn.exec_driver_sql(
                "INSERT INTO records (request_id, seq, at, actor, kind, from_status, to_status) "
                f"VALUES ('R1', 2, {int(at(1).timestamp()) * 10**6}, 'alice', 'accepted', "
                "'pending', 'awaiting_buyer_ship')"
            )
            assert rows_in(conn, "insight_status") != before[0]
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert [rows(svc.engine, t) for t in rollups.TABLES] == before


def rows_in(conn, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))


def test_a_big_seed_builds_the_rollups_once_and_the_triggers_work_after(engine, monkeypatch):
    """A seed of at least REBUILD_FROM requests goes in without the triggers (bulk.py) and
    builds the rollups from the tables afterwards; the triggers are back for what follows."""
    monkeypatch.setattr(seed, "REBUILD_FROM", 100)
    seed.seed_requests(engine, 300, seed=5, now=NOW, workers=0)
    assert differences(engine) == {}
    assert sum(r[-1] for r in rows(engine, "insight_status")) == 300
    seed.seed_requests(engine, 40, seed=6, now=NOW, workers=0)  # a small one: the triggers
    assert differences(engine) == {}
    assert sum(r[-1] for r in rows(engine, "insight_status")) == 340


def test_differences_finds_a_rollup_that_disagrees(svc):
    svc.submit(BUYER, submission("R1"), at(0))
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE insight_reasons SET requests = 2")
    found = differences(svc.engine)
    assert list(found) == ["insight_reasons"]
    (stored,), (expected,) = found["insight_reasons"]
    assert (stored[-1], expected[-1]) == (2, 1)


def test_the_spreads_from_counts_per_bucket_are_exactly_those_of_every_answer():
    """insights reads the answers of only the buckets where a median or p90 falls: for any
    answers (ties, even and odd counts, one answer, buckets' edges), the spreads are those
    of spread() over every answer, overall, per shop and per user."""
    import random
    from collections import defaultdict

    from returns_tui import insights
    from returns_tui.store.insight_queries import BUCKET_US

    rng = random.Random(15)
    for _ in range(300):
        answers = [
            (rng.choice("ab"), rng.choice("xyz"), rng.choice((
                rng.randrange(0, 3 * BUCKET_US), rng.randrange(4) * BUCKET_US,
                rng.randrange(0, 200 * BUCKET_US), BUCKET_US - 1,
            )))
            for _ in range(rng.randrange(1, 40))
        ]  # fmt: skip
        counts: dict[tuple, int] = defaultdict(int)
        for shop, user, micros in answers:
            counts[shop, user, micros // BUCKET_US] += 1
        buckets = [(*key, n) for key, n in counts.items()]
        needed = set(insights.answer_buckets_needed(buckets))
        read = [a for a in answers if a[2] // BUCKET_US in needed]
        overall, by_shop, by_user = insights._answers(buckets, read)
        assert overall == insights.spread([m for *_, m in answers])
        for shop in "ab":
            sample = [m for s, _, m in answers if s == shop]
            assert by_shop.get(shop, insights.spread([])) == insights.spread(sample)
        for user in "xyz":
            sample = [m for _, u, m in answers if u == user]
            assert by_user.get(user, insights.spread([])) == insights.spread(sample)


@needs_pg
def test_two_writers_that_deadlock_on_rollup_rows_are_a_conflict_to_retry(pg_url):
    """PostgreSQL keeps a rollup row locked until the writer commits, so two writers that
    lock two rows in opposite orders deadlock; the one it ends is a WriteConflict, which the
    services retry (a lost race), not an error for the user."""
    engine = open_engine(pg_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO insight_reasons (day, shop, reason, requests) "
            "VALUES (1, 'a', 'x', 0), (1, 'b', 'x', 0)"
        )
    both_hold = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(first: str, second: str) -> None:
        bump = "UPDATE insight_reasons SET requests = requests + 1 WHERE shop = %s"
        try:
            with write(engine) as conn:
                conn.exec_driver_sql(bump, (first,))
                both_hold.wait(timeout=10)
                conn.exec_driver_sql(bump, (second,))
            outcomes.append("committed")
        except WriteConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    engine.dispose()
    assert sorted(outcomes) == ["committed", "conflict"]
