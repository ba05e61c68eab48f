"""`apply` (DESIGN §4): JSON Lines through the same rules as the console, one verdict a line,
refusals that do not stop the run, time order, exactly-once keys, and inputs that cannot be
read. Run through `apply.run` on SQLite and PostgreSQL; the CLI's side is in test_cli.py."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pendulum
import pytest

from returns_tui import apply as applying
from returns_tui import cli, clock
from returns_tui import domain as d
from returns_tui.clock import utc_now
from returns_tui.errors import Forbidden
from returns_tui.export import write_jsonl
from returns_tui.timefmt import iso_utc
from tests.test_services import dump

# The design's example happens on "day 0" (2026-11-20 there); the tests put day 0 a month
# back from the real clock, since apply refuses lines ahead of the real clock.
DAY0 = utc_now().start_of("day").subtract(days=30)


def at(days: float = 0, hours: float = 0) -> str:
    return iso_utc(DAY0.add(seconds=round(days * 86400 + hours * 3600)))


def line(when: str, actor: str, action: str, **fields) -> str:
    return json.dumps({"at": when, "actor": actor, "action": action, **fields})


SUBMIT = dict(
    request_id="R1", order_id="O1", shop="acme", type="return_and_refund", buyer="Ana",
    product="Mug", sku="MUG-1", quantity=1, amount="12.99", currency="USD", reason="damaged",
    note="cracked",
)  # fmt: skip


def design_example() -> list[str]:
    """DESIGN §4's five lines (alice an operator of acme, sam an agent)."""
    return [
        line(at(0, 9), "buyer", "submit", **SUBMIT),
        line(at(0, 11), "alice", "reject", request_id="R1", reason="no_proof", note="no photo"),
        line(at(0, 12), "buyer", "appeal", request_id="R1"),
        line(at(1, 8), "sam", "mediate", request_id="R1", decision="buyer", note="photo is clear"),
        line(at(2, 8), "buyer", "ship", request_id="R1", tracking="1Z999"),
    ]


def apply_text(svc, text: str, *, until=None, tmp_path=None) -> list[dict]:
    """Run apply on `text` (through a file when tmp_path is given, else stdin); the verdicts."""
    out = io.StringIO()
    admin = svc.login("root-admin")
    if tmp_path is None:
        stdin = io.BytesIO(text.encode())
        status = applying.run(svc, admin, "-", until=until, out=out, stdin=stdin)
    else:
        path = tmp_path / "actions.jsonl"
        path.write_text(text, encoding="utf-8")
        status = applying.run(svc, admin, str(path), until=until, out=out)
    assert status == 0
    return [json.loads(x) for x in out.getvalue().splitlines()]


def export_text(svc) -> str:
    out = io.StringIO()
    write_jsonl(svc.export(svc.login("root-admin")), out)
    return out.getvalue()


def test_the_design_example_applies_line_by_line(svc, tmp_path):
    verdicts = apply_text(svc, "\n".join(design_example()) + "\n", tmp_path=tmp_path)

    assert verdicts == [{"line": n, "ok": True} for n in range(1, 6)]
    (request,) = [json.loads(x) for x in export_text(svc).splitlines()]
    assert request["status"] == "buyer_shipped"
    assert request["arbitration"] == "support_buyer"
    assert [(r["kind"], r["actor"], r["at"]) for r in request["records"]] == [
        ("submitted", "buyer", at(0, 9)),
        ("rejected", "alice", at(0, 11)),
        ("appealed", "buyer", at(0, 12)),
        ("mediated", "sam", at(1, 8)),
        ("shipped", "buyer", at(2, 8)),
    ]
    assert request["records"][1]["reason"] == "no_proof"
    assert request["records"][4]["tracking"] == "1Z999"


def test_deadlines_up_to_a_line_come_before_it_stamped_with_the_deadline(svc):
    lines = [
        line(at(0, 9), "buyer", "submit", **SUBMIT),
        # 48 h later to the second: the request was auto-approved at that very moment.
        line(at(2, 9), "alice", "accept", request_id="R1"),
    ]
    verdicts = apply_text(svc, "\n".join(lines))

    assert verdicts[0] == {"line": 1, "ok": True}
    assert verdicts[1]["ok"] is False
    assert "auto approved by system" in verdicts[1]["error"]
    records = svc.records(svc.login("root-admin"), "R1")
    assert [(r.kind, iso_utc(r.at)) for r in records] == [
        (d.Kind.SUBMITTED, at(0, 9)),
        (d.Kind.AUTO_APPROVED, at(2, 9)),
    ]


def test_a_line_sweeps_other_requests_too_and_until_sweeps_after_the_last(svc):
    lines = [
        line(at(0, 9), "buyer", "submit", **SUBMIT),
        line(at(3, 0), "buyer", "submit", **{**SUBMIT, "request_id": "R2", "order_id": "O2"}),
    ]
    apply_text(svc, "\n".join(lines), until=DAY0.add(days=6))

    admin = svc.login("root-admin")
    # R1: auto-approved at +48 h by the second line's sweep; R2 by --until.
    assert svc.get(admin, "R1").status is d.Status.AWAITING_BUYER_SHIP
    assert svc.get(admin, "R2").status is d.Status.AWAITING_BUYER_SHIP
    assert iso_utc(svc.records(admin, "R2")[-1].at) == at(5, 0)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json", "not valid JSON"),
        ('{"at": "x",', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ('{"at": NaN, "actor": "buyer", "action": "appeal"}', "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ('{"at": "x", "\\ud800": 1}', "lone surrogate"),
        (line(at(1), "sam", "note", request_id="R1", note="\ud800"), "lone surrogate"),
        (line(at(1), "buyer", "frobnicate", request_id="R1"), "Unknown action 'frobnicate'"),
        (line(at(1), "buyer", 7, request_id="R1"), "Unknown action 7"),
        # The line names the actor; the admin running apply is not told to ask for access.
        (line(at(1), "mallory", "accept", request_id="R1"),
         "The actor mallory is not a returns-tui user."),
        (line(at(1), "system", "accept", request_id="R1"),
         "The actor system is not a returns-tui user."),
        (line(at(1), ["alice"], "accept", request_id="R1"), "actor must be text"),
        (json.dumps({"actor": "alice", "action": "accept"}), "has no at"),
        (json.dumps({"at": at(1)}), "has no actor and action"),
        (line(at(1), "alice", "accept"), "An accept line needs request_id."),
        (line(at(1), "buyer", "appeal"), "An appeal line needs request_id."),
        (line(at(1), "alice", "accept", request_id="R1", x=1), "An accept line has no field x."),
        (line(at(1), "alice", "reject", request_id="R1"), "A reject line needs reason."),
        (line(at(1), "sam", "mediate", request_id="R1"), "needs decision and note"),
        (line(at(1), "buyer", "ship", request_id="R1"), "needs tracking"),
        (line(at(1), "buyer", "submit", request_id="R2"), "needs order_id, shop, type"),
        (line(at(1), "buyer", "cancel", request_id="R1", reason="x"), "has no field reason"),
        (line(at(1), "buyer", "cancel", request_id="R1", **{"a\nb": 1}), "has no field 'a\\nb'"),
        (line(at(1), "buyer", "cancel", request_id="R1", **{f"f{i}": 1 for i in range(7)}),
         "has no field f0, f1, f2, f3 and f4 (and 2 more)"),
        (line(at(1), "alice", "accept", request_id=1), "request_id must be text, not a number"),
        (line(at(1), "buyer", "ship", request_id="R1", tracking=None), "must be text, not null"),
        (line(at(1), "sam", "note", request_id="R1", note={"a": 1}), "must be text, not an obj"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "quantity": "1"}), "quantity must be"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "quantity": 1.5}), "quantity must be"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "quantity": True}), "quantity must be"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "amount": 12.99}), "not the number 12.99"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "amount": 13}), "not the number 13"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "type": ["refund"]}), "type must be text"),
        (line(at(1), "buyer", "submit", **{**SUBMIT, "request_id": "R9", "amount": "1.999"}),
         "at most two decimals"),
        (line(at(1), "buyer", "ship", request_id="R1", tracking="1Z", key=5), "key must be text"),
        (line("2026-11-20", "buyer", "appeal", request_id="R1"), "not an ISO 8601 time"),
        (line("2026-11-20T09:00:00", "buyer", "appeal", request_id="R1"), "with an offset"),
        (line(12, "buyer", "appeal", request_id="R1"), "not an ISO 8601 time"),
        (line(at(1), "sam", "accept", request_id="R1"), "Only a shop's operator may accept"),
        (line(at(1), "olga", "accept", request_id="R1"), "There is no request R1 that you can"),
    ],
)
def test_a_bad_line_is_refused_in_a_sentence_and_the_run_goes_on(svc, text, error):
    lines = [
        line(at(0), "buyer", "submit", **SUBMIT),
        text,
        line(at(1, 12), "alice", "accept", request_id="R1"),
    ]
    verdicts = apply_text(svc, "\n".join(lines))

    assert verdicts[0] == {"line": 1, "ok": True}
    assert verdicts[1]["line"] == 2 and verdicts[1]["ok"] is False, verdicts[1]
    assert error in verdicts[1]["error"]
    assert "\n" not in verdicts[1]["error"] and "Traceback" not in verdicts[1]["error"]
    assert "ask an admin" not in verdicts[1]["error"]
    assert verdicts[2] == {"line": 3, "ok": True}


def test_lines_must_come_in_time_order_and_not_from_the_future(svc):
    soon = iso_utc(utc_now().add(seconds=4))
    later = iso_utc(utc_now().add(minutes=4, seconds=50))
    lines = [
        line(at(1), "buyer", "submit", **SUBMIT),
        line(at(0), "alice", "accept", request_id="R1"),  # earlier than line 1
        line(later, "alice", "accept", request_id="R1"),  # beyond the real clock + 5 s
        line(soon, "alice", "note", request_id="R1", note="ok"),  # within the slack: fine
    ]
    verdicts = apply_text(svc, "\n".join(lines))

    assert verdicts[0]["ok"] and verdicts[3]["ok"]
    assert "earlier than an earlier line's" in verdicts[1]["error"]
    assert verdicts[2]["error"].endswith(
        "is in the future; a line may not be more than 5 seconds ahead of the real clock."
    )
    # Refused lines changed nothing: only the last accept is recorded.
    records = svc.records(svc.login("root-admin"), "R1")
    kinds = [r.kind.value for r in records]
    assert kinds == ["submitted", "auto_approved", "expired", "noted"]


def test_blank_lines_are_skipped_but_counted_and_any_line_end_works(svc):
    first, second = design_example()[:2]
    text = f"\ufeff{first}\r\n\n   \n{second}\r\n\n"
    assert apply_text(svc, text) == [{"line": 1, "ok": True}, {"line": 4, "ok": True}]


def test_unicode_line_separators_inside_json_text_do_not_split_a_line(svc):
    note = "cracked\u2028badly \u2029 ☕ Zoë"
    verdicts = apply_text(svc, line(at(0), "buyer", "submit", **{**SUBMIT, "note": note}))

    assert verdicts == [{"line": 1, "ok": True}]
    assert svc.get(svc.login("root-admin"), "R1").buyer_note == note


def test_keyed_lines_apply_once_and_a_second_run_repeats_the_verdicts(svc):
    lines = [json.dumps({**json.loads(x), "key": f"e{i}"}) for i, x in enumerate(design_example())]
    lines.append(line(at(3), "alice", "accept", request_id="R1", key="evt-refused"))
    text = "\n".join(lines)

    first = apply_text(svc, text)
    exported = export_text(svc)
    tables = dump(svc.engine)
    second = apply_text(svc, text)

    assert [v["ok"] for v in first] == [True] * 5 + [False]
    assert all(v.get("duplicate") is True for v in second)
    # The second run says what the first said, and changes nothing.
    assert [{k: v for k, v in x.items() if k != "duplicate"} for x in second] == first
    assert export_text(svc) == exported
    assert dump(svc.engine) == tables


def test_only_an_admin_may_run_apply(svc):
    with pytest.raises(Forbidden, match="Only an admin may run apply"):
        applying.run(svc, svc.login("alice"), "-", stdin=io.BytesIO(b""), out=io.StringIO())


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda tmp: str(tmp / "missing.jsonl"), "cannot be read: No such file"),
        (lambda tmp: str(tmp), "cannot be read: Is a directory"),
        (lambda tmp: _write(tmp, b'{"a": 1}\n{"b": "caf\xe9"}\n'), "is not UTF-8 text (line 2)"),
    ],
)
def test_an_input_that_cannot_be_read_applies_nothing(svc, tmp_path, make, error):
    tables = dump(svc.engine)
    with pytest.raises(applying.UnreadableInput, match=re.escape(error)):
        applying.run(svc, svc.login("root-admin"), make(tmp_path), out=io.StringIO())
    assert dump(svc.engine) == tables


def _write(tmp, data: bytes) -> str:
    path = tmp / "latin1.jsonl"
    path.write_bytes(data)
    return str(path)


def test_the_real_clock_is_read_again_only_when_a_line_passes_what_it_said(svc):
    readings = [pendulum.datetime(2026, 1, 1, tz="UTC"), pendulum.datetime(2026, 1, 2, tz="UTC")]
    runner = applying._Runner(svc, lambda: readings.pop(0))

    runner._time({"at": "2025-12-31T00:00:00Z"})
    runner._time({"at": "2026-01-01T00:00:04Z"})  # within 5 s of the first reading
    assert len(readings) == 1
    runner._time({"at": "2026-01-01T12:00:00Z"})  # past it: the clock is read again
    assert readings == []


def test_a_line_more_than_five_seconds_ahead_cannot_make_a_deadline_pass_early(svc):
    """Issue 11: a note dated now + 4 min 50 s auto-approved a request whose deadline was
    3 minutes away. The slack is clock.CLOCK_SLACK, five seconds, as for `sweep --now`."""
    now = utc_now()
    lines = [
        # Submitted so that its 48 hours run out 3 minutes from now.
        line(iso_utc(now.subtract(hours=48).add(minutes=3)), "buyer", "submit", **SUBMIT),
        line(iso_utc(now.add(minutes=4, seconds=50)), "sam", "note", request_id="R1", note="x"),
        line(iso_utc(now.add(seconds=6)), "sam", "note", request_id="R1", note="x"),
        line(iso_utc(now.add(seconds=4)), "sam", "note", request_id="R1", note="within"),
    ]
    verdicts = apply_text(svc, "\n".join(lines))

    assert [v["ok"] for v in verdicts] == [True, False, False, True]
    assert all("is in the future" in v["error"] for v in verdicts[1:3])
    admin = svc.login("root-admin")
    assert svc.get(admin, "R1").status is d.Status.PENDING  # its deadline is still ahead
    assert [r.kind.value for r in svc.records(admin, "R1")] == ["submitted", "noted"]


def test_apply_and_the_command_line_share_one_slack():
    assert cli.CLOCK_SLACK is applying.CLOCK_SLACK is clock.CLOCK_SLACK
    assert clock.CLOCK_SLACK == pendulum.duration(seconds=5)


def test_the_readmes_sixth_line_gets_the_verdict_the_readme_shows(svc):
    """README: the design's five lines and a sixth that accepts R1 at 09:00 on the 22nd."""
    lines = [*design_example(), line(at(2, 9), "alice", "accept", request_id="R1")]
    verdicts = apply_text(svc, "\n".join(lines))
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    shown = re.search(r'\{"line": 6, .*\}', readme).group(0)
    # The lines here are days old, not of November 2026: the times aside.
    time = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    got = json.dumps(verdicts[5], ensure_ascii=False)
    assert time.sub("TIME", got) == time.sub("TIME", shown)
