"""`returns-tui [--db URL] check [--now TIME] [--grace SECONDS]`: the invariant checker at
the command line. One line per violation and a summary line; exit status 1 on any violation,
0 otherwise. Like every command but init, demo and the first `users add`, it needs a user.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui import cli
from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.clock import utc_now
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.timefmt import iso_utc

RETURNS_TUI = Path(sys.executable).with_name("returns-tui")
NOW = utc_now().start_of("minute")
CREATED = NOW.subtract(hours=47)  # pending: respond_by is an hour from now
RESPOND_BY = CREATED.add(hours=48)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checkcli") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    svc = Returns(engine)
    svc.add_user("boss", "boss", "admin", (), NOW.subtract(days=9))
    svc.add_user("boss", "alice", "operator", ("acme",), NOW.subtract(days=9))
    svc.add_user("boss", "sam", "agent", (), NOW.subtract(days=9))
    for rid in ("R1", "R2", "R\x1b[31m"):
        sub = d.Submission(rid, "O" + rid, "acme", "refund", "Ana", "Mug", "M-1", 1, "9.99",
                           "USD", "damaged", "")  # fmt: skip
        svc.submit(BUYER, sub, CREATED)
    svc.accept(svc.login("alice"), "R2", CREATED.add(hours=1))
    engine.dispose()
    return path


@pytest.fixture
def db(template, tmp_path) -> str:
    shutil.copy(template, tmp_path / "returns.db")
    return f"sqlite:///{tmp_path / 'returns.db'}"


def run(url: str, *args: str, who: str = "boss", monkeypatch) -> tuple[int, list[str], str]:
    monkeypatch.setattr(cli, "login_name", lambda: who)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(["--db", url, *args])
    return status, out.getvalue().splitlines(), err.getvalue()


def corrupt(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def test_a_clean_database_exits_0_with_a_summary_line(db, monkeypatch):
    status, lines, err = run(db, "check", monkeypatch=monkeypatch)
    assert (status, err) == (0, "")
    assert len(lines) == 1, lines  # the summary, nothing else


def test_each_violation_is_one_line_then_a_summary_and_status_1(db, monkeypatch):
    corrupt(db, "UPDATE requests SET version = 7 WHERE id = 'R1'")
    corrupt(db, "UPDATE requests SET tab = 'closed' WHERE id = 'R2'")
    engine = open_engine(db)
    found = [str(v) for v in check(engine, NOW)]
    engine.dispose()
    assert len(found) == 2
    status, lines, err = run(db, "check", monkeypatch=monkeypatch)
    assert (status, err) == (1, "")
    assert len(lines) == len(found) + 1, lines
    for violation in found:
        assert violation in lines, (violation, lines)
    assert lines[-1] not in found  # the summary comes last


def test_now_and_grace_decide_what_is_overdue(db, monkeypatch):
    # R9's 48 hours ended two hours ago, and no sweep ran since.
    svc = Returns(open_engine(db))
    sub = d.Submission("R9", "O9", "acme", "refund", "Ana", "Mug", "M-1", 1, "9.99", "USD",
                       "damaged", "")  # fmt: skip
    svc.submit(BUYER, sub, NOW.subtract(hours=50))
    svc.engine.dispose()
    due = NOW.subtract(hours=2)
    status, lines, _ = run(db, "check", monkeypatch=monkeypatch)
    assert status == 1
    assert f"R9: pending past its deadline {iso_utc(due)} (not swept)" in lines, lines
    # As the database stood a second before the deadline, all was well.
    before = iso_utc(due.subtract(seconds=1))
    assert run(db, "check", "--now", before, monkeypatch=monkeypatch)[0] == 0
    # A sweep that may lag three hours has not missed it yet; one second, it has.
    assert run(db, "check", "--grace", str(3 * 3600), monkeypatch=monkeypatch)[0] == 0
    later = iso_utc(due.add(minutes=1))
    assert run(db, "check", "--now", later, "--grace", "1", monkeypatch=monkeypatch)[0] == 1


def test_a_request_id_is_printed_as_text_never_as_an_escape(db, monkeypatch):
    corrupt(db, "UPDATE requests SET version = 9 WHERE id = 'R\x1b[31m'")
    status, lines, err = run(db, "check", monkeypatch=monkeypatch)
    assert status == 1
    assert not any("\x1b" in line for line in lines), lines
    assert any("R␛[31m" in line for line in lines), lines


def test_a_stranger_is_told_in_one_line_and_sees_nothing(db, monkeypatch):
    corrupt(db, "UPDATE requests SET version = 7 WHERE id = 'R1'")
    status, lines, err = run(db, "check", who="mallory", monkeypatch=monkeypatch)
    assert (status, lines) == (1, [])
    assert err == "returns-tui: mallory is not a returns-tui user; ask an admin to add you.\n"


def test_bad_arguments_are_one_line_and_status_2(db, monkeypatch):
    for args in (["check", "--now", "yesterday"], ["check", "--grace", "soon"]):
        status, lines, err = run(db, *args, monkeypatch=monkeypatch)
        assert (status, lines) == (2, []), (args, status, lines)
        assert err.count("\n") == 1 and err.startswith("returns-tui: "), err


def test_the_installed_command_after_a_seed(tmp_path):
    """`returns-tui seed` fills a database the checker finds clean; a corruption makes the
    command exit 1, with no traceback."""
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    env = dict(os.environ, RETURNS_TUI_DB=url)  # run by the account running the tests

    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(RETURNS_TUI), *args], env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip

    assert command("init").returncode == 0
    assert command("users", "add", "--me", "--role", "admin").returncode == 0
    assert command("seed", "--count", "500", "--seed", "6").returncode == 0
    assert command("sweep").returncode == 0
    clean = command("check")
    assert clean.returncode == 0 and clean.stderr == "", clean
    assert len(clean.stdout.splitlines()) == 1
    corrupt(url, "UPDATE requests SET tab = 'bogus' WHERE id IN "
                 "(SELECT id FROM requests ORDER BY id LIMIT 3)")  # fmt: skip
    broken = command("check")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr, broken
    assert len(broken.stdout.splitlines()) >= 5  # three rows, the unknown tab, the counts


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_an_operator_may_not_check_the_whole_database_an_agent_may(db, who, monkeypatch):
    status, lines, err = run(db, "check", who=who, monkeypatch=monkeypatch)
    if who == "alice":
        assert (status, lines) == (1, [])
        assert err.count("\n") == 1 and "Only an agent or an admin may check" in err, err
    else:
        assert (status, err, len(lines)) == (0, "", 1)
