"""Helpers for the end-to-end SSH and sudo tests (tests/test_ssh.py): the commands another
account can run, and the processes an account has left (the host itself is
tests/support/shared_host.py; the tmux window to type into is tests/support/tmux.py).

Only the standard library is imported, like tests/support/sshd.py.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path


def console_script() -> Path:
    """The `returns-tui` script of the virtualenv running these tests."""
    return Path(sys.executable).parent / "returns-tui"


def session_script() -> Path:
    """The `returns-tui-session` script of the virtualenv running these tests."""
    return Path(sys.executable).parent / "returns-tui-session"


def console_unrunnable_reason(script: Path, test: str = "sshd end-to-end test") -> str | None:
    """Why another account could not run `script`, or None when it can (checked by running
    `returns-tui --help` as `nobody`: the interpreter, the venv and the sources must all be
    reachable). The reason names the test (sshd by default, so that CI, which must run the
    SSH test, fails on it)."""
    if not script.is_file():
        return f"{test}: no console script at {script} (pip install -e .)"
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
            f"{test}: another account cannot run {script} (its interpreter is "
            f"{interpreter}; a venv or pyenv under /root?). Make a venv from /usr/bin/python3, "
            f"as .ci/run does: {(done.stderr or done.stdout).strip()[:200]}"
        )
    return None


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
