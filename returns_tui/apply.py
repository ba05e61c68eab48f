"""`returns-tui apply`: a stream of actions in JSON Lines (DESIGN §4), each through the same
services and rules as the console. Admins only: it acts on behalf of buyers and users.

For each line: read the JSON object, check its fields, check its time (not before an earlier
line's, not ahead of the real clock), apply every deadline up to that time, then the action
at that time. Every input line that is not blank (blank: empty, or only spaces and tabs,
the white space JSON itself skips) gets one JSON object on the output:
{"line": N, "ok": true} or {"line": N, "ok": false, "error": "<sentence>"}, and
"duplicate": true when its idempotency key was seen before. A refused line does not stop the
run. The whole input is read and decoded before the first line is applied, so an input that
cannot be read (missing, a directory, not UTF-8) changes nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TextIO

from pendulum import DateTime

from returns_tui import actions
from returns_tui import domain as d
from returns_tui.clock import CLOCK_SLACK, parse_time, utc_now
from returns_tui.errors import NotAUser, Refused, ReturnsError
from returns_tui.roles import Actor, require_admin
from returns_tui.services import Returns, line_digest
from returns_tui.timefmt import iso_utc

# What a blank line may hold: JSON's own white space (RFC 8259; the \n ends the line, a \r
# is what is left of a CR LF). A line of other white space (U+00A0, U+3000, U+2028, ...) is
# not blank: JSON does not take it, so it gets a verdict rather than vanishing unreported.
BLANK = " \t\r"

ENVELOPE = ("at", "actor", "action")  # every line has these, and may have "key"


class UnreadableInput(ReturnsError):
    """The input itself cannot be read: exit status 2, and nothing was applied."""


def run(
    service: Returns,
    admin: Actor,
    source: str,
    *,
    until: DateTime | None = None,
    out: TextIO | None = None,
    stdin: BinaryIO | None = None,
    clock: Callable[[], DateTime] = utc_now,
) -> int:
    """Apply the JSON Lines of `source` (a path, or "-" for `stdin`) as `admin`, writing one
    verdict a line to `out`; then the deadlines up to `until`. Returns the exit status (0:
    every line was read, refusals included)."""
    require_admin(admin, "run apply")
    text = read_input(source, stdin if stdin is not None else sys.stdin.buffer)
    out = out if out is not None else sys.stdout
    runner = _Runner(service, clock)
    for number, line in _lines(text):
        verdict = runner.apply(line)
        out.write(json.dumps({"line": number, **verdict}, ensure_ascii=False) + "\n")
        # Line by line, so that the output of a killed run says exactly what was applied.
        out.flush()
    if until is not None:
        service.sweep(until)
    return 0


def read_input(source: str, stdin: BinaryIO) -> str:
    """The whole input as text, or UnreadableInput naming why."""
    name = "standard input" if source == "-" else source
    try:
        if source == "-":
            data = stdin.read()
        else:
            with open(source, "rb") as file:
                data = file.read()
    except OSError as exc:
        raise UnreadableInput(f"{name} cannot be read: {exc.strerror or exc}.") from None
    try:
        return data.decode("utf-8-sig")  # a byte order mark, as some editors write, is fine
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableInput(
            f"{name} is not UTF-8 text (line {line}); nothing was applied."
        ) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines that are not blank. Lines end at \\n only: JSON may
    hold U+2028 and the like unescaped, which str.splitlines would take for line ends."""
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip(BLANK):
            yield number, line


class _Runner:
    """Applies lines one by one, remembering the stream's clock and the actors seen."""

    def __init__(self, service: Returns, clock: Callable[[], DateTime]) -> None:
        self.service = service
        self.clock = clock
        self.last_at: DateTime | None = None  # the latest time a line was allowed
        self.swept_to: DateTime | None = None
        self.horizon: DateTime | None = None  # real clock + slack, read again when passed
        self.actors: dict[str, Actor] = {}

    def apply(self, line: str) -> dict[str, Any]:
        """The verdict of one line."""
        try:
            fields = _parse(line)
            _check_envelope(fields)
            at = self._time(fields)
            action, request_id, params = _action(fields)
            key = _key(fields)
            actor = self._actor(fields["actor"])
            self._sweep(at)
            if key is None:
                self.service.perform(actor, action, request_id, at, **params)
                return {"ok": True}
            digest = line_digest(fields)  # the key is bound to the line's content
            outcome = self.service.perform_keyed(
                actor, action, request_id, at, key, digest=digest, **params
            )
        except Refused as exc:
            return {"ok": False, "error": exc.message}
        except NotAUser:
            # The line's actor (looked up, or removed since): the services' own sentence
            # speaks to whoever runs the command ("ask an admin to add you"), who is not them.
            name = d.quoted(fields["actor"], 64)
            return {"ok": False, "error": f"The actor {name} is not a returns-tui user."}
        verdict = dict(outcome.verdict)
        if outcome.duplicate:
            verdict["duplicate"] = True
        return verdict

    def _time(self, fields: dict[str, Any]) -> DateTime:
        """The line's time: in order, and not ahead of the real clock."""
        try:
            at = parse_time(fields.get("at"))
        except ValueError as exc:
            raise Refused(f"The field at: {exc}") from None
        if self.last_at is not None and at < self.last_at:
            raise Refused(
                f"The time {iso_utc(at)} is earlier than an earlier line's "
                f"({iso_utc(self.last_at)}); lines must come in time order."
            )
        if self.horizon is None or at > self.horizon:
            # The real clock only moves forward: read it again only when a line passes it.
            # A line may be CLOCK_SLACK ahead of it (the sender's clock may run ahead of
            # ours); further, and it would make deadlines pass early.
            self.horizon = self.clock() + CLOCK_SLACK
        if at > self.horizon:
            raise Refused(
                f"The time {iso_utc(at)} is in the future; a line may not be more than "
                f"{CLOCK_SLACK.in_words()} ahead of the real clock."
            )
        self.last_at = at
        return at

    def _actor(self, name: str) -> Actor:
        """`buyer` or a user, looked up once per run (the services check the user again,
        in the users table as it is, whenever they act)."""
        if name not in self.actors:
            self.actors[name] = self.service.actor_for(name)
        return self.actors[name]

    def _sweep(self, at: DateTime) -> None:
        """Every deadline up to `at`. Once swept to a time, sweeping to it again finds
        nothing: new deadlines always lie after the moment they are set."""
        if self.swept_to is None or at > self.swept_to:
            self.service.sweep(at)
            self.swept_to = at


def _parse(line: str) -> dict[str, Any]:
    try:
        fields = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        if line.isspace():
            raise Refused(
                f"The line holds only white space that JSON does not allow ({_odd_spaces(line)}); "
                "a blank line may hold only spaces and tabs."
            ) from None
        raise Refused(f"The line is not valid JSON ({exc.msg} at column {exc.colno}).") from None
    except (ValueError, RecursionError) as exc:
        raise Refused(f"The line is not valid JSON ({exc}).") from None
    if not isinstance(fields, dict):
        raise Refused("The line must be a JSON object.")
    # A lone surrogate can only come from a \u escape; no UTF-8 output or database holds one.
    if "\\u" in line and _has_lone_surrogate(fields):
        raise Refused("The line holds a lone surrogate escape (such as \\ud800), not text.")
    return fields


def _odd_spaces(line: str) -> str:
    """The white space characters of `line` that a blank line may not hold, as U+ codes."""
    codes = [f"U+{ord(ch):04X}" for ch in sorted(set(line) - set(BLANK))]
    if len(codes) > 4:
        codes = [*codes[:3], f"{len(codes) - 3} more"]
    return _names(codes)


def _has_lone_surrogate(value: Any) -> bool:
    """True when a key or a string anywhere in `value` is not writable as UTF-8. A walk, not
    recursion: a line may nest as deep as the JSON reader allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not d.is_unicode(item):
                return True
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


def _no_constant(name: str) -> None:
    # Python's json reads NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not a JSON value")


def _check_envelope(fields: dict[str, Any]) -> None:
    missing = [name for name in ENVELOPE if name not in fields]
    if missing:
        raise Refused(f"The line has no {_names(missing)}.")
    if not isinstance(fields["actor"], str):
        raise Refused("The field actor must be text: buyer or a user's login.")


def _action(fields: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(action, request id, parameters for Returns.perform) of a line, its fields checked:
    present, known, and of the right JSON type (as actions.py declares them)."""
    name = fields["action"]
    spec = actions.get(name)
    if spec is None:
        known = ", ".join(actions.NAMES)
        raise Refused(f"Unknown action {name!r}; the actions are {known}.")
    _check_fields(spec, fields)
    params = {p: fields[p] for p in spec.params if p in fields}
    if spec.name == "submit":
        # The line's request_id is the new request's id; its other fields are the
        # Submission's own, by name.
        submission = d.Submission(id=fields["request_id"], **params)
        return spec.name, submission.id, {"submission": submission}
    return spec.name, fields["request_id"], params


def _check_fields(spec: actions.Action, fields: dict[str, Any]) -> None:
    action = spec.name
    expected = ("request_id", *spec.params)
    missing = [name for name in expected if name not in fields and name not in spec.optional]
    if missing:
        raise Refused(f"{_a(action).title()} {action} line needs {_names(missing)}.")
    unknown = sorted(set(fields) - set(expected) - set(ENVELOPE) - {"key"})
    if unknown:
        # The names are the sender's: quoted, so a newline in one cannot split the verdict.
        names = _names([d.quoted(name, 64) for name in unknown[:5]])
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise Refused(f"{_a(action).title()} {action} line has no field {names}{more}.")
    types = {f.name: f.type for f in spec.fields}
    for name in expected:
        if name in fields:
            _check_type(name, types.get(name, actions.TEXT), fields[name])


def _check_type(name: str, kind: str, value: Any) -> None:
    if kind == actions.FLAG:
        if value is not None and not isinstance(value, bool):
            what = "text" if isinstance(value, str) else d.json_kind(value)
            raise Refused(f"The field {name} must be true, false or null, not {what}.")
    elif kind == actions.WHOLE_NUMBER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(f"The {name} must be a whole JSON number, not {value!r}.")
    elif kind == actions.DECIMAL_STRING and isinstance(value, int | float):
        raise Refused(
            f'The {name} must be a decimal string such as "12.99", not the number '
            f"{value!r}: JSON numbers cannot hold money exactly."
        )
    elif not isinstance(value, str):
        raise Refused(f"The field {name} must be text, not {d.json_kind(value)}.")


def _key(fields: dict[str, Any]) -> str | None:
    key = fields.get("key")
    if key is not None and not isinstance(key, str):
        raise Refused(f"The key must be text, not {d.json_kind(key)}.")
    return key


def _a(word: str) -> str:
    """The article before `word`: every action's name is pronounced as it is written."""
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
