"""Who handled which request (store/handled.py, migration 0012): kept by the database's
triggers in the transaction of each record and each change of tab, whoever writes, it always
agrees with the records; only people have rows; a big seed builds it once; the migration fills
it from the records already there. On SQLite and PostgreSQL. (tests/test_filters.py checks
"handled by me" as the console reads it, page by page.)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from returns_tui import domain as d
from returns_tui import seed
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import engine as store
from returns_tui.store import handled
from returns_tui.store.engine import HEAD, read, upgrade, write
from returns_tui.store.queries import Sort
from tests.conftest import submission
from tests.support.old_databases import scenario_in_older, scratch_url  # noqa: F401
from tests.test_check import NOW, at, build_scenario, cast


def differences(engine: sa.Engine) -> tuple[set, set]:
    with read(engine) as conn:
        return handled.differences(conn)


def rows(engine: sa.Engine) -> list[tuple]:
    with read(engine) as conn:
        query = "SELECT actor, request_id, tab, shop FROM handled ORDER BY request_id, actor"
        return [tuple(r) for r in conn.exec_driver_sql(query)]


def test_every_action_and_the_sweep_keep_it(engine):
    svc = Returns(engine)
    cast(svc)
    build_scenario(svc)  # every status, kind of record and decision, the clock's included
    assert differences(engine) == (set(), set())
    actors = {actor for actor, *_ in rows(engine)}
    assert actors == {"alice", "olga", "sam"}  # people only: no buyer, system or marketplace


def test_a_request_that_changes_tab_takes_its_rows_along(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    assert rows(svc.engine) == []  # the buyer's record is not a person's
    svc.accept(alice, "R1", at(1))
    assert rows(svc.engine) == [("alice", "R1", "in_process", "acme")]
    svc.ship(BUYER, "R1", at(2), "TRK1")
    svc.receive(alice, "R1", at(3))
    assert rows(svc.engine) == [("alice", "R1", "completed", "acme")]  # one row, moved twice
    assert differences(svc.engine) == (set(), set())


def test_only_peoples_records_make_a_row_and_one_row_each(svc):
    svc.submit(BUYER, submission("R1"), at(0))
    us = int(at(1).timestamp()) * 10**6
    with write(svc.engine) as conn:
        for seq, actor in enumerate(
            ["system", "marketplace", "buyer", "rule:alice/small", "alice", "alice", "rule:x"],
            start=2,
        ):
            conn.exec_driver_sql(
                "INSERT INTO records (request_id, seq, at, actor, kind, from_status, to_status) "
                f"VALUES ('R1', {seq}, {us + seq}, '{actor}', 'noted', 'pending', 'pending')"
            )
    assert rows(svc.engine) == [("alice", "R1", "to_proceed", "acme")]


def test_a_write_that_fails_leaves_it_as_it_was(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    try:
        with write(svc.engine) as conn:
            conn.exec_driver_sql(
                "INSERT INTO records (request_id, seq, at, actor, kind, from_status, to_status) "
                f"VALUES ('R1', 2, {int(at(1).timestamp()) * 10**6}, 'alice', 'noted', "
                "'pending', 'pending')"
            )
            assert conn.exec_driver_sql("SELECT count(*) FROM handled").scalar_one() == 1
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert rows(svc.engine) == []


def test_a_big_seed_builds_it_once_and_the_triggers_work_after(engine, monkeypatch):
    monkeypatch.setattr(seed, "REBUILD_FROM", 100)
    seed.seed_requests(engine, 300, seed=5, now=NOW, workers=0)
    assert differences(engine) == (set(), set())
    assert len(rows(engine)) > 50
    before = len(rows(engine))
    seed.seed_requests(engine, 60, seed=6, now=NOW, workers=0)  # a small one: the triggers
    assert differences(engine) == (set(), set())
    assert len(rows(engine)) > before


def test_differences_finds_a_row_that_disagrees(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    svc.accept(alice, "R1", at(1))
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE handled SET tab = 'closed'")
    stored, expected = differences(svc.engine)
    assert {r[2] for r in stored} == {"closed"} and {r[2] for r in expected} == {"in_process"}


def test_check_names_a_request_whose_rows_disagree(svc, alice):
    from returns_tui.check import check

    svc.submit(BUYER, submission("R1"), at(0))
    svc.submit(BUYER, submission("R2", "O2"), at(0))
    svc.accept(alice, "R1", at(1))
    assert check(svc.engine, at(2)) == []
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM handled WHERE request_id = 'R1'")
        conn.exec_driver_sql(
            "INSERT INTO handled (request_id, actor, tab, shop, created_at) "
            "VALUES ('R2', 'alice', 'to_proceed', 'acme', 0)"
        )
    assert sorted(str(v) for v in check(svc.engine, at(2))) == [
        "R1: who handled it (table `handled`) disagrees with its records",
        "R2: who handled it (table `handled`) disagrees with its records",
    ]


def test_migration_0012_fills_it_from_the_records_already_there(scratch_url, tmp_path, db_url):  # noqa: F811
    # Data made at the head, copied into a database at 0011, which is then upgraded.
    made, old = scenario_in_older("0011", scratch_url, tmp_path, db_url, rows)
    try:
        assert upgrade(old) == ("0011", HEAD)
        assert made and rows(old) == made
        # The triggers are there: an answer after the upgrade adds its row.
        svc = Returns(old)
        pending = [r.id for r in svc.page(svc.login("alice"), d.Tab.TO_PROCEED, Sort.DEADLINE)]
        svc.accept(svc.login("alice"), pending[0], NOW)
        assert differences(old) == (set(), set())
        assert ("alice", pending[0]) in {(a, rid) for a, rid, *_ in rows(old)}
        with old.connect() as conn:
            indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("records")}
        assert "ix_records_actor" not in indexes  # no reader left
    finally:
        old.dispose()


def test_migration_0018_gives_it_the_requests_money(scratch_url, tmp_path, db_url):  # noqa: F811
    """A database of 0017 upgraded: every row holds its request's currency and amount (the
    table agrees with the requests), the triggers write them for a new answer, and "mine"'s
    money at stake is read from it; down to 0017 (without them) and up again."""
    made, old = scenario_in_older("0017", scratch_url, tmp_path, db_url, rows)
    try:
        assert upgrade(old) == ("0017", HEAD)
        assert made and rows(old) == made and differences(old) == (set(), set())
        svc = Returns(old)
        svc.submit(BUYER, submission("R-new", "O-new", amount="7.25", currency="EUR"), NOW)
        svc.accept(svc.login("alice"), "R-new", NOW.add(minutes=1))
        assert differences(old) == (set(), set())
        with read(old) as conn:
            money = conn.exec_driver_sql(
                "SELECT currency, amount_cents FROM handled WHERE request_id = 'R-new'"
            ).one()
        assert tuple(money) == ("EUR", 725)
        with old.connect() as conn, conn.begin():
            command.downgrade(store._alembic_config(conn), "0017")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("handled")}
        assert not {"currency", "amount_cents"} & columns
        assert upgrade(old) == ("0017", HEAD) and differences(old) == (set(), set())
    finally:
        old.dispose()
