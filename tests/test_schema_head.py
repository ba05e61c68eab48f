"""The schema check that every start runs without Alembic."""

from __future__ import annotations

import subprocess
import sys

import pytest

from returns_tui.errors import SchemaError
from returns_tui.store import engine as store


def test_the_pinned_head_is_alembics_head():
    # A new migration without moving HEAD would make every start refuse its own database.
    assert store.HEAD == store._head()


def test_a_database_at_head_passes_the_check_and_one_behind_is_told_to_init(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    eng = store.open_engine(url)
    store.upgrade(eng)
    store.check_schema(eng)  # no error
    with eng.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(SchemaError, match="older than this program"):
        store.check_schema(eng)
    eng.dispose()


def test_the_console_starts_without_importing_alembic():
    code = "import sys, returns_tui.app, returns_tui.cli; print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
