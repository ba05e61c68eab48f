"""Automation rules (DESIGN §10) as the services run them: each condition and its bounds, the
owner's scope at the moment a request arrives, removal, switching off, the older of two
rules, the rule's own age, `try` changing nothing, a rule racing an operator's reject in
another process, and the migration that adds the table, on both databases."""

from __future__ import annotations

import json
import multiprocessing
import traceback
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import automation as auto
from returns_tui import domain as d
from returns_tui import rulebook
from returns_tui.check import check
from returns_tui.errors import Forbidden, Refused
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import HEAD, open_engine, upgrade
from returns_tui.store.schema import metadata
from tests.conftest import T0, submission
from tests.support.cast import add_cast
from tests.support.old_databases import (
    at_revision,
    copy_into_older,
    scratch_url,  # noqa: F401 (a fixture)
)

HOUR = pendulum.duration(hours=1)
US = pendulum.duration(microseconds=1)
ADMIN = "root-admin"


def make(svc: Returns, owner: str, name: str, at=T0, **conditions) -> auto.Rule:
    return rulebook.add(svc, owner, name, rulebook.NewRule(**conditions), at)


_orders = iter(range(1_000_000))


def arrive(svc: Returns, rid: str, at=T0 + HOUR, **over) -> d.Request:
    """A buyer's new request on an order of its own."""
    over.setdefault("order", f"O-{rid}-{next(_orders)}")
    return svc.submit(BUYER, submission(rid, **over), at)


def refund(rid: str, **over) -> dict:
    """A refund-only request of 9.99 USD for not_received: what the issue's rule accepts."""
    fields = dict(type="refund", amount="9.99", currency="USD", reason="not_received")
    return {**fields, **over}


def actors(svc: Returns, rid: str) -> list[tuple[str, str]]:
    return [(r.kind.value, r.actor) for r in svc.records(svc.login(ADMIN), rid)]


def test_a_matching_rule_accepts_as_the_request_arrives_with_its_own_name(svc, engine):
    make(svc, "alice", "small", type="refund", reasons=["not_received"], currency="USD",
         max_amount="10.00")  # fmt: skip
    got = arrive(svc, "R1", **refund("R1"))
    assert got.status is d.Status.COMPLETED and got.version == 2
    assert actors(svc, "R1") == [("submitted", "buyer"), ("accepted", "rule:alice/small")]
    stored = svc.get(svc.login(ADMIN), "R1")
    assert stored.status is d.Status.COMPLETED and stored.refund_cents == 999
    assert check(engine, T0 + HOUR) == []  # the chain and the invariants hold


def test_keeping_the_item_applies_to_returns_and_a_refund_only_request_is_accepted_plainly(
    svc, engine
):
    make(svc, "alice", "keep", keep_item=True)
    ret = arrive(svc, "RET", type="return_and_refund")
    assert ret.status is d.Status.COMPLETED and ret.keep_item
    only = arrive(svc, "REF", type="refund")
    assert only.status is d.Status.COMPLETED and not only.keep_item
    assert check(engine, T0 + HOUR) == []


def test_without_keep_item_a_return_waits_for_the_buyer_to_ship(svc):
    make(svc, "alice", "ret")
    assert arrive(svc, "R1").status is d.Status.AWAITING_BUYER_SHIP


@pytest.mark.parametrize(
    ("conditions", "request_fields", "acts"),
    [
        ({"type": "refund"}, {"type": "refund"}, True),
        ({"type": "refund"}, {"type": "return_and_refund"}, False),
        ({"reasons": ["not_received", "damaged"]}, {"reason": "damaged"}, True),
        ({"reasons": ["not_received"]}, {"reason": "damaged"}, False),
        ({"currency": "USD"}, {"currency": "USD"}, True),
        ({"currency": "EUR"}, {"currency": "USD"}, False),
        ({"max_amount": "12.99"}, {"amount": "12.99"}, True),  # inclusive
        ({"max_amount": "12.98"}, {"amount": "12.99"}, False),
        ({"max_amount": "10", "currency": "JPY"}, {"amount": "10", "currency": "JPY"}, True),
        ({"max_amount": "10", "currency": "JPY"}, {"amount": "11", "currency": "JPY"}, False),
        # Every condition given must hold: one that fails is enough.
        ({"type": "refund", "currency": "USD", "max_amount": "5.00"}, refund("x"), False),
        ({"type": "refund", "currency": "USD", "max_amount": "9.99"}, refund("x"), True),
    ],
)
def test_each_condition(svc, conditions, request_fields, acts):
    make(svc, "alice", "r", **conditions)
    got = arrive(svc, "R1", **request_fields)
    assert (got.status is not d.Status.PENDING) is acts, got.status


def test_the_buyer_count_includes_this_request_and_the_90_days_before_it(svc):
    svc.add_user(ADMIN, "carl", "operator", ("acme", "globex"), T0 - pendulum.duration(days=200))
    at = T0 + pendulum.duration(days=100)
    # Before the rule (not acted on): one request exactly 90 days before `at` (outside the
    # window), one a microsecond later (inside), one in carl's other shop (counts), and one in
    # a shop that is not carl's (does not count).
    arrive(svc, "OLD", at=at - pendulum.duration(days=90))
    arrive(svc, "IN", at=at - pendulum.duration(days=90) + US)
    arrive(svc, "GLX", at=at - pendulum.duration(days=1), shop="globex")
    arrive(svc, "OTHER", at=at - pendulum.duration(days=1), shop="initech")
    make(svc, "carl", "few", at=at - HOUR, shops=["acme"], max_buyer_requests=3)
    assert arrive(svc, "THIRD", at=at).status is not d.Status.PENDING  # IN, GLX, THIRD
    assert arrive(svc, "FOURTH", at=at).status is d.Status.PENDING  # 4 > 3
    # Another buyer has a history of their own.
    assert arrive(svc, "BEA", at=at, buyer="Bea").status is not d.Status.PENDING


def test_a_rule_covers_only_its_owners_shops_and_defaults_to_all_of_them(svc):
    with pytest.raises(Refused, match="The shop globex is not one of yours"):
        make(svc, "alice", "theirs", shops=["globex"])
    rule = make(svc, "alice", "mine")
    assert rule.conditions.shops == ("acme",)
    assert arrive(svc, "G1", shop="globex").status is d.Status.PENDING  # olga's shop
    assert arrive(svc, "A1").status is not d.Status.PENDING


def test_only_an_operator_makes_rules(svc):
    for who in (ADMIN, "sam"):
        with pytest.raises(Forbidden, match="Only an operator may make rules"):
            make(svc, who, "x")


def test_a_shop_taken_from_the_owner_later_stops_the_rule_there(svc, engine):
    svc.add_user(ADMIN, "carl", "operator", ("acme", "globex"), T0 - HOUR)
    make(svc, "carl", "both")
    with engine.begin() as conn:  # carl no longer works for globex
        conn.exec_driver_sql("DELETE FROM user_shops WHERE name = 'carl' AND shop = 'globex'")
    assert arrive(svc, "G1", shop="globex").status is d.Status.PENDING
    assert arrive(svc, "A1").status is not d.Status.PENDING


def test_a_removed_owners_rule_does_nothing_even_when_the_login_comes_back(svc):
    make(svc, "alice", "r")
    svc.remove_user(ADMIN, "alice")
    assert arrive(svc, "R1").status is d.Status.PENDING
    # The login made a user again is someone new: the old rule stays dead.
    svc.add_user(ADMIN, "alice", "operator", ("acme",), T0 + HOUR)
    assert arrive(svc, "R2", at=T0 + 2 * HOUR).status is d.Status.PENDING
    assert [r.name for r in rulebook.every(svc, "alice")] == ["r"]  # still listed


def test_a_switched_off_rule_does_nothing_and_only_an_admin_switches_one_off(svc):
    make(svc, "alice", "r")
    with pytest.raises(Forbidden, match="Only an admin may switch rules off"):
        rulebook.disable(svc, "bob", "alice", "r")
    rulebook.disable(svc, ADMIN, "alice", "r")
    assert arrive(svc, "R1").status is d.Status.PENDING
    [rule] = rulebook.every(svc, ADMIN)
    assert rule.disabled and rule.disabled_by == ADMIN
    with pytest.raises(Refused, match="already off"):
        rulebook.disable(svc, ADMIN, "alice", "r")


def test_a_removed_rule_does_nothing(svc):
    make(svc, "alice", "r")
    rulebook.remove(svc, "alice", "r")
    assert arrive(svc, "R1").status is d.Status.PENDING
    with pytest.raises(Refused, match="You have no rule called r"):
        rulebook.remove(svc, "alice", "r")


def test_when_two_rules_match_the_older_acts(svc):
    # Made in this order, at these times (the cast became users at T0).
    make(svc, "alice", "newer", at=T0 + pendulum.duration(minutes=2))
    make(svc, "bob", "older", at=T0 + pendulum.duration(minutes=1))
    arrive(svc, "R1")
    assert actors(svc, "R1")[-1] == ("accepted", "rule:bob/older")


def test_of_two_rules_made_at_the_same_moment_the_first_made_acts(svc):
    make(svc, "bob", "first", at=T0)
    make(svc, "alice", "second", at=T0)
    arrive(svc, "R1")
    assert actors(svc, "R1")[-1] == ("accepted", "rule:bob/first")


def test_a_rule_acts_only_on_requests_that_arrive_after_it_was_made(svc):
    make(svc, "alice", "r", at=T0 + HOUR)
    assert arrive(svc, "SAME", at=T0 + HOUR).status is d.Status.PENDING  # not after it
    assert arrive(svc, "BEFORE", at=T0).status is d.Status.PENDING  # an apply line's past time
    assert arrive(svc, "AFTER", at=T0 + HOUR + US).status is not d.Status.PENDING


def test_a_rule_acts_only_on_a_pending_request_that_just_arrived(svc, engine):
    req = arrive(svc, "R1")  # before any rule
    make(svc, "alice", "r", at=T0 + 2 * HOUR)
    svc.note(svc.login("bob"), "R1", T0 + 3 * HOUR, "still pending")  # no arrival: no rule
    assert svc.get(svc.login(ADMIN), "R1").status is d.Status.PENDING
    done = svc.accept(svc.login("bob"), "R1", T0 + 3 * HOUR)
    with engine.connect() as conn:
        assert auto.on_arrival(conn, done, T0 + 4 * HOUR) is None  # not pending
        assert auto.on_arrival(conn, req, T0 + 4 * HOUR) is not None  # what the sync asks


def test_rule_names_are_checked_and_hostile_ones_refused(svc):
    for name in ("[b]bold[/b]", "x\x1b[31m", "", "a b", "-lead", "rule/x", "é", "x" * 41):
        with pytest.raises(Refused, match="cannot be a rule's name"):
            make(svc, "alice", name)
    svc.add_user(ADMIN, "l" * 50, "operator", ("acme",), T0)
    with pytest.raises(Refused, match="leaves 8 for the name"):
        make(svc, "l" * 50, "ninechars")
    rule = make(svc, "l" * 50, "eightchr")
    assert len(rule.actor) == 64
    with pytest.raises(Refused, match="already have a rule called eightchr"):
        make(svc, "l" * 50, "eightchr")


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"type": "refund", "keep_item": True}, "no item to keep"),
        ({"max_amount": "10.5", "currency": "JPY"}, "JPY amounts have no minor units"),
        ({"max_amount": "-1"}, "positive decimal"),
        ({"max_amount": "0"}, "more than zero"),
        ({"currency": "usd"}, "three capital letters"),
        ({"max_buyer_requests": 0}, "from 1"),
        ({"reasons": ["bad\x1b"]}, "cannot be a reason"),
        ({"type": "exchange"}, "refund or return_and_refund"),
    ],
)
def test_bad_conditions_are_refused_and_nothing_is_made(svc, conditions, message):
    with pytest.raises(Refused, match=message):
        make(svc, "alice", "r", **conditions)
    assert rulebook.every(svc, "alice") == []


# ---------------------------------------------------------------------------------------------
# rules try


def every_row(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in metadata.sorted_tables
        }


def test_try_lists_every_match_since_the_date_accepted_ones_included_and_changes_nothing(
    svc, engine
):
    arrive(svc, "EARLY", at=T0 - pendulum.duration(days=2), **refund("x"))  # before the date
    arrive(svc, "A", at=T0, **refund("x"))
    arrive(svc, "BIG", at=T0, **refund("x", amount="10.01"))
    arrive(svc, "G", at=T0, shop="globex", **refund("x"))
    make(svc, "alice", "small", at=T0 + US, type="refund", max_amount="10.00")
    arrive(svc, "B", at=T0 + HOUR, **refund("x"))  # accepted by the rule
    assert svc.get(svc.login(ADMIN), "B").status is d.Status.COMPLETED
    before = every_row(engine)
    since = (T0 - pendulum.duration(days=1)).date()
    got = list(rulebook.tried(svc, "alice", "small", since))
    assert got == [
        {"id": "A", "shop": "acme", "amount": "9.99", "currency": "USD"},
        {"id": "B", "shop": "acme", "amount": "9.99", "currency": "USD"},
    ]
    assert every_row(engine) == before


def test_try_counts_the_buyers_requests_as_they_stood_at_each_arrival(svc):
    for n in range(3):
        arrive(svc, f"R{n}", at=T0 + n * HOUR)
    arrive(svc, "BEA", at=T0 + 4 * HOUR, buyer="Bea")
    make(svc, "alice", "two", at=T0 + 5 * HOUR, max_buyer_requests=2)
    got = [row["id"] for row in rulebook.tried(svc, "alice", "two", T0.date())]
    assert got == ["R0", "R1", "BEA"]  # R2 was Ana's third


def test_try_is_for_ones_own_rules(svc):
    make(svc, "alice", "r")
    with pytest.raises(Refused, match="You have no rule called r"):
        list(rulebook.tried(svc, "bob", "r", T0.date()))


# ---------------------------------------------------------------------------------------------
# What the Rules screen shows


def test_activity_counts_each_rules_accepts_and_money_per_currency_in_the_last_7_days(svc):
    make(svc, "alice", "small", at=T0)
    make(svc, "bob", "none", at=T0, reasons=["nothing_matches"])
    arrive(svc, "U1", **refund("x"))
    arrive(svc, "U2", **refund("x", amount="1.01"))
    arrive(svc, "J1", **refund("x", amount="500", currency="JPY"))
    now = T0 + 2 * HOUR
    seen = {a.rule.actor: (a.accepted, a.money) for a in rulebook.activity(svc, "alice", now)}
    assert seen == {"rule:alice/small": (3, {"USD": 1100, "JPY": 50000})}
    everyone = {a.rule.actor: a.accepted for a in rulebook.activity(svc, ADMIN, now)}
    assert everyone == {"rule:alice/small": 3, "rule:bob/none": 0}
    later = rulebook.activity(svc, "alice", T0 + HOUR + pendulum.duration(days=7, seconds=1))
    assert [(a.accepted, a.money) for a in later] == [(0, {})]


def test_a_name_used_again_does_not_inherit_the_old_rules_accepts(svc):
    make(svc, "alice", "r", at=T0)
    arrive(svc, "R1")
    rulebook.remove(svc, "alice", "r")
    make(svc, "alice", "r", at=T0 + 2 * HOUR)
    [act] = rulebook.activity(svc, "alice", T0 + 3 * HOUR)
    assert act.accepted == 0


# ---------------------------------------------------------------------------------------------
# A rule racing an operator's reject, in two processes


def _race_worker(url: str, job: dict, barrier, out: str) -> None:
    from returns_tui.errors import NotFound
    from returns_tui.services import Returns
    from returns_tui.store.engine import open_engine

    results: list = []
    try:
        svc = Returns(open_engine(url))
        barrier.wait()
        for fields in job["requests"]:
            at = pendulum.parse(fields.pop("at"))
            if job["who"] == "buyer":
                svc.submit(BUYER, d.Submission(**fields), at)
                continue
            bob = svc.login("bob")
            while True:  # as soon as the request shows, reject it
                try:
                    svc.reject(bob, fields["id"], at + HOUR, "no_proof", "")
                    results.append([fields["id"], True, ""])
                    break
                except NotFound:
                    continue
                except Refused as exc:
                    results.append([fields["id"], False, exc.message])
                    break
    except BaseException:
        results.append(["crash", False, traceback.format_exc()])
    Path(out).write_text(json.dumps(results))


def test_a_rule_racing_an_operators_reject_one_outcome_and_the_loser_is_told(
    svc, engine, db_url, tmp_path
):
    make(svc, "alice", "small", at=T0, max_amount="10.00")
    n = 40
    subs = []
    for i in range(n):
        amount = "9.99" if i % 2 == 0 else "20.00"  # the rule takes the even ones
        sub = submission(f"R{i:02d}", f"O{i:02d}", amount=amount)
        subs.append({**sub.__dict__, "at": str(T0 + HOUR + pendulum.duration(seconds=i))})
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=90)
    jobs = [{"who": "buyer", "requests": subs}, {"who": "bob", "requests": subs}]
    outs = [tmp_path / f"w{n}.json" for n in range(2)]
    procs = [ctx.Process(target=_race_worker, args=(db_url, job, barrier, str(out)))
             for job, out in zip(jobs, outs, strict=True)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    [buyer, bob] = [json.loads(out.read_text()) for out in outs]
    assert buyer == [] and len(bob) == n, (buyer, bob[:3])
    for i, (rid, ok, message) in enumerate(bob):
        kinds = actors(svc, rid)
        if i % 2 == 0:
            assert kinds == [("submitted", "buyer"), ("accepted", "rule:alice/small")], rid
            assert not ok and "accepted by rule:alice/small" in message, message
        else:
            assert kinds == [("submitted", "buyer"), ("rejected", "bob")], rid
            assert ok, message
    assert check(engine, T0 + 3 * HOUR) == []


# ---------------------------------------------------------------------------------------------
# Migration 0008 on a database with data in it


def test_migration_0008_adds_the_rules_to_a_database_with_data(
    scratch_url, tmp_path, db_url  # noqa: F811 (the fixture)
):
    # Data made at the head, copied into a database at 0007, which is then upgraded.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}" if db_url.startswith("sqlite") else db_url
    fresh = open_engine(fresh_url)
    upgrade(fresh)
    svc = add_cast(Returns(fresh))
    arrive(svc, "R1", at=T0)
    svc.reject(svc.login("alice"), "R1", T0 + HOUR, "no_proof", "")
    arrive(svc, "R2", at=T0)
    old = at_revision(scratch_url, "0007")
    copy_into_older(fresh, old)
    fresh.dispose()
    try:
        assert upgrade(old) == ("0007", HEAD)
        with old.connect() as conn:
            found = sa.inspect(conn)
            assert found.has_table("rules")
        assert check(old, T0 + HOUR) == []
        svc = Returns(old)
        make(svc, "alice", "r", at=T0 + HOUR)
        assert arrive(svc, "R3", at=T0 + 2 * HOUR).status is not d.Status.PENDING
        assert svc.get(svc.login(ADMIN), "R2").status is d.Status.PENDING  # left alone
        assert check(old, T0 + 2 * HOUR) == []
    finally:
        old.dispose()


def test_the_buyers_count_reads_a_range_of_the_buyer_index(tmp_path):
    # The count runs on every arrival a rule with --max-buyer-requests weighs: a range of
    # ix_requests_buyer (buyer, shop, created_at, ...) per shop; only the rows in it are read.
    import sqlite3

    from returns_tui.store import rules_table

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    engine = open_engine(url)
    upgrade(engine)
    statement = rules_table._count_sql("qmark")
    engine.dispose()
    plan = sqlite3.connect(tmp_path / "plan.db")
    rows = plan.execute("EXPLAIN QUERY PLAN " + statement, ("ana", 0, 1, "R0", "alice"))
    steps = " ".join(row[-1] for row in rows)
    wanted = "USING INDEX ix_requests_buyer (buyer=? AND shop=? AND created_at>? AND created_at<?)"
    assert wanted in steps, steps
