"""Who the person is (DESIGN §3, "Roles and identity" and "Who may touch the data"), in this
process: the login is the real uid's account and nothing else; returns-tui-session names the
person only by sudo's record or by sshd's forced command, runs only the commands it allows, on
the service account's own data; the first admin is made by the account that owns the data,
never through the session; and a login that is not a user of an empty database is told how
the first admin is made (issue 10: the README's set-up once locked its reader out).

The same, for real (accounts, sshd, sudo, fakeroot, `unshare -r`): tests/test_ssh.py.
"""

from __future__ import annotations

import json
import os
import pwd

import pytest
import sqlalchemy as sa

from returns_tui import cli, identity, session
from returns_tui.clock import utc_now
from returns_tui.errors import ReturnsError
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.store.schema import users
from tests.conftest import submission

ME = identity.login_name()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No variable of the caller's counts. The session changes the environment and the umask:
    both are put back afterwards (a variable set and then removed here is restored, to its
    absence, whatever the session did to it)."""
    for name in ("RETURNS_TUI_DB", "SUDO_USER", "SSH_CONNECTION", "SSH_ORIGINAL_COMMAND",
                 "XDG_DATA_HOME", "XDG_CONFIG_HOME", "RETURNS_TUI_USER"):  # fmt: skip
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", os.environ.get("HOME", "/"))
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    umask = os.umask(0o022)
    yield
    os.umask(umask)


def run(capsys, *args: str, login: str | None = None) -> tuple[int, str, str]:
    status = cli.main(list(args), login=login)
    out, err = capsys.readouterr()
    return status, out, err


def names(url: str) -> list[tuple[str, str]]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(map(tuple, conn.execute(sa.select(users.c.name, users.c.role))))
    finally:
        engine.dispose()


def one_line(err: str, *fragments: str) -> bool:
    assert err.startswith("returns-tui: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return True


# ---------------------------------------------------------------------------------------------
# The login


def test_the_login_is_the_real_uids_account_whatever_a_variable_or_the_effective_uid_say(
    monkeypatch,
):
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setenv("RETURNS_TUI_USER", "radmin")
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # what fakeroot and `unshare -r` say
    monkeypatch.setattr(os, "getuid", lambda: nobody.pw_uid)
    assert identity.login_name() == "nobody"


def test_a_uid_without_an_account_is_one_sentence(monkeypatch):
    monkeypatch.setattr(os, "getuid", lambda: 2**31 - 7)
    with pytest.raises(ReturnsError, match=r"The uid 2147483641 has no account name"):
        identity.login_name()


def test_returns_tui_user_names_nobody(db_url, capsys, monkeypatch):
    assert run(capsys, "--db", db_url, "init", "--admin", "boss")[0] == 0
    monkeypatch.setenv("RETURNS_TUI_USER", "boss")
    status, out, err = run(capsys, "--db", db_url, "users", "list")
    assert (status, out) == (1, "") and one_line(err, f"{ME} is not a returns-tui user")


# ---------------------------------------------------------------------------------------------
# The first admin, and the README's set-up


def test_the_readme_set_up_leaves_its_reader_an_admin(db_url, capsys):
    assert run(capsys, "--db", db_url, "init")[0] == 0
    status, out, err = run(capsys, "--db", db_url, "users", "add", "--me", "--role", "admin")
    assert (status, err) == (0, "") and out == f"Added {ME} as an admin, the first user.\n"
    for args in (["alice", "--role", "operator", "--shop", "acme"], ["sam", "--role", "agent"]):
        assert run(capsys, "--db", db_url, "users", "add", *args)[0] == 0
    status, out, _ = run(capsys, "--db", db_url, "users", "list")
    assert status == 0 and [ME, "admin"] in [line.split() for line in out.splitlines()]
    assert names(db_url) == sorted([(ME, "admin"), ("alice", "operator"), ("sam", "agent")])


def test_a_first_admin_other_than_yourself_is_said_to_lock_you_out(db_url, capsys):
    assert run(capsys, "--db", db_url, "init")[0] == 0
    status, out, _ = run(capsys, "--db", db_url, "users", "add", "ops-admin", "--role", "admin")
    assert status == 0
    assert out == (
        f"Added ops-admin as an admin, the first user. Your own login, {ME}, is not a user, so "
        "the commands you run as it will be refused; ops-admin adds the other users.\n"
    )
    status, _, err = run(capsys, "--db", db_url, "users", "add", "alice", "--role", "agent")
    assert status == 1 and one_line(err, f"{ME} is not a returns-tui user; ask an admin")


def test_on_an_empty_database_not_a_user_says_how_the_first_admin_is_made(db_url, capsys):
    assert run(capsys, "--db", db_url, "init")[0] == 0
    for args in (["users", "list"], ["export"], ["sweep"], ["check"]):
        status, out, err = run(capsys, "--db", db_url, *args)
        assert (status, out) == (1, "")
        assert err == (
            f"returns-tui: {ME} is not a returns-tui user, and the database has no users yet: "
            "`returns-tui users add --me --role admin` (or `returns-tui init --admin NAME`) "
            "makes you its first admin.\n"
        )
        # Through the session, the person cannot do it: they are told who can.
        status, out, err = run(capsys, "--db", db_url, *args, login="alice")
        assert (status, out) == (1, "")
        assert one_line(err, "alice is not a returns-tui user, and the database has no users "
                        "yet: the account that owns the data makes the first admin")  # fmt: skip


def test_init_admin_makes_the_first_admin_once(db_url, capsys):
    status, out, _ = run(capsys, "--db", db_url, "init", "--admin", ME)
    assert status == 0 and out.endswith(f"Made {ME} the first admin.\n")
    status, out, _ = run(capsys, "--db", db_url, "init", "--admin", ME)  # safe twice
    assert status == 0 and out.endswith(f"{ME} is already an admin.\n")
    status, _, err = run(capsys, "--db", db_url, "init", "--admin", "eve")
    assert status == 1 and one_line(err, "already has users; an admin adds eve with")
    assert names(db_url) == [(ME, "admin")]


def test_a_person_the_session_names_never_makes_the_first_admin(db_url, capsys):
    assert run(capsys, "--db", db_url, "init")[0] == 0
    for args in (
        ["users", "add", "alice", "--role", "admin"],
        ["users", "add", "--me", "--role", "admin"],
        ["users", "add", "carl", "--role", "operator", "--shop", "acme"],
        ["init", "--admin", "alice"],
    ):
        status, _, err = run(capsys, "--db", db_url, *args, login="alice")
        assert status == 1 and one_line(err, "Only the account that owns the data may make the "
                                        "first admin"), args  # fmt: skip
    assert names(db_url) == []


def test_users_add_takes_a_name_or_me(db_url, capsys):
    assert run(capsys, "--db", db_url, "init", "--admin", ME)[0] == 0
    for args in (["--role", "agent"], ["--me", "sam", "--role", "agent"]):
        status, _, err = run(capsys, "--db", db_url, "users", "add", *args)
        assert status == 2 and one_line(err, "users add takes a NAME or --me")
    # --me is the session's person when the session runs it: an admin adding themselves.
    status, _, err = run(capsys, "--db", db_url, "users", "add", "--me", "--role", "agent",
                         login=ME)  # fmt: skip
    assert status == 1 and one_line(err, f"{ME} is already a user")


# ---------------------------------------------------------------------------------------------
# returns-tui-session: who


def test_sudo_names_the_person_and_every_argument_is_the_command():
    env = {"SUDO_USER": "alice", "SSH_ORIGINAL_COMMAND": "users list"}
    assert session.caller(["radmin", "export"], env) == ("alice", ["radmin", "export"])
    assert session.caller([], env) == ("alice", [])


def test_a_forced_command_names_the_person_and_ssh_original_command_is_the_command():
    env = {"SSH_CONNECTION": "1 2 3 4", "SSH_ORIGINAL_COMMAND": "export --format 'csv'"}
    assert session.caller(["alice"], env) == ("alice", ["export", "--format", "csv"])
    assert session.caller(["alice"], {"SSH_CONNECTION": "1 2 3 4"}) == ("alice", [])


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        ([], {}, "neither named anyone"),
        (["alice"], {}, "neither named anyone"),  # a name, but sshd did not run us
        (["alice", "bob"], {"SSH_CONNECTION": "x"}, "neither named anyone"),
        ([""], {"SSH_CONNECTION": "x"}, "neither named anyone"),
        (["alice"], {"SSH_CONNECTION": "x", "SUDO_USER": "radmin"}, "both by sudo and by SSH"),
        (["alice"], {"SSH_CONNECTION": "x", "SSH_ORIGINAL_COMMAND": "export 'x"}, "split"),
    ],
)
def test_without_one_trusted_channel_the_session_refuses(argv, env, fragment):
    with pytest.raises(session.SessionError, match=fragment):
        session.caller(argv, env)


# ---------------------------------------------------------------------------------------------
# returns-tui-session: what, and on which data


def test_the_session_uses_the_service_accounts_settings_never_the_callers(tmp_path):
    environ = {
        "RETURNS_TUI_DB": "sqlite:////tmp/theirs.db", "RETURNS_TUI_CONFIG": "/tmp/theirs.toml",
        "XDG_DATA_HOME": "/tmp/theirs", "XDG_CONFIG_HOME": "/tmp/theirs", "HOME": "/tmp/theirs",
    }  # fmt: skip
    session.use_own_settings(environ, tmp_path / "missing")
    assert environ == {"HOME": pwd.getpwuid(os.getuid()).pw_dir}
    env_file = tmp_path / "env"
    env_file.write_text(
        "# the service account's\nRETURNS_TUI_DB='sqlite:////srv/ours.db'\n"
        'RETURNS_TUI_CONFIG="/srv/ours.toml"\nPATH=/tmp/theirs\n'
    )
    env_file.chmod(0o600)
    session.use_own_settings(environ, env_file)
    assert environ == {
        "HOME": pwd.getpwuid(os.getuid()).pw_dir,
        "RETURNS_TUI_DB": "sqlite:////srv/ours.db",
        "RETURNS_TUI_CONFIG": "/srv/ours.toml",
    }


def test_the_env_file_must_be_the_service_accounts_alone(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("RETURNS_TUI_DB=sqlite:////srv/ours.db\n")
    env_file.chmod(0o640)
    with pytest.raises(session.SessionError, match=r"readable by it alone \(mode 600\); it is "
                       "mode 640"):  # fmt: skip
        session.use_own_settings({}, env_file)
    if os.getuid() == 0:  # only root can give a file away
        env_file.chmod(0o600)
        os.chown(env_file, pwd.getpwnam("nobody").pw_uid, -1)
        with pytest.raises(session.SessionError, match="must belong to"):
            session.use_own_settings({}, env_file)


@pytest.fixture
def shared(db_url, tmp_path, monkeypatch):
    """A database with radmin (admin), alice (acme) and bob (globex) and a request in each
    shop, named by the service account's env file; the session's command line comes over SSH."""
    engine = open_engine(db_url)
    upgrade(engine)
    svc = Returns(engine)
    now = utc_now()
    svc.add_user("radmin", "radmin", "admin", (), now)
    svc.add_user("radmin", "alice", "operator", ("acme",), now)
    svc.add_user("radmin", "bob", "operator", ("globex",), now)
    svc.submit(BUYER, submission("RA1", "OA1", "acme"), now.subtract(minutes=5))
    svc.submit(BUYER, submission("RG1", "OG1", "globex"), now.subtract(minutes=5))
    engine.dispose()
    env_file = tmp_path / "env"
    env_file.write_text(f"RETURNS_TUI_DB={db_url}\n")
    env_file.chmod(0o600)
    monkeypatch.setenv("SSH_CONNECTION", "127.0.0.1 5 127.0.0.1 22")

    def over_ssh(who: str, command: str, capsys) -> tuple[int, str, str]:
        monkeypatch.setenv("SSH_ORIGINAL_COMMAND", command)
        status = session.main([who], env_file=env_file)
        out, err = capsys.readouterr()
        return status, out, err

    return over_ssh


def test_the_session_runs_the_command_as_its_person(shared, capsys, monkeypatch, tmp_path):
    # A variable the caller set (had sshd accepted it) points nowhere.
    monkeypatch.setenv("RETURNS_TUI_DB", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("RETURNS_TUI_USER", "radmin")
    for who, ids in (("alice", ["RA1"]), ("bob", ["RG1"]), ("radmin", ["RA1", "RG1"])):
        status, out, err = shared(who, "export", capsys)
        assert (status, err) == (0, "")
        assert [json.loads(line)["id"] for line in out.splitlines()] == ids
    assert not (tmp_path / "elsewhere.db").exists()


@pytest.mark.parametrize(
    ("command", "status", "fragment"),
    [
        ("export --db sqlite:////tmp/x.db", 2, "--db is not allowed"),
        ("--db= export", 2, "--db is not allowed"),
        ("apply /etc/shadow", 2, "apply reads standard input here"),
        ("init", 2, "`init` is not run through returns-tui-session"),
        ("demo --as agent", 2, "`demo` is not run through returns-tui-session"),
        ("export; sh", 2, "invalid choice"),
        ("", 1, "The console needs a terminal"),  # pytest's stdin is not one
        ("users add eve --role admin", 1, "Only an admin may change users; alice is an operator"),
    ],
)
def test_the_session_runs_only_what_it_allows(shared, capsys, command, status, fragment):
    got, out, err = shared("alice", command, capsys)
    assert (got, out) == (status, "") and one_line(err, fragment)


def test_the_session_prints_its_own_help(shared, capsys):
    status, out, _ = shared("alice", "help", capsys)
    assert status == 0 and "returns-tui-session" in out and "--db" in out


def test_through_the_session_nobody_makes_the_first_admin(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    env_file = tmp_path / "env"
    env_file.write_text(f"RETURNS_TUI_DB={url}\n")
    env_file.chmod(0o600)
    monkeypatch.setenv("SUDO_USER", "alice")
    for argv in (["users", "add", "--me", "--role", "admin"], ["users", "add", "alice", "--role",
                                                               "admin"]):  # fmt: skip
        assert session.main(argv, env_file=env_file) == 1
        assert one_line(capsys.readouterr().err, "Only the account that owns the data")
    assert names(url) == []
