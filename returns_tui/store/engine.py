"""Opening the database: the URL, SQLite's settings, transactions, schema checks and the
translation of driver errors into one sentence."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from platformdirs import user_data_dir
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from returns_tui.errors import SchemaError, StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision. Every start checks the database against it; knowing it here
# spares the console importing Alembic (and Mako, Pygments) for that, a fifth of its start-up.
# tests/test_schema_head.py checks that it is Alembic's head.
HEAD = "0023"
# The placeholder of the SQL we send straight to the driver (exec_driver_sql), by the driver's
# DB-API paramstyle: sqlite3's qmark, psycopg's format.
PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# How long a writer waits for another writer's lock before giving up (SQLite).
BUSY_TIMEOUT_MS = 30_000


def pg_extension(conn: Connection, name: str) -> bool:
    """Whether the PostgreSQL extension `name` is there, creating it if we may (migrations
    0002 and 0020). A refusal (no permission, the extension not installed on the server)
    must not fail a migration: it is tried in a savepoint, whose rollback leaves the
    surrounding transaction usable."""
    found = "SELECT 1 FROM pg_extension WHERE extname = " + PLACEHOLDER[conn.dialect.paramstyle]
    if conn.exec_driver_sql(found, (name,)).first():
        return True
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(f'CREATE EXTENSION IF NOT EXISTS "{name}"')
    except DBAPIError:  # any refusal means: go on without it
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def default_url() -> str:
    """RETURNS_TUI_DB, else an SQLite file in the user's data directory, private to them."""
    if url := os.environ.get("RETURNS_TUI_DB"):
        return url
    path = Path(user_data_dir("returns-tui", appauthor=False)) / "returns.db"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _make_private(path)
    return f"sqlite:///{path}"


# SQLite's own files beside the database. It creates them with the database file's
# permissions, so a private database file keeps them private too; older ones are tightened.
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _make_private(path: Path) -> None:
    """The default database's folder 0700 and its files 0600: other local users must not
    read it (DESIGN §3). The file is made here, empty (an empty file is an empty SQLite
    database), so that it never exists with wider permissions; a folder or file made wider
    before, by an older version or by hand, is tightened. One that cannot be (someone
    else's) is refused in one sentence rather than used."""
    try:
        _tighten(path.parent, 0o700)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        for name in (path, *(Path(f"{path}{side}") for side in _SIDE_FILES)):
            if name.exists():
                _tighten(name, 0o600)
    except OSError as exc:
        raise StoreError(
            f"The default database {path} cannot be made private to you "
            f"({exc.strerror or exc}); set RETURNS_TUI_DB, or make it yours with chmod."
        ) from None


def _tighten(path: Path, mode: int) -> None:
    """Take away every permission beyond `mode` (the group's and others')."""
    current = path.stat().st_mode & 0o7777
    if current & ~mode:
        os.chmod(path, current & mode)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def open_engine(url: str | None = None) -> Engine:
    """An engine for the URL, with SQLite in WAL mode, foreign keys on and a busy timeout.

    SQLite transactions are begun by us (BEGIN, or BEGIN IMMEDIATE for writes) rather than
    by the driver, so that a writer takes the lock before it reads what it will change."""
    url = url or default_url()
    try:
        engine = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except ImportError as exc:  # a dialect SQLAlchemy knows, whose driver is not installed
        raise StoreError(
            f"{_shown_url(url)} needs the Python module {exc.name or 'of its driver'}, which "
            f"is not installed; returns-tui opens {_KNOWN_URLS}."
        ) from None
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise StoreError(
            f"{_shown_url(url)} is not a database URL returns-tui can open; it opens {_KNOWN_URLS}."
        ) from None
    if is_sqlite(engine):
        _configure_sqlite(engine)
    return engine


_KNOWN_URLS = "sqlite:///PATH and postgresql+psycopg://USER@HOST/DATABASE URLs"


def _shown_url(url: str) -> str:
    """The URL inside a sentence, its password hidden when it has one."""
    try:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        shown = url
    return repr(shown[:200])


# The name under which SQLite connections know Python's str.lower (a NULL stays NULL).
UNICODE_LOWER = "rt_lower"


def _unicode_lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL").fetchone()
        cur.execute("PRAGMA foreign_keys = ON")
        # In WAL mode NORMAL is durable against application crashes; a power loss may lose
        # the last transactions but never corrupts the file.
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()
        # SQLite's lower() folds ASCII only; the search folds other letters with this
        # (store.search.like_clause). Deterministic: the same text, the same result.
        dbapi_conn.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("write", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # Straight to the driver: a write runs two transactions per `apply` line, and
        # SQLAlchemy's execution machinery cost more than the BEGIN. Its errors (a lock
        # held past the busy timeout) are wrapped as SQLAlchemy would, for translated_errors.
        dbapi = conn.dialect.loaded_dbapi
        try:
            conn.connection.dbapi_connection.execute(statement)
        except dbapi.Error as exc:
            raise DBAPIError.instance(statement, (), exc, dbapi.Error) from exc


_RETRIED_STATES = ("40P01", "40001")  # deadlock_detected, serialization_failure


class WriteConflict(StoreError):
    """Two writers collided on a unique key or a serialization check; the caller retries."""


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn driver errors into StoreError with one sentence."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(describe(exc)) from exc
    except DBAPIError as exc:
        # PostgreSQL ended one of two transactions that waited for each other (say, on the
        # same Insights rollup rows, locked in another order): retried like a lost race.
        if getattr(exc.orig, "sqlstate", None) in _RETRIED_STATES:
            raise WriteConflict(describe(exc)) from exc
        raise StoreError(describe(exc)) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"The database could not be used: {exc.__class__.__name__}.") from exc


def describe(exc: DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    lowered = text.lower()
    if "database or disk is full" in lowered or "no space left" in lowered:
        return "The database is full (no space left); nothing was changed."
    if "readonly" in lowered or "read-only" in lowered:
        return "The database is read-only; nothing was changed."
    if "unable to open database" in lowered:
        return "The database file cannot be opened; check the path and its permissions."
    if "append-only" in lowered:
        return "Records are append-only; they cannot be changed or deleted."
    if "locked" in lowered or "busy" in lowered:
        return "The database is busy; try again."
    if "connection" in lowered or "could not" in lowered or "server" in lowered:
        return f"The database server cannot be reached: {text}"
    return f"The database refused the operation: {text}"


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: BEGIN IMMEDIATE on SQLite, so writers queue instead of failing
    half-way; READ COMMITTED on PostgreSQL, where the compare-and-set decides races."""
    with translated_errors(), engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with translated_errors(), engine.connect() as conn, conn.begin():
        yield conn


# ---------------------------------------------------------------------------------------------
# Schema: created and upgraded by Alembic, checked before anything else touches the data


def _alembic_config(conn: Connection, chain_key: Any = None):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    # Migration 0003 chains the records already there with it (store/chain.py); without
    # it, the key file's key.
    cfg.attributes["chain_key"] = chain_key
    return cfg


def upgrade(engine: Engine, chain_key: Any = None) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after).
    Safe to run twice, and by two processes at once (they take a lock first). `chain_key`
    (a store.chain.ChainKey) chains the records of a database from before revision 0003."""
    with translated_errors(), engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            if not is_sqlite(conn):  # SQLite's BEGIN IMMEDIATE already serializes us
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7140931)")
            before = _current_revision(conn)
            if before == HEAD:  # nothing to do: no need to read every migration (60 ms)
                return before, HEAD
            head = _head()
            if before is not None and before not in _known_revisions():
                raise SchemaError(_newer_message(before))
            if before != head:
                from alembic import command

                command.upgrade(_alembic_config(conn, chain_key), "head")
        return before, head


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing, older or newer than ours."""
    with translated_errors(), engine.connect() as conn:
        current = _current_revision(conn)
    if current == HEAD:
        return
    if current is None:
        raise SchemaError("The database has no returns-tui schema yet; run `returns-tui init`.")
    if current in _known_revisions():
        raise SchemaError("The database schema is older than this program; run `returns-tui init`.")
    raise SchemaError(_newer_message(current))


def _newer_message(revision: str) -> str:
    return (
        f"The database was made by a newer returns-tui (schema {revision}); "
        "upgrade returns-tui to use it."
    )


def _current_revision(conn: Connection) -> str | None:
    """The revision Alembic stamped in the database (None: no schema), read as Alembic does."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return rows[0] if len(rows) == 1 else None


def _script():  # -> alembic.script.ScriptDirectory
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def _head() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def _known_revisions() -> set[str]:
    return {rev.revision for rev in _script().walk_revisions()}
