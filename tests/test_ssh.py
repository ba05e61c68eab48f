"""End to end on a shared host (DESIGN §3 "Who may touch the data", deploy/README.md), for real:
one service account owns a SQLite database in its home; people reach it through
returns-tui-session only, named by a channel they cannot forge.

- SSH, as gitolite does: a private sshd with the shipped Match block, and the service account's
  authorized_keys holding one forced command per person's key. Alice's key reaches the console
  as alice (accept a request, drop the connection in the middle of a reject: nothing
  half-made); `ssh ... export` gives alice's shops only, bob's key bob's; --db, shell syntax,
  other commands, files and variables sent by the client are refused or ignored; forwarding is
  refused.
- sudo, for local users: the shipped sudoers rule. `sudo -u SERVICE returns-tui-session export`
  typed by alice is alice's; variables, `-E`, a name in the arguments change nothing.
- A person with a shell gets none of the data: returns-tui pointed at the file, under fakeroot
  or `unshare -r`, with RETURNS_TUI_USER, and Python's sqlite3 all fail to open it.

These tests need root, sshd, ssh, sudo and tmux; every skip reason names ssh/sshd, so that CI
(which must run them) fails instead of skipping. The console runs as other accounts, so the
virtualenv running pytest must be usable by others (.ci/run builds it from /usr/bin/python3;
locally: `/usr/bin/python3 -m venv /tmp/e2e-venv && /tmp/e2e-venv/bin/pip install -e '.[test]'`
and run /tmp/e2e-venv/bin/pytest).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from returns_tui.clock import utc_now
from returns_tui.identity import login_name
from returns_tui.timefmt import iso_utc
from tests.support import ssh_session as ss
from tests.support.shared_host import SharedHost, shared_host, unavailable_reason
from tests.support.sshd import SshdInfo, free_port, running_sshd, shipped_match_block
from tests.support.tmux import Tmux

# One worker runs them all, in turn (pyproject's --dist loadgroup): two shared hosts made at
# once would race for /etc/passwd's lock in useradd, and this module's host is made once.
pytestmark = pytest.mark.xdist_group("unix-accounts")

ACME = ["R5101", "R5102", "R5103", "R5104"]  # alice's shop
GLOBEX = ["R7201", "R7202", "R7203"]  # bob's: never on alice's screen or in her export
# After ssh is killed, the console must be gone within this many seconds.
EXIT_WITHIN = 5.0
T = TypeVar("T")
CANNOT_OPEN = (
    "returns-tui: The database file cannot be opened; check the path and its permissions.\n"
)


def _submissions() -> str:
    """The buyers' requests, as the marketplace's sync job would send them to `apply -`."""
    start = utc_now().subtract(minutes=30)
    lines = []
    for i, rid in enumerate(ACME + GLOBEX):
        shop = "acme" if rid in ACME else "globex"
        kind = "return_and_refund" if rid in ACME and i % 2 else "refund"
        lines.append(json.dumps({
            "at": iso_utc(start.add(minutes=i)), "actor": "buyer", "action": "submit",
            "request_id": rid, "order_id": "O" + rid[1:], "shop": shop, "type": kind,
            "buyer": "Ana Lima", "product": "Mug", "sku": "MUG-1", "quantity": 1,
            "amount": "12.99", "currency": "USD", "reason": "damaged", "note": "cracked",
        }))  # fmt: skip
    return "\n".join(lines) + "\n"


def _in_parallel(calls: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run the calls (each a process of its own, mostly waiting) four at a time."""
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(calls, pool.map(lambda call: call(), calls.values()), strict=True))


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def _exported_ids(text: str) -> list[str]:
    return [json.loads(line)["id"] for line in text.splitlines()]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """The shared host with its data, set up as the deploy README says: the service account
    makes the schema and the first admin (radmin); radmin adds alice (acme) and bob (globex)
    and applies the buyers' requests, through sudo."""
    if reason := unavailable_reason():
        pytest.skip(reason)
    with shared_host(tmp_path_factory.mktemp("keys"), ["alice", "bob", "radmin"]) as h:
        made = _ok(h.as_service(ss.console_script(), "init", "--admin", h.login("radmin")))
        assert f"Made {h.login('radmin')} the first admin." in made
        for who, shop in (("alice", "acme"), ("bob", "globex")):
            _ok(h.sudo("radmin", "users", "add", h.login(who), "--role", "operator",
                       "--shop", shop))  # fmt: skip
        applied = _ok(h.sudo("radmin", "apply", "-", stdin=_submissions()))
        assert applied.count('"ok": true') == len(ACME + GLOBEX), applied
        yield h


@pytest.fixture(scope="module")
def sshd(host: SharedHost, tmp_path_factory):
    """sshd on a loopback port, logging people in to the service account by key only."""
    lines = [host.forced_key_line(who) for who in host.people]
    with running_sshd(
        tmp_path_factory.mktemp("sshd"),
        login=host.service,
        authorized_keys=lines,
        match_block=shipped_match_block(host.service),
    ) as info:
        yield info
    assert ss.wait_no_processes(host.service, 5)[1] == []


def _ssh(info: SshdInfo, host: SharedHost, who: str, *command: str, options=(), tty=False):
    return subprocess.run(
        # `--`: ssh would read a command starting with "-" as its own option.
        [*info.ssh_command(host.people[who].key, tty=tty, options=options), "--", *command],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip


def _export(host: SharedHost) -> dict[str, dict]:
    """Every request with its records, as the admin's export shows them."""
    return {r["id"]: r for r in map(json.loads, _ok(host.sudo("radmin", "export")).splitlines())}


def _refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Refused in one line of ours, and nothing on stdout."""
    assert done.returncode != 0, (done.args, done.stdout)
    assert done.stdout == "", (done.args, done.stdout)
    assert done.stderr.startswith("returns-tui: ") and done.stderr.count("\n") == 1, (
        done.args, done.stderr,
    )  # fmt: skip
    for fragment in fragments:
        assert fragment in done.stderr, (done.args, done.stderr)


# ---------------------------------------------------------------------------------------------
# SSH: one forced command per key


def test_alices_key_opens_the_console_as_alice_and_a_dropped_connection_leaves_no_trace(
    host, sshd
):
    alice = host.login("alice")
    tmux = Tmux(["env", "TERM=xterm-256color", *sshd.ssh_command(host.people["alice"].key)])
    try:
        # The console paints: alice, her shop, and acme's requests only.
        tmux.wait(r"row 1 of 4", timeout=30)
        screen = tmux.wait(r"All 4 .*To Proceed 4 .*Appeals 0").string
        assert re.search(rf"{re.escape(alice)} \(operator\) │ shop acme", screen), screen
        for rid in ACME:
            assert rid in screen, screen
        for rid in GLOBEX:
            assert rid not in screen, screen

        # To Proceed, most urgent first: accept the highlighted request.
        tmux.keys("2")
        tmux.wait(r"To Proceed · row 1 of 4 · sort: most urgent first")
        tmux.keys("a")
        accepted = tmux.wait(r"Accept request (R\d+)\?").group(1)
        assert accepted in ACME
        tmux.keys("Enter")
        tmux.wait(rf"{accepted} accepted\.")

        # Another change, half made: a reject dialog with a reason and half a note...
        tmux.wait(r"To Proceed · row 1 of 3")
        tmux.keys("r")
        rejecting = tmux.wait(r"Reject request (R\d+)").group(1)
        tmux.wait(r"Choose a reason…")
        tmux.keys("Enter")  # the list of reasons opens
        tmux.wait(r"No proof provided")
        tmux.keys("Down")
        tmux.keys("Enter")  # a reason is chosen; the note field takes the focus
        tmux.wait_gone(r"Choose a reason…")
        tmux.keys("-l", "The photo shows")
        tmux.wait(r"The photo shows")
        before = _export(host)
        console = ss.processes_of(host.service)
        assert any("returns-tui" in p for p in console), console

        # ...and the connection drops: the ssh client dies without a word.
        os.kill(tmux.pane_pid(), signal.SIGKILL)
        took, left = ss.wait_no_processes(host.service, EXIT_WITHIN)
        assert left == [], f"still running {took:.1f} s after the drop: {left}\n{sshd.log_text()}"
    finally:
        tmux.kill()

    # The accept is alice's, made as alice; the request being rejected is untouched, and no
    # invariant is broken.
    after = _export(host)
    assert after == before
    assert after[accepted]["status"] in ("completed", "awaiting_buyer_ship")
    assert [r["actor"] for r in after[accepted]["records"] if r["kind"] == "accepted"] == [alice]
    assert after[rejecting]["status"] == "pending"
    checked = _ok(host.sudo("radmin", "check"))
    assert "no violations" in checked, checked


def test_each_key_runs_commands_as_its_own_person_whatever_the_client_sends(host, sshd):
    sends = [
        "-o", "SetEnv=SUDO_USER=" + host.login("radmin"),
        "-o", "SetEnv=RETURNS_TUI_USER=" + host.login("radmin"),
        "-o", "SetEnv=RETURNS_TUI_DB=sqlite:////tmp/elsewhere.db",
        "-o", "SendEnv=LANG",
    ]  # fmt: skip
    runs = {
        "alice": _ssh(sshd, host, "alice", "export"),
        "bob": _ssh(sshd, host, "bob", "export"),
        "alice with variables": _ssh(sshd, host, "alice", "export", options=sends),
        "alice as csv": _ssh(sshd, host, "alice", "export --format csv --tab all"),
    }
    assert sorted(_exported_ids(_ok(runs["alice"]))) == ACME
    assert sorted(_exported_ids(_ok(runs["bob"]))) == GLOBEX
    assert sorted(_exported_ids(_ok(runs["alice with variables"]))) == ACME
    csv_rows = _ok(runs["alice as csv"]).splitlines()
    assert csv_rows[0].startswith("id,") and sorted(r.split(",")[0] for r in csv_rows[1:]) == ACME


def test_over_ssh_only_the_allowed_commands_run_and_never_a_shell(host, sshd, tmp_path):
    marker = f"/tmp/rt-ssh-marker-{uuid.uuid4().hex[:8]}"
    elsewhere = f"sqlite:///{marker}.db"
    attempts = {
        f"export --db {elsewhere}": "--db is not allowed",
        f"export --db={elsewhere}": "--db is not allowed",
        f"--db {elsewhere} export": "--db is not allowed",
        f"export --d {elsewhere}": "--db is not allowed",  # argparse's abbreviation
        f"export; touch {marker}": "",
        f"touch {marker}": "invalid choice",
        f"sh -c 'touch {marker}'": "invalid choice",
        f"export $(touch {marker})": "unrecognized arguments",
        f"export `touch {marker}`": "unrecognized arguments",
        f"export --format csv > {marker}": "unrecognized arguments",
        f"export | touch {marker}": "unrecognized arguments",
        f"export\ntouch {marker}": "unrecognized arguments",
        "apply /etc/shadow": "apply reads standard input here",
        f"init --admin {host.login('alice')}": "`init` is not run through returns-tui-session",
        "demo": "`demo` is not run through returns-tui-session",
        "export 'unbalanced": "cannot be split into words",
        "": "needs a terminal",  # the console, without -t
    }
    done = _in_parallel({c: functools.partial(_ssh, sshd, host, "alice", c) for c in attempts})
    for command, fragment in attempts.items():
        _refused(done[command], fragment)
    # sftp (and scp, which uses it) arrives as a command too: `internal-sftp`, a usage error
    # (status 2; sshd passes no stderr back for a subsystem).
    sftp = _ssh(sshd, host, "alice", "sftp", options=["-s"])
    assert (sftp.returncode, sftp.stdout) == (2, ""), sftp
    assert not os.path.exists(marker) and not os.path.exists(marker + ".db")
    # And a person is not made the first admin of anything: there are users, and the session
    # never makes the first admin (tests/test_identity.py tries that on an empty database).
    _refused(_ssh(sshd, host, "alice", "users add eve --role admin"), "Only an admin")


def test_port_forwarding_is_refused(host, sshd):
    base = sshd.ssh_command(host.people["alice"].key, tty=False)
    login = base[-1]
    # ssh's own account of a refused channel is an INFO line.
    options = [o.replace("LogLevel=ERROR", "LogLevel=INFO") for o in base[1:-1]]

    # Local forwarding (-L, and -D alike): the listener opens on our side, but sshd refuses
    # every channel, so a connection through it is closed without a byte from the target
    # (sshd's own port, which would otherwise greet with "SSH-2.0").
    port = free_port()
    forward = subprocess.Popen(
        ["ssh", *options, "-N", "-L", f"{port}:127.0.0.1:{sshd.port}", login],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert forward.poll() is None, forward.stderr.read()
                assert time.monotonic() < deadline, "ssh -L never listened"
                time.sleep(0.05)
        with conn:
            conn.settimeout(10)
            assert conn.recv(64) == b""
    finally:
        err = _stop(forward)
    # Its session on the server ends with it, so that no later test counts it as left behind.
    assert ss.wait_no_processes(host.service, 30)[1] == []
    assert "administratively prohibited" in err, err
    assert "refused local port forward" in sshd.log_text(), sshd.log_text()

    # Remote forwarding (-R): sshd refuses to listen at all.
    done = subprocess.run(
        ["ssh", *options, "-N", "-o", "ExitOnForwardFailure=yes",
         "-R", f"{free_port()}:127.0.0.1:{sshd.port}", login],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "remote port forwarding failed" in done.stderr, done.stderr


def _stop(process: subprocess.Popen) -> str:
    """End a client we started and return what it wrote on stderr.

    ssh may take a while to act on SIGTERM on a loaded machine (CI once waited 10 s for
    nothing); what the test reads is its stderr, so it is killed if it does not go in time.
    """
    process.terminate()
    try:
        return process.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate(timeout=10)[1]


# ---------------------------------------------------------------------------------------------
# sudo, for local users


def test_through_sudo_the_person_is_the_one_who_typed_it(host):
    radmin = host.login("radmin")
    runs = {
        "alice": lambda: host.sudo("alice", "export"),
        "bob": lambda: host.sudo("bob", "export", "--format", "jsonl"),
        # A variable of the caller's named another person: sudo puts its own record back.
        "alice, SUDO_USER set": lambda: host.sudo(
            "alice", "export", env=[f"SUDO_USER={radmin}", "SSH_CONNECTION=1 2 3 4",
                                    "SSH_ORIGINAL_COMMAND=users add eve --role admin"]
        ),  # fmt: skip
    }
    done = _in_parallel(runs)
    assert sorted(_exported_ids(_ok(done["alice"]))) == ACME
    assert sorted(_exported_ids(_ok(done["bob"]))) == GLOBEX
    assert sorted(_exported_ids(_ok(done["alice, SUDO_USER set"]))) == ACME


def test_through_sudo_nothing_but_the_command_can_be_chosen(host):
    radmin, session = host.login("radmin"), str(host.session)
    as_alice = host.as_person
    attempts = {
        # sudo itself refuses: variables, the caller's environment, another program.
        "a variable": (
            lambda: as_alice("alice", "sudo", "-n", "-u", host.service,
                             f"RETURNS_TUI_USER={radmin}", session, "users", "add", "eve1",
                             "--role", "admin"),
            "not allowed to set the following environment variables",
        ),
        "SUDO_USER": (
            lambda: as_alice("alice", "sudo", "-n", "-u", host.service, f"SUDO_USER={radmin}",
                             session, "export"),
            "not allowed to set the following environment variables",
        ),
        "-E": (
            lambda: host.sudo("alice", "export", sudo_options=["-E"],
                              env=[f"RETURNS_TUI_DB=sqlite:///{host.db_path}.x"]),
            "not allowed to preserve the environment",
        ),
        "a shell": (
            lambda: as_alice("alice", "sudo", "-n", "-u", host.service, "/bin/sh", "-c", "id"),
            "sudo: a password is required",
        ),
    }  # fmt: skip
    ours = {
        # The session refuses: a name where the command goes, --db, a file, init.
        "a name": (lambda: host.sudo("alice", radmin, "export"), "invalid choice"),
        "--db": (lambda: host.sudo("alice", "--db", f"sqlite:///{host.db_path}", "export"),
                 "--db is not allowed"),  # fmt: skip
        "a file": (lambda: host.sudo("alice", "apply", "/etc/shadow"), "standard input"),
        "init": (lambda: host.sudo("radmin", "init", "--admin", radmin), "`init` is not run"),
    }
    done = _in_parallel({name: run for name, (run, _) in [*attempts.items(), *ours.items()]})
    for name, (_run, fragment) in attempts.items():
        assert done[name].returncode != 0 and done[name].stdout == "", (name, done[name])
        assert fragment in done[name].stderr, (name, done[name].stderr)
    for name, (_run, fragment) in ours.items():
        _refused(done[name], fragment)
    users = _ok(host.sudo("radmin", "users", "list"))
    assert "eve1" not in users and host.login("alice") in users


def test_through_sudo_the_console_opens_as_the_person(host):
    command = ["runuser", "-u", host.login("bob"), "--", "env", "-i", "TERM=xterm-256color",
               f"HOME=/home/{host.login('bob')}", "PATH=/usr/bin:/bin",
               "sudo", "-u", host.service, str(host.session)]  # fmt: skip
    tmux = Tmux(command)
    try:
        screen = tmux.wait(r"All 3 .*To Proceed 3", timeout=30).string
        assert re.search(rf"{re.escape(host.login('bob'))} \(operator\) │ shop globex", screen)
        assert not any(rid in screen for rid in ACME), screen
        tmux.keys("C-q")
        assert ss.wait_no_processes(host.service, EXIT_WITHIN)[1] == []
    finally:
        tmux.kill()


# ---------------------------------------------------------------------------------------------
# A person with a shell, on their own


@pytest.mark.parametrize("prefix", [[], ["fakeroot"], ["unshare", "-r"]], ids=str)
def test_a_person_with_a_shell_cannot_open_the_data_nor_pass_for_another(host, prefix):
    if prefix and shutil.which(prefix[0]) is None:
        pytest.skip(f"{prefix[0]} is not installed (.ci/run installs it)")
    radmin = host.login("radmin")
    faked = host.as_person("alice", *prefix, "id", "-u")
    assert faked.returncode == 0, faked.stderr
    if prefix:
        assert faked.stdout.strip() == "0", faked  # root, as far as the effective uid says
    direct = [f"RETURNS_TUI_DB={host.db_url}", f"RETURNS_TUI_USER={radmin}"]
    console = str(ss.console_script())
    attempts = [
        (console, "export"),
        (console, "users", "add", "eve1", "--role", "admin"),
        (console, "users", "list"),
    ]
    done = _in_parallel(
        {" ".join(a): functools.partial(host.as_person, "alice", *prefix, *a, env=direct)
         for a in attempts}
    )  # fmt: skip
    for result in done.values():
        assert (result.returncode, result.stdout, result.stderr) == (1, "", CANNOT_OPEN), result
    # Nor by hand: the file and its directory are the service account's alone.
    read = host.as_person("alice", *prefix, "/usr/bin/python3", "-c",
                          "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("
                          "'SELECT * FROM users').fetchall()", str(host.db_path))  # fmt: skip
    assert read.returncode != 0 and "unable to open database file" in read.stderr, read
    cat = host.as_person("alice", *prefix, "cat", str(host.db_path))
    assert cat.returncode != 0 and cat.stdout == "" and "Permission denied" in cat.stderr, cat
    # On data she can open, her own, faking root or setting a variable does not make her the
    # admin: the login is her real uid's account (or root, inside her own user namespace).
    own = f"sqlite:///{host.people['alice'].home}/own-{'-'.join(prefix) or 'plain'}.db"
    _ok(host.as_person("alice", console, "--db", own, "init", "--admin", radmin))
    me = "root" if prefix else host.login("alice")
    as_radmin = host.as_person("alice", *prefix, console, "--db", own, "users", "add", "eve1",
                               "--role", "admin", env=[f"RETURNS_TUI_USER={radmin}"])  # fmt: skip
    assert (as_radmin.returncode, as_radmin.stdout) == (1, ""), as_radmin
    assert as_radmin.stderr == (
        f"returns-tui: {me} is not a returns-tui user; ask an admin to add you.\n"
    ), as_radmin.stderr
    # The session run by alice herself, not through sudo, is alice on her own data (none).
    herself = host.as_person("alice", *prefix, str(host.session), "export",
                             env=[f"SUDO_USER={radmin}"])  # fmt: skip
    assert herself.returncode != 0 and not any(rid in herself.stdout for rid in ACME + GLOBEX)
    assert "eve1" not in _ok(host.sudo("radmin", "users", "list"))


# ---------------------------------------------------------------------------------------------
# The console's own end


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_console_leaves_when_its_terminal_goes_even_without_sighup(tmp_path):
    """The kernel sends SIGHUP to a terminal's session leader only. Under a leader that outlives
    the terminal and passes nothing on (here a shell that traps HUP and waits), the console must
    notice for itself that the terminal is gone and exit, not spin on a dead terminal forever."""
    script = ss.console_script()
    url = f"sqlite:///{tmp_path / 'returns.db'}"
    env = {**os.environ, "RETURNS_TUI_CONFIG": os.devnull}
    made = subprocess.run([str(script), "--db", url, "init", "--admin", login_name()], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert made.returncode == 0, made.stderr
    done = tmp_path / "leader-done"
    leader = (
        f"trap : HUP; env RETURNS_TUI_CONFIG={os.devnull} "
        f"TERM=xterm-256color {script} --db {url}; echo $? > {done}"
    )
    tmux = Tmux(["bash", "-c", leader])
    leader_pid = tmux.pane_pid()
    try:
        tmux.wait(r"All 0", timeout=30)
        tmux.keys("r")  # a dialog open, as a person might have
        console = ss.children_of(leader_pid)
        assert len(console) == 1, console
        tmux.kill()  # the terminal goes away
        took = ss.wait_gone(console[0], EXIT_WITHIN)
        assert took is not None, f"the console {console[0]} still runs {EXIT_WITHIN} s later"
        deadline = time.monotonic() + 5
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.exists(), "the session leader did not get its console back"
    finally:
        tmux.kill()
        for pid in ss.children_of(leader_pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(leader_pid, signal.SIGKILL)
