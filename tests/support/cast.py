"""The cast every test database starts with, shared by the fixtures in tests/conftest.py and the
console tests' databases (tests/support/console.py)."""

from __future__ import annotations

import pendulum

from returns_tui.services import Returns

# A fixed moment: every test passes `now` explicitly, no test reads the real clock for rules.
T0 = pendulum.datetime(2026, 11, 20, 9, 0, 0)

# login, role, shops
CAST = [
    ("root-admin", "admin", ()),
    ("alice", "operator", ("acme",)),
    ("bob", "operator", ("acme",)),
    ("olga", "operator", ("globex",)),
    ("sam", "agent", ()),
]


def add_cast(svc: Returns) -> Returns:
    """Add the cast, as root-admin at T0: alice and bob (acme), olga (globex), sam (agent) and
    root-admin (admin). root-admin adds itself first: the first user of an empty database."""
    for login, role, shops in CAST:
        svc.add_user("root-admin", login, role, shops, T0)
    return svc
