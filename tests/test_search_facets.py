"""A search with a shop, reason, currency, type or amount filter asks the SQLite index for them
too (store.facets): the index holds each request's facets beside its search_text. The facets only
narrow the candidates, so what a search finds must be exactly what the search and the filters
find without them: checked here on random requests and filters against a Python filter, on
both databases; the SQL that writes the facets (the triggers) against the Python that asks for
them, on hostile values; and every amount of a range against the trigrams asked for it."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal

import pytest
from alembic import command
from hypothesis import example, given, settings
from hypothesis import strategies as st

from returns_tui import domain as d
from returns_tui.filters import Narrowing
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import engine as store
from returns_tui.store import facets, search
from returns_tui.store import queries as q
from returns_tui.store.engine import open_engine, read, upgrade
from tests.conftest import T0, submission
from tests.test_search_index import Row, expected, found

BIGINT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Any text a column can hold: no NUL, no lone surrogate (domain.storable), of any length.
STORED = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
# Amounts around the decades' edges, where the facets change.
EDGES = [0, 1, 9, 10, 11, 99, 100, 999, 1000, 1001, 1999, 2000, 9999, 10_000, 50_000, 99_999]


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


@settings(max_examples=300, deadline=None)
@given(text=STORED, shop=STORED, reason=STORED, currency=STORED, type_=STORED, amount=BIGINT)
@example(text="", shop="", reason="", currency="", type_="", amount=0)
@example(text="x", shop="€", reason="\x1b", currency="a", type_="🎸" * 40, amount=-(2**63))
def test_the_triggers_index_the_facets_that_a_filter_asks_for(text, shop, reason, currency,
                                                              type_, amount):  # fmt: skip
    """The SQL of the triggers (facets.indexed_sql) writes what facets.of_request says, and a
    filter on the request's own shop, reason, currency and type asks only for trigrams it
    holds."""
    row = dict(search_text=text, shop=shop, reason=reason, currency=currency, type=type_,
               amount_cents=amount)  # fmt: skip
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE requests ({', '.join(row)})")
    db.execute(f"INSERT INTO requests VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    (indexed,) = db.execute(f"SELECT {facets.indexed_sql('requests')} FROM requests").fetchone()
    assert indexed == text + " " + facets.of_request(row)
    held = _trigrams(indexed)
    narrow = Narrowing(shop=shop, reason=reason, currency=currency, type=type_)
    for group in facets.asked(narrow):
        assert held & set(group), group


@settings(max_examples=500, deadline=None)
@given(
    amount=st.one_of(BIGINT, st.sampled_from(EDGES)),
    low=st.one_of(st.none(), BIGINT, st.sampled_from(EDGES)),
    high=st.one_of(st.none(), BIGINT, st.sampled_from(EDGES)),
)
def test_every_amount_of_a_range_holds_a_trigram_the_range_asks_for(amount, low, high):
    """amount_range asks for at least one trigram of every amount from low to high (the
    rows it leaves out are only those outside the range)."""
    inside = (low is None or low <= amount) and (high is None or amount <= high)
    asked = set(facets.amount_range(low, high))
    held = _trigrams(facets.of_request(dict(shop="acme", reason="damaged", currency="USD",
                                            type="refund", amount_cents=amount)))
    if inside:
        assert asked & held, (amount, low, high)


def test_a_range_asks_for_the_decades_inside_it_whole_and_the_leading_digits_at_its_ends():
    rs, us = facets.RS, facets.US
    assert facets.amount_range(None, 1000) == (us + "-" + us, us + "A" + us, us + "B" + us,
                                               us + "C" + us, rs + "D1")  # fmt: skip
    assert facets.amount_range(50_000, 99_999) == tuple(rs + "E" + str(n) for n in range(5, 10))
    assert facets.amount_range(10, 5) == ()


CURRENCIES = {"USD": 2, "JPY": 0, "JAY": 0, "EUR": 2, "KRW": 0}  # JAY shares JPY's facet


def _amount(rng: random.Random, currency: str) -> str:
    cents = rng.choice([*EDGES[1:], rng.randint(1, 10_000_000)])
    if CURRENCIES[currency] == 0:
        return str(max(1, cents // 100))
    return str(Decimal(cents) / 100)


def _narrowing(rng: random.Random) -> Narrowing:
    bounds = [None, None, *EDGES, rng.randint(0, 10_000_000)]
    return Narrowing(
        currency=rng.choice([None, None, *CURRENCIES]),
        type=rng.choice([None, *d.RequestType]),
        min_cents=rng.choice(bounds),
        max_cents=rng.choice(bounds),
        reason=rng.choice([None, None, "damaged", "wrong_item"]),
        shop=rng.choice([None, None, "acme", "acme-home", "ACME", "apme"]),  # apme: acme's facet
    )


def test_a_search_with_filters_finds_what_both_keep(svc, db_url, page_way):
    rng = random.Random(20261201)
    rows = []
    for n in range(150):
        currency = rng.choice(list(CURRENCIES))
        shop = rng.choice(["acme", "acme-home", "ACME", "apme"])
        sub = submission(f"R{n:04d}", f"O{n:04d}", shop, buyer=rng.choice(["Ana Lima", "Zoë Lim"]),
                         type=rng.choice(list(d.RequestType)).value, currency=currency,
                         amount=_amount(rng, currency),
                         reason=rng.choice(["damaged", "wrong_item"]))  # fmt: skip
        svc.submit(BUYER, sub, T0)
        rows.append(sub)
    sam = svc.login("sam")

    def cents(sub: d.Submission) -> int:  # hundredths in every currency (money.parse_amount)
        return int(Decimal(sub.amount) * 100)

    for _ in range(60):
        text, narrow = rng.choice(["lima", "lim", "ana lima", "zoë", "r00"]), _narrowing(rng)
        fields = [(s.id, s.order_id, None, s.shop, s.buyer, s.product, s.sku, s.reason)
                  for s in rows]  # fmt: skip
        matching = expected([Row(*f) for f in fields], text)
        want = {
            s.id
            for s in rows
            if s.id in matching
            and narrow.currency in (None, s.currency)
            and narrow.type in (None, s.type)
            and narrow.reason in (None, s.reason)
            and narrow.shop in (None, s.shop)
            and (narrow.min_cents is None or narrow.min_cents <= cents(s))
            and (narrow.max_cents is None or cents(s) <= narrow.max_cents)
        }
        got = [r.id for r in svc.page(sam, d.Tab.ALL, q.Sort.NEWEST, text, limit=100_000,
                                      narrow=narrow)]  # fmt: skip
        assert sorted(got) == sorted(want), (text, narrow)
        assert svc.counts(sam, text, narrow=narrow)[d.Tab.ALL] == len(want), (text, narrow)


def test_the_index_is_asked_for_the_filters_currency_type_and_amount(svc, db_url):
    """With a currency, type and amount that few of a search's candidates have, the index's
    candidates are those few (SQLite: under COMMON_FROM, so a page gathers them rather than
    walks the tab)."""
    for n in range(6):
        jpy = dict(currency="JPY", amount="12") if n else {}
        sub = submission(f"R{n}", f"O{n}", buyer="Ana Lima", **jpy)
        svc.submit(BUYER, sub, T0)
    svc.submit(BUYER, submission("R9", "O9", buyer="Ana Lima", currency="USD", amount="999.00",
                                 type="refund"), T0)  # fmt: skip
    cases = [
        (Narrowing(currency="USD"), {"R0", "R9"}),
        (Narrowing(type="refund"), {"R9"}),
        (Narrowing(min_cents=10_000), {"R9"}),
        (Narrowing(max_cents=1_299, currency="USD"), {"R0"}),
    ]
    with read(svc.engine) as conn:
        for narrow, want in cases:
            flt = q.Filter(None, d.Tab.ALL, "lima", narrow=narrow)
            assert set(conn.scalars(q.sa.select(q.requests.c.id).where(*flt.where()))) == want
            if conn.dialect.name != "sqlite":
                assert flt.facets  # asked, and only SQLite's index holds them
                continue
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(search, "COMMON_FROM", 3)
                assert search.common(conn, "lima"), narrow
                assert not search.common(conn, "lima", facets=flt.facets), narrow
    assert q.Filter(None, d.Tab.ALL, "", narrow=Narrowing(currency="USD")).facets == ()


def test_migration_0016_indexes_the_facets_of_the_requests_already_there(tmp_path):
    """A SQLite database of migration 0015 with requests is upgraded: the index holds their
    facets (a MATCH of one currency's finds its request alone); down to 0015 (the index of
    search_text alone) and up again."""
    engine = open_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    svc = Returns(engine)  # this program writes the newest schema: the requests, then down
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    for n, currency in enumerate(["USD", "JPY"]):
        svc.submit(BUYER, submission(f"R{n}", f"O{n}", currency=currency, amount="12"), T0)
    with engine.connect() as conn, conn.begin():
        command.downgrade(store._alembic_config(conn), "0015")

    def matched(narrow: Narrowing) -> int:
        sql = f"SELECT count(*) FROM {search.FTS_TABLE} WHERE {search.FTS_TABLE} MATCH ?"
        with read(engine) as conn:
            asked = search.fts_query("lima", facets.asked(narrow))
            return conn.exec_driver_sql(sql, (asked,)).scalar_one()

    assert matched(Narrowing()) == 2 and matched(Narrowing(currency="JPY")) == 0  # no facets
    upgrade(engine)
    assert matched(Narrowing()) == 2
    assert matched(Narrowing(currency="JPY")) == 1
    assert matched(Narrowing(currency="USD", type="refund")) == 0
    with engine.connect() as conn, conn.begin():
        command.downgrade(store._alembic_config(conn), "0015")
    assert matched(Narrowing()) == 2 and matched(Narrowing(currency="JPY")) == 0
    upgrade(engine)
    assert matched(Narrowing(currency="USD")) == 1
    assert found(svc, svc.login("root-admin"), "lima") == ["R1", "R0"]
    engine.dispose()
