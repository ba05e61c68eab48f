"""`returns-tui rules add|list|remove|try|disable` (DESIGN §10): cli.py registers these and runs
them as every other command (the caller's login, the checked database, one sentence and
status 1 for a refusal, 2 for a wrong command line)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from returns_tui import automation as auto
from returns_tui import rulebook
from returns_tui.clock import utc_now
from returns_tui.money import format_amount
from returns_tui.textsafe import safe
from returns_tui.timefmt import iso_utc_seconds


def register(commands: Any, common: argparse.ArgumentParser, date: Callable[[str], Any]) -> None:
    """Add `rules` and its commands to the command line's sub-commands."""
    rules = commands.add_parser(
        "rules", help="automation rules: accept the obvious requests as they arrive",
        parents=[common],
    )  # fmt: skip
    sub = rules.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[..., int], help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=help, parents=[common])
        parser.set_defaults(handler=handler)
        return parser

    add = command("add", rules_add, "make a rule for your own shops (operators)")
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--shop", dest="shops", action="append", default=[], metavar="SHOP",
        help="a shop of yours it covers (repeat for several; default: all of yours)",
    )  # fmt: skip
    add.add_argument("--type", choices=auto.TYPES, help="only requests of this type")
    add.add_argument(
        "--reason", dest="reasons", action="append", default=[], metavar="CODE",
        help="only requests with this reason code (repeat for several)",
    )  # fmt: skip
    add.add_argument("--currency", metavar="CUR", help="only requests in this currency")
    add.add_argument(
        "--max-amount", metavar="DECIMAL", help="only amounts up to this one, included"
    )
    add.add_argument(
        "--max-buyer-requests", type=_whole, metavar="N",
        help="only when the buyer made at most N requests in your shops in the last 90 days, "
        "this one included",
    )  # fmt: skip
    add.add_argument(
        "--keep-item", action="store_true", help="accept letting the buyer keep the item"
    )
    command("list", rules_list, "list your rules (an admin: every rule)")
    remove = command("remove", rules_remove, "remove one of your rules")
    remove.add_argument("name", metavar="NAME")
    trial = command("try", rules_try, "what a rule would have accepted since DATE; changes nothing")
    trial.add_argument("name", metavar="NAME")
    trial.add_argument("--since", type=date, required=True, metavar="DATE", help="YYYY-MM-DD, UTC")
    off = command("disable", rules_disable, "switch a user's rule off (admins)")
    off.add_argument("name", metavar="NAME")
    off.add_argument("--owner", required=True, metavar="USER")


def _whole(text: str) -> int:
    # int() would take "٣", " 3" and "1_000"; the bound is automation's to tell, and a number
    # of more digits than it allows is simply above it.
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number")
    digits = text.lstrip("0") or "0"
    return auto.MAX_BUYER_REQUESTS + 1 if len(digits) > 7 else int(digits)


def rules_add(session: Any) -> int:
    args = session.args
    new = rulebook.NewRule(
        shops=tuple(args.shops), type=args.type, reasons=tuple(args.reasons),
        currency=args.currency, max_amount=args.max_amount,
        max_buyer_requests=args.max_buyer_requests, keep_item=args.keep_item,
    )  # fmt: skip
    rule = rulebook.add(session.service, session.login, args.name, new, utc_now())
    print(f"Made the rule {safe(rule.actor)}: {safe(rule.conditions.describe(rule.keep_item))}.")
    return 0


def rules_list(session: Any) -> int:
    for rule in rulebook.every(session.service, session.login):
        state = f"off (by {rule.disabled_by})" if rule.disabled else "on"
        made = iso_utc_seconds(rule.created_at)
        line = f"{rule.actor}  {state}  made {made}  {rule.conditions.describe(rule.keep_item)}"
        print(safe(line))
    return 0


def rules_remove(session: Any) -> int:
    rulebook.remove(session.service, session.login, session.args.name)
    print(f"Removed the rule {safe(session.args.name)}.")
    return 0


def rules_try(session: Any) -> int:
    """One JSON line per matching request; nothing is changed (a read transaction)."""
    write = sys.stdout.write
    for found in rulebook.tried(session.service, session.login, session.args.name,
                                session.args.since):  # fmt: skip
        write(json.dumps(found) + "\n")
    sys.stdout.flush()
    return 0


def rules_disable(session: Any) -> int:
    args = session.args
    rulebook.disable(session.service, session.login, args.owner, args.name)
    print(f"Switched off the rule {safe(auto.actor_name(args.owner, args.name))}.")
    return 0


def money_text(money: dict[str, int]) -> str:
    """Hundredths per currency as "12.99 USD, 500 JPY" (never summed across currencies)."""
    return ", ".join(f"{format_amount(c, cur)} {cur}" for cur, c in sorted(money.items())) or "-"


# The names of these commands as typed (cli.command_name).
COMMAND_NAMES: dict[Callable[..., int], str] = {
    rules_add: "rules add",
    rules_list: "rules list",
    rules_remove: "rules remove",
    rules_try: "rules try",
    rules_disable: "rules disable",
}
