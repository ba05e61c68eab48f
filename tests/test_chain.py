"""The chain key and the chains (store/chain.py, DESIGN §3 "Who may touch the data"): the key
file as `init` makes it and as every writer reads it, a writer with another key or none, and
migration 0003 chaining a database made before it. The tamperings `check` finds are in
test_check.py."""

from __future__ import annotations

import hmac
import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui import cli
from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.roles import BUYER
from returns_tui.seed import seed_requests
from returns_tui.services import Returns
from returns_tui.store import chain
from returns_tui.store.chain import ChainKey, ChainKeyError, chain_values, create_key, load_key
from returns_tui.store.engine import HEAD, open_engine, upgrade
from returns_tui.store.rows import record_values, request_values
from returns_tui.store.schema import orders, records, requests
from tests.conftest import T0, submission
from tests.support.cast import add_cast
from tests.support.old_databases import (
    at_revision,
    copy_into_older,
    emptied,
    scratch_url,  # noqa: F401 (a fixture)
)
from tests.test_check import NOW, RULES, build_scenario, cast, sql
from tests.test_services import dump, hours

RETURNS_TUI = Path(sys.executable).with_name("returns-tui")


# ---------------------------------------------------------------------------------------------
# The computation


def test_the_mac_is_hmac_sha256_of_the_key():
    secret = bytes(range(32))
    key = ChainKey(secret)
    for message in (b"", b"x", b"F" + b"y" * 500):
        assert key.mac(message) == hmac.digest(secret, message, "sha256")
    assert key.fingerprint == hmac.digest(secret, b"returns-tui chain key", "sha256").hex()


@pytest.mark.parametrize(
    "one, other",
    [
        (("ab", "c"), ("a", "bc")),  # plain concatenation would make these one
        ((1,), ("1",)),
        ((None,), ("",)),
        ((None,), ("n;",)),
        (("s1:a",), ("s", "a")),
        ((12, 3), (1, 23)),
    ],
)
def test_the_encoding_tells_every_row_apart(one, other):
    assert chain.encode(one) != chain.encode(other)


def test_a_seal_depends_on_every_fixed_field_and_a_record_on_the_one_before():
    key = ChainKey(bytes(32))
    fixed = ["R1", "O1", "acme", "refund", "Ana", "Mug", "M-1", 1, 999, "USD", "damaged", "",
             1, 1]  # fmt: skip
    seals = {key.seal(fixed)}
    for i in range(len(fixed)):
        changed = list(fixed)
        changed[i] = "x" if isinstance(changed[i], str) else changed[i] + 1
        seals.add(key.seal(changed))
    assert len(seals) == len(fixed) + 1
    rows = [("R1", 1, 5, "buyer", "submitted", None, "pending", None)]
    (first,), head = key.chained(key.seal(fixed), rows)
    assert first[-1] == key.record(key.seal(fixed), rows[0])
    assert head == key.link(first[-1]) != first[-1]
    assert key.chained(b"other", rows)[0][0][-1] != first[-1]


# ---------------------------------------------------------------------------------------------
# The key file


def test_create_key_makes_a_private_file_once_and_never_overwrites_it(tmp_path):
    path = tmp_path / "config" / "chain.key"
    key, made = create_key(path)
    assert made and stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    again, made_again = create_key(path)
    assert not made_again and path.read_text() == text
    assert again.fingerprint == key.fingerprint == load_key(path).fingerprint


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o602])
def test_a_key_its_group_or_others_may_read_or_write_is_refused(tmp_path, mode):
    path = tmp_path / "chain.key"
    create_key(path)
    path.chmod(mode)
    with pytest.raises(ChainKeyError, match=f"mode {mode:04o}.*chmod 600"):
        load_key(path)


@pytest.mark.parametrize(
    "content, words",
    [("", "not 64 hexadecimal digits"), ("zz" * 32, "not 64 hexadecimal digits"),
     ("ab" * 31, "not 64 hexadecimal digits")],
)  # fmt: skip
def test_a_key_file_that_holds_no_key_is_refused(tmp_path, content, words):
    path = tmp_path / "chain.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ChainKeyError, match=words):
        load_key(path)


def test_a_missing_key_says_to_run_init(tmp_path):
    with pytest.raises(ChainKeyError, match=r"missing; run `returns-tui init`"):
        load_key(tmp_path / "none.key")
    with pytest.raises(ChainKeyError, match="not a file"):
        (tmp_path / "dir.key").mkdir(mode=0o700)
        load_key(tmp_path / "dir.key")


def test_the_key_file_is_beside_the_settings_unless_named(tmp_path, monkeypatch):
    monkeypatch.delenv(chain.KEY_ENV)
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "conf" / "config.toml"))
    assert chain.key_path() == tmp_path / "conf" / "chain.key"
    monkeypatch.setenv(chain.KEY_ENV, str(tmp_path / "elsewhere.key"))
    assert chain.key_path() == tmp_path / "elsewhere.key"


# ---------------------------------------------------------------------------------------------
# Writers without the database's key


def other_key(tmp_path) -> ChainKey:
    return create_key(tmp_path / "other.key")[0]


def test_a_writer_with_another_key_refuses_and_writes_nothing(svc, engine, tmp_path):
    svc.submit(BUYER, submission("R1", "O1"), T0)  # the database's key is now the run's
    before = dump(engine)
    forked = Returns(engine, chain_key=other_key(tmp_path))
    alice = forked.login("alice")  # reading needs no key
    assert forked.get(alice, "R1").id == "R1"
    attempts = [
        lambda: forked.accept(alice, "R1", T0 + hours(1)),
        lambda: forked.submit(BUYER, submission("R2", "O2"), T0 + hours(1)),
        lambda: forked.sweep(T0 + hours(49)),
        lambda: seed_requests(engine, 5, now=T0 + hours(1), key=other_key(tmp_path)),
    ]
    for attempt in attempts:
        with pytest.raises(ChainKeyError, match="chained with another key than .*other.key"):
            attempt()
    assert dump(engine) == before


def test_a_refusal_needs_no_key_but_a_change_does(svc, engine, tmp_path, monkeypatch):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    before = dump(engine)
    monkeypatch.setenv(chain.KEY_ENV, str(tmp_path / "gone.key"))
    keyless = Returns(engine)
    alice = keyless.login("alice")
    with pytest.raises(Exception, match="cannot be shipped"):
        keyless.ship(BUYER, "R1", T0 + hours(1), "1Z")
    with pytest.raises(ChainKeyError, match="gone.key is missing; run `returns-tui init`"):
        keyless.accept(alice, "R1", T0 + hours(1))
    assert keyless.sweep(T0 + hours(2)) == []  # nothing due: nothing to write
    assert dump(engine) == before


def test_check_with_another_key_says_so_once(svc, engine, tmp_path):
    for n in range(3):
        svc.submit(BUYER, submission(f"R{n}", f"O{n}"), T0)
    found = check(engine, T0 + hours(1), key=other_key(tmp_path))
    assert [str(v) for v in found] == [
        f"*: the records are chained with another key than {tmp_path / 'other.key'}; their "
        "chains were not checked"
    ]


# ---------------------------------------------------------------------------------------------
# The command line


def cli_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RETURNS_TUI), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_init_makes_the_key_beside_the_settings_and_a_writer_without_it_is_told(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != chain.KEY_ENV}
    env |= {
        "RETURNS_TUI_DB": f"sqlite:///{tmp_path / 'r.db'}",
        "RETURNS_TUI_CONFIG": str(tmp_path / "conf" / "config.toml"),
    }
    key_file = tmp_path / "conf" / "chain.key"
    first = cli_run("init", env=env)
    assert first.returncode == 0, first.stderr
    assert f"Created the chain key {key_file}" in first.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text()
    second = cli_run("init", env=env)
    assert second.returncode == 0 and "chain key" not in second.stdout
    assert key_file.read_text() == text
    assert cli_run("users", "add", "--me", "--role", "admin", env=env).returncode == 0
    assert cli_run("seed", "--count", "3", env=env).returncode == 0
    key_file.chmod(0o644)
    refused = cli_run("seed", "--count", "3", env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"returns-tui: The chain key {key_file} is open to its group or others (mode 0644); "
        f"make it private with `chmod 600 {key_file}`.\n"
    )
    key_file.unlink()
    missing = cli_run("check", env=env)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "is missing; run `returns-tui init`" in missing.stderr
    # init does not make a new key for a database already chained: it would not match.
    lost = cli_run("init", env=env)
    assert lost.returncode == 1 and not key_file.exists()
    assert lost.stderr == (
        f"returns-tui: The chain key {key_file} is missing, and this database's records are "
        "chained with a key: put that key file back (a new key would not match them).\n"
    )
    create_key(key_file)
    other = cli_run("init", env=env)
    assert other.returncode == 1
    assert f"chained with another key than {key_file}" in other.stderr


def test_check_at_the_command_line_names_the_tampered_request(svc, engine, db_url, monkeypatch):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    svc.submit(BUYER, submission("R2", "O2"), T0)
    sql(engine, "UPDATE requests SET amount_cents = 1 WHERE id = 'R2'")
    monkeypatch.setattr(cli, "login_name", lambda: "sam")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(["--db", db_url, "check", "--now", "2026-11-20T10:00:00Z"])
    assert (status, err.getvalue()) == (1, "")
    assert out.getvalue().splitlines()[0].startswith(
        "R2: the request's fixed fields do not match its chain"
    )


# ---------------------------------------------------------------------------------------------
# Migration 0003: a database made before it


@pytest.fixture
def old_database(engine, db_url, scratch_url) -> Iterator[sa.Engine]:  # noqa: F811
    """A database at revision 0002 holding check's scenario (every status and record kind,
    an idempotency key), built by the services on a scratch database and copied."""
    scratch = open_engine(scratch_url)
    upgrade(scratch)
    svc = Returns(scratch)
    cast(svc)
    build_scenario(svc, decisions=False)
    svc.perform_keyed(svc.login("alice"), "note", "P", NOW, key="evt-1", note="keyed")
    emptied(engine, db_url)
    old = at_revision(db_url, "0002")
    copy_into_older(scratch, old)
    scratch.dispose()
    yield old
    old.dispose()


def test_migration_0003_chains_an_older_database_and_a_tampering_is_found(old_database):
    with old_database.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    assert upgrade(old_database) == ("0002", HEAD)
    assert check(old_database, NOW) == []
    assert check(old_database, NOW, rules=RULES) == []
    # The append-only trigger was lifted for the chains and is back.
    with pytest.raises(Exception, match="append-only"):
        sql(old_database, "UPDATE records SET actor = 'x' WHERE request_id = 'P'")
    # Writing goes on along the chains the migration made.
    svc = Returns(old_database)
    svc.note(svc.login("alice"), "SH", NOW, "still on its way")
    assert check(old_database, NOW) == []
    sql(old_database, "UPDATE requests SET buyer = 'Mallory' WHERE id = 'SH'")
    assert [(v.request_id, v.problem.split(" (")[0]) for v in check(old_database, NOW)] == [
        ("SH", "the request's fixed fields do not match its chain")
    ]


def test_the_old_keys_digest_is_empty_after_the_migration(old_database):
    upgrade(old_database)
    with old_database.connect() as conn:
        rows = conn.exec_driver_sql("SELECT key, digest FROM applied_keys").all()
    assert [tuple(r) for r in rows] == [("evt-1", None)]


def test_migration_0003_without_a_key_changes_nothing_and_says_so(
    old_database, tmp_path, monkeypatch
):
    monkeypatch.setenv(chain.KEY_ENV, str(tmp_path / "absent.key"))
    with pytest.raises(ChainKeyError, match="absent.key is missing; run `returns-tui init`"):
        upgrade(old_database)
    with old_database.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"


def test_a_new_database_records_its_key_at_the_first_write(engine):
    add_cast(Returns(engine))  # users are no records: no key is needed, none recorded
    with engine.connect() as conn:
        assert chain.stored_fingerprint(conn) is None
    Returns(engine).submit(BUYER, submission("R1", "O1"), T0)
    with engine.connect() as conn:
        assert chain.stored_fingerprint(conn) == load_key().fingerprint


def test_rows_a_program_writes_itself_are_chained_by_chain_values(engine):
    """What the bench's setup does: rows made from the domain's values, sealed and chained
    with chain_values, read by check as the services' own."""
    key = load_key()
    change = d.submit(submission("R1", "O1"), d.OrderHistory(), T0, d.Rules())
    req = replace(change.after, version=len(change.records))
    values = request_values(req)
    recs = [record_values(req.id, i, rec) for i, rec in enumerate(change.records, 1)]
    chain_values(key, values, recs)
    with engine.begin() as conn:
        chain.require_key(conn, key)
        conn.execute(sa.insert(requests), values)
        conn.execute(sa.insert(records), recs)
        conn.execute(sa.insert(orders), {"order_id": "O1", "shop": "acme", "version": 1})
    assert check(engine, T0 + hours(1)) == []
    sql(engine, "UPDATE requests SET sku = 'X' WHERE id = 'R1'")
    assert [v.request_id for v in check(engine, T0 + hours(1))] == ["R1"]
