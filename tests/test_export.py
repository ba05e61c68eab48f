"""`export` (DESIGN §4): the requests the caller may see, in id order, as JSON Lines with the
design's keys or as CSV safe to open in a spreadsheet; and it changes nothing."""

from __future__ import annotations

import csv
import io
import json
import random

import pendulum
import pytest

from returns_tui import export as exporting
from returns_tui.domain import Tab
from returns_tui.roles import BUYER
from returns_tui.store.schema import from_micros
from returns_tui.timefmt import iso_utc
from tests.conftest import T0, submission
from tests.test_services import dump

H = pendulum.duration(hours=1)
KEYS = [
    "id", "order_id", "shop", "type", "status", "tab", "attempt", "arbitration", "created_at",
    "respond_by", "amount", "currency", "buyer", "product", "reason", "buyer_note",
    "auto_approved", "records",
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
        "buyer_note": "cracked on arrival", "auto_approved": False, "records": None,
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


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_a_spreadsheet_would_run_are_made_text(svc, start):
    note = f"{start}HYPERLINK(\"http://evil\",\"click\")"
    svc.submit(BUYER, submission("R1", buyer=f"{start}cmd|' /C calc'!A0", note=note), T0)

    (row,) = csv_rows(svc, svc.login("root-admin"))
    assert row["buyer_note"] == "'" + note
    assert row["buyer"].startswith("'" + start)
    assert row["id"] == "R1"  # plain cells untouched


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
        assert exporting._iso(at) == iso_utc(at)
    paris = pendulum.datetime(2026, 7, 1, 12, tz="Europe/Paris")
    assert exporting._iso(paris) == iso_utc(paris) == "2026-07-01T10:00:00Z"
    assert exporting._iso(None) is None
