"""The fast paths of issue 5 against the general ones they stand for: the sweep on integer
microseconds and plain rows (domain.passed_deadlines on integers, writes.write_moves)
against domain.catch_up on Request objects; on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace

import pendulum
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from returns_tui import domain as d
from returns_tui import export as exporting
from returns_tui import services
from returns_tui.check import check
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import queries as q
from returns_tui.store import writes
from returns_tui.store.engine import write
from returns_tui.store.rows import to_record, to_request
from returns_tui.store.schema import records, requests
from returns_tui.timefmt import from_micros, iso_micros, iso_utc, span_micros, to_micros
from tests.conftest import T0, submission

S = d.Status
HOUR_US = 3_600_000_000


def hours(n: float) -> pendulum.Duration:
    return pendulum.duration(seconds=round(n * 3600))


# ---------------------------------------------------------------------------------------------
# The rule: passed_deadlines on integer microseconds is catch_up on DateTimes


windows = st.one_of(
    st.just(pendulum.duration(days=5)),
    st.integers(1, 400 * 3600).map(lambda s: pendulum.duration(seconds=s)),
    st.integers(1, 10**12).map(lambda us: pendulum.duration(microseconds=us)),
)
moments = st.integers(-(10**15), 4 * 10**15)  # microseconds around 1970..2096


@settings(max_examples=400, deadline=None)
@given(
    status=st.sampled_from(list(S)),
    rtype=st.sampled_from(list(d.RequestType)),
    deadline=st.one_of(st.none(), moments),
    later=st.one_of(st.integers(-(10**12), 10**13), st.just(0)),
    ship_window=windows,
    respond_window=windows,
    since=moments,
)
def test_passed_deadlines_on_micros_agrees_with_catch_up(
    status, rtype, deadline, later, ship_window, respond_window, since
):
    now = (deadline if deadline is not None else since) + later
    req = d.Request(
        id="R1", order_id="O1", shop="acme", type=rtype, buyer="Ana", product="Mug", sku="M",
        quantity=1, amount_cents=1299, currency="USD", reason="damaged", buyer_note="",
        created_at=from_micros(since), attempt=1, status=status, arbitration=None,
        respond_by=from_micros(since),
        deadline_at=None if deadline is None else from_micros(deadline),
        version=3, status_since=from_micros(since),
    )  # fmt: skip
    rules = d.Rules(ship_window=ship_window, respond_window=respond_window)
    change = d.catch_up(req, from_micros(now), rules)
    after, new_deadline, steps = d.passed_deadlines(
        status, rtype, deadline, now, span_micros(ship_window), span_micros(respond_window)
    )
    assert after is change.after.status
    assert new_deadline == (
        None if change.after.deadline_at is None else to_micros(change.after.deadline_at)
    )
    assert [(k, from_micros(at), f, t) for k, at, f, t in steps] == [
        (r.kind, r.at, r.from_status, r.to_status) for r in change.records
    ]
    assert all(r.actor == "system" and r.details == {} for r in change.records)
    if steps:
        assert change.after.status_since == from_micros(steps[-1][1])
        # What the sweep writes besides (services._sweep_batch): respond_by after a lapse,
        # and the refund of the status reached.
        lapses = [at for k, at, _f, _t in steps if k is d.Kind.OFFER_LAPSED]
        respond_by = lapses[-1] + span_micros(respond_window) if lapses else since
        assert to_micros(change.after.respond_by) == respond_by
        assert change.after.refund_cents == d.refund_after(after, 1299)
    else:
        assert change.after == req


def test_span_micros_of_exact_windows_and_not_of_calendar_ones():
    assert span_micros(pendulum.duration(days=5)) == 5 * 24 * HOUR_US
    assert span_micros(pendulum.duration(hours=48)) == 48 * HOUR_US
    assert span_micros(pendulum.duration(seconds=5400, microseconds=7)) == 5400 * 10**6 + 7
    assert span_micros(dt.timedelta(days=-1)) == -24 * HOUR_US
    with pytest.raises(ValueError):
        span_micros(pendulum.duration(months=1))


def test_micros_round_trip_is_the_utc_instant():
    for at in (T0, T0 + pendulum.duration(microseconds=1), pendulum.datetime(1969, 12, 31, 23)):
        assert from_micros(to_micros(at)) == at
        assert from_micros(to_micros(at)).utcoffset() == dt.timedelta(0)


# ---------------------------------------------------------------------------------------------
# The sweep writes what catch_up says


def _story(svc: Returns, t0) -> None:
    """Requests in every timed state, a few with arbitration, deadlines spread over days."""
    alice, sam = svc.login("alice"), svc.login("sam")
    for n in range(12):
        at = t0 + hours(n * 7)
        rid = f"R{n:02d}"
        rtype = "refund" if n % 3 == 0 else "return_and_refund"
        svc.submit(BUYER, submission(rid, f"O{n:02d}", type=rtype), at)
        if n % 4 == 1:
            svc.accept(alice, rid, at + hours(1))
        elif n % 4 == 2:
            svc.accept(alice, rid, at + hours(1))
            if rtype == "return_and_refund":
                svc.ship(BUYER, rid, at + hours(2), f"1Z{n}")
        elif n % 4 == 3:
            bob = svc.login("bob")
            svc.reject(bob, rid, at + hours(1), "no_proof", "")
            svc.appeal(BUYER, rid, at + hours(2))
            svc.mediate(sam, rid, at + hours(3), "buyer", "photo is clear")
        svc.note(sam, rid, at + hours(4), "called the buyer")


def _state(engine) -> tuple[dict[str, d.Request], dict[str, list[d.Record]]]:
    with engine.connect() as conn:
        reqs = {r["id"]: to_request(r) for r in conn.execute(sa.select(requests)).mappings()}
        recs: dict[str, list[d.Record]] = {rid: [] for rid in reqs}
        query = sa.select(records).order_by(records.c.request_id, records.c.seq)
        for row in conn.execute(query).mappings():
            recs[row["request_id"]].append(to_record(row))
    return reqs, recs


def _expected(engine, now, rules):
    reqs, recs = _state(engine)
    swept = []
    for rid, req in sorted(reqs.items()):
        change = d.catch_up(req, now, rules)
        if change.records:
            reqs[rid] = replace(change.after, version=req.version + len(change.records))
            recs[rid] = recs[rid] + list(change.records)
            swept += [(rid, r.kind, r.at, r.to_status) for r in change.records]
    return reqs, recs, sorted(swept)


@pytest.mark.parametrize("ship_hours", [120, 1.5])
def test_the_sweep_writes_what_catch_up_says(svc, engine, monkeypatch, ship_hours):
    rules = d.Rules(ship_window=hours(ship_hours))
    svc = Returns(engine, rules)
    _story(svc, T0)
    monkeypatch.setattr(services, "SWEEP_BATCH", 5)
    for now in (T0 + hours(50), T0 + hours(70), T0 + hours(60 + 24 * 20)):
        reqs, recs, swept = _expected(engine, now, rules)
        done = svc.sweep(now)
        assert sorted((s.request_id, s.kind, s.at, s.status) for s in done) == swept
        assert all(s.shop == reqs[s.request_id].shop for s in done)
        assert _state(engine) == (reqs, recs)
        assert check(engine, now) == []  # every record the sweep wrote is chained
        assert svc.sweep(now) == []


def test_a_moved_request_fails_the_whole_batch(svc, engine):
    """The compare-and-set of the executemany: one row whose version moved makes the batch
    lost (and retried by the caller), on both drivers' row counts."""
    for n in range(3):
        svc.submit(BUYER, submission(f"R{n}", f"O{n}"), T0)
    moves = [
        ("completed", "completed", None, to_micros(T0 + hours(48)), to_micros(T0 + hours(48)),
         1299, 2, None, f"R{n}", 1)  # fmt: skip
        for n in range(3)
    ]
    moves[1] = moves[1][:-1] + (7,)  # read at a version it no longer has
    with pytest.raises(writes.Lost):
        with write(engine) as conn:
            writes.write_moves(conn, moves, [])
    reqs, _recs = _state(engine)
    assert {r.status for r in reqs.values()} == {S.PENDING}


# ---------------------------------------------------------------------------------------------
# The export: stored tuples, read and written, against the mapping rows of export_rows


@pytest.mark.parametrize("tab", [d.Tab.ALL, d.Tab.IN_PROCESS, d.Tab.COMPLETED])
def test_the_export_rows_are_export_rows_as_stored(svc, engine, tab):
    _story(svc, T0)
    # A note that both writers escape (JSONL) or replace (CSV): the same text either way.
    note = 'Zoë "Z"\nline two \x1b]0;T\x07 \x85 \u2028 \u202e \U000e0041 \u00a0'
    svc.submit(BUYER, submission("G1", "OG1", "globex", note=note), T0)
    operator, admin = svc.login("alice"), svc.login("root-admin")
    for actor in (admin, operator):
        fast = list(svc.export(actor, tab))
        with engine.connect() as conn:
            slow = list(q.export_rows(conn, actor.visible_shops(), tab, batch=4))
        assert [row["id"] for row, _ in fast] == [row["id"] for row, _ in slow]
        assert fast, "the story has requests in every tab asked for"
        for (row, recs), (want, want_recs) in zip(fast, slow, strict=True):
            assert {k: row[k] for k in want.keys()} == dict(want)
            assert [{k: r[k] for k in w.keys()} for r, w in zip(recs, want_recs, strict=True)] == [
                dict(w) for w in want_recs
            ]
            assert to_request(row) == to_request(want)
            assert row.get("created_at") == want["created_at"] and row.get("nope", 1) == 1
        # Both ways of writing give the same text: the stored tuples', and request_object's
        # on the mapping rows.
        for writer in (exporting.write_jsonl, exporting.write_csv):
            out_fast, out_slow = io.StringIO(), io.StringIO()
            assert writer(iter(fast), out_fast) == writer(iter(slow), out_slow) == len(fast)
            assert out_fast.getvalue() == out_slow.getvalue()


def test_export_batches_page_by_id(svc, engine):
    for n in range(7):
        svc.submit(BUYER, submission(f"R{n}", f"O{n}"), T0)
    with engine.connect() as conn:
        rows = [row["id"] for row, recs in q.export_tuples(conn, None, d.Tab.ALL, batch=3)]
    assert rows == [f"R{n}" for n in range(7)]


@settings(max_examples=300, deadline=None)
@given(micros=st.integers(-(10**16), 2 * 10**17))
def test_the_export_time_text_of_stored_micros_is_iso_utc(micros):
    assert iso_micros(micros) == iso_utc(from_micros(micros))
    assert iso_micros(None) is None


# ---------------------------------------------------------------------------------------------
# The action path: one query for the user and shops, the prebuilt compare-and-set


def test_every_column_an_action_writes_reads_back(svc, engine):
    alice, bob, sam = svc.login("alice"), svc.login("bob"), svc.login("sam")
    steps = [
        lambda: svc.submit(BUYER, submission("R1", "O1"), T0),
        lambda: svc.reject(bob, "R1", T0 + hours(1), "other", "no photo, Zoë"),
        lambda: svc.appeal(BUYER, "R1", T0 + hours(2)),
        lambda: svc.mediate(sam, "R1", T0 + hours(3), "buyer", "photo is clear"),
        lambda: svc.note(alice, "R1", T0 + hours(3) + pendulum.duration(microseconds=7), "hi"),
        lambda: svc.ship(BUYER, "R1", T0 + hours(4), "1Z-9"),
        lambda: svc.receive(alice, "R1", T0 + hours(5)),
    ]
    for step in steps:
        after = step()
        assert svc.get(sam, "R1") == after
    reqs, recs = _state(engine)
    assert reqs["R1"].version == len(recs["R1"]) == 7
    assert [r.at for r in recs["R1"]] == sorted(r.at for r in recs["R1"])


def test_the_user_and_their_shops_in_one_query(svc):
    svc.add_user("root-admin", "multi", "operator", ("globex", "acme", "initech"), T0)
    assert svc.login("multi").shops == frozenset({"globex", "acme", "initech"})
    assert svc.login("sam").shops == frozenset()
    assert svc.login("alice").shops == frozenset({"acme"})


def test_the_newest_record_time_of_one_or_many_requests(svc, engine):
    alice = svc.login("alice")
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.submit(BUYER, submission("R2", "O2"), T0 + hours(1))
    svc.note(alice, "R1", T0 + hours(2), "later")
    with engine.connect() as conn:
        assert q.last_record_at(conn, ["R1"]) == to_micros(T0 + hours(2))
        assert q.last_record_at(conn, ["R2"]) == to_micros(T0 + hours(1))
        assert q.last_record_at(conn, ["R1", "R2"]) == to_micros(T0 + hours(2))
        assert q.last_record_at(conn, ["nope"]) is None
        assert to_record(q.last_record(conn, ["R1", "R2"])).at == T0 + hours(2)


def test_a_begin_that_cannot_get_the_lock_is_one_sentence(tmp_path, monkeypatch):
    """BEGIN goes straight to the driver on SQLite; its failure is still translated."""
    import sqlite3

    from returns_tui.errors import StoreError
    from returns_tui.store import engine as store_engine

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    setup = store_engine.open_engine(url)
    store_engine.upgrade(setup)
    setup.dispose()
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 50)
    eng = store_engine.open_engine(url)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="busy"):
            Returns(eng).add_user("root-admin", "root-admin", "admin", (), T0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        eng.dispose()


# ---------------------------------------------------------------------------------------------
# Pages: compiled once per shape, read as the driver's tuples, times converted when read


def _reference(svc, actor, tab, sort) -> list[str]:
    """The ids of a tab in `sort` order, from every request (Python, not SQL)."""
    admin = svc.login("root-admin")
    reqs = [svc.get(admin, row["id"]) for row, _ in svc.export(admin)]
    reqs = [r for r in reqs if actor.sees(r.shop)]
    reqs = [r for r in reqs if tab is d.Tab.ALL or d.TAB_OF_STATUS[r.status] is tab]
    if sort is q.Sort.DEADLINE:
        dated = sorted((r for r in reqs if r.deadline_at), key=lambda r: (r.deadline_at, r.id))
        return [r.id for r in dated] + sorted(r.id for r in reqs if r.deadline_at is None)
    if sort is q.Sort.WAITING:
        return [r.id for r in sorted(reqs, key=lambda r: (r.status_since, r.id))]
    ids = [r.id for r in sorted(reqs, key=lambda r: (r.created_at, r.id))]
    return ids[::-1] if sort is q.Sort.NEWEST else ids


@pytest.mark.parametrize("who", ["sam", "alice", "dana"])
def test_pages_walk_every_tab_and_sort_both_ways(svc, who):
    """Every page against the reference: an agent's (every shop), an operator's of one shop,
    and of two (on SQLite, an operator's pages across tabs or shops merge a range per shop
    and tab: queries.walks_segments)."""
    _story(svc, T0)
    for n in range(6):  # same created_at: the id breaks the tie
        svc.submit(BUYER, submission(f"S{n}", f"OS{n}", "globex"), T0 + hours(3))
        svc.submit(BUYER, submission(f"I{n}", f"OI{n}", "initech"), T0 + hours(3 + n))
    svc.add_user("root-admin", "dana", "operator", ("acme", "globex"), T0)
    actor = svc.login(who)
    for tab in d.Tab:
        for sort in q.Sort:
            want = _reference(svc, actor, tab, sort)
            forwards, after = [], None
            while page := svc.page(actor, tab, sort, after=after, limit=4):
                forwards += page
                after = page[-1]
            assert [r.id for r in forwards] == want, (tab, sort)
            backwards, before = [], None
            while page := svc.page(actor, tab, sort, after=before, limit=3, backwards=True):
                backwards = page + backwards
                before = page[0]
            assert backwards == forwards, (tab, sort)
            for row in forwards:
                req = svc.get(actor, row.id)
                assert (row.deadline_at, row.created_at, row.status_since) == (
                    req.deadline_at,
                    req.created_at,
                    req.status_since,
                )
                assert isinstance(row.created_at, pendulum.DateTime)
                assert row.created_at.utcoffset() == dt.timedelta(0)
                assert svc.position(actor, tab, sort, "", row) == forwards.index(row)


def test_migration_0023_makes_the_waiting_indexes(engine):
    """"Longest waiting first" reads a range of a tab (and shop) in its order; down to 0022
    the two indexes are gone, and up again they are back."""
    from alembic import command

    from returns_tui.store import engine as store

    def waiting() -> dict[str, list[str]]:
        with engine.connect() as conn:
            found = sa.inspect(conn).get_indexes("requests")
        return {ix["name"]: ix["column_names"] for ix in found if "waiting" in ix["name"]}

    at_head = {"ix_requests_tab_waiting": ["tab", "status_since", "id"],
               "ix_requests_shop_tab_waiting": ["shop", "tab", "status_since", "id"]}  # fmt: skip
    assert waiting() == at_head
    with engine.connect() as conn, conn.begin():
        command.downgrade(store._alembic_config(conn), "0022")
    assert waiting() == {}
    store.upgrade(engine)
    assert waiting() == at_head


def test_a_search_page_is_its_own_statement(svc):
    _story(svc, T0)
    sam = svc.login("sam")
    everyone = svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, limit=100)
    found = svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, "R03", limit=100)
    assert [r.id for r in found] == ["R03"]
    assert svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, "R04", limit=100)[0].id == "R04"
    assert svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, limit=100) == everyone
