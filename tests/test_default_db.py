"""The default database (no RETURNS_TUI_DB; issue 11, item 9): an SQLite file in the user's
data directory that other local users cannot read. Its folder is made 0700 and the file
0600, whatever the umask, and SQLite's -wal and -shm files follow the file's permissions;
a folder or file left wider before is tightened, and one that cannot be (someone else's) is
refused in one line, exit status 1."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui.store.engine import default_url, open_engine, upgrade
from tests.support.ssh_session import console_unrunnable_reason

COMMAND = Path(sys.executable).with_name("returns-tui")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    """A data directory of our own, and no RETURNS_TUI_DB: the default applies."""
    monkeypatch.delenv("RETURNS_TUI_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "returns-tui"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The widest umask: nothing of ours may rely on the caller's to be private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_default_database_is_private_with_its_wal_and_shm(data_home, open_umask):
    url = default_url()
    assert url == f"sqlite:///{data_home / 'returns.db'}"
    engine = open_engine()
    upgrade(engine)
    with engine.connect() as conn:  # held open: SQLite removes -wal and -shm at the last close
        conn.exec_driver_sql("CREATE TABLE probe (x)")
        conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        conn.commit()
        files = {p.name: mode(p) for p in data_home.iterdir()}
        assert files == {"returns.db": 0o600, "returns.db-wal": 0o600, "returns.db-shm": 0o600}
        assert mode(data_home) == 0o700
    engine.dispose()


def test_a_default_database_left_readable_is_tightened(data_home):
    data_home.mkdir(parents=True, mode=0o755)
    os.chmod(data_home, 0o755)
    db = data_home / "returns.db"
    with sqlite3.connect(db) as conn:  # a database made earlier, readable by everyone
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE kept (x)")
        conn.execute("INSERT INTO kept VALUES (7)")
        keep_open = sqlite3.connect(db)
        keep_open.execute("SELECT * FROM kept").fetchall()
    for path in data_home.iterdir():
        os.chmod(path, 0o664)
    assert {p.name for p in data_home.iterdir()} >= {"returns.db", "returns.db-wal"}

    engine = open_engine()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM kept")).scalar_one() == 7  # the data stays
    engine.dispose()
    keep_open.close()
    assert mode(data_home) == 0o700
    assert {p.name: mode(p) for p in data_home.iterdir()} == {
        p.name: 0o600 for p in data_home.iterdir()
    }


def test_a_variable_or_an_option_names_any_database_and_it_is_left_alone(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)
    monkeypatch.setenv("RETURNS_TUI_DB", f"sqlite:///{shared / 'team.db'}")
    assert default_url() == f"sqlite:///{shared / 'team.db'}"
    assert mode(shared) == 0o750  # a database someone chose is theirs to arrange


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the command as another user")
def test_a_default_folder_that_cannot_be_tightened_is_refused_in_one_line():
    """`nobody`, whose data directory is someone else's and readable by all."""
    cannot = console_unrunnable_reason(COMMAND, "`nobody`'s default-folder test")
    if cannot:  # a venv under /root's pyenv: `nobody` cannot even start the command
        pytest.skip(cannot)
    home = Path(tempfile.mkdtemp(prefix="rt-default-"))
    try:
        data = home / "returns-tui"
        data.mkdir()
        for path in (home, data):
            os.chmod(path, 0o755)  # root's, open to everyone
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_DATA_HOME": str(home),
               "RETURNS_TUI_CONFIG": str(home / "none.toml")}  # fmt: skip
        result = subprocess.run([str(COMMAND), "init"], env=env, user=65534, group=65534,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 1, result
        assert result.stdout == ""
        assert result.stderr == (
            f"returns-tui: The default database {data / 'returns.db'} cannot be made private "
            "to you (Operation not permitted); set RETURNS_TUI_DB, or make it yours with "
            "chmod.\n"
        )
        assert list(data.iterdir()) == []  # nothing was made in it
    finally:
        for path in sorted(home.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        home.rmdir()


def test_the_command_makes_the_default_database_private_under_any_umask(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "RETURNS_TUI_CONFIG": str(tmp_path / "none.toml")}  # fmt: skip
    env.pop("RETURNS_TUI_DB", None)
    result = subprocess.run(["sh", "-c", f"umask 000 && exec {COMMAND} init"], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result
    folder = tmp_path / "data" / "returns-tui"
    assert mode(folder) == 0o700
    assert {p.name: mode(p) for p in folder.iterdir()} == {"returns.db": 0o600}
