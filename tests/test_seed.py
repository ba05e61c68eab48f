"""The seeder: reproducible, varied, every status, and every seeded request exactly what the
domain's own functions make of its story (seed.py applies the transitions on plain fields
for speed; the replay here is what keeps it honest)."""

from __future__ import annotations

import io
import random
from collections import Counter, defaultdict
from dataclasses import replace

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui import seed as seeding
from returns_tui.check import check
from returns_tui.export import write_jsonl
from returns_tui.money import format_amount
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import queries as q
from returns_tui.store.engine import open_engine, read, upgrade
from returns_tui.store.rows import to_record, to_request
from returns_tui.store.schema import orders, requests
from tests.conftest import T0, submission

NOW = pendulum.datetime(2026, 11, 27, 10, 30, 15)
RULES = d.Rules()


def stored(engine) -> list[tuple[d.Request, list[d.Record]]]:
    with read(engine) as conn:
        return [
            (to_request(row), [to_record(r) for r in recs])
            for row, recs in q.export_rows(conn, None, d.Tab.ALL)
        ]


def exported(svc) -> str:
    out = io.StringIO()
    write_jsonl(svc.export(svc.login("root-admin")), out)
    return out.getvalue()


@pytest.fixture
def seeded(svc):
    """400 requests lived up to NOW."""
    assert seeding.seed_requests(svc.engine, 400, seed=7, now=NOW) == 400
    return stored(svc.engine)


def test_every_seeded_request_is_what_the_domain_makes_of_its_story(seeded):
    assert_replays(seeded, RULES)


def assert_replays(seeded: list[tuple[d.Request, list[d.Record]]], rules: d.Rules) -> None:
    by_order: dict[str, list[tuple[d.Request, list[d.Record]]]] = defaultdict(list)
    for req, recs in seeded:
        by_order[req.order_id].append((req, recs))
    for lives in by_order.values():
        lives.sort(key=lambda life: life[0].attempt)
        replayed = replay(lives, rules)
        for (req, recs), (again, again_recs) in zip(lives, replayed, strict=True):
            assert again_recs == recs, req.id
            assert replace(again, version=len(again_recs)) == req, req.id


Lives = list[tuple[d.Request, list[d.Record]]]


def replay(lives: Lives, rules: d.Rules) -> Lives:
    """Each request's story told again through the domain functions: its submission, then
    each person's action at its time, with the deadlines up to then applied first (the
    system's records are not replayed: catch_up must make them), then the deadlines up to
    NOW. An order's second request is submitted against the first one's final state."""
    done: list[tuple[d.Request, list[d.Record]]] = []
    for req, recs in lives:
        sub = d.Submission(
            id=req.id, order_id=req.order_id, shop=req.shop, type=req.type.value,
            buyer=req.buyer, product=req.product, sku=req.sku, quantity=req.quantity,
            amount=format_amount(req.amount_cents, req.currency), currency=req.currency,
            reason=req.reason, note=req.buyer_note,
        )  # fmt: skip
        change = d.submit(sub, d.summarize_order(r for r, _ in done), recs[0].at, rules)
        now, out = change.after, list(change.records)
        for rec in recs[1:]:
            if rec.actor == "system":
                continue
            caught = d.catch_up(now, rec.at, rules)
            out += caught.records
            order = d.summarize_order([r for r, _ in done] + [caught.after])
            change = _act(caught.after, rec, order, rules)
            now, out = change.after, out + list(change.records)
        caught = d.catch_up(now, NOW, rules)
        done.append((caught.after, out + list(caught.records)))
    return done


def _act(req: d.Request, rec: d.Record, order: d.OrderHistory, rules: d.Rules) -> d.Change:
    at, who, det = rec.at, rec.actor, rec.details
    return {
        d.Kind.ACCEPTED: lambda: d.accept(req, who, at, rules, det.get("keep_item")),
        d.Kind.OFFERED: lambda: d.offer(req, who, at, rules, det["amount"]),
        d.Kind.AGREED: lambda: d.agree(req, at),
        d.Kind.DECLINED: lambda: d.decline(req, at, rules),
        d.Kind.RECEIPT_REJECTED: lambda: d.reject_receipt(
            req, who, at, rules, det["reason"], det["note"]
        ),
        d.Kind.REJECTED: lambda: d.reject(req, who, at, rules, det["reason"], det.get("note")),
        d.Kind.CANCELLED: lambda: d.cancel(req, at),
        d.Kind.SHIPPED: lambda: d.ship(req, at, rules, det["tracking"]),
        d.Kind.RECEIVED: lambda: d.receive(req, who, at),
        d.Kind.APPEALED: lambda: d.appeal(req, order, at, rules),
        d.Kind.MEDIATED: lambda: d.mediate(req, who, at, rules, det["decision"], det["note"]),
        d.Kind.NOTED: lambda: d.add_note(req, who, at, det["note"]),
    }[rec.kind]()


def test_the_invariant_checker_finds_nothing_wrong(svc, seeded):
    assert check(svc.engine, NOW) == []
    for req, recs in seeded:
        assert req.status is recs[-1].to_status
        assert d.path_violations(req.status, recs, req.type) == []


def test_a_seed_shows_every_status_outcome_and_story(seeded):
    statuses = Counter(req.status for req, _ in seeded)
    arbitrations = {req.arbitration for req, _ in seeded}
    kinds = {rec.kind for _, recs in seeded for rec in recs}

    assert set(statuses) == set(d.Status)
    assert arbitrations == {None, *d.Arbitration}
    assert kinds == set(d.Kind) - d.SYNC_KINDS  # the seed's requests are local
    assert {req.attempt for req, _ in seeded} == {1, 2}
    # A second request after a rejection, and an order rejected twice then appealed.
    assert any(req.attempt == 2 and req.arbitration is not None for req, _ in seeded)


def test_a_small_seed_still_shows_every_status(svc):
    seeding.seed_requests(svc.engine, len(seeding.SHOWCASES) + 2, now=NOW)
    assert {req.status for req, _ in stored(svc.engine)} == set(d.Status)


def test_some_pending_requests_are_minutes_or_hours_from_auto_approval(seeded):
    left = [req.respond_by - NOW for req, _ in seeded if req.status is d.Status.PENDING]
    assert all(span.total_seconds() > 0 for span in left)
    assert any(span.total_seconds() < 3600 for span in left)
    assert any(3600 <= span.total_seconds() < 6 * 3600 for span in left)


def test_the_data_is_varied(seeded):
    reqs = [req for req, _ in seeded]
    assert len({r.shop for r in reqs}) >= 4
    assert len({r.buyer for r in reqs}) >= 20
    assert len({r.product for r in reqs}) >= 10
    assert {"USD", "EUR", "JPY"} <= {r.currency for r in reqs}
    assert all(r.amount_cents % 100 == 0 for r in reqs if r.currency == "JPY")
    assert any(not r.buyer.isascii() for r in reqs)
    assert any(r.buyer_note for r in reqs) and any(not r.buyer_note for r in reqs)
    assert len({r.created_at for r in reqs}) > 300  # spread over weeks, not one moment


@pytest.mark.parametrize("count", [0, 1, 37])
def test_seed_adds_exactly_count_requests(svc, count):
    assert seeding.seed_requests(svc.engine, count, now=NOW) == count
    assert len(stored(svc.engine)) == count


def test_the_same_seed_gives_the_same_data(db_url, tmp_path):
    texts = []
    for name in ("a", "b"):
        url = db_url if name == "a" else f"sqlite:///{tmp_path / 'b.db'}"
        engine = open_engine(url)
        upgrade(engine)
        svc = Returns(engine)
        svc.add_user("root-admin", "root-admin", "admin", (), T0)
        seeding.seed_requests(engine, 150, seed=42, now=NOW)
        texts.append(exported(svc))
        engine.dispose()
    assert texts[0] == texts[1]  # on PostgreSQL and SQLite alike
    assert texts[0].count("\n") == 150


def test_another_seed_gives_other_data(svc, tmp_path):
    seeding.seed_requests(svc.engine, 50, seed=1, now=NOW)
    first = exported(svc)
    engine = open_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(engine)
    other = Returns(engine)
    other.add_user("root-admin", "root-admin", "admin", (), T0)
    seeding.seed_requests(engine, 50, seed=2, now=NOW)
    assert exported(other) != first
    engine.dispose()


def test_seeding_again_numbers_after_what_is_there(svc):
    svc.submit(BUYER, submission("R-apply", "O-apply"), T0)  # ids of another form are skipped
    seeding.seed_requests(svc.engine, 30, now=NOW)
    seeding.seed_requests(svc.engine, 30, now=NOW)

    with read(svc.engine) as conn:
        ids = [r for (r,) in conn.execute(sa.select(requests.c.id).order_by(requests.c.id))]
        order_ids = [o for (o,) in conn.execute(sa.select(orders.c.order_id))]
    assert len(ids) == 61 and len(order_ids) == len(set(order_ids))
    seeded_ids = [i for i in ids if i != "R-apply"]
    assert seeded_ids == [seeding.request_id(n) for n in range(1, 61)]
    svc.sweep(NOW)  # R-apply's deadline has passed; the seeded ones are swept already
    assert check(svc.engine, NOW) == []


def test_a_big_seed_rebuilds_the_indexes_in_its_transaction(svc, monkeypatch):
    monkeypatch.setattr(seeding, "REBUILD_FROM", 10)
    with read(svc.engine) as conn:
        before = _index_names(conn)
    seeding.seed_requests(svc.engine, 40, now=NOW)
    with read(svc.engine) as conn:
        assert _index_names(conn) == before
    assert check(svc.engine, NOW) == []


def _index_names(conn) -> set[str]:
    return {ix["name"] for ix in sa.inspect(conn).get_indexes("requests")}


def test_random_submissions_pass_the_rules(svc):
    rng = random.Random(3)
    for n in range(1, 301):
        sub = seeding.random_submission(rng, T0, ("acme", "globex"), number=n)
        d.check_submission(sub)
        assert sub.shop in ("acme", "globex")
        assert sub.buyer in seeding.BUYERS
        assert (sub.id, sub.order_id) == (f"R{n:07d}", f"O{n:07d}")
        svc.submit(BUYER, sub, T0)


def test_a_negative_count_or_no_shop_is_refused(svc):
    with pytest.raises(ValueError):
        seeding.seed_requests(svc.engine, -1, now=NOW)
    with pytest.raises(ValueError):
        seeding.seed_requests(svc.engine, 5, now=NOW, shops=())


def test_short_windows_from_the_settings_still_give_consistent_data(svc):
    minutes = pendulum.duration(minutes=10)
    rules = d.Rules(respond_window=minutes, ship_window=minutes, receive_window=minutes)
    seeding.seed_requests(svc.engine, 120, now=NOW, rules=rules)
    seeded = stored(svc.engine)
    assert all(req.created_at <= NOW for req, _ in seeded)
    assert_replays(seeded, rules)
    assert check(svc.engine, NOW) == []


def test_worker_processes_give_the_same_data_as_one_process(svc, tmp_path, monkeypatch):
    if seeding._fork_context() is None:
        pytest.skip("other threads are running here: the seed would not start workers")
    monkeypatch.setattr(seeding, "CHUNK", 40)  # 150 requests: four chunks, three workers
    seeding.seed_requests(svc.engine, 150, seed=9, now=NOW, workers=0)
    engine = open_engine(f"sqlite:///{tmp_path / 'workers.db'}")
    upgrade(engine)
    other = Returns(engine)
    other.add_user("root-admin", "root-admin", "admin", (), T0)
    seeding.seed_requests(engine, 150, seed=9, now=NOW, workers=3)

    assert exported(other) == exported(svc)
    assert check(engine, NOW) == [] and check(svc.engine, NOW) == []
    engine.dispose()
