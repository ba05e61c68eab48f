"""A shared host set up as deploy/README.md says, for real, by a test run as root:

- a service account that alone owns the data: a SQLite database in its default data directory,
  under its home (mode 700); its shell is /bin/sh (sshd runs forced commands with it), it has
  no password;
- people with accounts of their own, in a group that the shipped sudoers rule
  (deploy/sudoers.d/returns-tui, installed with this test's names) lets run returns-tui-session
  as the service account, and nothing else;
- an SSH key per person, for the service account's authorized_keys with a forced command that
  names them (`forced_key_line`).

Every name carries a random suffix (`rt-alice-1a2b3c`), so that runs at the same time on one
machine do not meet; everything is removed afterwards: the sudoers file, the accounts and their
homes, the group.

Only the standard library is imported, like tests/support/sshd.py.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import ssh_session as ss
from tests.support.sshd import make_keypair, sshd_unavailable_reason

REPO = Path(__file__).resolve().parents[2]
SHIPPED_SUDOERS = REPO / "deploy" / "sudoers.d" / "returns-tui"
# What the shipped sudoers rule names on an installed host; the test puts its own names there.
SHIPPED_NAMES = ("%returns-tui-users", "(returns-tui)", "/usr/local/bin/returns-tui-session")
PATH = "/usr/local/bin:/usr/bin:/bin"


def unavailable_reason() -> str | None:
    """Why the shared host cannot be made here, or None. Each reason names ssh or sshd, so
    that CI (which must run these tests) fails instead of skipping them."""
    if reason := sshd_unavailable_reason():
        return reason
    for tool in ("sudo", "visudo", "userdel", "groupdel", "tmux"):
        if shutil.which(tool) is None:
            return f"the ssh/sudo shared-host tests need `{tool}` (.ci/run installs it)"
    return ss.console_unrunnable_reason(ss.console_script())


@dataclass
class Person:
    login: str  # their account on the host, and their name in the users table
    key: Path  # their SSH private key
    public_key: str

    @property
    def home(self) -> str:
        return f"/home/{self.login}"


@dataclass
class SharedHost:
    service: str  # the service account
    group: str  # the people allowed to use the sudo rule
    home: Path  # the service account's home (mode 700)
    people: dict[str, Person]  # "alice" -> Person
    sudoers: Path

    @property
    def session(self) -> Path:
        return ss.session_script()

    @property
    def db_path(self) -> Path:
        """Where returns-tui keeps its data for an account with no RETURNS_TUI_DB."""
        return self.home / ".local" / "share" / "returns-tui" / "returns.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def login(self, who: str) -> str:
        return self.people[who].login

    def forced_key_line(self, who: str) -> str:
        """The authorized_keys line of the deploy README for this person."""
        person = self.people[who]
        return f'command="{self.session} {person.login}",restrict,pty {person.public_key}'

    def as_person(
        self, who: str, *argv: object, stdin: str | None = None, env: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as the person's account, with the clean environment of a login
        (plus `env`, NAME=value), as they could from their own shell."""
        person = self.people[who]
        base = [f"PATH={PATH}", f"HOME={person.home}", f"USER={person.login}", "LANG=C.UTF-8"]
        return _run(
            ["runuser", "-u", person.login, "--", "env", "-i", *base, *env, *map(str, argv)],
            stdin,
        )

    def sudo(
        self,
        who: str,
        *args: object,
        stdin: str | None = None,
        sudo_options: Sequence[str] = (),
        env: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """`sudo -u SERVICE returns-tui-session ARGS`, typed by the person."""
        return self.as_person(
            who, "sudo", "-n", *sudo_options, "-u", self.service, self.session, *args,
            stdin=stdin, env=env,
        )  # fmt: skip

    def as_service(self, *argv: object) -> subprocess.CompletedProcess[str]:
        """Run `argv` as the service account, as its administrator would (`runuser`)."""
        base = [f"PATH={PATH}", f"HOME={self.home}", "LANG=C.UTF-8"]
        return _run(["runuser", "-u", self.service, "--", "env", "-i", *base, *map(str, argv)])


@contextlib.contextmanager
def shared_host(keys_dir: Path, names: Sequence[str]) -> Iterator[SharedHost]:
    """Make the host's accounts, keys and sudoers rule; remove them all afterwards."""
    suffix = uuid.uuid4().hex[:6]
    service, group = f"rt-svc-{suffix}", f"rt-users-{suffix}"
    host = SharedHost(
        service=service,
        group=group,
        home=Path(f"/home/{service}"),
        people={},
        sudoers=Path(f"/etc/sudoers.d/rt-test-{suffix}"),
    )
    made: list[str] = []
    try:
        _check(["groupadd", group])
        _check(["useradd", "--system", "--create-home", "--home-dir", str(host.home),
                "--shell", "/bin/sh", "--password", "*", service])  # fmt: skip
        made.append(service)
        host.home.chmod(0o700)
        for name in names:
            login = f"rt-{name}-{suffix}"
            _check(["useradd", "--create-home", "--shell", "/bin/bash", "-G", group, login])
            made.append(login)
            key, public = make_keypair(keys_dir, f"{name}_ed25519")
            host.people[name] = Person(login, key, public)
        _install_sudoers(host)
        yield host
    finally:
        host.sudoers.unlink(missing_ok=True)
        for login in made:
            ss.remove_account(login)
        with contextlib.suppress(KeyError):
            grp.getgrnam(group)
            subprocess.run(["groupdel", group], capture_output=True)


def _install_sudoers(host: SharedHost) -> None:
    """deploy/sudoers.d/returns-tui as shipped, with this host's group, account and script;
    checked by visudo before sudo reads it."""
    text = SHIPPED_SUDOERS.read_text()
    ours = (f"%{host.group}", f"({host.service})", str(host.session))
    for shipped, mine in zip(SHIPPED_NAMES, ours, strict=True):
        if shipped not in text:
            raise AssertionError(f"{SHIPPED_SUDOERS} no longer names {shipped!r}; update the test")
        text = text.replace(shipped, mine)
    draft = host.sudoers.with_name(f".{host.sudoers.name}.draft")  # sudo skips dotted names
    draft.write_text(text)
    draft.chmod(0o440)
    try:
        _check(["visudo", "-c", "-q", "-f", str(draft)])
        os.replace(draft, host.sudoers)
    finally:
        draft.unlink(missing_ok=True)


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip


def _check(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
