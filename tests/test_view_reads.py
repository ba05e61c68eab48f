"""The reads the console's views need beyond a page (issue 10): whether a rejection was
superseded by a later request, the money at stake per currency, and the view written to a
file; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import stat

import pendulum
import pytest

from returns_tui import domain as d
from returns_tui import export as exporting
from returns_tui.errors import Refused
from returns_tui.roles import BUYER
from returns_tui.store import queries as q
from returns_tui.store.engine import read
from returns_tui.store.rows import to_request
from tests.conftest import T0, submission

H = pendulum.duration(hours=1)


def closed_rows(svc, actor) -> dict[str, q.ListRow]:
    return {r.id: r for r in svc.page(actor, d.Tab.CLOSED, q.Sort.NEWEST, limit=1000)}


# ---------------------------------------------------------------------------------------------
# Superseded rejections (issue 10, item 7)


def test_a_rejection_with_a_later_request_on_its_order_is_superseded(svc, alice):
    """R1 rejected, then the buyer's second request R2 on the same order: R1 can no longer be
    appealed, and its row says so. R3, rejected and the latest on its order, is not. An
    order whose first request was cancelled and whose second was rejected: the rejection is
    the latest (both are attempt 1), so not superseded."""
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.reject(alice, "R1", T0 + H, "no_proof")
    svc.submit(BUYER, submission("R2", "O1"), T0 + 2 * H)
    svc.submit(BUYER, submission("R3", "O3"), T0)
    svc.reject(alice, "R3", T0 + H, "no_proof")
    svc.submit(BUYER, submission("R4", "O4"), T0)
    svc.cancel(BUYER, "R4", T0 + H)
    svc.submit(BUYER, submission("R5", "O4"), T0 + 2 * H)
    svc.reject(alice, "R5", T0 + 3 * H, "no_proof")

    rows = closed_rows(svc, alice)
    assert {rid: row.superseded for rid, row in rows.items()} == {
        "R1": 1, "R3": 0, "R4": 0, "R5": 0,
    }  # fmt: skip
    pending = svc.page(alice, d.Tab.TO_PROCEED, q.Sort.NEWEST)
    assert [(r.id, r.superseded) for r in pending] == [("R2", 0)]
    # What the detail panel says (domain.buyer_options) agrees with the row.
    now = T0 + 4 * H
    for rid in ("R1", "R3", "R5"):
        options = d.buyer_options(
            svc.get(alice, rid), svc.order_history(alice, rid), now, svc.rules
        )
        assert (options.until is None) == bool(rows[rid].superseded), rid


def test_mark_later_sets_each_request_of_the_order_whatever_it_held(svc, alice):
    """store.writes.mark_later, which runs with each new request, makes every request of the
    order say whether a later one exists: the one before a new request, and the new one
    itself when the marketplace brings it in after a later one (flags turned around here,
    as such an arrival leaves them); another order's are not touched."""
    from returns_tui.store import writes

    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.reject(alice, "R1", T0 + H, "no_proof")
    svc.submit(BUYER, submission("R2", "O1"), T0 + 2 * H)
    svc.submit(BUYER, submission("R3", "O3"), T0)
    svc.reject(alice, "R3", T0 + H, "no_proof")

    def flags() -> dict[str, bool]:
        with read(svc.engine) as conn:
            rows = conn.exec_driver_sql("SELECT id, has_later FROM requests ORDER BY id")
            return {rid: bool(later) for rid, later in rows}

    assert flags() == {"R1": True, "R2": False, "R3": False}
    with svc.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE requests SET has_later = NOT has_later")
    assert flags() == {"R1": False, "R2": True, "R3": True}
    with svc.engine.begin() as conn:
        writes.mark_later(conn, "O1")
    assert flags() == {"R1": True, "R2": False, "R3": True}


def test_superseded_agrees_with_the_rules_on_a_seeded_database(svc):
    """On every rejected request of a seed (second requests, appeals, mediations): the flag
    is set exactly when a later request exists on the order, as domain.summarize_order
    orders them."""
    from returns_tui.seed import seed_requests

    seed_requests(svc.engine, 400, seed=5, now=T0, shops=("acme",))
    alice = svc.login("alice")
    rows = closed_rows(svc, alice)
    with read(svc.engine) as conn:
        for rid, row in rows.items():
            order = [to_request(r) for r in q.order_rows(conn, row.order_id)]
            latest = d.summarize_order(order).latest_request_id
            want = row.status == d.Status.REJECTED and latest != rid
            assert row.superseded == int(want), rid
    assert any(r.superseded for r in rows.values()), "the seed makes second requests"


# ---------------------------------------------------------------------------------------------
# The money at stake


def _submit_many(svc, rng: random.Random, count: int) -> None:
    for n in range(count):
        currency, amount = rng.choice([("USD", "12.99"), ("EUR", "7.50"), ("JPY", "1500")])
        shop = rng.choice(["acme", "globex"])
        buyer = rng.choice(["Ana Lima", "Zoë Müller", "Omar Haddad"])
        sub = submission(f"R{n:03d}", f"O{n:03d}", shop, currency=currency, amount=amount,
                         buyer=buyer)  # fmt: skip
        svc.submit(BUYER, sub, T0)
        if shop == "acme" and n % 3 == 0:
            svc.accept(svc.login("alice"), sub.id, T0 + H)
        elif shop == "acme" and n % 3 == 1:
            svc.reject(svc.login("alice"), sub.id, T0 + H, "no_proof")


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_totals_sum_each_currency_of_the_view_and_never_across(svc, who):
    _submit_many(svc, random.Random(11), 60)
    actor = svc.login(who)
    for tab in d.Tab:
        for search in ("", "lima", "zoe acme", "a"):
            want: dict[str, int] = {}
            for row, _recs in svc.export(actor, tab, search):
                want[row["currency"]] = want.get(row["currency"], 0) + row["amount_cents"]
            got = svc.totals(actor, tab, search)
            assert got == dict(sorted(want.items())), (tab, search)
            assert list(got) == sorted(got)
    assert svc.totals(actor, d.Tab.APPEALS) == {}
    everything = svc.totals(svc.login("sam"), d.Tab.ALL)
    assert set(everything) == {"EUR", "JPY", "USD"}


def test_totals_of_an_operator_leave_out_other_shops(svc):
    svc.submit(BUYER, submission("R1", "O1", "acme", amount="10.00"), T0)
    svc.submit(BUYER, submission("R2", "O2", "globex", amount="99.00"), T0)
    svc.submit(BUYER, submission("R3", "O3", "acme", amount="0.01"), T0)
    assert svc.totals(svc.login("alice"), d.Tab.TO_PROCEED) == {"USD": 1001}
    assert svc.totals(svc.login("olga"), d.Tab.ALL) == {"USD": 9900}
    assert svc.totals(svc.login("sam"), d.Tab.ALL, "R2") == {"USD": 9900}


# ---------------------------------------------------------------------------------------------
# The view written to a file


def test_the_view_is_written_to_a_new_file_as_export_writes_it(svc, tmp_path):
    tmp_path = tmp_path / "out"  # the test's database lives in tmp_path itself
    tmp_path.mkdir()
    _submit_many(svc, random.Random(4), 30)
    alice = svc.login("alice")
    path, count = svc.export_view(alice, d.Tab.ALL, "lima", str(tmp_path / "lima.csv"))
    assert path == tmp_path / "lima.csv"
    want = io.StringIO()
    assert exporting.write_csv(svc.export(alice, d.Tab.ALL, "lima"), want) == count
    assert path.read_bytes().decode("utf-8") == want.getvalue()
    rows = list(csv.DictReader(io.StringIO(want.getvalue())))
    assert count == len(rows) > 0 and all(r["buyer"] == "Ana Lima" for r in rows)
    assert all(r["shop"] == "acme" for r in rows)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # buyers' names and notes
    assert [p.name for p in tmp_path.iterdir()] == ["lima.csv"]  # no temporary file left

    jsonl, count = svc.export_view(alice, d.Tab.TO_PROCEED, "", str(tmp_path / "todo.jsonl"))
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [
        r["id"] for r, _ in svc.export(alice, d.Tab.TO_PROCEED)
    ] and count == len(lines)


def test_a_file_name_that_cannot_be_a_new_file_is_refused_in_one_sentence(svc, tmp_path):
    tmp_path = tmp_path / "out"  # the test's database lives in tmp_path itself
    tmp_path.mkdir()
    alice = svc.login("alice")
    existing = tmp_path / "mine.csv"
    existing.write_text("keep me", encoding="utf-8")
    cases = {
        str(existing): f"{existing} already exists; choose another name.",
        str(tmp_path / "no" / "such.csv"): f"There is no folder {tmp_path / 'no'}.",
        "  ": "Give the export a file name.",
    }
    for name, sentence in cases.items():
        with pytest.raises(Refused) as err:
            svc.export_view(alice, d.Tab.ALL, "", name)
        assert err.value.message == sentence
    assert existing.read_text(encoding="utf-8") == "keep me"
    with pytest.raises(Refused, match="The format must be csv or jsonl"):
        svc.export_view(alice, d.Tab.ALL, "", str(tmp_path / "x.csv"), fmt="xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv"]


def test_a_relative_name_is_the_current_folders_and_a_tilde_is_home(svc, tmp_path, monkeypatch):
    alice = svc.login("alice")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert svc.export_view(alice, d.Tab.ALL, "", "here.csv")[0] == tmp_path / "here.csv"
    assert svc.export_view(alice, d.Tab.ALL, "", "~/there.csv")[0] == (
        tmp_path / "home" / "there.csv"
    )


def test_export_of_a_search_pages_by_id_in_batches(svc):
    _submit_many(svc, random.Random(9), 40)
    sam = svc.login("sam")
    everything = [row["id"] for row, _ in svc.export(sam)]
    found = {r.id for r in svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, "lima", limit=1000)}
    with read(svc.engine) as conn:
        batched = [row["id"] for row, _ in q.export_tuples(conn, None, d.Tab.ALL, 3, "lima")]
    assert batched == [rid for rid in everything if rid in found] and batched
