"""Authorisation at the command line: every command tried by every role (an admin, an
operator of acme, an operator of globex, an agent) and by a stranger (a login that is not a
user), against requests of both shops. Only what DESIGN §3 allows succeeds; everything else
exits 1 with one line on stderr, writes nothing on stdout and changes nothing. An operator's
export holds their shop's requests only. (The console's launch is covered in test_cli.py and
test_ssh.py; `check`'s output in test_check_cli.py.)

The commands run in this process through `cli.main`, as the installed command does, with the
login set the way root sets it (RETURNS_TUI_USER); one run goes through the real command.
"""

from __future__ import annotations

import csv
import io
import json
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
from returns_tui.clock import utc_now
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.store.schema import applied_keys, orders, records, requests, user_shops, users
from returns_tui.timefmt import iso_utc

RETURNS_TUI = Path(sys.executable).with_name("returns-tui")
NOW = utc_now().start_of("minute")
CAST = {"boss": "admin", "alice": "operator of acme", "olga": "operator of globex",
        "sam": "agent", "mallory": "stranger"}  # fmt: skip
USERS = ("boss", "alice", "olga", "sam")
ACME = ["A1", "A2", "A3", "A4", "AOLD"]
GLOBEX = ["G1", "G2", "GOLD"]


def at(hours: float) -> str:
    return iso_utc(NOW.add(seconds=round(hours * 3600)))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Both shops' requests: pending ones, and one each past its 48 h (for sweep)."""
    path = tmp_path_factory.mktemp("authz") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    svc = Returns(engine)
    t0 = NOW.subtract(days=10)
    svc.add_user("boss", "boss", "admin", (), t0)
    svc.add_user("boss", "alice", "operator", ("acme",), t0)
    svc.add_user("boss", "bob", "operator", ("acme",), t0)
    svc.add_user("boss", "olga", "operator", ("globex",), t0)
    svc.add_user("boss", "sam", "agent", (), t0)
    for rid in ACME + GLOBEX:
        shop = "acme" if rid in ACME else "globex"
        when = NOW.subtract(days=3 if rid.endswith("OLD") else 1)
        svc.submit(BUYER, d.Submission(rid, "O" + rid, shop, "refund", "Ana", "Mug", "M-1", 1,
                                       "9.99", "USD", "damaged", ""), when)  # fmt: skip
    engine.dispose()
    return path


@pytest.fixture
def db(template, tmp_path) -> str:
    path = tmp_path / "returns.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def run(url: str, who: str, *args: str, monkeypatch) -> tuple[int, str, str]:
    """`returns-tui --db URL ARGS` as the login `who`: (status, stdout, stderr)."""
    monkeypatch.setattr(cli, "login_name", lambda: who)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(["--db", url, *args])
    return status, out.getvalue(), err.getvalue()


def dump(url: str) -> dict[str, list]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
                for t in (requests, records, orders, applied_keys, users, user_shops)
            }
    finally:
        engine.dispose()


def refused(result: tuple[int, str, str], *words: str) -> None:
    status, out, err = result
    assert status == 1, result
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("returns-tui: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


# ---------------------------------------------------------------------------------------------
# The grid: who may run which command


def apply_file(tmp_path: Path) -> Path:
    """Lines by every kind of actor against both shops (an admin runs them on their behalf)."""
    lines = [
        {"at": at(-5), "actor": "alice", "action": "accept", "request_id": "A1"},
        {"at": at(-5), "actor": "alice", "action": "accept", "request_id": "G1"},
        {"at": at(-4), "actor": "olga", "action": "reject", "request_id": "G2",
         "reason": "no_proof"},
        {"at": at(-4), "actor": "olga", "action": "accept", "request_id": "A2"},
        {"at": at(-3), "actor": "sam", "action": "accept", "request_id": "A3"},
        {"at": at(-3), "actor": "sam", "action": "note", "request_id": "G1", "note": "hi"},
        {"at": at(-3), "actor": "sam", "action": "note", "request_id": "A3", "note": "hi"},
        {"at": at(-2), "actor": "boss", "action": "accept", "request_id": "A3"},
        {"at": at(-2), "actor": "mallory", "action": "note", "request_id": "A1", "note": "x"},
        {"at": at(-1), "actor": "buyer", "action": "cancel", "request_id": "A4"},
    ]  # fmt: skip
    path = tmp_path / "actions.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


APPLY_VERDICTS = [True, False, True, False, False, True, True, False, False, True]

COMMANDS = {
    "users add": (("users", "add", "newbie", "--role", "agent"), {"boss"}),
    "users list": (("users", "list"), set(USERS)),
    "users remove": (("users", "remove", "bob"), {"boss"}),
    "apply": (("apply", "{file}"), {"boss"}),
    "sweep": (("sweep",), set(USERS)),
    "export jsonl": (("export", "--format", "jsonl"), set(USERS)),
    "export csv": (("export", "--format", "csv"), set(USERS)),
    "seed": (("seed", "--count", "4"), {"boss"}),
    "check": (("check",), {"boss", "sam"}),  # it reads every shop: not for operators
}


@pytest.mark.parametrize("who", sorted(CAST), ids=lambda w: f"{w} ({CAST[w]})")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_by_each_role(command, who, db, tmp_path, monkeypatch):
    template, allowed = COMMANDS[command]
    args = [a.replace("{file}", str(apply_file(tmp_path))) for a in template]
    before = dump(db)
    result = run(db, who, *args, monkeypatch=monkeypatch)
    if who not in allowed:
        if who == "mallory":
            refused(result, "mallory is not a returns-tui user")
        elif command == "check":
            refused(result, "Only an agent or an admin may check the whole database")
        else:
            refused(result, "Only an admin may")
        assert dump(db) == before
        return
    status, out, err = result
    if command == "check":  # allowed, and it finds the two requests nobody swept
        assert (status, err) == (1, ""), result
        assert [line.split(":")[0] for line in out.splitlines()[:-1]] == ["AOLD", "GOLD"]
        status = 0
    assert (status, err) == (0, ""), result
    after = dump(db)
    if command == "users add":
        assert ("newbie", "agent") in [(u[0], u[1]) for u in after["users"]]
    elif command == "users remove":
        assert "bob" not in [u[0] for u in after["users"]]
    elif command == "users list":
        assert [line.split()[0] for line in out.splitlines()] == ["alice", "bob", "boss",
                                                                   "olga", "sam"]  # fmt: skip
        assert after == before
    elif command == "apply":
        assert [json.loads(v)["ok"] for v in out.splitlines()] == APPLY_VERDICTS
    elif command == "sweep":
        # Any user may sweep; the deadlines of both shops are applied, as the system.
        assert "AOLD auto-approved" in out and "GOLD auto-approved" in out, out
        assert len(after["records"]) == len(before["records"]) + 2
    elif command.startswith("export"):
        assert after == before  # export changes nothing
        ids = exported_ids(out, command)
        visible = {"alice": ACME, "olga": GLOBEX}.get(who, ACME + GLOBEX)
        assert ids == sorted(visible), (who, ids)
    elif command == "seed":
        assert len(after["requests"]) == len(before["requests"]) + 4
    elif command == "check":
        assert after == before
        assert out.splitlines()[-1].startswith("Checked the database as at "), out


def exported_ids(out: str, command: str) -> list[str]:
    if command == "export csv":
        return [row["id"] for row in csv.DictReader(io.StringIO(out))]
    return [json.loads(line)["id"] for line in out.splitlines()]


# ---------------------------------------------------------------------------------------------
# Against every shop: an operator's view and an admin's read-only console


@pytest.mark.parametrize("tab", [t.value for t in d.Tab])
def test_an_operators_export_holds_only_their_shop_in_every_tab(db, tab, monkeypatch):
    # Some requests of each shop in each tab first (the admin applies what the users did).
    svc = Returns(open_engine(db))
    alice, olga = svc.login("alice"), svc.login("olga")
    svc.accept(alice, "A1", NOW.subtract(hours=3))
    svc.reject(alice, "A2", NOW.subtract(hours=3), "no_proof")
    svc.appeal(BUYER, "A2", NOW.subtract(hours=2))
    svc.accept(olga, "G1", NOW.subtract(hours=3))
    svc.reject(olga, "G2", NOW.subtract(hours=3), "no_proof")
    svc.appeal(BUYER, "G2", NOW.subtract(hours=2))
    svc.sweep(NOW)
    svc.engine.dispose()
    seen = {}
    for who in ("alice", "olga", "sam", "boss"):
        status, out, err = run(db, who, "export", "--tab", tab, monkeypatch=monkeypatch)
        assert (status, err) == (0, "")
        seen[who] = [json.loads(line) for line in out.splitlines()]
    assert {r["shop"] for r in seen["alice"]} <= {"acme"}
    assert {r["shop"] for r in seen["olga"]} <= {"globex"}
    # An agent and an admin see every shop: exactly what the two operators see together.
    both = sorted(seen["alice"] + seen["olga"], key=lambda r: r["id"])
    assert seen["sam"] == seen["boss"] == both
    assert {r["tab"] for r in both} <= ({tab} if tab != "all" else {t.value for t in d.Tab})


def test_a_removed_operator_loses_access_at_once(db, monkeypatch):
    assert run(db, "boss", "users", "remove", "alice", monkeypatch=monkeypatch)[0] == 0
    refused(run(db, "alice", "export", monkeypatch=monkeypatch), "alice is not a returns-tui user")
    refused(run(db, "alice", "sweep", monkeypatch=monkeypatch), "not a returns-tui user")


def test_only_an_admin_may_add_an_admin_and_an_admin_cannot_remove_themselves(db, monkeypatch):
    for who in ("alice", "sam"):
        refused(run(db, who, "users", "add", who + "2", "--role", "admin",
                    monkeypatch=monkeypatch), "Only an admin may change users")  # fmt: skip
    refused(run(db, "boss", "users", "remove", "boss", monkeypatch=monkeypatch),
            "cannot remove themselves")  # fmt: skip


def test_on_an_empty_database_the_first_user_must_be_an_admin(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert run(url, "anyone", "init", monkeypatch=monkeypatch)[0] == 0
    first = ("users", "add", "carl", "--role", "operator", "--shop", "acme")
    refused(run(url, "anyone", *first, monkeypatch=monkeypatch),
            "The first user of a new database must be an admin")  # fmt: skip
    status, out, err = run(url, "anyone", "users", "add", "root", "--role", "admin",
                           monkeypatch=monkeypatch)  # fmt: skip
    assert (status, err) == (0, ""), err
    # From now on the stranger who made the first admin is a stranger again.
    refused(run(url, "anyone", "users", "add", "eve", "--role", "admin", monkeypatch=monkeypatch),
            "anyone is not a returns-tui user")  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may act as RETURNS_TUI_USER")
def test_a_stranger_through_the_real_command_gets_one_line_and_status_1(db):
    env = dict(os.environ, RETURNS_TUI_USER="mallory", RETURNS_TUI_DB=db)
    for args in (["export"], ["sweep"], ["users", "list"], ["apply", "-"], ["check"]):
        result = subprocess.run([str(RETURNS_TUI), *args], env=env, capture_output=True,
                                text=True, input="", timeout=60)  # fmt: skip
        assert result.returncode == 1, (args, result)
        assert result.stdout == ""
        assert result.stderr == (
            "returns-tui: mallory is not a returns-tui user; ask an admin to add you.\n"
        ), result.stderr
