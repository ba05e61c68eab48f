"""A throwaway OpenSSH server for end-to-end tests (run as root).

    priv, pub = make_keypair(tmp_path)
    line = f'command="/path/to/returns-tui-session alice",restrict,pty {pub}'
    with running_sshd(tmp_path / "sshd", login="rt-svc", authorized_keys=[line],
                      match_block=shipped_match_block("rt-svc")) as info:
        subprocess.run(info.ssh_command(priv), ...)

The server listens on 127.0.0.1 at a free port with its own host key and config (the host's
/etc/ssh is not read), plus the Match block of deploy/sshd_config.d/returns-tui.conf for the
account `login`, which must exist (tests/support/shared_host.py makes it); its authorized_keys
is written with the given lines.

Only the standard library is imported, so this module imports fine where OpenSSH is not
installed; check `sshd_available()` (or `sshd_unavailable_reason()`, for a skip reason that
names sshd) before using it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege separation directory (Debian)


def sshd_unavailable_reason() -> str | None:
    """Why the end-to-end SSH tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "sshd end-to-end tests need root (to create the account and run sshd)"
    if not os.access(SSHD, os.X_OK):
        return f"sshd is not installed ({SSHD} missing; Debian package openssh-server)"
    for tool in ("ssh", "ssh-keygen", "useradd", "groupadd", "usermod", "runuser"):
        if shutil.which(tool) is None:
            return f"sshd end-to-end tests need `{tool}` (openssh-client / passwd)"
    return None


def sshd_available() -> bool:
    return sshd_unavailable_reason() is None


def make_keypair(tmpdir: str | os.PathLike[str], name: str = "id_ed25519") -> tuple[Path, str]:
    """A fresh ed25519 key pair without passphrase: (private key path, public key line)."""
    private = Path(tmpdir) / name
    private.parent.mkdir(parents=True, exist_ok=True)
    for p in (private, private.with_name(name + ".pub")):
        p.unlink(missing_ok=True)
    _keygen(private, "returns-tui-test")
    private.chmod(0o600)
    return private, private.with_name(name + ".pub").read_text().strip()


_SSH_OPTIONS = (
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "IdentitiesOnly=yes",
    "BatchMode=yes",
    "ConnectTimeout=10",
    "LogLevel=ERROR",  # no "Permanently added ... to the list of known hosts" line
)


@dataclass
class SshdInfo:
    host: str
    port: int
    login: str
    config_path: Path
    log_path: Path
    pid: int

    def ssh_command(
        self,
        identity_file: str | os.PathLike[str],
        *,
        tty: bool = True,
        options: Sequence[str] = (),
    ) -> list[str]:
        """The ssh client command that logs in as `login` with a key; a remote command goes
        after it. `tty=False` drops `-tt`; `options` go before the destination (`-o X=y`)."""
        cmd = ["ssh", *(["-tt"] if tty else [])]
        cmd += ["-F", "/dev/null"]  # ignore the host's and root's client config
        cmd += ["-i", str(identity_file), "-p", str(self.port)]
        for option in _SSH_OPTIONS:
            cmd += ["-o", option]
        return [*cmd, *options, f"{self.login}@{self.host}"]

    def log_text(self) -> str:
        """What sshd logged so far (its -e output), for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy/sshd_config.d/returns-tui.conf"
SHIPPED_ACCOUNT = "Match User returns-tui\n"


def shipped_match_block(account: str) -> str:
    """deploy/sshd_config.d/returns-tui.conf as shipped, for `account` instead of returns-tui."""
    text = SHIPPED_CONFIG.read_text()
    if text.count(SHIPPED_ACCOUNT) != 1:
        raise AssertionError(f"{SHIPPED_CONFIG} has no one {SHIPPED_ACCOUNT!r}; update the test")
    return text.replace(SHIPPED_ACCOUNT, f"Match User {account}\n")


@contextlib.contextmanager
def running_sshd(
    tmpdir: str | os.PathLike[str],
    *,
    login: str,
    authorized_keys: Sequence[str],
    match_block: str,
) -> Iterator[SshdInfo]:
    """Run sshd on 127.0.0.1 for the duration of the block; see the module docstring. On exit
    sshd and every process it started (open connections and their sessions) are terminated."""
    reason = sshd_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    tmp = Path(tmpdir)
    tmp.mkdir(parents=True, exist_ok=True)

    _write_authorized_keys(login, authorized_keys)
    for line in authorized_keys:
        _check_runnable_by(login, _forced_command(line))

    host_key = tmp / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key, "test-host")
    host_key.chmod(0o600)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

    config = tmp / "sshd_config"
    log_path = tmp / "sshd.log"
    proc: subprocess.Popen[bytes] | None = None
    port = 0
    for _attempt in range(5):
        port = free_port()
        config.write_text(_config_text(tmp, port, host_key) + match_block)
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"sshd -t rejected {config}: {check.stderr.strip()}")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if _wait_listening(proc, port, timeout=10):
            break
        _stop(proc)
        text = log_path.read_text(errors="replace")
        proc = None
        if "Address already in use" not in text:  # anything but losing the port race is fatal
            raise RuntimeError(f"sshd did not start:\n{text}")
    if proc is None:
        raise RuntimeError(f"sshd could not bind a port:\n{log_path.read_text(errors='replace')}")

    info = SshdInfo("127.0.0.1", port, login, config, log_path, proc.pid)
    try:
        yield info
    finally:
        _stop(proc)


# --- helpers ---------------------------------------------------------------------------------


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def _keygen(path: Path, comment: str) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_text(tmp: Path, port: int, host_key: Path) -> str:
    """The server's own settings; the shipped Match block follows them."""
    return (
        f"# written by tests/support/sshd.py for one test run\n"
        f"ListenAddress 127.0.0.1\n"
        f"Port {port}\n"
        f"HostKey {host_key}\n"
        f"PidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile .ssh/authorized_keys\n"
        f"PubkeyAuthentication yes\n"
        f"PasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\n"
        f"UsePAM no\n"
        f"StrictModes no\n"
        f"PermitRootLogin no\n"
        f"PrintMotd no\n"
        f"PrintLastLog no\n"
        f"Subsystem sftp internal-sftp\n"  # as Debian's sshd_config has one
        f"LogLevel VERBOSE\n"
    )


def _forced_command(line: str) -> str:
    """The command="..." of an authorized_keys line (no escaped quotes inside, as ours)."""
    if not line.startswith('command="'):
        raise ValueError(f"every key of the service account needs a forced command: {line!r}")
    return line[len('command="') :].split('"', 1)[0]


def _check_runnable_by(login: str, command: str) -> None:
    """Fail early, with a reason, when `login` could not run the forced command: typically a
    virtualenv whose interpreter lives under /root (pyenv), which other accounts cannot reach."""
    words = shlex.split(command)
    if not words or not words[0].startswith("/"):
        return
    paths = [words[0]]
    with contextlib.suppress(OSError), open(words[0], "rb") as f:
        first = f.readline(256)
        if first.startswith(b"#!") and first[2:].split():
            paths.append(os.fsdecode(first[2:].split()[0]))
    for path in paths:
        probe = ["runuser", "-u", login, "--", "test", "-x", os.path.realpath(path)]
        if subprocess.run(probe, stdin=subprocess.DEVNULL).returncode != 0:
            raise RuntimeError(
                f"the account {login} cannot run {path} (-> {os.path.realpath(path)}): a directory"
                " on the way is not reachable by other accounts (a venv or pyenv under /root?)"
            )


def _write_authorized_keys(login: str, lines: Sequence[str]) -> None:
    pw = pwd.getpwnam(login)
    ssh_dir = Path(pw.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text("".join(line.strip() + "\n" for line in lines))
    for path, mode in ((ssh_dir, 0o700), (keys, 0o600)):
        os.chown(path, pw.pw_uid, pw.pw_gid)
        path.chmod(mode)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """True once sshd answers with its banner on the port; False if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def _descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below `pid`, as (pid, start time) so a reused pid is never mistaken."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))):
            children.setdefault(int(st[1]), []).append((int(entry), st[19]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _alive(proc: tuple[int, str]) -> bool:
    st = _stat(proc[0])
    return st is not None and st[19] == proc[1] and st[0] != "Z"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate sshd, then its connections and their sessions (SIGKILL after 5 s)."""
    tree = _descendants(proc.pid) if proc.poll() is None else []
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    for p in tree:
        if _alive(p):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p[0], signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    alive = [p for p in tree if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    for p in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p[0], signal.SIGKILL)
