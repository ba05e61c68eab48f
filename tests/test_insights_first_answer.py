"""The first answer stored on the request (DESIGN §9, migration 0010): what the Insights
figures' time to the first answer reads. Written by the services in the same transaction as
the answer's record, by the seed with its rows, and by the migration for the requests already
there; `check` compares it with the records. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from returns_tui import domain as d
from returns_tui import services
from returns_tui.check import check
from returns_tui.roles import BUYER
from returns_tui.seed import seed_requests
from returns_tui.services import Returns
from returns_tui.store import insight_rollups as rollups
from returns_tui.store import queries as q
from returns_tui.store.engine import HEAD, _alembic_config, open_engine, read, upgrade, write
from returns_tui.store.insight_queries import ANSWER_KINDS
from returns_tui.store.rows import to_request
from returns_tui.store.schema import requests
from returns_tui.timefmt import iso_or_none, to_micros
from tests.conftest import submission
from tests.support.old_databases import (
    at_revision,
    copy_into_older,
    emptied,
    scratch_url,  # noqa: F401 (a fixture)
)
from tests.test_check import NOW, RULES, at, build_scenario, cast

RULE = "rule:fast-refunds"  # how an automation rule signs its records (roles.RULE_PREFIX)


def stored(engine: sa.Engine, request_id: str) -> tuple:
    with read(engine) as conn:
        row = conn.execute(
            sa.select(requests.c.first_answer_at, requests.c.first_answer_by).where(
                requests.c.id == request_id
            )
        ).one()
    return tuple(row)


def first_answers(engine: sa.Engine) -> dict[str, tuple]:
    with read(engine) as conn:
        rows = conn.execute(
            sa.select(requests.c.id, requests.c.first_answer_at, requests.c.first_answer_by)
        )
        return {rid: (when, who) for rid, when, who in rows}


def test_an_accept_by_a_user_is_stored_as_the_first_answer(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    assert stored(svc.engine, "R1") == (None, None)
    svc.note(alice, "R1", at(1), "asked for a photo")  # a note answers nothing
    assert stored(svc.engine, "R1") == (None, None)
    svc.accept(alice, "R1", at(2))
    assert stored(svc.engine, "R1") == (at(2), "alice")
    assert check(svc.engine, at(3), rules=RULES) == []


def test_a_decision_by_a_rule_is_a_first_answer(svc):
    """An automation rule decides through the same write path as a user, signed `rule:…`."""
    svc.submit(BUYER, submission("R1"), at(0))
    with write(svc.engine) as conn:
        row = q.request_row(conn, "R1")
        before = to_request(row)
        change = d.accept(before, RULE, at(1), RULES)
        key = svc._key_for(conn)
        services._save(conn, key, before, row["chain"], change.after, change.records)
    assert stored(svc.engine, "R1") == (at(1), RULE)
    assert check(svc.engine, at(2), rules=RULES) == []


def test_the_clock_never_answers(svc, alice):
    """An approval by the clock is no answer; a rejection at receipt after it is none either."""
    svc.submit(BUYER, submission("R1"), at(0))
    svc.sweep(at(50))  # the respond window (48 h) lapsed: auto-approved
    assert svc.records(alice, "R1")[-1].kind is d.Kind.AUTO_APPROVED
    svc.ship(BUYER, "R1", at(51), "1Z-1")
    svc.reject_receipt(alice, "R1", at(52), "empty_package", "box empty")
    assert stored(svc.engine, "R1") == (None, None)
    assert check(svc.engine, at(53), rules=RULES) == []


def test_a_later_decision_keeps_the_first_answer(svc, alice):
    """An offer, declined, then a rejection by another operator: the first answer is the
    offer, its time and its author."""
    svc.submit(BUYER, submission("R1", amount="40.00"), at(0))
    svc.offer(alice, "R1", at(1), "10.00")
    svc.decline(BUYER, "R1", at(2))
    svc.reject(svc.login("bob"), "R1", at(3), "no_proof", "")
    assert [r.kind for r in svc.records(alice, "R1")][1:] == [
        d.Kind.OFFERED,
        d.Kind.DECLINED,
        d.Kind.REJECTED,
    ]
    assert stored(svc.engine, "R1") == (at(1), "alice")
    assert check(svc.engine, at(4), rules=RULES) == []


def test_check_reports_a_first_answer_the_records_do_not_say(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    svc.accept(alice, "R1", at(1))
    svc.submit(BUYER, submission("R2", "O2"), at(0))
    with svc.engine.begin() as conn:
        conn.execute(sa.update(requests).where(requests.c.id == "R1").values(first_answer_by="bob"))
        conn.execute(
            sa.update(requests)
            .where(requests.c.id == "R2")
            .values(first_answer_at=at(1), first_answer_by="alice")
        )
    found = sorted(str(v) for v in check(svc.engine, at(2), rules=RULES))
    when = iso_or_none(at(1))
    assert found == [
        f"R1: first answer {when} by bob but the records say {when} by alice",
        f"R2: first answer {when} by alice but the records say None by None",
    ]


def test_the_seed_stores_the_first_answer_of_its_requests(engine):
    seed_requests(engine, 400, seed=3, now=NOW, workers=0)
    answers = first_answers(engine)
    assert sum(when is not None for when, _who in answers.values()) > 100
    with read(engine) as conn:
        for rid, (when, who) in list(answers.items())[:50]:
            recs = q.record_rows(conn, rid)
            first = next((r for r in recs if r["kind"] in ANSWER_KINDS), None)
            expected = (None, None) if first is None else (to_micros(first["at"]), first["actor"])
            assert (None if when is None else to_micros(when), who) == expected
    assert check(engine, NOW) == []


def test_migration_0010_fills_the_first_answer_of_an_existing_database(
    engine,
    db_url,
    scratch_url,  # noqa: F811
):
    """A database at 0009 with requests in every status (copied without the new columns
    from one the services wrote) gets, on upgrade, the very first answers the services
    store; `check` finds it clean; down to 0009 and up again."""
    scratch = open_engine_at_head(scratch_url)
    svc = Returns(scratch)
    cast(svc)
    build_scenario(svc)  # every status and decision, the clock's approvals included
    written = first_answers(scratch)
    assert {who for _when, who in written.values()} >= {None, "alice", "olga"}
    emptied(engine, db_url)
    old = at_revision(db_url, "0009")
    copy_into_older(scratch, old)
    scratch.dispose()
    try:
        assert stored_columns(old) >= {"refund_cents"}
        assert "first_answer_at" not in stored_columns(old)
        assert upgrade(old) == ("0009", HEAD)
        assert first_answers(old) == written
        assert check(old, NOW, rules=RULES) == []
        with read(old) as conn:  # and the rollups, filled from the tables
            assert rollups.differences(conn) == {}
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM insight_events").scalar() > 10
        with old.connect() as conn, conn.begin():
            command.downgrade(_alembic_config(conn), "0009")
        assert "first_answer_at" not in stored_columns(old)
        upgrade(old)
        assert first_answers(old) == written
        svc = Returns(old)  # the triggers are back: a new request is counted
        svc.submit(BUYER, submission("NEW", "ONEW"), NOW)
        with read(old) as conn:
            assert rollups.differences(conn) == {}
    finally:
        old.dispose()


def open_engine_at_head(url: str) -> sa.Engine:
    engine = open_engine(url)
    upgrade(engine)
    return engine


def stored_columns(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns("requests")}
