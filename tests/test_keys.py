"""Idempotency keys bound to their line's content (DESIGN §4, *Exactly once*; issue 11 item 4).

A keyed line's verdict is stored with the SHA-256 of the line without its key (the parsed JSON
object minus "key", keys sorted, no white space). The same line again is the duplicate; another
line with a used key is refused in one sentence, and nothing is applied or stored. Through
`apply.run` on SQLite and PostgreSQL, and the services' own keyed calls.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from returns_tui import services
from returns_tui.roles import BUYER
from returns_tui.store.schema import applied_keys
from tests.conftest import T0, submission
from tests.test_apply import SUBMIT, apply_text, at, line
from tests.test_services import dump, hours

REUSED = (
    "The key 'evt-1' was already used for a different line; a key may only be sent again with "
    "the same line."
)


def keyed(when: str, actor: str, action: str, key: str = "evt-1", **fields) -> str:
    return line(when, actor, action, key=key, **fields)


def stored_keys(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(applied_keys)))


def first_submit(svc) -> str:
    first = keyed(at(0, 9), "buyer", "submit", **SUBMIT)
    assert apply_text(svc, first + "\n") == [{"line": 1, "ok": True}]
    return first


def test_the_same_line_twice_is_the_duplicate_and_changes_nothing(svc, engine):
    first = first_submit(svc)
    before = dump(engine)
    assert apply_text(svc, first + "\n") == [{"line": 1, "ok": True, "duplicate": True}]
    assert dump(engine) == before


def test_another_action_with_a_used_key_is_refused_and_nothing_is_applied(svc, engine):
    """The red team's case: evt-1 submitted K1; a later submit of K2 and an accept of K1
    under the same key were both answered "duplicate" though neither ran."""
    first_submit(svc)
    before = dump(engine)
    other = {**SUBMIT, "request_id": "K2", "order_id": "O2"}
    lines = [
        keyed(at(0, 10), "buyer", "submit", **other),
        keyed(at(0, 11), "alice", "accept", request_id="R1"),
    ]
    assert apply_text(svc, "\n".join(lines) + "\n") == [
        {"line": 1, "ok": False, "error": REUSED},
        {"line": 2, "ok": False, "error": REUSED},
    ]
    assert dump(engine) == before  # nothing applied, no verdict stored for the key
    # The same lines under keys of their own are new lines, applied.
    fresh = [x.replace('"evt-1"', f'"evt-{n}"') for n, x in enumerate(lines, 2)]
    assert apply_text(svc, "\n".join(fresh) + "\n") == [
        {"line": 1, "ok": True},
        {"line": 2, "ok": True},
    ]


def test_the_same_action_with_another_field_is_refused(svc, engine):
    first_submit(svc)
    reject = keyed(at(0, 11), "alice", "reject", key="evt-2", request_id="R1", reason="no_proof")
    assert apply_text(svc, reject + "\n") == [{"line": 1, "ok": True}]
    before = dump(engine)
    changed = [
        keyed(at(0, 11), "alice", "reject", key="evt-2", request_id="R1", reason="other",
              note="changed my mind"),  # fmt: skip
        keyed(at(0, 11), "bob", "reject", key="evt-2", request_id="R1", reason="no_proof"),
        # The same time written another way is another line: the key binds the text's content.
        keyed(at(0, 11).replace("Z", "+00:00"), "alice", "reject", key="evt-2",
              request_id="R1", reason="no_proof"),  # fmt: skip
        keyed(at(0, 12), "alice", "reject", key="evt-2", request_id="R1", reason="no_proof"),
    ]
    assert "Z" in at(0, 11)
    verdicts = apply_text(svc, "\n".join(changed) + "\n")
    assert [v["ok"] for v in verdicts] == [False] * len(changed)
    assert all(v["error"] == REUSED.replace("evt-1", "evt-2") for v in verdicts)
    assert dump(engine) == before


def test_white_space_and_field_order_do_not_make_another_line(svc, engine):
    first = json.loads(first_submit(svc))
    before = dump(engine)
    reordered = json.dumps(dict(reversed(list(first.items()))))
    spaced = json.dumps(first, indent=None, separators=(" ,  ", " :\t"))
    escaped = json.dumps(first, ensure_ascii=True).replace('"buyer"', '"\\u0062uyer"')
    assert reordered != spaced != escaped
    verdicts = apply_text(svc, "\n".join([reordered, spaced, escaped]) + "\n")
    assert verdicts == [{"line": n, "ok": True, "duplicate": True} for n in (1, 2, 3)]
    assert dump(engine) == before


def test_a_refused_line_keeps_its_verdict_and_its_content(svc, engine):
    """A refusal is a verdict like any other: stored with the line's digest, repeated for
    the same line, and the key still refuses another line."""
    refused = keyed(at(0, 9), "buyer", "ship", key="evt-9", request_id="R404", tracking="1Z")
    (verdict,) = apply_text(svc, refused + "\n")
    assert verdict["ok"] is False and "no request" in verdict["error"]
    assert apply_text(svc, refused + "\n") == [{**verdict, "duplicate": True}]
    other = keyed(at(0, 9), "buyer", "ship", key="evt-9", request_id="R405", tracking="1Z")
    assert apply_text(svc, other + "\n") == [
        {"line": 1, "ok": False, "error": REUSED.replace("evt-1", "evt-9")}
    ]


def test_the_stored_digest_is_the_sha256_of_the_canonical_line_without_its_key(svc, engine):
    first = first_submit(svc)
    fields = {k: v for k, v in json.loads(first).items() if k != "key"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    ((key, verdict, _at, digest),) = stored_keys(engine)
    assert (key, json.loads(verdict), digest) == ("evt-1", {"ok": True}, expected)
    assert services.line_digest(json.loads(first)) == expected


def test_a_key_stored_before_keys_were_bound_matches_no_line(svc, engine):
    """A key from before migration 0003 has no digest: nothing tells whether a line is the
    one it was used for, so every line with it is refused, and none is applied."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(applied_keys).values(key="evt-old", verdict='{"ok": true}', at=T0)
        )
    before = dump(engine)
    old = keyed(at(0, 9), "buyer", "submit", key="evt-old", **SUBMIT)
    (verdict,) = apply_text(svc, old + "\n")
    assert verdict == {
        "line": 1,
        "ok": False,
        "error": "The key 'evt-old' was used before keys were bound to their lines, so this "
        "line cannot be told from the one it was used for; it was not applied.",
    }
    assert dump(engine) == before


def test_a_keyed_call_without_a_line_is_bound_to_its_arguments(svc, alice, engine):
    """perform_keyed called by a script (no line, no digest): its own arguments stand for the
    line, so the same call is the duplicate and another call with the key is refused."""
    svc.submit(BUYER, submission("R1", "O1"), T0)
    first = svc.perform_keyed(alice, "note", "R1", T0 + hours(1), key="k", note="called")
    assert first.verdict == {"ok": True} and not first.duplicate
    again = svc.perform_keyed(alice, "note", "R1", T0 + hours(1), key="k", note="called")
    assert again.duplicate
    before = dump(engine)
    for other in (
        dict(action="note", note="called again"),
        dict(action="accept"),
    ):
        action = other.pop("action")
        with pytest.raises(services.KeyReused, match="already used for a different line"):
            svc.perform_keyed(alice, action, "R1", T0 + hours(1), key="k", **other)
    with pytest.raises(services.KeyReused):
        svc.perform_keyed(alice, "note", "R1", T0 + hours(2), key="k", note="called")
    assert dump(engine) == before
