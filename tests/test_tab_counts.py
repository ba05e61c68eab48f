"""The requests per tab, shop, type, reason and currency (store/tab_counts.py, migration 0013):
kept by the database's triggers in the transaction of each new request and each change of
tab, whoever writes, it always agrees with the requests; a big seed builds it once; the
migration fills it; `check` names a disagreement. On SQLite and PostgreSQL. (The counts read
from it are checked against what each tab shows in tests/test_filters.py.)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from returns_tui import domain as d
from returns_tui import seed
from returns_tui.check import check
from returns_tui.filters import Narrowing
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import engine as store
from returns_tui.store import tab_counts
from returns_tui.store.engine import HEAD, read, upgrade
from tests.conftest import submission
from tests.support.old_databases import scenario_in_older, scratch_url  # noqa: F401
from tests.test_check import NOW, at, build_scenario, cast


def differences(engine: sa.Engine) -> tuple[set, set]:
    with read(engine) as conn:
        return tab_counts.differences(conn)


def rows(engine: sa.Engine) -> list[tuple]:
    with read(engine) as conn:
        query = (
            "SELECT tab, shop, type, reason, currency, requests, amount_cents FROM tab_counts "
            "WHERE requests <> 0 "
            "ORDER BY tab, shop, type, reason, currency"  # its whole key: one order only
        )
        return [tuple(r) for r in conn.exec_driver_sql(query)]


def test_every_action_and_the_sweep_keep_it(engine):
    svc = Returns(engine)
    cast(svc)
    build_scenario(svc)  # every status, kind of record and decision, the clock's included
    assert differences(engine) == (set(), set())
    assert len(rows(engine)) > 5


def test_a_request_that_changes_tab_moves_from_one_row_to_the_next(svc, alice):
    svc.submit(BUYER, submission("R1", amount="12.50"), at(0))
    req = svc.get(alice, "R1")
    key = ("acme", req.type.value, req.reason, "USD", 1, 1250)
    assert rows(svc.engine) == [("to_proceed", *key)]
    svc.accept(alice, "R1", at(1))
    assert rows(svc.engine) == [("in_process", *key)]
    counts = svc.counts(alice, narrow=Narrowing(currency="USD"), now=at(2))
    assert (counts[d.Tab.IN_PROCESS], counts[d.Tab.TO_PROCEED], counts[d.Tab.ALL]) == (1, 0, 1)


def test_a_big_seed_builds_it_once_and_the_triggers_work_after(engine, monkeypatch):
    monkeypatch.setattr(seed, "REBUILD_FROM", 100)
    seed.seed_requests(engine, 300, seed=5, now=NOW, workers=0)
    assert differences(engine) == (set(), set())
    assert sum(r[-2] for r in rows(engine)) == 300
    seed.seed_requests(engine, 40, seed=6, now=NOW, workers=0)  # a small one: the triggers
    assert differences(engine) == (set(), set())
    assert sum(r[-2] for r in rows(engine)) == 340


def test_check_says_when_its_money_disagrees(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE tab_counts SET amount_cents = amount_cents + 1")
    assert [v.problem.split(" at ")[0] for v in check(svc.engine, at(1))] == [
        "tab_counts disagrees with the requests",
        "tab_counts disagrees with the requests",
    ]


def test_check_says_when_it_disagrees(svc, alice):
    svc.submit(BUYER, submission("R1"), at(0))
    assert check(svc.engine, at(1)) == []
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE tab_counts SET requests = 2")
    assert [v.problem.split(" at ")[0] for v in check(svc.engine, at(1))] == [
        "tab_counts disagrees with the requests",
        "tab_counts disagrees with the requests",
    ]  # the row stored, and the row expected


def test_migration_0013_fills_it_from_the_requests_already_there(scratch_url, tmp_path, db_url):  # noqa: F811
    made, old = scenario_in_older("0012", scratch_url, tmp_path, db_url, rows)
    try:
        assert upgrade(old) == ("0012", HEAD)
        assert made and rows(old) == made
        svc = Returns(old)  # the triggers are there: a new request adds to its row
        svc.submit(BUYER, submission("R-new", "O-new"), NOW)
        assert differences(old) == (set(), set())
    finally:
        old.dispose()


def test_migration_0017_sums_the_money_of_the_requests_already_there(scratch_url, tmp_path, db_url):  # noqa: F811
    """A database of migration 0016 with requests in every tab: upgraded, tab_counts holds the
    sum of each row's amounts, and its triggers keep it (a new request, a change of tab);
    down to 0016 and up again."""
    made, old = scenario_in_older("0016", scratch_url, tmp_path, db_url, rows)
    try:
        assert upgrade(old) == ("0016", HEAD)
        assert made and rows(old) == made and differences(old) == (set(), set())
        svc = Returns(old)
        svc.submit(BUYER, submission("R-new", "O-new", amount="7.25"), NOW)
        svc.accept(svc.login("alice"), "R-new", NOW.add(minutes=1))
        assert differences(old) == (set(), set())
        with old.connect() as conn, conn.begin():
            command.downgrade(store._alembic_config(conn), "0016")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("tab_counts")}
        assert "amount_cents" not in columns
        # 0013's triggers, without money: a new request's row (written as it stands, this
        # program writes the newest schema), added to its tab_counts row.
        with old.begin() as conn:
            names = [c["name"] for c in sa.inspect(conn).get_columns("requests")]
            new = {"id": "'R-old'", "order_id": "'O-old'"}
            conn.exec_driver_sql(
                f"INSERT INTO requests ({', '.join(names)}) SELECT "
                f"{', '.join(new.get(n, n) for n in names)} FROM requests WHERE id = 'R-new'"
            )
        assert upgrade(old) == ("0016", HEAD) and differences(old) == (set(), set())
    finally:
        old.dispose()
