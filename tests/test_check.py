"""The invariant checker (returns_tui.check) against databases corrupted by hand.

One scenario with a request in every status and every kind of record is built once per
backend through the services, and checked clean. Each test then copies it and breaks it in
one way the checker knows, with plain SQL, as a bug or another program could: the
append-only triggers are dropped where a record has to be changed or deleted. The checker
must name the broken request (or order) with the problem, and nothing else.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.check import Violation, check
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.timefmt import iso_utc, to_micros
from tests.conftest import PG_URL, T0, needs_pg, submission
from tests.support import console as console_seed

H = pendulum.duration(hours=1)
NOW = T0 + 100 * H
RULES = d.Rules()


def at(hours: float) -> pendulum.DateTime:
    return T0 + pendulum.duration(seconds=round(hours * 3600))


def build_scenario(svc: Returns, decisions: bool = True) -> None:
    """A request in every status, every record kind, a second request, both shops; without
    `decisions`, only what a database from before DESIGN §7 (migration 0006) can hold."""
    alice, olga, sam = svc.login("alice"), svc.login("olga"), svc.login("sam")

    def sub(rid: str, hours: float, order: str | None = None, **over) -> None:
        svc.submit(BUYER, submission(rid, order or "O" + rid, **over), at(hours))

    sub("P", 70)  # pending: respond_by T0+118 h, after NOW
    svc.note(alice, "P", at(71), "called the buyer")
    sub("AW", 60)
    svc.accept(alice, "AW", at(61))  # awaiting_buyer_ship
    sub("SH", 50)
    svc.accept(alice, "SH", at(51))
    svc.ship(BUYER, "SH", at(52), "1Z-SH")  # buyer_shipped
    sub("DONE", 0)
    svc.accept(alice, "DONE", at(1))
    svc.ship(BUYER, "DONE", at(2), "1Z-DONE")
    svc.receive(alice, "DONE", at(3))  # completed
    svc.note(sam, "DONE", at(90), "refund confirmed")
    sub("REJ", 80)
    svc.reject(alice, "REJ", at(81), "no_proof", "no photo")  # rejected, window open
    sub("MED", 10)
    svc.reject(alice, "MED", at(11), "not_as_claimed", "")
    svc.appeal(BUYER, "MED", at(12))  # in_mediation
    sub("SELL", 5)
    svc.reject(alice, "SELL", at(6), "outside_policy", "")
    svc.appeal(BUYER, "SELL", at(7))
    svc.mediate(sam, "SELL", at(8), "seller", "item was used")  # rejected for good
    sub("BUY", 20)
    svc.reject(alice, "BUY", at(21), "other", "looks fine to me")
    svc.appeal(BUYER, "BUY", at(22))
    svc.mediate(sam, "BUY", at(23), "buyer", "photo shows the crack")  # awaiting, support_buyer
    sub("F1", 30, order="OF")
    svc.reject(alice, "F1", at(31), "no_proof", "")
    sub("F2", 32, order="OF", type="refund")  # attempt 2; auto-approved at T0+80 h
    sub("AUTO", 40)  # auto-approved at T0+88 h
    sub("EXP", -200)  # auto-approved at T0-152 h, expired at T0-32 h
    sub("AREF", -300)
    svc.accept(alice, "AREF", at(-299))
    svc.ship(BUYER, "AREF", at(-298), "1Z-AREF")  # auto-refunded at T0-106 h
    sub("CAN", 15)
    svc.cancel(BUYER, "CAN", at(16))
    sub("G", 65, shop="globex", type="refund")
    svc.accept(olga, "G", at(66))
    if decisions:
        build_decisions(svc, alice, sam)
    svc.sweep(NOW)


def build_decisions(svc: Returns, alice, sam) -> None:
    """DESIGN §7's statuses and record kinds."""

    def sub(rid: str, hours: float) -> None:
        svc.submit(BUYER, submission(rid, "O" + rid), at(hours))

    sub("OFF", 80)
    svc.offer(alice, "OFF", at(81), "6.50")  # awaiting_buyer_response until T0+129 h
    sub("AGR", 60)
    svc.offer(alice, "AGR", at(61), "9.99")
    svc.agree(BUYER, "AGR", at(62))  # completed, refunded 9.99, item kept
    sub("DEC", 70)
    svc.offer(alice, "DEC", at(71), "1.00")
    svc.decline(BUYER, "DEC", at(72))  # pending again, respond_by T0+120 h
    sub("LAP", 0)
    svc.offer(alice, "LAP", at(1), "12.98")  # lapses at T0+49 h, auto-approved at T0+97 h
    sub("KEEP", 85)
    svc.accept(alice, "KEEP", at(86), keep_item=True)
    sub("RR", 40)
    svc.accept(alice, "RR", at(41))
    svc.ship(BUYER, "RR", at(42), "1Z-RR")
    svc.reject_receipt(alice, "RR", at(43), "empty_package", "the box was empty")
    for rid, hours, decision in (("RRB", 20, "buyer"), ("RRS", 24, "seller")):
        sub(rid, hours)
        svc.accept(alice, rid, at(hours + 1))
        svc.ship(BUYER, rid, at(hours + 2), f"1Z-{rid}")
        svc.reject_receipt(alice, rid, at(hours + 3), "missing_parts", "no charger")
        svc.appeal(BUYER, rid, at(hours + 4))
        svc.mediate(sam, rid, at(hours + 5), decision, "checked the photos")


def cast(svc: Returns) -> None:
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    svc.add_user("root-admin", "alice", "operator", ("acme",), T0)
    svc.add_user("root-admin", "olga", "operator", ("globex",), T0)
    svc.add_user("root-admin", "sam", "agent", (), T0)


# ---------------------------------------------------------------------------------------------
# One scenario per backend, copied for each test


def pg_database(name: str) -> str:
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def sqlite_scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "scenario.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    svc = Returns(engine)
    cast(svc)
    build_scenario(svc)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def pg_scenario():
    if not PG_URL:
        pytest.skip("RETURNS_TUI_TEST_PG is not set (no PostgreSQL)")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = "rt_tpl_" + uuid.uuid4().hex[:10]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = open_engine(pg_database(name))
    upgrade(engine)
    svc = Returns(engine)
    cast(svc)
    build_scenario(svc)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def scenario(request, tmp_path) -> Iterator[sa.Engine]:
    """A fresh copy of the scenario's database."""
    if request.param == "sqlite":
        path = tmp_path / "copy.db"
        shutil.copy(request.getfixturevalue("sqlite_scenario"), path)
        engine = open_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    template = request.getfixturevalue("pg_scenario")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = "rt_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    engine = open_engine(pg_database(name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# ---------------------------------------------------------------------------------------------
# Corrupting by hand


def sql(engine, statement: str, **params) -> None:
    """Run SQL as another program would: plain SQLAlchemy, none of the services' checks."""
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)


# The append-only triggers as migration 0001 makes them.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER records_no_{verb.lower()} BEFORE {verb} ON records "
    "BEGIN SELECT RAISE(ABORT, 'records are append-only'); END"
    for verb in ("UPDATE", "DELETE")
]
PG_TRIGGER = (
    "CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records "
    "FOR EACH ROW EXECUTE FUNCTION records_append_only()"
)


def unlock_records(engine) -> None:
    """Drop the triggers that keep records append-only (what a careless admin could do)."""
    if engine.dialect.name == "sqlite":
        sql(engine, "DROP TRIGGER records_no_update")
        sql(engine, "DROP TRIGGER records_no_delete")
    else:
        sql(engine, "DROP TRIGGER records_append_only ON records")


def lock_records(engine) -> None:
    """Create the triggers again, exactly as they were made."""
    if engine.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            sql(engine, statement)
    else:
        sql(engine, PG_TRIGGER)


def behind_triggers(engine, statement: str, **params) -> None:
    """Change records as someone who can write the database would: drop the append-only
    triggers, run the statement, and create the triggers again as they were."""
    unlock_records(engine)
    sql(engine, statement, **params)
    lock_records(engine)


def without_foreign_keys(engine, statement: str, **params) -> None:
    """Run a statement the foreign keys would refuse."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # in autocommit: the PRAGMA works outside a transaction
        try:
            raw.execute("PRAGMA foreign_keys = OFF")
            raw.execute(statement, params)
            raw.execute("PRAGMA foreign_keys = ON")
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        # Replica mode fires no ordinary triggers: neither the foreign keys' nor ours.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(statement), params)


def copy_last_record(engine, rid: str, **change) -> None:
    """Append a copy of the request's last record (changed as given) and bump its version,
    as a transition applied twice would."""
    with engine.begin() as conn:
        last = (
            conn.execute(
                sa.text("SELECT * FROM records WHERE request_id = :r ORDER BY seq DESC LIMIT 1"),
                {"r": rid},
            )
            .mappings()
            .one()
        )
        values = {k: v for k, v in last.items() if k != "id"} | {"seq": last["seq"] + 1} | change
        columns = ", ".join(values)
        conn.execute(
            sa.text(
                f"INSERT INTO records ({columns}) VALUES ({', '.join(':' + c for c in values)})"
            ),
            values,
        )
        conn.execute(sa.text("UPDATE requests SET version = version + 1 WHERE id = :r"), {"r": rid})


def us(hours: float) -> int:
    return to_micros(at(hours))


FIXED = "the request's fixed fields do not match its chain"
HEAD = "the request's chain does not end at its last record"
NOT_APPEND_ONLY = "records are not append-only"


def record_chain(n: int) -> str:
    return f"record {n} does not match its chain (changed or forged)"


def forge_accept(engine) -> None:
    """A forged record that fits every rule: P accepted by alice at T0+72 h, the request
    moved to match, the record's chain copied from the one before (the key is not known)."""
    copy_last_record(
        engine, "P", kind="accepted", actor="alice", from_status="pending",
        to_status="awaiting_buyer_ship", at=us(72), details=None,
    )  # fmt: skip
    sql(engine, "UPDATE requests SET status = 'awaiting_buyer_ship', tab = 'in_process', "
                "deadline_at = :d, status_since = :t WHERE id = 'P'", d=us(72 + 120), t=us(72))


def delete_last_note(engine) -> None:
    """DONE's last record (a note) deleted and its version put back: every field agrees."""
    behind_triggers(engine, "DELETE FROM records WHERE request_id = 'DONE' AND seq = 5")
    sql(engine, "UPDATE requests SET version = 4 WHERE id = 'DONE'")


def auto_approve_a_return_to_completed(engine) -> None:
    """AUTO, a return and refund, auto-approved straight to completed (refund-only's edge)."""
    behind_triggers(
        engine, "UPDATE records SET to_status = 'completed' WHERE request_id = 'AUTO' AND seq = 2"
    )
    sql(engine, "UPDATE requests SET status = 'completed', tab = 'completed', "
                "deadline_at = NULL WHERE id = 'AUTO'")


def neuter_the_triggers(engine) -> None:
    """Triggers of the right names that let every change through."""
    if engine.dialect.name == "sqlite":
        unlock_records(engine)
        for verb in ("update", "delete"):
            sql(engine, f"CREATE TRIGGER records_no_{verb} BEFORE {verb.upper()} ON records "
                        "BEGIN SELECT 1; END")  # fmt: skip
    else:
        sql(engine, "CREATE OR REPLACE FUNCTION records_append_only() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")  # fmt: skip


def disable_the_triggers(engine) -> None:
    if engine.dialect.name == "sqlite":
        unlock_records(engine)  # SQLite cannot disable a trigger: it is gone
    else:
        sql(engine, "ALTER TABLE records DISABLE TRIGGER records_append_only")


@dataclass(frozen=True)
class Case:
    name: str
    corrupt: Callable[[sa.Engine], None]
    # Who the checker must name, with what words; and who else it may name (else nobody).
    expect: tuple[tuple[str, str], ...]
    also: tuple[str, ...] = ()
    now: pendulum.DateTime = NOW
    rules: d.Rules | None = None


CASES = [
    Case(
        "status changed without a record",
        lambda e: sql(e, "UPDATE requests SET status = 'completed', tab = 'completed', "
                         "deadline_at = NULL WHERE id = 'P'"),
        (("P", "status is completed but the last record ends in pending"),),
    ),
    Case(
        "status and tab disagree",
        lambda e: sql(e, "UPDATE requests SET tab = 'closed' WHERE id = 'AW'"),
        (("AW", "status awaiting_buyer_ship is shown under tab closed"),),
    ),
    Case(
        "a tab no console has",
        lambda e: sql(e, "UPDATE requests SET tab = 'bogus' WHERE id = 'DONE'"),
        (("DONE", "shown under tab bogus"), ("*", "unknown tabs ['bogus']"),
         ("*", "but All has 23")),
    ),
    Case(
        "version bumped without a record",
        lambda e: sql(e, "UPDATE requests SET version = version + 1 WHERE id = 'SH'"),
        (("SH", "version 4 but 3 records"),),
    ),
    Case(
        "a transition applied twice",
        lambda e: copy_last_record(e, "AW"),
        (("AW", "the record accepted by alice at"), ("AW", "appears 2 times"),
         ("AW", "record 3 starts from pending, not awaiting_buyer_ship")),
    ),
    Case(
        "a note applied twice",
        lambda e: copy_last_record(e, "DONE"),
        (("DONE", "the record noted by sam at"), ("DONE", "appears 2 times")),
    ),
    Case(
        "a record that is not a move of the state machine",
        lambda e: copy_last_record(
            e, "CAN", kind="accepted", actor="alice", from_status="cancelled",
            to_status="completed", at=us(17), details=None,
        ),
        (("CAN", "accepted cannot go cancelled→completed"),
         ("CAN", "status is cancelled but the last record ends in completed")),
    ),
    Case(
        "a record that starts from another status",
        lambda e: copy_last_record(
            e, "P", kind="accepted", actor="alice", from_status="in_mediation",
            to_status="pending", at=us(72), details=None,
        ),
        (("P", "starts from in_mediation, not pending"),),
    ),
    Case(
        "the first record is not 'submitted'",
        lambda e: behind_triggers(
            e, "UPDATE records SET kind = 'noted', from_status = 'pending' "
               "WHERE request_id = 'REJ' AND seq = 1"),
        (("REJ", "the first record is not 'submitted'"),),
    ),
    Case(
        "a record deleted",
        lambda e: behind_triggers(
            e, "DELETE FROM records WHERE request_id = 'MED' AND seq = 3"),
        (("MED", "version 3 but 2 records"),
         ("MED", "status is in_mediation but the last record ends in rejected"),
         ("MED", "arbitration in_progress but the records say None")),
    ),
    Case(
        "a record rewritten",
        lambda e: behind_triggers(
            e, "UPDATE records SET to_status = 'completed' WHERE request_id = 'AW' AND seq = 2"),
        (("AW", "status is awaiting_buyer_ship but the last record ends in completed"),),
    ),
    Case(
        "records renumbered",
        lambda e: behind_triggers(
            e, "UPDATE records SET seq = 7 WHERE request_id = 'SH' AND seq = 3"),
        (("SH", "the records are numbered [1, 2, 7], not 1 to 3"),),
    ),
    Case(
        "records out of time order",
        lambda e: behind_triggers(
            e, "UPDATE records SET at = :t WHERE request_id = 'SH' AND seq = 3", t=us(50.5)),
        (("SH", "the records are not in time order"),),
    ),
    Case(
        "an automatic transition by a person",
        lambda e: behind_triggers(
            e, "UPDATE records SET actor = 'alice' WHERE request_id = 'AUTO' AND seq = 2"),
        (("AUTO", "record 2: auto_approved by alice"),),
    ),
    Case(
        "the system acting as an operator",
        lambda e: behind_triggers(
            e, "UPDATE records SET actor = 'system' WHERE request_id = 'G' AND seq = 2"),
        (("G", "record 2: accepted by system"),),
    ),
    Case(
        "an orphan record",
        lambda e: without_foreign_keys(
            e, "INSERT INTO records (request_id, seq, at, actor, kind, from_status, to_status) "
               "VALUES ('GHOST', 1, :t, 'buyer', 'submitted', NULL, 'pending')", t=us(1)),
        (("*", "1 records belong to no request"),),
    ),
    Case(
        "a request deleted under its records",
        lambda e: without_foreign_keys(e, "DELETE FROM requests WHERE id = 'CAN'"),
        (("*", "2 records belong to no request"),),
    ),
    Case(
        "a pending request left past its deadline",
        lambda e: None,
        ((("P", f"pending past its deadline {iso_utc(at(118))} (not swept)"),
          ("AW", f"awaiting_buyer_ship past its deadline {iso_utc(at(181))}"),
          ("SH", f"buyer_shipped past its deadline {iso_utc(at(52 + 192))}"),
          ("AUTO", f"awaiting_buyer_ship past its deadline {iso_utc(at(88 + 120))}"),
          ("OFF", f"awaiting_buyer_response past its deadline {iso_utc(at(81 + 48))}"),
          ("DEC", f"pending past its deadline {iso_utc(at(72 + 48))}"),
          ("LAP", f"awaiting_buyer_ship past its deadline {iso_utc(at(97 + 120))}"))),
        also=("BUY",),
        now=NOW + 30 * 24 * H,
    ),
    Case(
        "a timed request without a deadline",
        lambda e: sql(e, "UPDATE requests SET deadline_at = NULL WHERE id = 'AW'"),
        (("AW", "awaiting_buyer_ship without a deadline"),),
    ),
    Case(
        "a pending deadline that is not respond_by",
        lambda e: sql(e, "UPDATE requests SET deadline_at = :t WHERE id = 'P'", t=us(500)),
        (("P", f"pending with deadline {iso_utc(at(500))}, not {iso_utc(at(118))}"),),
    ),
    Case(
        "a finished request with a deadline",
        lambda e: sql(e, "UPDATE requests SET deadline_at = :t WHERE id = 'CAN'", t=us(500)),
        (("CAN", "cancelled with deadline"),),
    ),
    Case(
        "a ship-by deadline that is not five days after the approval",
        lambda e: sql(e, "UPDATE requests SET deadline_at = deadline_at + 3600000000 "
                         "WHERE id = 'AW'"),
        (("AW", f"awaiting_buyer_ship with deadline {iso_utc(at(182))}, not {iso_utc(at(181))}"),),
        rules=RULES,
    ),
    Case(
        "a respond_by that is not 48 hours after the submission",
        lambda e: sql(e, "UPDATE requests SET respond_by = respond_by - 3600000000, "
                         "deadline_at = deadline_at - 3600000000 WHERE id = 'P'"),
        (("P", f"respond_by {iso_utc(at(117))} is not created_at + {RULES.respond_window}"),),
        rules=RULES,
    ),
    Case(
        "created_at moved",
        lambda e: sql(e, "UPDATE requests SET created_at = :t WHERE id = 'G'", t=us(64)),
        (("G", f"created_at {iso_utc(at(64))} but submitted at {iso_utc(at(65))}"),
         ("G", FIXED)),
    ),
    Case(
        "status_since moved",
        lambda e: sql(e, "UPDATE requests SET status_since = :t WHERE id = 'MED'", t=us(13)),
        (("MED", f"status_since {iso_utc(at(13))} but the last move was at {iso_utc(at(12))}"),),
    ),
    Case(
        "rejected_at lost",
        lambda e: sql(e, "UPDATE requests SET rejected_at = NULL WHERE id = 'SELL'"),
        (("SELL", f"rejected_at None but the records say {iso_utc(at(6))}"),),
    ),
    Case(
        "a tracking number changed",
        lambda e: sql(e, "UPDATE requests SET tracking = 'EVIL' WHERE id = 'SH'"),
        (("SH", "tracking 'EVIL' but the records say '1Z-SH'"),),
    ),
    Case(
        "an arbitration changed",
        lambda e: sql(e, "UPDATE requests SET arbitration = 'support_seller' WHERE id = 'BUY'"),
        (("BUY", "arbitration support_seller but the records say support_buyer"),),
    ),
    Case(
        "two open requests on one order",
        lambda e: sql(e, "UPDATE requests SET order_id = 'OP' WHERE id = 'AW'"),
        (("OP", "the order has 2 open requests"), ("AW", FIXED)),
    ),
    Case(
        "an order recorded for another shop",
        lambda e: sql(e, "UPDATE orders SET shop = 'globex' WHERE order_id = 'OREJ'"),
        (("REJ", "order OREJ is not recorded for acme"),),
    ),
    Case(
        "a request whose order was never recorded",
        lambda e: sql(e, "DELETE FROM orders WHERE order_id = 'OAUTO'"),
        (("AUTO", "order OAUTO is not recorded for acme"),),
    ),
    Case(
        "a second request that is not attempt 2",
        lambda e: sql(e, "UPDATE requests SET attempt = 1 WHERE id = 'F2'"),
        (("OF", "F2 is attempt 1, not 2"), ("F2", FIXED)),
    ),
    Case(
        "an order rejected three times",
        lambda e: sql(e, "UPDATE requests SET order_id = 'OF' WHERE id IN ('REJ', 'MED')"),
        (("OF", "the order was rejected 3 times"), ("OF", "F1 is attempt 1, not 2"),
         ("REJ", FIXED), ("MED", FIXED)),
    ),
    Case(
        "an order appealed twice",
        lambda e: sql(e, "UPDATE requests SET order_id = 'OSELL' WHERE id = 'BUY'"),
        (("OSELL", "the order was appealed 2 times"), ("OSELL", "BUY is attempt 1, not 2"),
         ("BUY", FIXED),
         # SELL was OSELL's latest request; BUY now comes after it
         ("SELL", "stored without a later request, but order OSELL has one")),
    ),
    Case(
        "a rejection's later request forgotten",
        lambda e: sql(e, "UPDATE requests SET has_later = false WHERE id = 'F1'"),
        (("F1", "stored without a later request, but order OF has one"),),
    ),
    Case(
        "an order's latest request said to have a later one",
        lambda e: sql(e, "UPDATE requests SET has_later = true WHERE id = 'F2'"),
        (("F2", "stored with a later request, but it is order OF's latest"),),
    ),
    Case(
        "a status no program writes",
        lambda e: sql(e, "UPDATE requests SET status = 'lost' WHERE id = 'CAN'"),
        (("CAN", "the row cannot be read: 'lost' is not a valid Status"),),
    ),
    # Tampering: what someone who can write the database but cannot read the chain key does.
    Case(
        "an amount changed",
        lambda e: sql(e, "UPDATE requests SET amount_cents = 1 WHERE id = 'P'"),
        (("P", FIXED),),
    ),
    Case(
        "a currency changed",
        lambda e: sql(e, "UPDATE requests SET currency = 'EUR' WHERE id = 'AW'"),
        (("AW", FIXED),),
    ),
    Case(
        "a buyer changed",
        lambda e: sql(e, "UPDATE requests SET buyer = 'Mallory' WHERE id = 'SH'"),
        (("SH", FIXED),),
    ),
    Case(
        "a product changed",
        lambda e: sql(e, "UPDATE requests SET product = 'Gold bar' WHERE id = 'DONE'"),
        (("DONE", FIXED),),
    ),
    Case(
        "a sku changed",
        lambda e: sql(e, "UPDATE requests SET sku = 'GOLD-1' WHERE id = 'REJ'"),
        (("REJ", FIXED),),
    ),
    Case(
        "a quantity changed",
        lambda e: sql(e, "UPDATE requests SET quantity = 40 WHERE id = 'MED'"),
        (("MED", FIXED),),
    ),
    Case(
        "a reason changed",
        lambda e: sql(e, "UPDATE requests SET reason = 'not_received' WHERE id = 'SELL'"),
        (("SELL", FIXED),),
    ),
    Case(
        "a buyer's note changed",
        lambda e: sql(e, "UPDATE requests SET buyer_note = 'never arrived' WHERE id = 'BUY'"),
        (("BUY", FIXED),),
    ),
    Case(
        "a type changed",
        lambda e: sql(e, "UPDATE requests SET type = 'return_and_refund' WHERE id = 'G'"),
        (("G", FIXED),
         ("G", "accepted cannot go pending→completed for a return_and_refund request")),
    ),
    Case(
        "an order id changed together with its order",
        lambda e: (sql(e, "UPDATE requests SET order_id = 'OX' WHERE id = 'CAN'"),
                   sql(e, "UPDATE orders SET order_id = 'OX' WHERE order_id = 'OCAN'")),
        (("CAN", FIXED),),
    ),
    Case(
        "a request moved to another shop together with its order",
        lambda e: (sql(e, "UPDATE requests SET shop = 'globex' WHERE id = 'REJ'"),
                   sql(e, "UPDATE orders SET shop = 'globex' WHERE order_id = 'OREJ'")),
        (("REJ", FIXED),),
    ),
    Case(
        "a consistent forged record inserted",
        forge_accept,
        (("P", record_chain(3)),),
    ),
    Case(
        "a record rewritten behind the triggers",
        lambda e: behind_triggers(
            e, "UPDATE records SET details = '{\"note\": \"refund not owed\"}' "
               "WHERE request_id = 'DONE' AND seq = 5"),
        (("DONE", record_chain(5)),),
    ),
    Case(
        "a reject reason rewritten behind the triggers",
        lambda e: behind_triggers(
            e, "UPDATE records SET details = '{\"reason\": \"other\"}' "
               "WHERE request_id = 'REJ' AND seq = 2"),
        (("REJ", record_chain(2)),),
    ),
    Case(
        "the last record deleted and the version put back",
        delete_last_note,
        (("DONE", HEAD),),
    ),
    Case(
        "a request's seal removed",
        lambda e: sql(e, "UPDATE requests SET seal = NULL WHERE id = 'P'"),
        (("P", "the request has no chain"),),
    ),
    Case(
        "a request's head changed",
        lambda e: sql(e, "UPDATE requests SET chain = seal WHERE id = 'SH'"),
        (("SH", HEAD),),
    ),
    Case(
        "the chain key's fingerprint changed",
        lambda e: sql(e, "UPDATE chain_key SET fingerprint = :f", f="0" * 64),
        (("*", "the records are chained with another key"),),
    ),
    Case(
        "the append-only triggers dropped",
        unlock_records,
        (("*", NOT_APPEND_ONLY),),
    ),
    Case(
        "the append-only triggers made to let changes through",
        neuter_the_triggers,
        (("*", NOT_APPEND_ONLY),),
    ),
    Case(
        "the append-only trigger disabled",
        disable_the_triggers,
        (("*", NOT_APPEND_ONLY),),
    ),
    Case(
        "a return auto-approved straight to completed",
        auto_approve_a_return_to_completed,
        (("AUTO", "auto_approved cannot go pending→completed for a return_and_refund request"),
         ("AUTO", record_chain(2))),
    ),
    Case(
        "a record kind no program writes",
        lambda e: behind_triggers(
            e, "UPDATE records SET kind = 'teleported' WHERE request_id = 'G' AND seq = 2"),
        (("G", "record 2 cannot be read: 'teleported' is not a valid Kind"),),
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_corruption_is_reported_and_nothing_else(scenario, case):
    case.corrupt(scenario)
    found = check(scenario, case.now, rules=case.rules)
    for who, words in case.expect:
        assert any(v.request_id == who and words in v.problem for v in found), (
            who,
            words,
            [str(v) for v in found],
        )
    named = {who for who, _ in case.expect} | set(case.also)
    # Others' orders name the order, requests name themselves: nothing beyond what was broken.
    assert {v.request_id for v in found} <= named, [str(v) for v in found]


def test_the_scenario_is_clean_and_walks_every_kind_and_status(scenario):
    assert check(scenario, NOW) == []
    assert check(scenario, NOW, rules=RULES) == []
    with scenario.connect() as conn:
        kinds = {k for (k,) in conn.execute(sa.text("SELECT DISTINCT kind FROM records"))}
        statuses = {s for (s,) in conn.execute(sa.text("SELECT DISTINCT status FROM requests"))}
    assert kinds == {k.value for k in d.Kind if k not in d.SYNC_KINDS}
    assert statuses == {s.value for s in d.Status}


def test_grace_forgives_a_sweep_that_is_a_little_late(scenario):
    """P's 48 h end at T0+118 h: a minute later it is missed, unless the sweep may lag."""
    late = at(118) + pendulum.duration(minutes=1)
    assert [str(v) for v in check(scenario, late)] == [
        f"P: pending past its deadline {iso_utc(at(118))} (not swept)"
    ]
    assert check(scenario, late, grace=60) == []
    assert check(scenario, late, grace=59) != []


def test_every_problem_of_a_request_is_reported_not_only_the_first(scenario):
    sql(scenario, "UPDATE requests SET tab = 'closed', version = 9, tracking = 'X' WHERE id = 'SH'")
    problems = [v.problem for v in check(scenario, NOW) if v.request_id == "SH"]
    assert len(problems) == 3, problems


def test_a_clean_console_seed_reports_nothing(svc, engine):
    """The console tests' seed: every status, both shops, deadlines around its NOW."""
    console_seed.seed(svc)
    svc.sweep(console_seed.NOW)
    assert check(engine, console_seed.NOW) == []
    assert check(engine, console_seed.NOW, rules=RULES) == []


def test_violations_read_as_one_line():
    assert str(Violation("R1", "version 2 but 1 records")) == "R1: version 2 but 1 records"
