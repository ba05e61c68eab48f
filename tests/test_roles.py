"""DESIGN §3 where the data is changed: every action by every role and shop, what each one may
see, who is a user at all, and who may change the users."""

from __future__ import annotations

import pendulum
import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui import roles
from returns_tui.errors import Forbidden, NotAUser, NotFound, Refused
from returns_tui.roles import BUYER, Actor, Role
from returns_tui.services import Returns
from returns_tui.store import queries as q
from returns_tui.store.schema import applied_keys, orders, records, requests, users
from tests.conftest import T0, submission

S = d.Status


def hours(n: float) -> pendulum.Duration:
    return pendulum.duration(seconds=round(n * 3600))


NOW = T0 + hours(10)

# What DESIGN §2's actor column and §3 allow each of the cast, on a request of shop acme.
ALLOWED = {
    "alice": {"accept", "reject", "receive", "note"},  # operator of acme
    "olga": set(),  # operator of globex: cannot even see acme's requests
    "sam": {"mediate", "note"},  # agent
    "root-admin": set(),  # admin: read-only
    "buyer": {"submit", "cancel", "ship", "appeal"},
}
ACTIONS = ("submit", "accept", "reject", "cancel", "ship", "receive", "appeal", "mediate", "note")


def dump(engine):
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in (requests, records, orders, applied_keys, users)
        }


def build_every_status(svc) -> None:
    """One acme request in the status each action needs, and one globex request."""
    alice, bob = svc.login("alice"), svc.login("bob")
    for rid in ("P", "A", "SH", "J", "M"):
        svc.submit(BUYER, submission(rid, "O" + rid), T0)
    svc.accept(alice, "A", T0 + hours(1))
    svc.accept(alice, "SH", T0 + hours(1))
    svc.ship(BUYER, "SH", T0 + hours(2), "X1")
    svc.reject(bob, "J", T0 + hours(1), "no_proof", "")
    svc.reject(bob, "M", T0 + hours(1), "no_proof", "")
    svc.appeal(BUYER, "M", T0 + hours(2))
    svc.submit(BUYER, submission("G", "OG", shop="globex"), T0)


def call(svc, actor: Actor, action: str) -> d.Request:
    """The action on the acme request whose status allows it."""
    if action == "submit":
        return svc.submit(actor, submission("NEW", "ONEW"), NOW)
    target = {
        "accept": "P",
        "reject": "P",
        "cancel": "P",
        "note": "P",
        "ship": "A",
        "receive": "SH",
        "appeal": "J",
        "mediate": "M",
    }[action]
    params = {
        "reject": {"reason": "no_proof", "note": ""},
        "ship": {"tracking": "X1"},
        "mediate": {"decision": "buyer", "note": "ok"},
        "note": {"note": "a note"},
    }.get(action, {})
    return svc.perform(actor, action, target, NOW, **params)


@pytest.mark.parametrize("who", sorted(ALLOWED))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_by_every_role(svc, engine, who, action):
    build_every_status(svc)
    actor = BUYER if who == "buyer" else svc.login(who)
    if action in ALLOWED[who]:
        req = call(svc, actor, action)
        assert req.version == len(svc.records(svc.login("sam"), req.id))
        last = svc.records(svc.login("sam"), req.id)[-1]
        assert last.actor == actor.name
        return
    before = dump(engine)
    # An operator of another shop is told the request does not exist; everyone else is told
    # their role may not do this.
    expected = NotFound if who == "olga" and action != "submit" else Forbidden
    with pytest.raises(expected) as err:
        call(svc, actor, action)
    assert "\n" not in err.value.message
    assert dump(engine) == before


def test_an_operator_acts_only_on_the_shops_they_work_for(svc):
    build_every_status(svc)
    svc.add_user("root-admin", "multi", "operator", ("acme", "globex"), T0)
    multi, alice, olga = svc.login("multi"), svc.login("alice"), svc.login("olga")
    assert multi.shops == frozenset({"acme", "globex"})
    svc.note(multi, "P", NOW, "acme note")
    svc.note(multi, "G", NOW, "globex note")
    assert svc.accept(olga, "G", NOW).status is S.AWAITING_BUYER_SHIP
    with pytest.raises(NotFound):
        svc.accept(alice, "G", NOW)
    with pytest.raises(NotFound):
        svc.note(alice, "G", NOW, "x")


def test_messages_for_forbidden_roles_say_who_may(svc):
    build_every_status(svc)
    with pytest.raises(Forbidden, match="Only a shop's operator may accept; sam is an agent."):
        svc.accept(svc.login("sam"), "P", NOW)
    with pytest.raises(Forbidden, match="root-admin is an admin"):
        svc.reject(svc.login("root-admin"), "P", NOW, "no_proof", "")
    with pytest.raises(Forbidden, match="Only a support agent may mediate; alice is an operator"):
        svc.mediate(svc.login("alice"), "M", NOW, "buyer", "ok")
    with pytest.raises(Forbidden, match="Only the buyer may ship"):
        svc.ship(svc.login("alice"), "A", NOW, "X1")


def _may(actor: Actor, action: str, shop: str) -> bool:
    try:
        roles.require(actor, action, shop)
    except Forbidden:
        return False
    return True


def test_roles_table_matches_design(svc):
    """The pure table (roles.ALLOWED, read from actions.py) that the screens use to grey out
    actions agrees with DESIGN §2-3 for every one of the cast."""
    cast = {name: svc.login(name) for name in ("alice", "olga", "sam", "root-admin")}
    cast["buyer"] = BUYER
    for who, actor in cast.items():
        for action in ACTIONS:
            assert _may(actor, action, "acme") == (action in ALLOWED[who]), (who, action)
    assert _may(cast["olga"], "accept", "globex")
    assert not _may(roles.SYSTEM, "accept", "acme")


def test_any_user_may_sweep_and_the_records_say_system(svc):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    swept = svc.sweep(T0 + hours(49), actor=svc.login("olga"))  # not even acme's operator
    assert swept == []  # she is told only about globex's requests (DESIGN §3)
    assert svc.records(svc.login("sam"), "R1")[-1].actor == "system"  # but R1 was swept


# ---------------------------------------------------------------------------------------------
# What each one may see


def test_an_operator_cannot_see_another_shops_request(svc):
    build_every_status(svc)
    olga = svc.login("olga")
    for read in (svc.get, svc.records, svc.order_history):
        with pytest.raises(NotFound) as foreign:
            read(olga, "P")
        with pytest.raises(NotFound) as missing:
            read(olga, "NOPE")
        # The same sentence for "not there" and "not yours": nothing leaks.
        assert foreign.value.message.replace("P", "<id>", 1) == missing.value.message.replace(
            "NOPE", "<id>", 1
        )
        assert "acme" not in foreign.value.message
    assert svc.get(olga, "G").shop == "globex"


def test_not_found_is_the_same_for_an_action_on_a_foreign_or_missing_request(svc):
    build_every_status(svc)
    olga = svc.login("olga")
    with pytest.raises(NotFound) as foreign:
        svc.accept(olga, "P", NOW)
    with pytest.raises(NotFound) as missing:
        svc.accept(olga, "Q", NOW)
    assert foreign.value.message.replace("P", "Q", 1) == missing.value.message


def test_counts_pages_exports_and_warnings_show_only_the_operators_shops(svc):
    build_every_status(svc)
    olga, alice = svc.login("olga"), svc.login("alice")
    counts = svc.counts(olga)
    assert counts[d.Tab.ALL] == 1 and counts[d.Tab.TO_PROCEED] == 1
    assert svc.counts(alice)[d.Tab.ALL] == 5
    assert svc.counts(olga, search="P") == {tab: 0 for tab in d.Tab}
    for tab in d.Tab:
        sort = q.DEFAULT_SORT[tab]
        assert {r.shop for r in svc.page(olga, tab, sort)} <= {"globex"}
        assert "G" not in {r.id for r in svc.page(alice, tab, sort)}
    assert [r.id for r in svc.page(olga, d.Tab.ALL, q.Sort.NEWEST)] == ["G"]
    assert [row["id"] for row, _ in svc.export(olga)] == ["G"]
    assert [row["id"] for row, _ in svc.export(alice)] == ["A", "J", "M", "P", "SH"]
    assert [rid for rid, _ in svc.due_soon(olga, T0, T0 + hours(100))] == ["G"]
    assert "G" not in [rid for rid, _ in svc.due_soon(alice, T0, T0 + hours(100))]


def test_agents_and_admins_see_every_shop(svc):
    build_every_status(svc)
    for name in ("sam", "root-admin"):
        actor = svc.login(name)
        assert svc.counts(actor)[d.Tab.ALL] == 6
        assert len(list(svc.export(actor))) == 6
        assert svc.get(actor, "G").shop == "globex"
        assert len(svc.records(actor, "P")) == 1


def test_buyers_and_the_system_cannot_export(svc):
    for actor in (BUYER, roles.SYSTEM):
        with pytest.raises(NotAUser):
            list(svc.export(actor))


# ---------------------------------------------------------------------------------------------
# Identity: a login that is not a user


def test_a_login_that_is_not_a_user(svc, engine):
    before = dump(engine)
    with pytest.raises(NotAUser) as err:
        svc.login("mallory")
    assert err.value.message == "mallory is not a returns-tui user; ask an admin to add you."
    with pytest.raises(NotAUser):
        svc.actor_for("mallory")
    with pytest.raises(NotAUser):
        svc.list_users("mallory")
    with pytest.raises(NotAUser):
        svc.add_user("mallory", "eve", "admin", (), T0)
    with pytest.raises(NotAUser):
        svc.remove_user("mallory", "alice")
    assert dump(engine) == before
    assert svc.actor_for("buyer") is BUYER


# ---------------------------------------------------------------------------------------------
# Users: the first is an admin; after that only admins change users


def test_the_first_user_of_an_empty_database_must_be_an_admin(engine):
    svc = Returns(engine)
    assert not svc.has_users()
    for role, shops in (("operator", ("acme",)), ("agent", ())):
        with pytest.raises(Refused, match="first user of a new database must be an admin"):
            svc.add_user("whoever", "alice", role, shops, T0)
    assert not svc.has_users()
    svc.add_user("whoever", "root", "admin", (), T0)  # the caller need not be a user yet
    assert svc.has_users()
    assert svc.list_users("root") == [("root", "admin", ())]
    # Now the database has a user: a stranger can no longer add one.
    with pytest.raises(NotAUser):
        svc.add_user("whoever", "eve", "admin", (), T0)


def test_only_admins_change_users(svc, engine):
    before = dump(engine)
    for caller in ("alice", "sam"):
        with pytest.raises(Forbidden, match="Only an admin may change users"):
            svc.add_user(caller, "eve", "operator", ("acme",), T0)
        with pytest.raises(Forbidden, match="Only an admin may change users"):
            svc.remove_user(caller, "bob")
    assert dump(engine) == before
    svc.add_user("root-admin", "eve", "operator", ("acme", "globex"), T0)
    assert svc.login("eve") == Actor("eve", Role.OPERATOR, frozenset({"acme", "globex"}))
    svc.add_user("root-admin", "root2", "admin", (), T0)
    svc.add_user("root2", "zed", "agent", (), T0)  # any admin, not only the first
    svc.remove_user("root-admin", "eve")
    with pytest.raises(NotAUser):
        svc.login("eve")
    assert [u[0] for u in svc.list_users("root-admin")] == [
        "alice",
        "bob",
        "olga",
        "root-admin",
        "root2",
        "sam",
        "zed",
    ]


def test_users_list_shows_roles_and_shops(svc):
    listed = svc.list_users("root-admin")
    assert ("alice", "operator", ("acme",)) in listed
    assert ("olga", "operator", ("globex",)) in listed
    assert ("sam", "agent", ()) in listed
    assert ("root-admin", "admin", ()) in listed


@pytest.mark.parametrize(
    ("name", "role", "shops", "match"),
    [
        ("eve", "boss", (), "role must be operator, agent or admin"),
        ("eve", "operator", (), "operator needs at least one --shop"),
        ("eve", "agent", ("acme",), "Only operators have shops"),
        ("eve", "admin", ("acme",), "Only operators have shops"),
        ("buyer", "agent", (), "cannot be a user name"),
        ("system", "agent", (), "cannot be a user name"),
        ("", "agent", (), "A user name cannot be empty"),
        ("marketplace", "agent", (), "cannot be a user name: the records use it"),
        ("rule:alice/cheap", "agent", (), "cannot be a user name: the records use it"),
        ("with space", "agent", (), "'with space' cannot be a user name: a login name has no"),
        (" alice", "agent", (), "' alice' cannot be a user name: a login name has no spaces"),
        ("alice ", "agent", (), "'alice ' cannot be a user name: a login name has no spaces"),
        ("tab\tname", "agent", (), "cannot be a user name: it must be 1 to 64 printable"),
        ("a" * 65, "agent", (), "cannot be a user name"),
        ("bad\x1bname", "agent", (), "cannot be a user name"),
        ("alice", "agent", (), "alice is already a user"),
    ],
)
def test_users_add_refusals(svc, engine, name, role, shops, match):
    before = dump(engine)
    with pytest.raises(Refused, match=match):
        svc.add_user("root-admin", name, role, shops, T0)
    assert dump(engine) == before


def test_users_remove_refusals(svc, engine):
    before = dump(engine)
    with pytest.raises(Refused, match="cannot remove themselves"):
        svc.remove_user("root-admin", "root-admin")
    with pytest.raises(Refused, match="nobody is not a user"):
        svc.remove_user("root-admin", "nobody")
    assert dump(engine) == before


def test_a_removed_operator_loses_access_at_once(svc, engine):
    """A console opened before the removal holds an Actor; it must not keep working: the
    users table is read in every transaction, where the data is changed (DESIGN §3)."""
    svc.submit(BUYER, submission("R1", "O1"), T0)
    alice = svc.login("alice")  # what her open console holds
    svc.remove_user("root-admin", "alice")
    before = dump(engine)
    with pytest.raises(NotAUser):
        svc.login("alice")
    with pytest.raises(NotAUser):
        svc.accept(alice, "R1", T0 + hours(1))
    with pytest.raises(NotAUser):
        svc.perform_keyed(alice, "note", "R1", T0 + hours(1), key="k", note="x")
    for read in (svc.get, svc.records, svc.order_history):
        with pytest.raises(NotAUser):
            read(alice, "R1")
    with pytest.raises(NotAUser):
        svc.counts(alice)
    with pytest.raises(NotAUser):
        svc.page(alice, d.Tab.ALL, q.Sort.NEWEST)
    with pytest.raises(NotAUser):
        list(svc.export(alice))
    with pytest.raises(NotAUser):
        svc.due_soon(alice, T0, T0 + hours(100))
    with pytest.raises(NotAUser):
        svc.add_user("alice", "eve", "admin", (), T0)
    assert dump(engine) == before


def test_an_operator_moved_to_another_shop_loses_the_old_one_at_once(svc):
    svc.submit(BUYER, submission("R1", "O1"), T0)
    alice = svc.login("alice")  # acme, as her open console remembers
    svc.remove_user("root-admin", "alice")
    svc.add_user("root-admin", "alice", "operator", ("globex",), T0)
    with pytest.raises(NotFound):
        svc.accept(alice, "R1", T0 + hours(1))
    with pytest.raises(NotFound):
        svc.get(alice, "R1")
    assert svc.counts(alice)[d.Tab.ALL] == 0


def test_a_demoted_admin_cannot_change_users(svc):
    svc.add_user("root-admin", "root2", "admin", (), T0)
    svc.remove_user("root-admin", "root2")
    svc.add_user("root-admin", "root2", "agent", (), T0)
    with pytest.raises(Forbidden):
        svc.add_user("root2", "eve", "admin", (), T0)


@pytest.mark.parametrize(
    "shop",
    ["\x1b]0;owned\x07", "acme\nglobex", "\u202eemca", "[bold]acme[/]", "\ud800", "s" * 500],
    ids=["osc", "newline", "rlo", "markup", "surrogate", "long"],
)
def test_a_forbidden_shop_is_quoted_never_echoed_raw(shop):
    """A shop's name may come from outside (an apply line): the refusal names it the way
    every other refusal names an id (domain.quoted), in one printable line."""
    alice = Actor("alice", Role.OPERATOR, frozenset({"acme"}))
    with pytest.raises(Forbidden) as caught:
        roles.require(alice, "accept", shop)
    message = caught.value.message
    assert message.startswith("alice is not an operator of shop ")
    assert message.isprintable() and len(message) < 120, message
    assert d.quoted(shop, 64) in message
    message.encode("utf-8")  # no lone surrogate: writable to any stream


def test_a_forbidden_actors_name_is_quoted_too():
    odd = Actor("ev\x1bil\u202e", Role.AGENT)
    for check in (
        lambda: roles.require(odd, "accept", "acme"),
        lambda: roles.require_admin(odd, "change users"),
    ):
        with pytest.raises(Forbidden) as caught:
            check()
        assert caught.value.message.isprintable(), caught.value.message
        assert "'ev\\x1bil\\u202e'" in caught.value.message
