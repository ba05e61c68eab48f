"""The `returns-tui` command (DESIGN §3–4): every command's happy and bad paths through
`cli.main`, with the login passed as returns-tui-session passes it (or, with user=None, as the
account that runs the tests and so owns the data), and a few runs of the installed command
itself, as that account. Every failure is one line on stderr
with the documented exit status, never a traceback."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import cli
from returns_tui import domain as d
from returns_tui.clock import utc_now
from returns_tui.roles import BUYER
from returns_tui.timefmt import iso_utc
from tests.conftest import T0, submission
from tests.test_apply import design_example
from tests.test_services import dump

COMMAND = Path(sys.executable).with_name("returns-tui")
ADMIN = "root-admin"  # the admin of the conftest's cast


@dataclass
class Result:
    status: int
    out: str
    err: str

    def failed(self, status: int, *fragments: str) -> bool:
        """One line on stderr, `returns-tui: ...`, with every fragment, and `status`."""
        assert self.status == status, (self.status, self.err)
        assert self.err.startswith("returns-tui: ") and self.err.count("\n") == 1, self.err
        assert "Traceback" not in self.err
        for fragment in fragments:
            assert fragment in self.err, self.err
        return True


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user's config or database: each test says which database it means."""
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("RETURNS_TUI_DB", raising=False)


@pytest.fixture
def run(monkeypatch, capsys):
    """Run the command with any arguments as `user` (None: the account running the tests,
    which owns the data), optionally with bytes on stdin."""

    def run(*args: object, user: str | None = ADMIN, stdin: bytes | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        status = cli.main([str(a) for a in args], login=user)
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run


@pytest.fixture
def on(run, db_url):
    """`run` on the test's database (with --db), empty and without a schema."""
    return lambda *args, **kw: run("--db", db_url, *args, **kw)


@pytest.fixture
def ready(on, svc):
    """`on`, on the database of the conftest's cast (svc)."""
    return on


# ---------------------------------------------------------------------------------------------
# init, and the schema check before everything else


def test_init_creates_the_schema_and_is_safe_twice(on, db_url):
    first = on("init")
    second = on("init")

    assert first.status == second.status == 0
    created = re.fullmatch(r"Created the returns-tui schema \(revision (\w+)\) in .+\n", first.out)
    assert created, first.out
    assert f"already up to date (revision {created.group(1)})" in second.out


def test_init_also_takes_db_after_the_command(run, db_url):
    assert run("init", "--db", db_url).status == 0
    assert "already up to date" in run("init", "--db", db_url).out


def test_a_command_before_init_says_to_run_init(on):
    assert on("users", "list").failed(1, "no returns-tui schema yet", "returns-tui init")


def test_a_database_of_a_newer_schema_is_refused_in_one_line(ready, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    tables = dump(engine)

    assert ready("users", "list").failed(1, "newer returns-tui (schema 9999)")
    assert ready("init").failed(1, "newer returns-tui (schema 9999)")
    assert ready("export").failed(1, "newer")
    assert dump(engine) == tables


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("nosuch://x", "'nosuch://x' is not a database URL returns-tui can open; it opens "
         "sqlite:///PATH and postgresql+psycopg://USER@HOST/DATABASE URLs."),
        ("not a url at all", "not a database URL"),
        # A driver SQLAlchemy knows but that is not installed: one line, not an ImportError.
        ("mysql://x", "'mysql://x' needs the Python module MySQLdb, which is not installed; "
         "returns-tui opens sqlite:///PATH and postgresql+psycopg://USER@HOST/DATABASE URLs."),
        ("postgresql+asyncpg://u:secret@h/db", "'postgresql+asyncpg://u:***@h/db' needs the"),
        ("mssql+pyodbc://x", "needs the Python module pyodbc"),
        ("sqlite:////nonexistent-dir/sub/x.db", "cannot be opened"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/returns", "server cannot be reached"),
    ],
)
def test_a_wrong_url_or_a_server_that_is_down_is_one_line(run, url, fragment):
    for args in (["init"], ["users", "list"], ["export"], ["sweep"]):
        assert run("--db", url, *args).failed(1, fragment)


def test_the_db_url_may_come_from_the_environment(run, db_url, monkeypatch):
    monkeypatch.setenv("RETURNS_TUI_DB", db_url)
    assert "Created" in run("init").out
    assert run("users", "add", "boss", "--role", "admin", user=None).status == 0


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("[windows]\nrespond_hours = -3", "respond_hours must be a positive number"),
        # Beyond the longest window the times leave room for (clock.MAX_WINDOW), or no number.
        ("[windows]\nship_hours = 87601", "ship_hours must be a positive number of hours, at "
                                           "most 87600"),
        ("[windows]\nreceive_hours = 1e300", "receive_hours must be a positive number"),
        ("[windows]\nrespond_hours = nan", "respond_hours must be a positive number"),
        ("[windows]\nafter_rejection_hours = inf", "after_rejection_hours must be a positive"),
        ("[console]\nsweep_seconds = inf", "sweep_seconds must be a positive number"),
        ("[console]\npoll_seconds = nan", "poll_seconds must be a positive number"),
    ],
)  # fmt: skip
def test_a_bad_settings_file_is_one_line(ready, tmp_path, monkeypatch, setting, fragment):
    bad = tmp_path / "config.toml"
    bad.write_text(setting + "\n")
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(bad))
    assert ready("sweep").failed(1, fragment)


def test_the_longest_window_is_taken(ready, tmp_path, monkeypatch):
    longest = tmp_path / "config.toml"
    longest.write_text("[windows]\nship_hours = 87600\n")
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(longest))
    assert ready("sweep").status == 0


# ---------------------------------------------------------------------------------------------
# users


def test_the_first_user_must_be_an_admin_then_only_admins_change_users(on):
    on("init")
    assert on("users", "add", "alice", "--role", "operator", "--shop", "acme", user=None).failed(
        1, "first user of a new database must be an admin"
    )
    assert on("users", "add", "boss", "--role", "admin", user=None).status == 0
    added = on("users", "add", "alice", "--role", "operator", "--shop", "acme", "--shop",
               "globex", user="boss")  # fmt: skip
    assert added.status == 0 and "Added alice as an operator of acme, globex." in added.out
    assert on("users", "add", "sam", "--role", "agent", user="boss").status == 0

    assert on("users", "add", "eve", "--role", "admin", user="alice").failed(
        1, "Only an admin may change users; alice is an operator."
    )
    assert on("users", "remove", "sam", user="alice").failed(1, "Only an admin")
    assert on("users", "add", "eve", "--role", "admin", user="stranger").failed(
        1, "stranger is not a returns-tui user"
    )
    listed = on("users", "list", user="sam")
    assert listed.out.splitlines() == [
        "alice  operator  acme, globex",
        "boss   admin",
        "sam    agent",
    ]


def test_users_are_removed_by_an_admin_but_not_themselves(ready):
    assert ready("users", "remove", "bob").out == "Removed bob.\n"
    assert "bob" not in ready("users", "list").out
    assert ready("users", "remove", "bob").failed(1, "bob is not a user")
    assert ready("users", "remove", ADMIN).failed(1, "cannot remove themselves")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["users", "add", "x", "--role", "boss"], "invalid choice: 'boss'"),
        (["users", "add", "x"], "required: --role"),
        (["users", "add", "x", "--role", "agent", "--shop", "acme"], None),
        (["users", "add", "x", "--role", "operator"], None),
        (["users"], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["seed"], "required: --count"),
        (["seed", "--count", "many"], "'many' is not a whole number"),
        (["seed", "--count", "-5"], "not a whole number"),
        (["sweep", "--now", "tomorrow"], "not an ISO 8601 time"),
        (["sweep", "--now", "2026-11-20T09:00:00"], "with an offset"),
        (["apply"], "required: FILE|-"),
        (["apply", "-", "--until", "soon"], "not an ISO 8601 time"),
        (["export", "--format", "xml"], "invalid choice: 'xml'"),
        (["export", "--tab", "Closed"], "invalid choice: 'Closed'"),
        (["demo", "--as", "admin"], "invalid choice: 'admin'"),
    ],
)
def test_a_wrong_command_line_is_one_line(ready, args, fragment):
    result = ready(*args)
    if fragment is None:  # well formed, refused by the rules instead
        assert result.failed(1, "")
    else:
        assert result.failed(2, fragment, "--help")


def test_help_is_not_an_error(run, capsys):
    assert run("--help").status == 0
    assert run("users", "add", "--help").status == 0


# ---------------------------------------------------------------------------------------------
# Who may do what


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "remove", "bob"],
        ["sweep"],
        ["export"],
        ["export", "--format", "csv"],
        ["apply", "-"],
        ["seed", "--count", "3"],
        ["check"],
        [],  # the console
    ],
)
def test_a_login_that_is_not_a_user_is_told_so_and_sees_nothing(ready, engine, args):
    tables = dump(engine)
    result = ready(*args, user="mallory", stdin=b"")

    assert result.failed(1, "mallory is not a returns-tui user; ask an admin to add you.")
    assert result.out == ""
    assert dump(engine) == tables


def test_apply_and_seed_are_for_admins(ready):
    assert ready("apply", "-", user="alice", stdin=b"").failed(1, "Only an admin may run apply")
    assert ready("seed", "--count", "2", user="sam").failed(1, "Only an admin may seed")


def test_the_console_opens_for_a_user_with_the_services_and_settings(ready, monkeypatch):
    import returns_tui.app

    opened = []
    monkeypatch.setattr(returns_tui.app, "run_console", lambda *a: opened.append(a) or 7)

    assert ready(user="alice").status == 7
    (service, actor, settings), = opened
    assert (actor.name, actor.role, actor.shops) == ("alice", "operator", frozenset({"acme"}))
    assert service.rules == settings.rules


def test_demo_is_handed_to_the_demo_without_a_database(run, monkeypatch):
    import returns_tui.demo

    calls = []
    monkeypatch.setattr(
        returns_tui.demo,
        "main",
        lambda role, keep, marketplace: calls.append((role, keep, marketplace)) or 0,
    )
    assert run("demo", user="nobody-at-all").status == 0
    assert run("demo", "--as", "agent", "--keep").status == 0
    assert run("demo", "--marketplace").status == 0
    assert calls == [("operator", False, False), ("agent", True, False), ("operator", False, True)]


# ---------------------------------------------------------------------------------------------
# apply


def test_apply_runs_the_design_example_from_a_file_or_stdin(ready, tmp_path):
    path = tmp_path / "actions.jsonl"
    path.write_text("\n".join(design_example()) + "\n")

    result = ready("apply", path)
    assert result.status == 0 and result.err == ""
    assert [json.loads(x) for x in result.out.splitlines()] == [
        {"line": n, "ok": True} for n in range(1, 6)
    ]
    (request,) = [json.loads(x) for x in ready("export").out.splitlines()]
    assert (request["status"], request["arbitration"]) == ("buyer_shipped", "support_buyer")

    again = ready("apply", "-", stdin=path.read_bytes())
    assert again.status == 0
    assert '"ok": false' in again.out.splitlines()[0]  # R1 exists already: refused, not fatal


def test_apply_with_keys_twice_changes_nothing_the_second_time(ready, tmp_path):
    lines = [json.dumps({**json.loads(x), "key": f"e{i}"}) for i, x in enumerate(design_example())]
    data = ("\n".join(lines) + "\n").encode()

    first = ready("apply", "-", stdin=data)
    exported = ready("export").out
    second = ready("apply", "-", stdin=data)

    assert first.status == second.status == 0
    assert all(json.loads(x).get("duplicate") is True for x in second.out.splitlines())
    assert ready("export").out == exported


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: tmp / "missing.jsonl", "cannot be read: No such file or directory"),
        (lambda tmp: tmp, "cannot be read: Is a directory"),
        (lambda tmp: _file(tmp, b'{"at": "caf\xe9"}\n'), "is not UTF-8 text (line 1)"),
    ],
)
def test_apply_of_an_input_that_cannot_be_read_exits_2(ready, engine, tmp_path, make, fragment):
    tables = dump(engine)
    assert ready("apply", make(tmp_path)).failed(2, fragment)
    assert dump(engine) == tables


def _file(tmp: Path, data: bytes) -> Path:
    path = tmp / "input.jsonl"
    path.write_bytes(data)
    return path


def test_apply_until_applies_deadlines_after_the_last_line_never_from_the_future(ready, svc):
    first = design_example()[0]
    created = pendulum.parse(json.loads(first)["at"])
    until = iso_utc(created.add(days=3))

    assert ready("apply", "-", "--until", until, stdin=first.encode()).status == 0
    admin = svc.login(ADMIN)
    assert svc.get(admin, "R1").status is d.Status.AWAITING_BUYER_SHIP

    future = iso_utc(utc_now().add(hours=1))
    second = design_example()[1]
    assert ready("apply", "-", "--until", future, stdin=second.encode()).failed(1, "in the future")
    assert len(svc.records(admin, "R1")) == 2  # nothing was applied


# ---------------------------------------------------------------------------------------------
# sweep


def test_sweep_prints_each_change_and_a_summary(ready, svc):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.submit(BUYER, submission("R2", "O2", type="refund"), T0.add(hours=1))

    early = ready("sweep", "--now", iso_utc(T0.add(hours=47)), user="bob")
    assert early.out == "Swept up to 2026-11-22T08:00:00Z: nothing was due in your shops.\n"

    result = ready("sweep", "--now", iso_utc(T0.add(days=3)), user="bob")  # any user
    assert result.status == 0
    assert result.out.splitlines() == [
        "R1 auto-approved at 2026-11-22T09:00:00Z, now awaiting shipment",
        "R2 auto-approved at 2026-11-22T10:00:00Z, now completed",
        "Swept up to 2026-11-23T09:00:00Z: 2 changes on 2 requests in your shops.",
    ]
    # Without --now, up to the real clock; a second sweep finds nothing more.
    assert ready("sweep").status == 0
    assert ready("sweep").out.endswith(": nothing was due.\n")


def test_people_read_times_to_the_second_and_export_keeps_the_microseconds(ready, svc):
    svc.submit(BUYER, submission("R1", "O1"), T0.add(microseconds=123456))
    swept = ready("sweep", "--now", iso_utc(T0.add(days=3, microseconds=654321)))
    assert swept.out.splitlines() == [
        "R1 auto-approved at 2026-11-22T09:00:00Z, now awaiting shipment",
        "Swept up to 2026-11-23T09:00:00Z: 1 change on 1 request.",
    ]
    second = r"[-\d]{10}T[:\d]{8}Z"  # a time to the second
    to_now = ready("sweep").out  # up to the real clock, which has microseconds
    expired = rf"R1 expired at {second}, now cancelled\n"
    assert re.fullmatch(rf"{expired}Swept up to {second}: .+\n", to_now)
    checked = ready("check").out
    assert re.fullmatch(rf"Checked the database as at {second}: no violations\.\n", checked)
    future = utc_now().add(minutes=2, microseconds=1)
    refused = ready("sweep", "--now", iso_utc(future))
    assert refused.failed(1, f"--now {iso_utc(future)[:19]}Z is in the future (the clock says ")
    assert not re.search(r"\d\.\d{6}Z", refused.err)
    exported = json.loads(ready("export").out)
    assert exported["created_at"] == "2026-11-20T09:00:00.123456Z"
    assert exported["records"][1]["at"] == "2026-11-22T09:00:00.123456Z"


def test_users_add_refuses_names_and_shops_with_stray_spaces_in_one_line(ready, engine):
    tables = dump(engine)
    assert ready("users", "add", "with space", "--role", "agent").failed(
        1, "'with space' cannot be a user name: a login name has no spaces."
    )
    assert ready("users", "add", "eve", "--role", "operator", "--shop", "Acme ").failed(
        1, "'Acme ' cannot be a shop name: it begins or ends with a space."
    )
    assert ready("users", "add", "eve", "--role", "operator", "--shop", "").failed(
        1, "returns-tui: A shop name cannot be empty.\n"
    )
    assert dump(engine) == tables


def test_an_unknown_action_under_keys_is_named_with_the_known_ones(ready, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[keys]\naccept = "y"\nacept = "z"\n', encoding="utf-8")
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(config))
    assert ready("users", "list").failed(
        1, f"{config}: [keys] has no action 'acept'; the actions are accept, accept_next, reject,",
        "tab_closed, tab_appeals, filter, clear_filters, save_view.",
    )


def test_sweep_refuses_a_time_in_the_future(ready, engine):
    tables = dump(engine)
    future = iso_utc(utc_now().add(minutes=2))
    assert ready("sweep", "--now", future).failed(1, "is in the future", "--now")
    assert ready("sweep", "--now", iso_utc(utc_now().add(seconds=6))).failed(1, "in the future")
    assert dump(engine) == tables
    # Within the five seconds another host's clock may run ahead: taken.
    assert ready("sweep", "--now", iso_utc(utc_now().add(seconds=4))).status == 0


@pytest.mark.parametrize(
    "args",
    [
        ("apply", "-", "--until", "0001-01-01T00:00:00+01:00"),
        ("sweep", "--now", "0001-01-01T00:00:00+01:00"),
        ("sweep", "--now", "9999-12-31T23:59:59-23:59"),
        ("check", "--now", "9999-12-31T23:59:59-23:59"),
        ("check", "--grace", "1e308"),
        ("check", "--grace", "99999999999999"),
        ("seed", "--count", "99999999999999999999999"),
    ],
)
def test_the_issues_times_and_numbers_are_one_line_and_status_2(ready, engine, args):
    tables = dump(engine)
    assert ready(*args, stdin=b"").failed(2, f"argument {args[-2]}: ")
    assert dump(engine) == tables


# ---------------------------------------------------------------------------------------------
# export and seed


def test_export_writes_what_the_caller_may_see(ready, svc):
    svc.submit(BUYER, submission("R1", "O1", "acme"), T0)
    svc.submit(BUYER, submission("R2", "O2", "globex"), T0)

    ids = lambda result: [json.loads(x)["id"] for x in result.out.splitlines()]  # noqa: E731
    assert ids(ready("export")) == ["R1", "R2"]
    assert ids(ready("export", user="alice")) == ["R1"]
    assert ids(ready("export", "--tab", "to_proceed", user="olga")) == ["R2"]
    assert ready("export", "--tab", "closed").out == ""
    csv_text = ready("export", "--format", "csv", user="alice").out
    assert csv_text.splitlines()[0].startswith("id,order_id,shop,type,status,tab")
    assert len(csv_text.splitlines()) == 2


def test_seed_adds_requests_reproducibly_and_numbers_on(ready, svc):
    result = ready("seed", "--count", "40", "--seed", "3")
    assert result.out == "Added 40 synthetic requests (seed 3).\n"
    assert ready("seed", "--count", "5").status == 0
    rows = [json.loads(x) for x in ready("export").out.splitlines()]
    assert [r["id"] for r in rows] == [f"R{n:07d}" for n in range(1, 46)]


def test_check_is_for_those_who_see_every_shop(ready, svc):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    assert ready("check", user="alice").failed(1, "Only an agent or an admin may check")
    overdue = ready("check", user="sam")
    assert overdue.status == 1 and "R1: pending past its deadline" in overdue.out
    ready("sweep")
    clean = ready("check")
    assert clean.status == 0
    assert clean.out.startswith("Checked the database as at ") and "no violations" in clean.out


# ---------------------------------------------------------------------------------------------
# Interruptions and closed pipes


def test_an_interrupt_is_one_line(ready, monkeypatch):
    def interrupted(session):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_sweep", interrupted)
    assert ready("sweep").failed(130, "Interrupted")


# ---------------------------------------------------------------------------------------------
# The installed command, for real


def command(*args: str, env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COMMAND), *args], input=stdin, capture_output=True, env={**os.environ, **env},
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {
        "RETURNS_TUI_DB": f"sqlite:///{tmp_path / 'cli.db'}",
        "RETURNS_TUI_CONFIG": str(tmp_path / "no-config.toml"),
    }


def test_the_installed_command_end_to_end(env):
    assert command("init", env=env).returncode == 0
    assert command("users", "add", "--me", "--role", "admin", env=env).returncode == 0
    for args in (["users", "add", "alice", "--role", "operator", "--shop", "acme"],
                 ["users", "add", "sam", "--role", "agent"]):  # fmt: skip
        assert command(*args, env=env).returncode == 0
    stream = ("\n".join(design_example()) + "\n").encode()

    applied = command("apply", "-", env=env, stdin=stream)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.decode().count('"ok": true') == 5
    exported = command("export", env=env)
    assert json.loads(exported.stdout)["status"] == "buyer_shipped"


def test_the_installed_command_never_shows_a_traceback(env, tmp_path):
    cases = [
        (["--db", "nosuch://x", "users", "list"], 1),
        (["--db", "postgresql+psycopg://postgres@127.0.0.1:1/x", "export"], 1),
        (["users", "list"], 1),  # no schema yet
        (["apply", str(tmp_path)], 1),  # no schema yet, before the input is read
        (["users", "add", "x", "--role", "nope"], 2),
    ]
    for args, status in cases:
        done = command(*args, env=env)
        assert done.returncode == status, (args, done.stderr)
        assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr, done.stderr
    command("init", env=env)
    command("users", "add", "--me", "--role", "admin", env=env)
    unreadable = command("apply", str(tmp_path), env=env)
    assert unreadable.returncode == 2 and b"Is a directory" in unreadable.stderr


def test_the_installed_command_stops_quietly_when_the_reader_goes_away(env):
    command("init", env=env)
    command("users", "add", "--me", "--role", "admin", env=env)
    command("seed", "--count", "3000", env=env)
    pipeline = subprocess.run(
        f"'{COMMAND}' export | head -n 1", shell=True, capture_output=True,
        env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert pipeline.stdout.count(b"\n") == 1
    assert pipeline.stderr == b""
