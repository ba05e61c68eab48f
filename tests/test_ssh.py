"""End to end over real SSH (issue 4, DESIGN §3 and §5): an operator's account whose group is
forced into the console by sshd's ForceCommand (the shipped deploy/returns-tui-session), on a
PostgreSQL database shared with root's CLI.

`ssh -tt` runs inside tmux at 120×36; the test reads the screen, accepts a request, opens a
reject dialog and drops the connection in the middle of it, then checks that the console is gone
within seconds and that the database holds the accept and nothing half-made. Remote commands and
port forwarding are refused. And, with tmux alone, the console leaves when its terminal goes
even if no SIGHUP reaches it (returns_tui.app.leave_when_the_terminal_goes).

The SSH tests need root, sshd, ssh, tmux and RETURNS_TUI_TEST_PG; every skip reason names
ssh/sshd or RETURNS_TUI_TEST_PG, so that CI (which must run them) fails instead of skipping. The
console runs as another account, so the virtualenv running pytest must be usable by others
(.ci/run builds it from /usr/bin/python3; locally: `/usr/bin/python3 -m venv /tmp/e2e-venv &&
/tmp/e2e-venv/bin/pip install -e '.[test]'` and run /tmp/e2e-venv/bin/pytest).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pendulum
import pytest

from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.clock import utc_now
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.chain import KEY_ENV
from returns_tui.store.engine import open_engine
from tests.conftest import submission
from tests.support import ssh_session as ss
from tests.support.sshd import free_port, make_keypair, running_sshd, sshd_unavailable_reason
from tests.support.tmux import Tmux


def _unavailable() -> str | None:
    if reason := sshd_unavailable_reason():
        return reason
    if shutil.which("tmux") is None:
        return "the ssh end-to-end test needs tmux (to give `ssh -tt` a terminal)"
    return None


needs_sshd = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))

GROUP = "rt-e2e-console"  # members are forced into the console
ADMIN = "rt-e2e-admin"  # a users-table admin only (root acts as it with RETURNS_TUI_USER)
ACME = ["R5101", "R5102", "R5103", "R5104"]  # the operator's shop
GLOBEX = ["R7201", "R7202", "R7203"]  # another shop: never on the operator's screen
# After ssh is killed, the console must be gone within this many seconds.
EXIT_WITHIN = 5.0


def _cli(script, db_url: str, *args: str, user: str = ADMIN) -> str:
    """Run `returns-tui --db URL ARGS` as root, acting as `user`; its stdout."""
    env = {**os.environ, "RETURNS_TUI_USER": user, "RETURNS_TUI_CONFIG": os.devnull}
    done = subprocess.run(
        [str(script), "--db", db_url, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, f"returns-tui {' '.join(args)}: {done.stderr}"
    return done.stdout


def _submit(svc: Returns, rid: str, shop: str, kind: str, at) -> None:
    svc.submit(BUYER, submission(rid, "O" + rid[1:], shop, type=kind), at)


@pytest.fixture
def console_script():
    script = ss.console_script()
    if reason := ss.console_unrunnable_reason(script):
        pytest.skip(reason)
    return script


@pytest.fixture
def operator():
    """A fresh account name `rt-op-<random>`; the account (made by running_sshd) is deleted
    afterwards, and the group too if this test made it."""
    login = f"rt-op-{uuid.uuid4().hex[:8]}"
    made_group = ss.ensure_group(GROUP)
    yield login
    ss.remove_account(login)
    if made_group:
        subprocess.run(["groupdel", GROUP], capture_output=True)


@pytest.fixture
def shared_db(pg_url, console_script, operator):
    """The PostgreSQL database as an admin would set it up: schema and users through the CLI,
    then buyers' requests in two shops."""
    assert "Created the returns-tui schema" in _cli(console_script, pg_url, "init")
    _cli(console_script, pg_url, "users", "add", ADMIN, "--role", "admin")
    _cli(console_script, pg_url, "users", "add", operator, "--role", "operator", "--shop", "acme")
    engine = open_engine(pg_url)
    svc = Returns(engine)
    start = utc_now().subtract(minutes=30)
    for i, rid in enumerate(ACME):
        _submit(
            svc, rid, "acme", "refund" if i % 2 == 0 else "return_and_refund", start.add(minutes=i)
        )
    for i, rid in enumerate(GLOBEX):
        _submit(svc, rid, "globex", "refund", start.add(minutes=i, seconds=30))
    yield pg_url, svc
    engine.dispose()


@pytest.fixture
def sshd(tmp_path, console_script, operator, shared_db):
    """sshd on a loopback port; the operator's group is forced into the shipped wrapper."""
    url, _svc = shared_db
    private, public = make_keypair(tmp_path / "keys")
    with ss.session_wrapper(console_script, url, GROUP) as wrapper:
        with running_sshd(
            tmp_path / "sshd",
            login=operator,
            group=GROUP,
            force_command=str(wrapper),
            authorized_pubkey=public,
        ) as info:
            _give_chain_key(operator)
            yield info, private
    # Whatever a failing test left connected went with sshd; nothing of the account remains.
    assert ss.wait_no_processes(operator, 5)[1] == []


def _give_chain_key(login: str) -> None:
    """The run's chain key (store/chain.py) where the account's console looks for it, its
    own and private: in this deployment each person runs the console as their own account."""
    account = pwd.getpwnam(login)
    where = Path(account.pw_dir) / ".config" / "returns-tui"
    where.mkdir(parents=True, exist_ok=True)
    key_file = where / "chain.key"
    key_file.write_bytes(Path(os.environ[KEY_ENV]).read_bytes())
    key_file.chmod(0o600)
    for path in (where.parent, where, key_file):
        os.chown(path, account.pw_uid, account.pw_gid)


def _records_total(svc: Returns, admin) -> dict[str, int]:
    return {rid: len(svc.records(admin, rid)) for rid in ACME + GLOBEX}


@needs_sshd
def test_an_operator_over_ssh_sees_their_shop_accepts_and_a_dropped_connection_leaves_no_trace(
    sshd, shared_db, operator
):
    info, key = sshd
    _url, svc = shared_db
    admin = svc.login(ADMIN)

    tmux = Tmux(["env", "TERM=xterm-256color", *info.ssh_command(key)])
    try:
        # The console paints: the login, its shop, and acme's requests only.
        tmux.wait(r"row 1 of 4", timeout=30)
        screen = tmux.wait(r"All 4 .*To Proceed 4 .*Appeals 0").string
        assert re.search(rf"{re.escape(operator)} \(operator\) │ shop acme", screen), screen
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
        req = svc.get(admin, accepted)
        assert req.status in (d.Status.COMPLETED, d.Status.AWAITING_BUYER_SHIP)
        by = [r.actor for r in svc.records(admin, accepted) if r.kind is d.Kind.ACCEPTED]
        assert by == [operator]

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
        before = _records_total(svc, admin)
        console = ss.processes_of(operator)
        assert any("returns-tui" in p for p in console), console

        # ...and the connection drops: the ssh client dies without a word.
        os.kill(tmux.pane_pid(), signal.SIGKILL)
        took, left = ss.wait_no_processes(operator, EXIT_WITHIN)
        assert left == [], f"still running {took:.1f} s after the drop: {left}\n{info.log_text()}"
    finally:
        tmux.kill()

    # Nothing half-written: the request being rejected is untouched, every request's version
    # matches its records, and no invariant is broken.
    assert svc.get(admin, rejecting).status is d.Status.PENDING
    assert _records_total(svc, admin) == before
    for rid, n in before.items():
        assert svc.get(admin, rid).version == n, rid
    assert check(svc.engine, pendulum.now("UTC")) == []


@needs_sshd
def test_remote_commands_are_refused_and_no_shell_runs(sshd, operator):
    info, key = sshd
    marker = f"/home/{operator}/ran-a-shell"
    for tty in (False, True):
        done = subprocess.run(
            [*info.ssh_command(key, tty=tty), f"touch {marker}; echo SHELL-RAN"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        assert "remote commands are not allowed" in out, out
        assert "SHELL-RAN" not in out and not os.path.exists(marker), out
    # Without a terminal, even the console itself is refused (it needs one).
    done = subprocess.run(
        info.ssh_command(key, tty=False), capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0 and "needs a terminal" in done.stderr, done.stderr


@needs_sshd
def test_port_forwarding_is_refused(sshd):
    info, key = sshd
    base = info.ssh_command(key, tty=False)
    login = base[-1]
    # ssh's own account of a refused channel is an INFO line.
    options = [o.replace("LogLevel=ERROR", "LogLevel=INFO") for o in base[1:-1]]

    # Local forwarding (-L, and -D alike): the listener opens on our side, but sshd refuses
    # every channel, so a connection through it is closed without a byte from the target
    # (sshd's own port, which would otherwise greet with "SSH-2.0").
    port = free_port()
    forward = subprocess.Popen(
        ["ssh", *options, "-N", "-L", f"{port}:127.0.0.1:{info.port}", login],
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
        forward.terminate()
        _out, err = forward.communicate(timeout=10)
    assert "administratively prohibited" in err, err
    assert "refused local port forward" in info.log_text(), info.log_text()

    # Remote forwarding (-R): sshd refuses to listen at all.
    done = subprocess.run(
        ["ssh", *options, "-N", "-o", "ExitOnForwardFailure=yes",
         "-R", f"{free_port()}:127.0.0.1:{info.port}", login],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "remote port forwarding failed" in done.stderr, done.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_console_leaves_when_its_terminal_goes_even_without_sighup(tmp_path):
    """The kernel sends SIGHUP to a terminal's session leader only. Under a leader that outlives
    the terminal and passes nothing on (here a shell that traps HUP and waits), the console must
    notice for itself that the terminal is gone and exit, not spin on a dead terminal forever."""
    script = ss.console_script()
    me = "rt-hangup-admin"
    url = f"sqlite:///{tmp_path / 'returns.db'}"
    if os.geteuid() != 0:  # only root may act as another login
        me = pwd.getpwuid(os.geteuid()).pw_name
    _cli(script, url, "init", user=me)
    _cli(script, url, "users", "add", me, "--role", "admin", user=me)
    done = tmp_path / "leader-done"
    leader = (
        f"trap : HUP; env RETURNS_TUI_USER={me} RETURNS_TUI_CONFIG={os.devnull} "
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
