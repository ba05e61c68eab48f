"""`returns-tui rules add|list|remove|try|disable` (DESIGN §10) as people run it, on both
databases: each as the login of the person running it, refusals in one line with status 1
(2 for a wrong command line) and nothing changed, `try` changing nothing at all, and a rule
made at the command line accepting a request that `apply` brings in."""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import sqlalchemy as sa

from returns_tui import cli
from returns_tui.clock import utc_now
from returns_tui.roles import BUYER
from returns_tui.store.schema import metadata
from returns_tui.timefmt import iso_utc
from tests.conftest import T0, submission


def run(url: str, who: str, *args: str, monkeypatch, stdin: str | None = None):
    """`returns-tui --db URL ARGS` as the login `who`: (status, stdout, stderr)."""
    monkeypatch.setattr(cli, "login_name", lambda: who)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(["--db", url, *args])
    return status, out.getvalue(), err.getvalue()


def every_row(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in metadata.sorted_tables
        }


def refused(result, *words: str, status: int = 1) -> None:
    code, out, err = result
    assert code == status, result
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("returns-tui: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


@pytest.fixture
def rules(db_url, svc, monkeypatch):
    """`rules ...` as a login: rules("alice", "add", "x")."""

    def rules_as(who: str, *args: str):
        return run(db_url, who, "rules", *args, monkeypatch=monkeypatch)

    return rules_as


def test_an_operator_adds_lists_and_removes_their_rule(rules):
    status, out, err = rules(
        "alice", "add", "small", "--type", "refund", "--reason", "not_received",
        "--currency", "USD", "--max-amount", "10.00", "--max-buyer-requests", "3",
    )  # fmt: skip
    assert (status, err) == (0, ""), err
    assert out.startswith("Made the rule rule:alice/small: shop acme; type refund;")
    status, out, _ = rules("alice", "list")
    assert status == 0 and out.count("\n") == 1
    assert out.startswith("rule:alice/small  on  made ")
    assert "amount at most 10.00" in out and "at most 3" in out
    assert rules("bob", "list")[1] == ""  # bob sees only his own
    assert rules("alice", "remove", "small")[:2] == (0, "Removed the rule small.\n")
    assert rules("alice", "list")[1] == ""


@pytest.mark.parametrize(
    ("args", "words", "status"),
    [
        (["--shop", "globex"], ["The shop globex is not one of yours"], 1),
        (["--max-amount", "1.234"], ["amount must be a positive decimal"], 1),
        (["--max-amount", "12.5", "--currency", "JPY"], ["JPY amounts have no minor units"], 1),
        (["--currency", "usd"], ["three capital letters"], 1),
        (["--type", "refund", "--keep-item"], ["no item to keep"], 1),
        (["--reason", "late\x1b[2J"], ["cannot be a reason"], 1),
        (["--max-buyer-requests", "0"], ["from 1"], 1),
        (["--max-buyer-requests", "two"], ["not a whole number"], 2),
        (["--max-buyer-requests", "١"], ["not a whole number"], 2),
        (["--max-buyer-requests", "9" * 5000], ["to 1,000,000"], 1),
        (["--type", "exchange"], ["invalid choice"], 2),
    ],
)
def test_bad_input_is_one_sentence_and_changes_nothing(rules, engine, args, words, status):
    before = every_row(engine)
    refused(rules("alice", "add", "r", *args), *words, status=status)
    assert every_row(engine) == before


@pytest.mark.parametrize("name", ["[red]x[/red]", "x\x1b]0;owned\x07", "a b", "x" * 41])
def test_hostile_rule_names_are_refused_and_shown_safely(rules, engine, name):
    before = every_row(engine)
    code, _, err = rules("alice", "add", name)
    refused((code, "", err), "cannot be a rule's name")
    assert "\x1b" not in err and "\x07" not in err
    assert every_row(engine) == before


def test_markup_in_a_reason_is_kept_as_text(rules):
    assert rules("alice", "add", "r", "--reason", "[b]not_received[/b]")[0] == 0
    assert "reason [b]not_received[/b]" in rules("alice", "list")[1]


def test_who_may_make_and_switch_off_rules(rules, engine):
    refused(rules("root-admin", "add", "r"), "Only an operator may make rules")
    refused(rules("sam", "add", "r"), "Only an operator may make rules")
    refused(rules("mallory", "list"), "not a returns-tui user")
    assert rules("alice", "add", "r")[0] == 0
    before = every_row(engine)
    refused(rules("bob", "disable", "r", "--owner", "alice"), "Only an admin may switch rules off")
    refused(rules("bob", "remove", "r"), "You have no rule called r")
    refused(rules("root-admin", "disable", "r", "--owner", "bob"), "bob has no rule called r")
    assert every_row(engine) == before
    assert rules("root-admin", "disable", "r", "--owner", "alice")[:2] == (
        0, "Switched off the rule rule:alice/r.\n",
    )  # fmt: skip
    listed = rules("root-admin", "list")[1]  # an admin lists every rule
    assert listed.startswith("rule:alice/r  off (by root-admin)  made ")


def test_try_writes_the_matches_as_json_and_changes_nothing(rules, svc, engine, db_url):
    svc.submit(BUYER, submission("A", "OA", type="refund", amount="9.99"), T0)
    svc.submit(BUYER, submission("B", "OB", type="refund", amount="19.99"), T0)
    svc.submit(BUYER, submission("C", "OC", type="return_and_refund", amount="5"), T0)
    assert rules("alice", "add", "small", "--type", "refund", "--max-amount", "10")[0] == 0
    rows, files = every_row(engine), _file_digests(db_url)
    status, out, err = rules("alice", "try", "small", "--since", T0.to_date_string())
    assert (status, err) == (0, "")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"id": "A", "shop": "acme", "amount": "9.99", "currency": "USD"}
    ]
    assert every_row(engine) == rows
    assert _file_digests(db_url) == files
    refused(rules("alice", "try", "small", "--since", "2026-13-01"), "not a date", status=2)
    refused(rules("bob", "try", "small", "--since", "2026-11-01"), "You have no rule called small")


def _file_digests(url: str) -> dict[str, str]:
    """The SQLite database's bytes (the file and its write-ahead log); {} on PostgreSQL,
    where every_row is the comparison."""
    if not url.startswith("sqlite"):
        return {}
    path = Path(url.removeprefix("sqlite:///"))
    return {
        name.name: hashlib.sha256(name.read_bytes()).hexdigest()
        for name in (path, path.with_name(path.name + "-wal"))
        if name.exists()
    }


def test_a_rule_made_here_accepts_what_apply_brings_in_and_check_stays_clean(
    rules, db_url, monkeypatch
):
    assert rules("alice", "add", "small", "--type", "refund", "--max-amount", "10.00")[0] == 0
    at = iso_utc(utc_now())  # after the rule was made, and not ahead of the clock
    line = {
        "at": at, "actor": "buyer", "action": "submit", "request_id": "R1", "order_id": "O1",
        "shop": "acme", "type": "refund", "buyer": "Ana", "product": "Mug", "sku": "M-1",
        "quantity": 1, "amount": "9.99", "currency": "USD", "reason": "not_received",
    }  # fmt: skip
    status, out, err = run(
        db_url, "root-admin", "apply", "-", monkeypatch=monkeypatch, stdin=json.dumps(line) + "\n"
    )
    assert (status, out, err) == (0, '{"line": 1, "ok": true}\n', "")
    status, out, _ = run(db_url, "alice", "export", monkeypatch=monkeypatch)
    [request] = [json.loads(x) for x in out.splitlines()]
    assert request["status"] == "completed"
    assert [(r["kind"], r["actor"]) for r in request["records"]] == [
        ("submitted", "buyer"), ("accepted", "rule:alice/small"),
    ]  # fmt: skip
    status, out, _ = run(db_url, "root-admin", "check", monkeypatch=monkeypatch)
    assert status == 0, out


def test_the_rules_benches_run_small(tmp_path):
    """bench/rules_cost.py and bench/apply_cpu.py (docs/PERFORMANCE.md's rules figures) run,
    so that they cannot rot; no timing is asserted."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    command = str(Path(sys.executable).with_name("returns-tui"))
    for script, args, row in (
        ("rules_cost.py", ["--rounds", "1", "--requests", "5"], "| 20 | "),
        ("apply_cpu.py", ["--rounds", "1", "--requests", "5", command], f"| {command} | "),
    ):
        done = subprocess.run(
            [sys.executable, str(root / "bench" / script), *args],
            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert row in done.stdout, done.stdout
