"""returns-tui-session: how people reach the data on a shared host (DESIGN §3, "Who may touch
the data"; deploy/README.md sets it up).

It runs as the service account that alone can open the database, and takes the person's name
from a channel the person cannot forge:

- sshd's forced command. In the service account's authorized_keys each person's key has a line
  `command="/usr/local/bin/returns-tui-session alice",restrict,pty ssh-ed25519 AAAA...`: sshd
  runs exactly that whatever the client asked, so the one argument is the person. What the
  client asked for (`ssh returns-tui@host export --format csv`) arrives in SSH_ORIGINAL_COMMAND;
  it is split into words as a shell would (shlex), but no shell ever runs it.
- sudo. `sudo -u returns-tui returns-tui-session [COMMAND ...]`, which a sudoers rule allows
  to a group: the person is SUDO_USER, which sudo sets from the caller's real uid (its
  env_reset keeps callers from setting it), and every argument is the command.

The command must be one of SESSION_COMMANDS, without --db, and `apply` reads standard input
only: the session opens no file a person names, and works on the service account's own data:
ENV_FILE (RETURNS_TUI_DB and RETURNS_TUI_CONFIG lines; owned by this account, mode 600) when it
exists, else the account's default data and config directories. Variables of those names
in the environment are never used. The person's name reaches `cli.main` as an argument.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from returns_tui import cli
from returns_tui.errors import Refused, ReturnsError
from returns_tui.textsafe import safe

ENV_FILE = Path("/etc/returns-tui/env")
# The variables the service account's env file may set; the rest of the file is ignored.
SETTINGS = ("RETURNS_TUI_DB", "RETURNS_TUI_CONFIG")
# Where these would otherwise point the data and settings away from the account's own.
_DROPPED = (*SETTINGS, "XDG_DATA_HOME", "XDG_CONFIG_HOME")
# The commands a person may run through the session ("" is the console). Not init (the
# schema and the first admin are the owner's), not demo.
SESSION_COMMANDS = frozenset(
    {
        "",
        "export",
        "report",
        "sweep",
        "check",
        "users list",
        "users add",
        "users remove",
        "apply",
        "seed",
        # DESIGN §10: operators keep their own rules; an admin switches any off.
        "rules add",
        "rules list",
        "rules remove",
        "rules try",
        "rules disable",
    }
)


class SessionError(ReturnsError):
    """The session cannot tell who is calling, or the service account's set-up is wrong."""


def main(argv: Sequence[str] | None = None, *, env_file: Path = ENV_FILE) -> int:
    """Run one person's command as the service account; its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.umask(0o077)  # whatever the session creates (a first SQLite file) is the account's alone
    try:
        person, words = caller(argv, os.environ)
        use_own_settings(os.environ, env_file)
    except ReturnsError as exc:
        print(f"{cli.PROG}: {safe(exc.message)}", file=sys.stderr)
        return 1
    if words in (["help"], ["--help"], ["-h"]):
        print(_HELP)
        return 0
    return cli.main(words, login=person, vet=vet)


def caller(argv: Sequence[str], environ: MutableMapping[str, str]) -> tuple[str, list[str]]:
    """(the person, the words of their command), from sudo's record of the caller or from
    the name that sshd's forced command gave; refused when neither channel ran the session."""
    by_sudo = environ.get("SUDO_USER")
    # sshd sets SSH_CONNECTION itself, after any variable a client may send, and sudo's
    # env_reset drops it: both at once means someone sent SUDO_USER through SSH.
    by_ssh = "SSH_CONNECTION" in environ
    if by_sudo and by_ssh:
        raise SessionError(
            "The caller is named both by sudo and by SSH; returns-tui-session trusts neither "
            "then (does sshd accept SUDO_USER from clients? It must not: see AcceptEnv)."
        )
    if by_sudo:
        return by_sudo, list(argv)
    if by_ssh and len(argv) == 1 and argv[0]:
        try:
            words = shlex.split(environ.get("SSH_ORIGINAL_COMMAND", ""))
        except ValueError as exc:
            raise SessionError(f"The command cannot be split into words ({exc}).") from None
        return argv[0], words
    raise SessionError(
        "returns-tui-session runs as the service account, for a person named by sudo "
        "(`sudo -u ACCOUNT returns-tui-session [COMMAND]`) or by an SSH key's forced command "
        '(`command="returns-tui-session NAME"`); neither named anyone here.'
    )


def use_own_settings(environ: MutableMapping[str, str], env_file: Path) -> None:
    """Point the database and settings at the service account's own: its env file when there
    is one, else its default directories (its home's, whatever HOME or XDG_* said)."""
    for name in _DROPPED:
        environ.pop(name, None)
    environ["HOME"] = _account().pw_dir
    environ.update(_read_env_file(env_file))


def _account() -> pwd.struct_passwd:
    """The service account: the one the session runs as."""
    try:
        return pwd.getpwuid(os.getuid())
    except KeyError:
        raise SessionError(f"The uid {os.getuid()} the session runs as has no account.") from None


def _read_env_file(path: Path) -> dict[str, str]:
    """RETURNS_TUI_DB and RETURNS_TUI_CONFIG from `path` (lines NAME=value, optionally quoted,
    as systemd's EnvironmentFile= reads them); {} when it does not exist. It holds the database
    password: it must belong to this account and be readable by it alone."""
    try:
        with open(path, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            text = f.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"The session's settings {path} cannot be read: {exc}.") from None
    account = _account().pw_name
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SessionError(
            f"The session's settings {path} must belong to {account} and be readable by it "
            f"alone (mode 600); it is mode {st.st_mode & 0o777:o}, uid {st.st_uid}."
        )
    found = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() in SETTINGS:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found[name.strip()] = value
    return found


def vet(args: argparse.Namespace) -> None:
    """Refuse a command line the session does not run for people (see SESSION_COMMANDS)."""
    name = cli.command_name(args)
    if name not in SESSION_COMMANDS:
        raise cli.UsageError(
            f"`{name}` is not run through returns-tui-session; it is for the account that owns "
            "the data."
        )
    if args.db is not None:
        raise cli.UsageError("--db is not allowed here: the session works on its own database.")
    if name == "apply" and args.file != "-":
        raise cli.UsageError(
            f"apply reads standard input here (`apply -`), not {safe(args.file)!r}: the session "
            "opens no file by name."
        )
    if name == "" and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise Refused("The console needs a terminal; connect with `ssh -t`.")


_HELP = """\
returns-tui-session: returns-tui for one person, run as the service account that owns the data.

Over SSH:  ssh -t ACCOUNT@HOST              the console
           ssh ACCOUNT@HOST COMMAND ...     one command
With sudo: sudo -u ACCOUNT returns-tui-session [COMMAND ...]

COMMAND is one of: export, report, sweep, check, users list|add|remove, apply - (standard
input), seed, rules add|list|remove|try|disable, with the options `returns-tui COMMAND
--help` describes, except --db."""
