"""Shared fixtures: a fresh database per test, on SQLite and (when RETURNS_TUI_TEST_PG names a
server) on PostgreSQL, and a cast of users."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.roles import Actor
from returns_tui.services import Returns
from returns_tui.store.chain import KEY_ENV, create_key
from returns_tui.store.engine import open_engine, upgrade
from tests.support.cast import T0 as T0  # the fixed moment; the tests import it from here
from tests.support.cast import add_cast

PG_URL = os.environ.get("RETURNS_TUI_TEST_PG")


@pytest.fixture(scope="session", autouse=True)
def chain_key_file(tmp_path_factory) -> Iterator[str]:
    """One chain key for the test run (store/chain.py), named by RETURNS_TUI_CHAIN_KEY, so
    that every Returns, seed, check and `returns-tui` subprocess (they inherit os.environ)
    chains and verifies records with it."""
    path = tmp_path_factory.mktemp("chain-key") / "chain.key"
    create_key(path)
    saved = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = str(path)
    yield str(path)
    if saved is None:
        del os.environ[KEY_ENV]
    else:
        os.environ[KEY_ENV] = saved
needs_pg = pytest.mark.skipif(not PG_URL, reason="RETURNS_TUI_TEST_PG is not set (no PostgreSQL)")


def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'returns.db'}"


@pytest.fixture
def pg_url(request) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards: empty, or for a test that takes
    `engine`, a copy of schema_template's. CREATE DATABASE takes 0.1-0.6 s on these machines
    (it writes the whole template out): once per test, not an empty one and then the copy."""
    if not PG_URL:
        pytest.skip("RETURNS_TUI_TEST_PG is not set (no PostgreSQL)")
    name = "rt_" + uuid.uuid4().hex[:12]
    template = ""
    if "engine" in request.fixturenames:
        template = f' TEMPLATE "{request.getfixturevalue("schema_template")["postgresql"]}"'
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{template}')
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def db_url(request, tmp_path) -> str:
    """The URL of a fresh, empty database, once per backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory, chain_key_file) -> Iterator[dict[str, str]]:
    """A database of each backend made once at the newest schema, which each test's `engine`
    starts as a copy of: running every migration for each test cost 0.15 s on
    SQLite and 0.2-0.4 s on PostgreSQL, minutes of a whole run."""
    path = tmp_path_factory.mktemp("template") / "returns.db"
    made = open_engine(f"sqlite:///{path}")
    upgrade(made)
    made.dispose()
    template = {"sqlite": str(path)}
    if PG_URL:
        name = "rt_template_" + uuid.uuid4().hex[:8]
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(PG_URL).set(database=name)
        made = open_engine(url.render_as_string(hide_password=False))
        upgrade(made)
        made.dispose()
        template["postgresql"] = name
    yield template
    if PG_URL:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def engine(db_url, schema_template):
    """The fresh database of db_url at the newest schema: a copy of schema_template's (on
    PostgreSQL, pg_url made it so)."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database).exists():
        shutil.copyfile(schema_template["sqlite"], url.database)
    eng = open_engine(db_url)
    upgrade(eng)  # at the newest already: a look at the revision
    yield eng
    eng.dispose()


@pytest.fixture
def svc(engine) -> Returns:
    """The services on a fresh database with the cast (tests/support/cast.py)."""
    return add_cast(Returns(engine))


@pytest.fixture
def alice(svc) -> Actor:
    return svc.login("alice")


@pytest.fixture
def sam(svc) -> Actor:
    return svc.login("sam")


@pytest.fixture(params=["candidates", "in order"])
def page_way(request, monkeypatch):
    """Both ways a page of an indexed search is read (store.queries.page): "candidates", the
    index's candidates gathered and sorted (SQLite; PostgreSQL when its planner guesses
    fewer than PG_FEW matches, as in any test database); "in order", the page's order walked
    keeping the matches (SQLite, for a search the index finds many candidates for: here
    every indexed search), or on PostgreSQL the page left to its planner."""
    from returns_tui.store import queries, search

    if request.param == "in order":
        monkeypatch.setattr(search, "COMMON_FROM", 1)
        monkeypatch.setattr(queries, "PG_FEW", 0)
    return request.param


def submission(rid: str = "R1", order: str = "O1", shop: str = "acme", **over) -> d.Submission:
    """A valid buyer's request; override any field."""
    fields = dict(
        id=rid,
        order_id=order,
        shop=shop,
        type="return_and_refund",
        buyer="Ana Lima",
        product="Stoneware mug",
        sku="MUG-1",
        quantity=1,
        amount="12.99",
        currency="USD",
        reason="damaged",
        note="cracked on arrival",
    )
    fields.update(over)
    return d.Submission(**fields)
