"""Databases at an older revision holding data the services wrote, for the tests that upgrade
them (each migration's test): the data is made at the head on a scratch database, then copied
into the older one with only the tables and columns that revision has, so that a later
migration never needs these tests edited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from returns_tui.store.engine import _alembic_config, open_engine
from returns_tui.store.schema import metadata
from tests.conftest import PG_URL

# What every revision has; the later tables (the sync's, the rules, the rollups) start empty.
CORE_TABLES = ("users", "user_shops", "orders", "requests", "records", "applied_keys", "chain_key")


def pg_database(name: str) -> str:
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def scratch_url(db_url, tmp_path) -> Iterator[str]:
    """Another fresh database on db_url's backend."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = "rt_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_database(name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def at_revision(url: str, revision: str) -> sa.Engine:
    engine = open_engine(url)
    with engine.connect() as conn, conn.begin():
        command.upgrade(_alembic_config(conn), revision)
    return engine


def emptied(engine: sa.Engine, db_url: str) -> None:
    """The test's own database, emptied, to be made again at an older revision."""
    engine.dispose()
    if db_url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(db_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def copy_into_older(source: sa.Engine, target: sa.Engine, tables=CORE_TABLES) -> None:
    """Every row of `tables` in the source, with the columns the target's revision has (the
    records in their order, numbered anew by the target, as PostgreSQL's sequence would)."""
    found = sa.inspect(target)
    have = {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}
    with source.connect() as src, target.begin() as dst:
        for name in tables:
            if name not in have:
                continue
            table = metadata.tables[name]
            skip = {"id"} if name == "records" else set()
            columns = [c for c in table.columns if c.name in have[name] - skip]
            order = table.c.id if name == "records" else list(table.primary_key)[0]
            rows = src.execute(sa.select(*columns).order_by(order)).mappings().all()
            if rows:
                dst.execute(sa.insert(table), [dict(r) for r in rows])


def scenario_in_older(revision: str, scratch: str, tmp_path: Path, db_url: str, rows):
    """The scenario of every status (tests/test_check.py) made at the head on a database of
    db_url's backend, then copied into `scratch` at `revision`: what `rows(engine)` read of it
    at the head, and that older database (the caller disposes of it)."""
    from returns_tui.services import Returns
    from returns_tui.store.engine import upgrade
    from tests.test_check import build_scenario, cast

    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}" if db_url.startswith("sqlite") else db_url
    fresh = open_engine(fresh_url)
    upgrade(fresh)
    svc = Returns(fresh)
    cast(svc)
    build_scenario(svc)
    made = rows(fresh)
    old = at_revision(scratch, revision)
    copy_into_older(fresh, old)
    fresh.dispose()
    return made, old
