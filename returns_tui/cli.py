"""The `returns-tui` command (DESIGN §4): the console, and the headless commands that scripts,
cron jobs and sync jobs rely on.

Whatever goes wrong that a person can cause or meet (a refused action, a bad argument, a wrong
URL, a server that is down, a database of another version) ends as one line on stderr,
`returns-tui: <sentence>`, and a non-zero exit status, never a traceback: 1 for a refusal or
an error, 2 for a usage error or an input `apply` cannot read.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pendulum import DateTime
from sqlalchemy.engine import Engine

from returns_tui import apply as applying
from returns_tui import export as exporting
from returns_tui import labels, rules_cli
from returns_tui.check import check
from returns_tui.clock import CLOCK_SLACK, EARLIEST, parse_time, utc_now
from returns_tui.domain import Tab
from returns_tui.errors import Forbidden, NotAUser, Refused, ReturnsError
from returns_tui.identity import login_name
from returns_tui.roles import Actor, require_admin
from returns_tui.services import Returns
from returns_tui.settings import Settings, load_settings
from returns_tui.store.chain import ChainKeyError, create_key, key_path, recorded_fingerprint
from returns_tui.store.engine import check_schema, open_engine, upgrade
from returns_tui.textsafe import safe
from returns_tui.timefmt import iso_utc_seconds as seconds  # people read these times

PROG = "returns-tui"


class UsageError(ReturnsError):
    """The command line itself is wrong (exit status 2)."""


def main(
    argv: Sequence[str] | None = None,
    *,
    login: str | None = None,
    vet: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Run the command; returns its exit status.

    The person running it is `login` when returns-tui-session names them (returns_tui.session):
    they work on data that belongs to the service account, not to them, so they may not make
    the first admin. Without `login`, the person is the account of the real uid, which could
    open the database and so owns it (returns_tui.identity). `vet`, the session's allow-list,
    sees the parsed command line before anything runs and raises to refuse it."""
    try:
        args = _parser().parse_args(argv)
        if vet is not None:
            vet(args)
        return _run(args, login)
    except SystemExit as exc:  # --help ends here
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, applying.UnreadableInput) as exc:
        return _fail(exc.message, 2)
    except ReturnsError as exc:
        return _fail(exc.message, 1)
    except KeyboardInterrupt:
        return _fail("Interrupted: what was done stays, the change under way was not made.", 130)
    except BrokenPipeError:
        # The reader went away (`export | head`): nothing to tell it. Point stdout at
        # /dev/null so that the interpreter's last flush does not fail again on exit.
        _silence_stdout()
        return 1
    except OSError as exc:  # the output cannot be written, a data directory cannot be made
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}.", 1)


def _utf8_stdout() -> None:
    """The headless commands write UTF-8 whatever the locale says (JSON Lines and CSV are
    UTF-8), so a buyer's name never ends an export half-way in a Latin-1 locale. The console
    and the demo leave the terminal to Textual."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: {safe(message)}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (a test's capture): nothing to do
        pass


# ---------------------------------------------------------------------------------------------
# The command line


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`).")


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="A console for a marketplace seller's return and refund requests. "
        "Without a command, it opens the console.",
    )
    # --db is accepted before and after the command (`returns-tui init --db URL`); the
    # commands' copies leave the value alone unless given.
    parser.add_argument("--db", metavar="URL", help=_DB_HELP)
    common = _Parser(add_help=False)
    common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help=_DB_HELP)
    parser.set_defaults(handler=_console)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable[..., int], help: str, **kw) -> _Parser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common], **kw)
        sub.set_defaults(handler=handler)
        return sub

    init = command("init", _init, "create or upgrade the database schema (safe to run twice)")
    init.add_argument(
        "--admin", metavar="NAME",
        help="on a database without users, make NAME its first admin (best your own login)",
    )  # fmt: skip

    users = commands.add_parser("users", help="add, list or remove users", parents=[common])
    user_commands = users.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = user_commands.add_parser("add", help="add a user", parents=[common])
    add.add_argument("name", metavar="NAME", nargs="?", help="the user's login name on this host")
    add.add_argument(
        "--me", action="store_true",
        help="your own login (on an empty database: make yourself the first admin)",
    )  # fmt: skip
    add.add_argument("--role", required=True, choices=("operator", "agent", "admin"))
    add.add_argument(
        "--shop", dest="shops", action="append", default=[], metavar="SHOP",
        help="a shop the operator works for (repeat for several)",
    )  # fmt: skip
    add.set_defaults(handler=_users_add)
    user_commands.add_parser("list", help="list the users", parents=[common]).set_defaults(
        handler=_users_list
    )
    remove = user_commands.add_parser("remove", help="remove a user", parents=[common])
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=_users_remove)

    apply = command("apply", _apply, "apply a stream of actions in JSON Lines (admins only)")
    apply.add_argument("file", metavar="FILE|-", help="the JSON Lines file, or - for stdin")
    apply.add_argument(
        "--until", type=_time, metavar="TIME",
        help="after the last line, apply the deadlines up to TIME (ISO 8601 with an offset)",
    )  # fmt: skip

    sweep = command("sweep", _sweep, "apply every deadline that has passed, print the changes")
    sweep.add_argument(
        "--now", type=_time, metavar="TIME",
        help="apply the deadlines up to TIME, a past time (default: the real clock)",
    )  # fmt: skip

    export = command("export", _export, "write the requests you may see to standard output")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--tab", choices=[t.value for t in Tab], default=Tab.ALL.value)

    check = command("check", _check, "report every broken invariant (agents and admins)")
    check.add_argument(
        "--now", type=_time, metavar="TIME",
        help="judge overdue requests as at TIME (default: the real clock)",
    )  # fmt: skip
    check.add_argument(
        "--grace", type=_seconds, default=0.0, metavar="SECONDS",
        help="how long past its deadline a request may be before it counts as not swept",
    )  # fmt: skip

    report = command(
        "report", _report, "what returns cost and why: the Insights figures for a period"
    )
    report.add_argument(
        "--since", type=_date, metavar="DATE",
        help="the first day, YYYY-MM-DD in UTC (default: 29 days before --until)",
    )  # fmt: skip
    report.add_argument(
        "--until", type=_date, metavar="DATE", help="the last day, included (default: today, UTC)"
    )
    report.add_argument("--shop", metavar="SHOP", help="one shop only (one of yours)")
    report.add_argument("--format", choices=("text", "json", "csv"), default="text")

    rules_cli.register(commands, common, _date)  # DESIGN §10's automation rules

    seed = command("seed", _seed, "add N synthetic requests, reproducibly (admins only)")
    seed.add_argument("--count", type=_count, required=True, metavar="N")
    seed.add_argument("--seed", type=int, default=0, metavar="S", help="the random seed")

    sync = command(
        "sync", _sync, "sync the shops of the sync config with TikTok Shop (admins only)"
    )
    sync.add_argument("--once", action="store_true", help="one round of each shop, then exit")
    sync.add_argument(
        "--shop", dest="shops", action="append", default=[], metavar="SHOP",
        help="only this shop of the sync config (repeat for several)",
    )  # fmt: skip
    sync.add_argument(
        "--listen", type=_listen, metavar="HOST:PORT",
        help="also take the marketplace's webhook notifications on HOST:PORT",
    )  # fmt: skip
    sync.add_argument(
        "--parallel", type=_parallel, metavar="N",
        help="calls in flight per shop (default: the shop's `parallel`, else 8)",
    )  # fmt: skip

    demo = commands.add_parser(
        "demo", help="open the console on a fresh demo database with live buyers"
    )
    demo.add_argument("--as", dest="as_role", choices=("operator", "agent"), default="operator")
    demo.add_argument(
        "--keep", action="store_true", help="keep the demo database when the demo ends"
    )
    demo.add_argument(
        "--marketplace", action="store_true",
        help="with a simulated TikTok Shop in-process, synced both ways",
    )  # fmt: skip
    demo.set_defaults(handler=_demo)
    return parser


# The most `check --grace` takes: a tolerance for how late a sweep runs. More is a typo,
# and a number of seconds beyond any datetime's range.
MAX_GRACE = 366 * 86_400

_DB_HELP = "the database, as an SQLAlchemy URL (default: $RETURNS_TUI_DB, else a file in "
_DB_HELP += "the user's data directory)"


def _time(text: str) -> DateTime:
    try:
        return parse_time(text)
    except ValueError as exc:  # the parser adds its own ending to the sentence
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def _date(text: str):  # -> datetime.date
    from returns_tui.insights import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_GRACE:  # nan fails this too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 0 to {MAX_GRACE} (a year)"
        )
    return value


def _listen(text: str) -> tuple[str, int]:
    from returns_tui.sync.runner import parse_listen

    try:
        return parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parallel(text: str) -> int:
    from returns_tui.sync.config import MAX_PARALLEL

    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PARALLEL:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_PARALLEL}")
    return int(text)


def _count(text: str) -> int:
    from returns_tui.seed import MAX_COUNT

    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()):  # int() would take "٣" and "1_000"
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        most = f"{MAX_COUNT:,}".replace(",", " ")
        raise argparse.ArgumentTypeError(f"one seed adds at most {most} requests")
    return int(digits)


# ---------------------------------------------------------------------------------------------
# Running a command


@dataclass(frozen=True)
class _Session:
    """What a command works with: the services on the checked database, the settings, the
    parsed arguments, the login of the person running it and whether that is the account that
    owns the data (see main)."""

    service: Returns
    settings: Settings
    args: argparse.Namespace
    login: str
    owner: bool

    def actor(self) -> Actor:
        """The person running the command, as a user (NotAUser if they are not one)."""
        return self.service.login(self.login)


def _run(args: argparse.Namespace, login: str | None) -> int:
    if args.handler is _demo:
        return _demo(args)
    owner = login is None
    engine = open_engine(args.db)
    try:
        if args.handler is _init:
            return _init(engine, args.admin, login)
        check_schema(engine)
        if args.handler is not _console:
            _utf8_stdout()
        settings = load_settings()
        service = Returns(engine, settings.rules)
        session = _Session(service, settings, args, login or login_name(), owner)
        try:
            return args.handler(session)
        except NotAUser as exc:
            raise _not_a_user_yet(session) or exc from None
    finally:
        engine.dispose()


def _not_a_user_yet(session: _Session) -> NotAUser | None:
    """On a database without users, "not a user" says how the first admin is made, and by
    whom (DESIGN §3); None when there are users."""
    if session.service.has_users():
        return None
    how = (
        "`returns-tui users add --me --role admin` (or `returns-tui init --admin NAME`) makes "
        "you its first admin."
        if session.owner
        else "the account that owns the data makes the first admin (`returns-tui init --admin "
        "NAME`, run as that account)."
    )
    return NotAUser(
        f"{session.login} is not a returns-tui user, and the database has no users yet: {how}"
    )


def _init(engine: Engine, admin: str | None, login: str | None) -> int:
    # The chain key first: an upgrade chains the records already there with it. A database
    # already chained keeps its key: a new one would only be refused by it.
    path = key_path()
    if not path.exists() and recorded_fingerprint(engine) is not None:
        raise ChainKeyError(
            f"The chain key {path} is missing, and this database's records are chained with "
            "a key: put that key file back (a new key would not match them)."
        )
    key, made = create_key(path)
    before, after = upgrade(engine, key)
    if recorded_fingerprint(engine) not in (None, key.fingerprint):
        raise ChainKeyError(
            f"This database's records are chained with another key than {path}; use the key "
            "file that was made with it."
        )
    where = engine.url.render_as_string(hide_password=True)
    if made:
        print(f"Created the chain key {key.path} (mode 0600; keep it, and a copy, private).")
    if before is None:
        print(f"Created the returns-tui schema (revision {after}) in {where}.")
    elif before != after:
        print(f"Upgraded the schema of {where} from revision {before} to {after}.")
    else:
        print(f"The schema of {where} is already up to date (revision {after}).")
    if admin is not None:
        _first_admin(Returns(engine), admin, login or login_name(), owner=login is None)
    return 0


def _first_admin(service: Returns, name: str, login: str, *, owner: bool) -> None:
    """`init --admin NAME`: NAME becomes the first admin of a database without users. Run
    again on the same database it changes nothing, so init stays safe to run twice."""
    if service.has_users():
        try:
            already = service.login(name).role == "admin"
        except NotAUser:
            already = False
        if not already:
            raise Refused(
                f"The database already has users; an admin adds {name} with "
                "`returns-tui users add`."
            )
        print(f"{safe(name)} is already an admin.")
        return
    service.add_user(login, name, "admin", (), utc_now(), owner=owner)
    print(f"Made {safe(name)} the first admin.{_first_admin_note(name, login)}")


def _first_admin_note(admin: str, login: str) -> str:
    """What the first admin's maker should know when the admin is someone else: their own
    login is not a user, so their next commands are refused (issue 10: the README's set-up
    once locked its reader out this way)."""
    if admin == login:
        return ""
    return (
        f" Your own login, {safe(login)}, is not a user, so the commands you run as it will be"
        f" refused; {safe(admin)} adds the other users."
    )


def _console(session: _Session) -> int:
    from returns_tui.app import run_console  # Textual loads only when a console opens

    return run_console(session.service, session.actor(), session.settings)


def _demo(args: argparse.Namespace) -> int:
    from returns_tui.demo import main as demo_main  # the demo's own database, not --db

    return demo_main(args.as_role, keep=args.keep, marketplace=args.marketplace)


def _users_add(session: _Session) -> int:
    args = session.args
    if args.me == (args.name is not None):
        raise UsageError("users add takes a NAME or --me (your own login), one of the two.")
    name = session.login if args.me else args.name
    shops = tuple(args.shops)
    first = not session.service.has_users()
    session.service.add_user(session.login, name, args.role, shops, utc_now(), owner=session.owner)
    where = f" of {', '.join(sorted(set(shops)))}" if shops else ""
    what = f"Added {safe(name)} as {_article(args.role)} {args.role}{where}"
    if first:
        print(f"{what}, the first user.{_first_admin_note(name, session.login)}")
    else:
        print(f"{what}.")
    return 0


def _users_list(session: _Session) -> int:
    users = session.service.list_users(session.login)
    width = max((len(name) for name, _, _ in users), default=0)
    for name, role, shops in users:
        print(f"{safe(name):<{width}}  {role:<8}  {safe(', '.join(shops))}".rstrip())
    return 0


def _users_remove(session: _Session) -> int:
    session.service.remove_user(session.login, session.args.name)
    print(f"Removed {safe(session.args.name)}.")
    return 0


def _apply(session: _Session) -> int:
    until = session.args.until
    if until is not None:
        _refuse_future(until, "--until")
    return applying.run(session.service, session.actor(), session.args.file, until=until)


def _sweep(session: _Session) -> int:
    actor = session.actor()  # any user may sweep (DESIGN §3); a cron job's account too
    now = session.args.now
    if now is None:
        now = utc_now()
    else:
        _refuse_future(now, "--now")
    # Every deadline is applied; the caller is told only about the requests they may see,
    # and an operator's summary says so.
    swept = session.service.sweep(now, actor)
    write = sys.stdout.write
    for change in swept:
        kind, status = labels.kind(change.kind), labels.status(change.status)
        write(f"{safe(change.request_id)} {kind} at {seconds(change.at)}, now {status}\n")
    requests = len({change.request_id for change in swept})
    upto = seconds(now)
    where = "" if actor.visible_shops() is None else " in your shops"
    if swept:
        changes = _plural(len(swept), "change")
        print(f"Swept up to {upto}: {changes} on {_plural(requests, 'request')}{where}.")
    else:
        print(f"Swept up to {upto}: nothing was due{where}.")
    return 0


def _refuse_future(at: DateTime, option: str) -> None:
    """Nobody can make a deadline pass early: a time ahead of the real clock is refused."""
    now = utc_now()
    if at > now + CLOCK_SLACK:
        raise Refused(
            f"{option} {seconds(at)} is in the future (the clock says {seconds(now)}); "
            "deadlines can only be applied up to the present."
        )


def _export(session: _Session) -> int:
    actor = session.actor()
    rows = session.service.export(actor, Tab(session.args.tab))
    if session.args.format == "csv":
        exporting.write_csv(rows, sys.stdout)
    else:
        exporting.write_jsonl(rows, sys.stdout)
    sys.stdout.flush()
    return 0


def _check(session: _Session) -> int:
    """The invariant checker (returns_tui.check): one line per violation, then a summary;
    status 1 on any. It reads every shop's requests, so operators may not run it."""
    actor = session.actor()
    if actor.visible_shops() is not None:
        raise Forbidden(
            f"Only an agent or an admin may check the whole database; {actor.name} is an "
            f"{actor.role.value}."
        )
    now = session.args.now or utc_now()
    # A grace that reaches back before the first time the program takes stops there: no
    # deadline lies before it, and datetime's range would end there.
    grace = min(session.args.grace, (now - EARLIEST).total_seconds())
    found = check(session.service.engine, now, grace, rules=session.settings.rules)
    for violation in found:
        print(safe(str(violation)))
    what = _plural(len(found), "violation") if found else "no violations"
    print(f"Checked the database as at {seconds(now)}: {what}.")
    return 1 if found else 0


def _report(session: _Session) -> int:
    """The Insights figures (DESIGN §9) of what the caller may see; anyone may run it."""
    from returns_tui import insights, insights_report

    args = session.args
    try:
        period = insights.period_of(args.since, args.until, utc_now().date())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    figures = insights.load(session.service, session.actor(), period, args.shop)
    write = {
        "json": insights_report.write_json,
        "csv": insights_report.write_csv,
        "text": insights_report.write_text,
    }[args.format]
    write(figures, sys.stdout)
    sys.stdout.flush()
    return 0


def _sync(session: _Session) -> int:
    from returns_tui.sync.runner import Options, main_sync

    # The sync writes for buyers and the platform, like `apply`: the service account's job.
    require_admin(session.actor(), "run sync")
    args = session.args
    options = Options(once=args.once, shops=tuple(args.shops), listen=args.listen,
                      parallel=args.parallel)
    return main_sync(session.service, options)


def _seed(session: _Session) -> int:
    from returns_tui.seed import seed_requests

    # Seeding writes requests on behalf of buyers and operators, like `apply`.
    require_admin(session.actor(), "seed the database")
    args = session.args
    added = seed_requests(
        session.service.engine, args.count, seed=args.seed, rules=session.settings.rules
    )
    print(f"Added {added} synthetic requests (seed {args.seed}).")
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def command_name(args: argparse.Namespace) -> str:
    """The command a parsed command line runs, as typed: "" for the console, "export",
    "users add", ... (returns-tui-session allows some of them)."""
    return _COMMAND_NAMES[args.handler]


_COMMAND_NAMES: dict[Callable[..., int], str] = {
    _console: "",
    _init: "init",
    _users_add: "users add",
    _users_list: "users list",
    _users_remove: "users remove",
    _apply: "apply",
    _sweep: "sweep",
    _export: "export",
    _check: "check",
    _report: "report",
    _seed: "seed",
    _sync: "sync",
    _demo: "demo",
    **rules_cli.COMMAND_NAMES,
}
