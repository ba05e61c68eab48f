"""Hostile input: random and malformed JSON Lines into `returns-tui apply`, and random text
into the console's dialogs and search box (hypothesis).

Nothing may crash (no traceback: `main` returns a status, the subprocess's stderr holds no
"Traceback"), every input line gets exactly one verdict, text is stored exactly as sent (the
export gives it back) or refused with one sentence, and nothing is interpreted: markup stays
literal on screen, and ESC and other control characters reach the terminal only as visible
placeholders (ESC as ␛).

Example counts are modest for CI; RETURNS_TUI_TORTURE=large multiplies them (see
docs/RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from returns_tui import cli
from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.clock import parse_time, utc_now
from returns_tui.identity import login_name
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.store.schema import records, requests
from returns_tui.timefmt import iso_utc
from tests.conftest import T0

LARGE = os.environ.get("RETURNS_TUI_TORTURE") == "large"
SCALE = 10 if LARGE else 1
RETURNS_TUI = Path(sys.executable).with_name("returns-tui")

# What a hostile sender would try. Every one of them must be stored exactly or refused.
HOSTILE = [
    "[@click=app.quit]photo[/]",
    "[link=https://evil.example/]click me[/link]",
    "[00]",
    "[bold red]loud",
    "[/]",
    "\x1b[2J\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]0;owned\x07",
    "\x07\x08\x7f\x9b31m",
    "a\x00b",
    "\x00",
    "x" * 10_000,
    "\u202eevil.exe\u202c",
    "\u2066isolate\u2069\u200f",
    "👩‍💻🎉🏳️‍🌈",
    "'; DROP TABLE requests; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM records; --",
    "%_\\",
    "\ud800",
    "line\nbreak",
    "cr\rreturn",
    "\u2028\u2029\x85",
    "\ufeffbom",
    "   ",
    "",
    "Ω≈ç√∫˜µ≤≥÷",
    "𝕿𝖍𝖊 𝖖𝖚𝖎𝖈𝖐",
    "ｆｕｌｌｗｉｄｔｈ١٢٣",
]
MAX_NUMBERS = [0, -1, 1, 2**31, 2**63, 10**30, 1.5, 1e400, -0.0]

text_value = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=4).map("".join),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=600),
)
json_value = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.sampled_from(MAX_NUMBERS), st.integers(), st.floats(),
        text_value,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_value, inner, max_size=3),
    max_leaves=6,
)  # fmt: skip

ACTIONS = {
    "submit": ("request_id", "order_id", "shop", "type", "buyer", "product", "sku", "quantity",
               "amount", "currency", "reason", "note"),
    "accept": ("request_id",),
    "reject": ("request_id", "reason", "note"),
    "cancel": ("request_id",),
    "ship": ("request_id", "tracking"),
    "receive": ("request_id",),
    "appeal": ("request_id",),
    "mediate": ("request_id", "decision", "note"),
    "note": ("request_id", "note"),
}  # fmt: skip
ACTOR_OF = {"accept": "alice", "reject": "alice", "receive": "alice", "mediate": "sam"}
ACTOR_OF |= {"note": "sam", "submit": "buyer", "cancel": "buyer", "ship": "buyer"}
ACTOR_OF |= {"appeal": "buyer"}


TARGETS = {
    "reject": ["BASE", "P1", "P2", "P3"],
    "mediate": ["M1", "M2", "M3"],
    "ship": ["A1", "A2", "A3"],
}
TARGETS["note"] = [rid for rids in TARGETS.values() for rid in rids]


def good_submit(rid: str, **over: Any) -> dict[str, Any]:
    fields = {
        "request_id": rid, "order_id": "O" + rid, "shop": "acme", "type": "return_and_refund",
        "buyer": "Ana", "product": "Mug", "sku": "MUG-1", "quantity": 1, "amount": "12.99",
        "currency": "USD", "reason": "damaged", "note": "cracked",
    }  # fmt: skip
    return fields | over


@st.composite
def hostile_line(draw, index: int) -> dict[str, Any] | str:
    """One input line: an object to send as JSON, or a raw string (not always JSON)."""
    shape = draw(
        st.sampled_from(
            ["raw", "json", "fields", "fields", "submit", "submit", "text", "text", "text"]
        )
    )
    if shape == "raw":  # anything at all on one line
        return draw(st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=80))
    if shape == "json":  # any JSON value
        return dumps(draw(json_value), ascii_only=draw(st.booleans()))
    action = draw(st.sampled_from(sorted(ACTIONS)))
    if shape == "fields":  # a line whose every field may be anything
        line: dict[str, Any] = {
            "at": draw(st.one_of(st.just(None), json_value)),
            "actor": draw(st.sampled_from(["buyer", "alice", "sam", "root-admin"]) | text_value),
            "action": draw(st.sampled_from(sorted(ACTIONS)) | json_value),
        }
        for name in ACTIONS[action]:
            if draw(st.integers(0, 5)):
                line[name] = draw(json_value)
        if draw(st.booleans()):
            line[draw(text_value)] = draw(json_value)
    elif shape == "submit":  # a good submit, one or more text fields hostile
        rid = f"H{index}"
        line = good_submit(rid)
        for name in draw(st.sets(st.sampled_from(
            ["request_id", "order_id", "shop", "buyer", "product", "sku", "reason", "note"]
        ), min_size=1, max_size=3)):  # fmt: skip
            line[name] = draw(text_value)
        line |= {"actor": "buyer", "action": "submit"}
    else:  # a good action on an existing request, its free text hostile
        action = draw(st.sampled_from(["note", "reject", "mediate", "note", "ship"]))
        rid = draw(st.sampled_from(TARGETS[action]))
        line = {"actor": ACTOR_OF[action], "action": action, "request_id": rid}
        if action == "reject":
            line |= {"reason": draw(st.sampled_from(["other", "no_proof"]) | text_value)}
        if action == "mediate":
            line |= {"decision": draw(st.sampled_from(["buyer", "seller"]) | text_value)}
        if action == "ship":
            line |= {"tracking": draw(text_value)}
        else:
            line |= {"note": draw(text_value)}
    if shape != "fields":
        line["at"] = None  # filled in with the line's own time
    if draw(st.integers(0, 3)) == 0:
        line["key"] = draw(text_value)
    return line


@st.composite
def hostile_stream(draw) -> list[dict[str, Any] | str]:
    count = draw(st.integers(1, 12))
    return [draw(hostile_line(i)) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# Running apply and export in this process, as the command line does


START = utc_now().start_of("day").subtract(days=20)


# How much was fed, printed at the end of the module (pytest -s) for docs/RELIABILITY.md.
FED = {"apply lines": 0, "apply runs": 0, "dialog texts": 0, "search texts": 0}


@pytest.fixture(scope="module", autouse=True)
def report_fed():
    yield
    print(f"\n[hostile] fed: {FED}")


def dumps(value: Any, ascii_only: bool = False) -> str:
    """JSON text that UTF-8 can carry: a lone surrogate only as an escape ("\\ud800")."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text if d.is_unicode(text) else json.dumps(value, ensure_ascii=True)


def encode(lines: list[dict[str, Any] | str]) -> tuple[bytes, list[Any]]:
    """The input file's bytes, and what each line was (the object, or its raw text)."""
    out, sent = [], []
    for n, line in enumerate(lines):
        if isinstance(line, dict):
            if line.get("at") is None:
                line = line | {"at": iso_utc(START.add(seconds=10 + n))}
            text = dumps(line)
            sent.append(line)
        else:
            text = line
            sent.append(line)
        out.append(text)
    return ("\n".join(out) + "\n").encode("utf-8"), sent


def run_cli(args: list[str], user: str = "root-admin") -> tuple[int, str, str]:
    """`returns-tui ARGS` in this process: (status, stdout, stderr). An exception that
    escapes `main` is a traceback, and fails the test by itself."""
    # Real UTF-8 streams, as a terminal or a pipe has: text that cannot be written as UTF-8
    # (a lone surrogate) fails here as it would there.
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", newline="\n")
    stderr = io.TextIOWrapper(err_bytes, encoding="utf-8", newline="\n")
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli.main(args, login=user)
    stdout.flush()
    stderr.flush()
    return status, out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8")


def prepare(engine) -> None:
    svc = Returns(engine)
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    svc.add_user("root-admin", "alice", "operator", ("acme",), T0)
    svc.add_user("root-admin", "sam", "agent", (), T0)
    # Requests the free-text actions can act on: BASE and P* pending (reject), M* in
    # mediation (mediate), A* awaiting the buyer (ship); a note goes on any of them.
    alice = svc.login("alice")
    for rid in [*TARGETS["reject"], *TARGETS["mediate"], *TARGETS["ship"]]:
        sub = good_submit(rid)
        del sub["request_id"]
        svc.submit(BUYER, d.Submission(id=rid, **sub), START)
        if rid.startswith("M"):
            svc.reject(alice, rid, START.add(seconds=1), "no_proof", "")
            svc.appeal(BUYER, rid, START.add(seconds=2))
        elif rid.startswith("A"):
            svc.accept(alice, rid, START.add(seconds=1))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    prepare(engine)
    engine.dispose()
    return path


def jsonl(text: str) -> list[Any]:
    """JSON Lines end at "\\n" only: a JSON string may hold U+2028 and the like unescaped."""
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def blank(line: str) -> bool:
    """apply's own rule for a line it skips: empty, or only JSON's own white space (space,
    tab, and the CR of a CR LF line end). Any other white space gets a verdict."""
    return not line.strip(" \t\r")


def verify_run(url: str, data: bytes, sent: list[Any]) -> list[dict[str, Any]]:
    """Apply `data` through the command line and check what DESIGN §4 promises."""
    path = Path(url.removeprefix("sqlite:///") + ".jsonl") if url.startswith("sqlite") else None
    if path is None:
        path = Path(f"/tmp/hostile-{uuid.uuid4().hex}.jsonl")
    path.write_bytes(data)
    FED["apply runs"] += 1
    FED["apply lines"] += len(sent)
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            records_before = conn.execute(sa.select(sa.func.count()).select_from(records))
            records_before = records_before.scalar_one()
        status, out, err = run_cli(["--db", url, "apply", str(path)])
        assert status == 0, (status, err)
        assert err == ""
        lines = data.decode("utf-8").removeprefix("\ufeff").split("\n")
        expected = [n for n, line in enumerate(lines, 1) if not blank(line)]
        verdicts = jsonl(out)
        assert [v["line"] for v in verdicts] == expected
        assert raw_controls(out.replace("\n", "")) == set()  # nothing raw to the terminal
        for v in verdicts:
            assert set(v) <= {"line", "ok", "error", "duplicate"}, v
            if not v["ok"]:
                error = v["error"]
                assert isinstance(error, str) and error.strip(), v
                assert "\n" not in error and "\r" not in error, error
                assert error.endswith("."), error
        # Every line that was applied wrote exactly one record by a person (deadlines write
        # the system's); every refused one wrote none.
        applied = [v for v in verdicts if v["ok"] and not v.get("duplicate")]
        with engine.connect() as conn:
            people = conn.execute(
                sa.select(sa.func.count()).select_from(records).where(records.c.actor != "system")
            ).scalar_one()
        assert people - records_before == len(applied) - 0, (people, records_before, applied)
        assert check(engine, START.add(days=1)) == []
        verify_stored_exactly(engine, url, verdicts, sent, lines)
        return verdicts
    finally:
        engine.dispose()
        path.unlink(missing_ok=True)


def raw_controls(text: str) -> set[str]:
    """The characters of `text` a terminal could act on or that hide or reorder text: every
    one str.isprintable() refuses except the spaces (Zs) and unassigned code points."""
    return {
        ch for ch in text
        if not ch.isprintable() and unicodedata.category(ch) not in ("Zs", "Cn")
    }  # fmt: skip


def verify_stored_exactly(engine, url, verdicts, sent, lines) -> None:
    """What an applied line carried is what the database holds and what export gives back."""
    status, out, err = run_cli(["--db", url, "export", "--format", "jsonl"])
    assert status == 0 and err == ""
    # Whatever the data holds, export writes no raw control or format character: JSON
    # escapes them, CSV shows textsafe's placeholders (line breaks and tabs stay in cells).
    assert raw_controls(out.replace("\n", "")) == set()
    status, table, err = run_cli(["--db", url, "export", "--format", "csv"])
    assert status == 0 and err == ""
    assert raw_controls(table.replace("\r\n", "").replace("\n", "").replace("\t", "")) <= {
        "\u200d"  # the zero-width joiner, which textsafe keeps for emoji
    }
    exported = {obj["id"]: obj for obj in jsonl(out)}
    by_line = {v["line"]: v for v in verdicts}
    # Which input line each sent item is: the items were joined with "\n" in order, but an
    # item's own text may not hold a "\n" (raw lines never do; JSON escapes it).
    for n, item in enumerate(sent, 1):
        verdict = by_line.get(n)
        if not isinstance(item, dict) or verdict is None or not verdict["ok"]:
            continue
        if verdict.get("duplicate"):
            continue
        action = item.get("action")
        if action == "submit":
            rid = item["request_id"]
            with engine.connect() as conn:
                row = conn.execute(sa.select(requests).where(requests.c.id == rid)).one()
            for field in ("order_id", "shop", "buyer", "product", "sku", "reason"):
                assert getattr(row, field) == item[field], field
            assert row.buyer_note == item.get("note", "")
            first = exported[rid]["records"][0]
            assert first.get("note", "") == item.get("note", "")
        elif action in ("note", "reject", "mediate"):
            recs = exported[item["request_id"]]["records"]
            at = parse_time(item["at"])
            mine = [r for r in recs if parse_time(r["at"]) == at and r["actor"] == item["actor"]]
            assert len(mine) == 1, (item, recs)
            note = item.get("note")
            if note:
                assert mine[0]["note"] == note
            if action == "reject":
                assert mine[0]["reason"] == item["reason"]


HOSTILE_SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", 100 * SCALE)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip


@HOSTILE_SETTINGS
@given(stream=hostile_stream())
@example(stream=[good_submit("Q1", quantity=2**31) | {"actor": "buyer", "action": "submit"}])
@example(stream=[good_submit("Q2", quantity=2**63) | {"actor": "buyer", "action": "submit"}])
@example(stream=[{"actor": "sam", "action": "note", "request_id": "\ud800", "note": "x"}])
@example(stream=[{"actor": "sam", "action": "note", "request_id": "BASE", "note": "\ud800"}])
@example(stream=[good_submit("S1", buyer="A\udfff") | {"actor": "buyer", "action": "submit"}])
@example(stream=[{"actor": "\ud800", "action": "note", "request_id": "BASE", "note": "x"}])
@example(stream=[{"actor": "buyer", "action": "submit", "key": "\ud800"} | good_submit("K1")])
def test_apply_takes_any_line_without_a_traceback(template, tmp_path, stream):
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    data, sent = encode(stream)
    try:
        verify_run(f"sqlite:///{path}", data, sent)
    finally:
        for leftover in tmp_path.glob(path.name + "*"):
            leftover.unlink()


def test_a_field_name_with_a_lone_surrogate_gets_a_verdict(template, tmp_path):
    path = tmp_path / "surrogate.db"
    shutil.copy(template, path)
    line = {"actor": "sam", "action": "note", "request_id": "BASE", "note": "x", "\ud800": 1}
    data, sent = encode([line])
    verify_run(f"sqlite:///{path}", data, sent)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("\u00a0", "U+00A0"),  # no-break space, as a word processor leaves it
        ("\u3000\u3000", "U+3000"),  # ideographic space
        ("  \u2028\t", "U+2028"),
        ("\x85", "U+0085"),
        ("\x1c\x1d\x1e\x1f", "U+001C, U+001D, U+001E and U+001F"),
        ("\f\v", "U+000B and U+000C"),
        ("\u2002\u2003\u2009\u200a\u205f", "U+2002, U+2003, U+2009 and 2 more"),
    ],
)
def test_a_line_of_other_unicode_white_space_is_refused_not_skipped(
    template, tmp_path, line, named
):
    """Blank lines (empty, or spaces and tabs: what JSON itself skips) are skipped; a line
    holding any other white space is not blank to JSON, so it gets a verdict like every
    other line that is not blank: a refusal naming what it holds, and the run goes on."""
    path = tmp_path / "space.db"
    shutil.copy(template, path)
    good = good_submit("WS1") | {"actor": "buyer", "action": "submit"}
    data, sent = encode(["", " \t ", line, good, "\t\r"])
    verdicts = verify_run(f"sqlite:///{path}", data, sent)
    assert [v["line"] for v in verdicts] == [3, 4]
    refused, applied = verdicts
    assert refused == {
        "line": 3,
        "ok": False,
        "error": f"The line holds only white space that JSON does not allow ({named}); "
        "a blank line may hold only spaces and tabs.",
    }
    assert applied == {"line": 4, "ok": True}


# Values of every JSON type but the right one, and a JSON type nested in another.
WRONG_JSON = [["refund"], {"type": "refund"}, None, True, 1.5, 12, [{"a": [None]}], []]


def test_a_submit_field_of_the_wrong_json_type_gets_a_one_line_refusal(template, tmp_path):
    """A list or an object where text belongs (type, amount, reason, the ids ...) is refused
    with one sentence, never a TypeError from looking it up in a set."""
    path = tmp_path / "wrong-types.db"
    shutil.copy(template, path)
    lines = [
        good_submit(f"W{n}-{m}") | {name: value, "actor": "buyer", "action": "submit"}
        for n, name in enumerate(ACTIONS["submit"])
        for m, value in enumerate(WRONG_JSON)
        if not (name == "quantity" and type(value) is int)  # 12 is a good quantity
    ]
    data, sent = encode(lines)
    verdicts = verify_run(f"sqlite:///{path}", data, sent)
    assert len(verdicts) == len(lines) and not any(v["ok"] for v in verdicts)
    errors = {v["error"] for v in verdicts}
    assert "The field type must be text, not a list." in errors
    assert "The field type must be text, not an object." in errors


@pytest.mark.parametrize("value", [["refund"], {"refund": 1}, [], {}], ids=repr)
def test_the_services_refuse_a_type_that_is_a_list_or_an_object(db_url, value):
    """The path beneath apply's own field check (the demo's buyers, a script): the domain
    refuses the submission and nothing is written, on both backends."""
    engine = open_engine(db_url)
    upgrade(engine)
    svc = Returns(engine)
    try:
        sub = good_submit("T1") | {"type": value}
        sub["id"] = sub.pop("request_id")
        for attempt in (
            lambda: svc.submit(BUYER, d.Submission(**sub), START),
            lambda: svc.perform(BUYER, "submit", "T1", START, submission=d.Submission(**sub)),
        ):
            with pytest.raises(d.Refused) as caught:
                attempt()
            assert caught.value.message == (
                "The type must be refund or return_and_refund, not "
                f"{'a list' if isinstance(value, list) else 'an object'}."
            )
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar() == 0
    finally:
        engine.dispose()


def corpus() -> list[dict[str, Any]]:
    """Every hostile string in every free-text field of every action that takes one."""
    lines: list[dict[str, Any]] = []
    for n, text in enumerate(HOSTILE):
        rid = f"C{n}"
        for name in ("request_id", "order_id", "buyer", "product", "sku", "reason", "note"):
            sub = good_submit(f"{rid}-{name}", **{name: text})
            if name == "order_id":
                sub["order_id"] = text
            lines.append(sub | {"actor": "buyer", "action": "submit"})
        lines += [
            {"actor": "sam", "action": "note", "request_id": "BASE", "note": text},
            {"actor": "alice", "action": "note", "request_id": "P1", "note": text},
            {"actor": "sam", "action": "note", "request_id": text, "note": "x"},
            {"actor": text, "action": "note", "request_id": "BASE", "note": "x"},
            {"actor": "sam", "action": text, "request_id": "BASE"},
            {"actor": "buyer", "action": "ship", "request_id": "A1", "tracking": text},
            {"actor": "sam", "action": "note", "request_id": "P2", "note": "k", "key": text},
        ]
    # Decisions that pass, with hostile notes, once each (a request is decided only once).
    lines += [
        {"actor": "alice", "action": "reject", "request_id": "P3", "reason": "other",
         "note": HOSTILE[0] + HOSTILE[5]},
        {"actor": "sam", "action": "mediate", "request_id": "M1", "decision": "buyer",
         "note": HOSTILE[6] + HOSTILE[12]},
        {"actor": "sam", "action": "mediate", "request_id": "M2", "decision": "seller",
         "note": HOSTILE[15]},
    ]  # fmt: skip
    return lines


def test_every_hostile_string_in_every_field_on_both_backends(db_url):
    engine = open_engine(db_url)
    upgrade(engine)
    prepare(engine)
    engine.dispose()
    data, sent = encode(corpus())
    verdicts = verify_run(db_url, data, sent)
    ok = {v["line"] for v in verdicts if v["ok"]}
    # What must pass does: markup, escapes, SQL, bidi and emoji are all just text.
    must_pass = [
        n for n, item in enumerate(sent, 1)
        if item.get("action") in ("submit", "note", "reject", "mediate")
        and item.get("actor") in ("buyer", "sam", "alice")
        and all(d.storable(v) and v.strip() for k, v in item.items()
                if k in ("request_id", "order_id", "buyer", "product", "sku", "reason"))
        and (d.storable(item.get("note", "")) and len(item.get("note", "")) <= 500
             and (item.get("note", "x").strip() or item["action"] == "submit"))
        and d.storable(item.get("key", "k")) and 1 <= len(item.get("key", "k")) <= 200
        and len(item.get("request_id", "")) <= 64 and len(item.get("order_id", "")) <= 64
        and len(item.get("buyer", "")) <= 200 and len(item.get("product", "")) <= 500
        and len(item.get("sku", "")) <= 100 and len(item.get("reason", "")) <= 100
    ]  # fmt: skip
    assert set(must_pass) - ok == set(), [sent[n - 1] for n in sorted(set(must_pass) - ok)][:3]
    assert len(ok) > 150


def test_input_that_is_not_utf8_is_refused_whole_in_one_line(template, tmp_path):
    path = tmp_path / "bad.db"
    shutil.copy(template, path)
    source = tmp_path / "bad.jsonl"
    good = json.dumps(good_submit("U1") | {"actor": "buyer", "action": "submit",
                                          "at": iso_utc(START.add(seconds=5))})  # fmt: skip
    source.write_bytes(good.encode() + b"\n" + b'{"note": "\xed\xa0\x80 \xff"}\n')
    status, out, err = run_cli(["--db", f"sqlite:///{path}", "apply", str(source)])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "not UTF-8 text (line 2)" in err, err
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(requests.c.id).where(requests.c.id == "U1")).first() is None
    engine.dispose()


def test_a_hostile_stream_through_the_real_command_has_no_traceback(template, tmp_path):
    """The installed command in its own process, its stderr as a terminal would get it."""
    path = tmp_path / "proc.db"
    shutil.copy(template, path)
    lines = corpus() + [
        "", "{", "[]", "null", '{"at": NaN}', "\x00", "\x1b[2J", "\u2028", '{"a": ' * 5000,
        json.dumps({"at": "2026-01-01T00:00:00+00:00", "actor": "buyer", "action": "appeal",
                    "request_id": "BASE", "extra\x1b[31m": 1}),
    ]  # fmt: skip
    data, sent = encode(lines)
    source = tmp_path / "proc.jsonl"
    source.write_bytes(data)
    engine = open_engine(f"sqlite:///{path}")  # the command runs as the account running the tests
    Returns(engine).add_user("root-admin", login_name(), "admin", (), T0)
    engine.dispose()
    env = dict(os.environ, RETURNS_TUI_DB=f"sqlite:///{path}")
    result = subprocess.run(
        [str(RETURNS_TUI), "apply", str(source)],
        capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")[-2000:]
    assert result.returncode == 0, result.stderr
    text = data.decode().split("\n")
    expected = [n for n, line in enumerate(text, 1) if not blank(line)]
    assert [v["line"] for v in jsonl(result.stdout.decode())] == expected


# ---------------------------------------------------------------------------------------------
# The console: the dialogs' note fields and the search box, fed random text through Pilot

from textual import events  # noqa: E402
from textual.geometry import Region  # noqa: E402
from textual.widgets import Input, RadioSet, Select  # noqa: E402

from returns_tui.screens.form import NoteField  # noqa: E402
from returns_tui.screens.mediate import MediateScreen  # noqa: E402
from returns_tui.screens.note import NoteScreen  # noqa: E402
from returns_tui.screens.reject import RejectScreen  # noqa: E402
from returns_tui.widgets.banner import Banner  # noqa: E402
from returns_tui.widgets.detail import DetailPanel  # noqa: E402
from returns_tui.widgets.request_table import RequestTable  # noqa: E402
from returns_tui.widgets.safe_input import one_line  # noqa: E402
from returns_tui.widgets.status_line import StatusLine  # noqa: E402
from returns_tui.widgets.tab_bar import TabBar  # noqa: E402
from tests import dialog_data  # noqa: E402
from tests.support import console as cs  # noqa: E402

SIZE = (120, 36)
# Each text costs a quarter of a second in a dialog, and a search most of a second.
CONSOLE_SETTINGS = settings(
    max_examples=2 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
screen_text_value = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
    st.text(st.characters(codec="utf-8"), max_size=80),
)
# What a terminal must never receive raw: ESC, C0 and C1 controls, DEL, bidi overrides.
RAW = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x202D, 0x2066]}


def painted(widget) -> str:
    """Every character a widget sends to the terminal, style aside."""
    region = Region(0, 0, widget.outer_size.width, widget.outer_size.height)
    return "".join(seg.text for strip in widget.render_lines(region) for seg in strip)


async def paste(pilot, widget: Input, text: str) -> None:
    """Type what the keyboard can (printable ASCII, a key at a time), paste the rest."""
    widget.focus()
    widget.value = ""
    typed = ""
    for ch in text[:2]:  # a key costs a tenth of a second: a taste of typing, then paste
        if not (ch.isascii() and ch.isprintable()):
            break
        typed += ch
    if typed:
        await pilot.press(*typed)
    if rest := text[len(typed) :]:
        widget.post_message(events.Paste(rest))
    await pilot.pause()


def dialog_for(kind: str):
    if kind == "note":
        return NoteScreen("R1")
    if kind == "reject":
        return RejectScreen("R1", d.Rules())
    return MediateScreen(dialog_data.APPEALED, dialog_data.RECORDS, "UTC")


async def fill_and_submit(kind: str, texts: list[str]) -> list[tuple[str, Any]]:
    """For each text: open the dialog, choose what it needs, enter the text as the note,
    press Enter. What the note field held, and what the dialog dismissed with (or
    ("refused", its error line), after which Esc closes it)."""
    app = dialog_data.Host(NoteScreen("R0"))
    outcomes = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        for text in texts:
            dialog = dialog_for(kind)
            app.results.clear()
            app.push_screen(dialog, callback=app.results.append)
            await pilot.pause()
            if kind == "reject":
                dialog.query_one("#reason", Select).value = "other"
            elif kind == "mediate":
                dialog.query_one("#decision", RadioSet).query_one("#seller").value = True
            await pilot.pause()
            field = dialog.query_one(NoteField).input
            await paste(pilot, field, text)
            held = field.value
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running and app.return_code is None  # no [@click=app.quit] ran
            if app.results:
                outcomes.append((held, app.results[0]))
                continue
            assert app.screen is dialog
            error = dialog.error_text
            assert error and "\n" not in error, error
            outcomes.append((held, ("refused", error)))
            await pilot.press("escape")
            await pilot.pause()
            assert app.results == [None]
    return outcomes


def expected_dialog_result(kind: str, note: str) -> Any:
    try:
        if kind == "reject":
            d.check_reject_input("other", note, d.Rules())
        else:
            d.check_note(note)
    except d.Refused as exc:
        return ("refused", exc.message)
    return {"note": note.strip(), "reject": ("other", note.strip())}.get(
        kind, ("seller", note.strip())
    )


@pytest.mark.parametrize("kind", ["note", "reject", "mediate"])
@CONSOLE_SETTINGS
@given(texts=st.lists(screen_text_value, min_size=2, max_size=8))
@example(texts=["[@click=app.quit]photo[/]", "x" * 10_000, "\ud800 lone", "[00]", "  \x1b  "])
def test_dialog_note_fields_take_any_text(kind, texts):
    import asyncio

    FED["dialog texts"] += len(texts)
    for text, (held, result) in zip(texts, asyncio.run(fill_and_submit(kind, texts)), strict=True):
        # The field holds what was typed, made one line (SafeInput: breaks and tabs as
        # spaces, controls as pictures); the dialog hands back exactly that, stripped, or
        # refuses it with the domain's own sentence.
        assert held == one_line(text), (text, held)
        assert result == expected_dialog_result(kind, held)


async def search_console(svc, texts: list[str]) -> None:
    app = cs.console(svc, "alice")
    alice = svc.login("alice")
    async with app.run_test(size=SIZE) as pilot:
        await cs.loaded(pilot, app)
        screen = app.main
        for text in texts:
            await pilot.press("slash")
            bar = screen.query_one("#search", Input)
            await paste(pilot, bar, text)
            wanted = bar.value.strip()
            await pilot.press("enter")
            await cs.wait_for(pilot, lambda w=wanted: screen.search == w, 5, "the search")
            await cs.loaded(pilot, app)
            assert app.is_running and not screen.query_one(Banner).shown
            expected = [r.id for r in svc.page(alice, screen.tab, screen.sorts[screen.tab],
                                               wanted)]  # fmt: skip
            assert cs.table_ids(app) == expected, (wanted, expected)
            for widget in (RequestTable, DetailPanel, StatusLine, TabBar):
                shown = painted(screen.query_one(widget))
                assert not RAW & set(shown), (widget.__name__, shown)
        await pilot.press("slash", "escape")
        await cs.wait_for(pilot, lambda: screen.search == "", 5, "the search to clear")


@pytest.fixture(scope="module")
def console_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("console") / "console.db"
    svc = cs.new_service(f"sqlite:///{path}")
    cs.seed(svc)
    for n, text in enumerate(HOSTILE[:18]):
        if d.storable(text) and text.strip() and len(text) <= 200:
            cs.submit(svc, f"RH{n:02d}", cs.NOW.subtract(hours=2, minutes=n), buyer=text,
                      note=text if len(text) <= 2000 else "x", n=n)  # fmt: skip
    svc.engine.dispose()
    return path


@CONSOLE_SETTINGS
@given(texts=st.lists(screen_text_value, min_size=3, max_size=6))
@example(texts=["[@click", "\x1b[31m", "%_\\", "'; DROP TABLE requests; --", "RH00"])
def test_the_search_box_takes_any_text(console_template, tmp_path, texts):
    import asyncio

    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(console_template, path)
    svc = Returns(open_engine(f"sqlite:///{path}"))
    try:
        asyncio.run(search_console(svc, texts))
        FED["search texts"] += len(texts)
    finally:
        svc.engine.dispose()
        path.unlink()


@pytest.mark.parametrize("where", ["note", "search"])
async def test_what_is_typed_into_a_field_reaches_the_terminal_only_as_pictures(where, tmp_path):
    """Both kinds of field of ours (the dialogs' note, the search box) are SafeInputs: a
    pasted ESC, BEL or RLO is held and painted as ␛, ␇, <U+202E>, never sent raw."""
    pasted = "see \x1b[2J\x1b]0;owned\x07 \u202eevil"
    if where == "note":
        app = dialog_data.Host(NoteScreen("R1"))
        context = app.run_test(size=SIZE)
    else:
        svc = cs.new_service(f"sqlite:///{tmp_path / 'search.db'}")
        cs.seed(svc)
        app = cs.console(svc, "alice")
        context = app.run_test(size=SIZE)
    async with context as pilot:
        if where == "note":
            field = app.screen.query_one(NoteField).input
        else:
            await cs.loaded(pilot, app)
            await pilot.press("slash")
            field = app.main.query_one("#search", Input)
        await paste(pilot, field, pasted)
        assert field.value == "see ␛[2J␛]0;owned␇ <U+202E>evil"
        assert field.cursor_position == len(field.value)  # after the text as it is shown
        shown = painted(field)
        assert "see ␛[2J␛]0;owned␇" in shown and not RAW & set(shown), repr(shown)
    if where == "search":
        svc.engine.dispose()
