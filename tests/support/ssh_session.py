"""Helpers for the end-to-end SSH test (tests/test_ssh.py): the console command another account
can run, the shipped ForceCommand wrapper pointed at it, and the processes an account has left
(the tmux window to type into is tests/support/tmux.py).

Only the standard library is imported, like tests/support/sshd.py.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SESSION_WRAPPER = REPO / "deploy" / "returns-tui-session"
# What deploy/returns-tui-session hard-codes for an installed host; the test points them at
# its own files.
WRAPPER_ENV_FILE = "/etc/returns-tui/env"
WRAPPER_CONSOLE = "exec /usr/local/bin/returns-tui\n"


def console_script() -> Path:
    """The `returns-tui` script of the virtualenv running these tests."""
    return Path(sys.executable).parent / "returns-tui"


def console_unrunnable_reason(script: Path) -> str | None:
    """Why another account could not run `script`, or None when it can (checked by running
    `returns-tui --help` as `nobody`: the interpreter, the venv and the sources must all be
    reachable). The reason names sshd, so that CI, which must run the SSH test, fails on it."""
    if not script.is_file():
        return f"sshd end-to-end test: no console script at {script} (pip install -e .)"
    interpreter = os.path.realpath(sys.executable)
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", str(script), "--help"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )
    if done.returncode != 0:
        return (
            f"sshd end-to-end test: another account cannot run {script} (its interpreter is "
            f"{interpreter}; a venv or pyenv under /root?). Make a venv from /usr/bin/python3, "
            f"as .ci/run does: {(done.stderr or done.stdout).strip()[:200]}"
        )
    return None


@contextlib.contextmanager
def session_wrapper(console: Path, db_url: str, group: str) -> Iterator[Path]:
    """deploy/returns-tui-session as shipped, with its two host paths pointed at the console
    script and at an env file holding RETURNS_TUI_DB (mode 640, root:`group`, as the deploy
    README says). Both live in a fresh directory other accounts can traverse (pytest's tmp
    dirs are 0700); it is removed afterwards."""
    text = SESSION_WRAPPER.read_text()
    for needle in (WRAPPER_ENV_FILE, WRAPPER_CONSOLE):
        if needle not in text:
            raise AssertionError(
                f"{SESSION_WRAPPER} no longer contains {needle!r}; update the test"
            )
    where = Path(tempfile.mkdtemp(prefix="rt-ssh-"))
    try:
        where.chmod(0o755)
        env_file = where / "env"
        env_file.write_text(f"RETURNS_TUI_DB={db_url}\n")
        os.chown(env_file, 0, grp.getgrnam(group).gr_gid)
        env_file.chmod(0o640)
        wrapper = where / "returns-tui-session"
        text = text.replace(WRAPPER_ENV_FILE, str(env_file))
        text = text.replace(WRAPPER_CONSOLE, f"exec {console}\n")
        wrapper.write_text(text)
        wrapper.chmod(0o755)
        yield wrapper
    finally:
        shutil.rmtree(where, ignore_errors=True)


def ensure_group(group: str) -> bool:
    """Create the group when missing; True if this call created it."""
    try:
        grp.getgrnam(group)
        return False
    except KeyError:
        subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)
        return True


def processes_of(login: str) -> list[str]:
    """`pid command` of every live process of the account (zombies aside)."""
    try:
        uid = pwd.getpwnam(login).pw_uid
    except KeyError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if st.st_uid == uid and state != "Z":
            found.append(f"{entry} {cmd}")
    return found


def wait_no_processes(login: str, timeout: float) -> tuple[float, list[str]]:
    """Wait until the account has no process left: (seconds waited, what is left)."""
    start = time.monotonic()
    left = processes_of(login)
    while left and time.monotonic() - start < timeout:
        time.sleep(0.05)
        left = processes_of(login)
    return time.monotonic() - start, left


def remove_account(login: str) -> None:
    """Kill what the account left running, then delete it and its home."""
    for line in processes_of(login):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    try:
        pwd.getpwnam(login)
    except KeyError:
        return
    for _ in range(20):
        done = subprocess.run(["userdel", "-r", login], capture_output=True, text=True)
        if done.returncode in (0, 12):  # 12: the home could not be removed (already gone)
            return
        time.sleep(0.1)  # "user is currently used by process": a killed process not reaped yet


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_gone(pid: int, timeout: float) -> float | None:
    """Seconds until process `pid` is gone (or a zombie), None if it is still running."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return time.monotonic() - start
        except OSError:
            return time.monotonic() - start
        time.sleep(0.05)
    return None
