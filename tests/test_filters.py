"""The filters beside the search (DESIGN §10) on both databases: each filter alone and
combined, with the search, paged, counted and summed, within the viewer's shops; the buyer's
history; the saved views' file; the filters as typed, refused in one sentence."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.filters import Narrowing, narrowing_from_text
from returns_tui.roles import BUYER
from returns_tui.saved_views import (
    SavedView,
    load_views,
    save_views,
    toml_string,
    views_file,
    with_view,
    without_view,
)
from returns_tui.settings import SettingsError, load_settings
from returns_tui.store.engine import read
from returns_tui.store.queries import DEFAULT_SORT, Sort
from returns_tui.timefmt import to_micros, viewer_zone
from tests.support.console import NOW, seed

ALL = 10_000  # a page larger than any test database: every row at once


@pytest.fixture(params=["gathered", "walked"])
def plan(request, monkeypatch):
    """Both ways a filtered page is read on SQLite (queries.matched_ids): the matches gathered
    from the filters' index and sorted, or the page's order walked (what PostgreSQL does)."""
    from returns_tui.store import queries

    monkeypatch.setattr(queries, "FEW_MATCHES", 10**9 if request.param == "gathered" else 0)
    return request.param


@pytest.fixture
def data(svc):
    """The console tests' requests in every status, plus some of other reasons, currencies
    and buyers (a JPY one among them), all before NOW."""
    seed(svc)
    extra = [
        ("R2001", "acme", "refund", "Ana Lima", "5.00", "USD", "not_received"),
        ("R2002", "acme", "refund", "Ana Lima", "10.00", "USD", "not_received"),
        ("R2003", "acme", "return_and_refund", "Ana Lima", "10.01", "USD", "wrong_item"),
        ("R2004", "globex", "refund", "Ana Lima", "1500", "JPY", "not_received"),
        ("R2005", "globex", "refund", "[bold]x\x1b[31m", "7.50", "EUR", "damaged"),
    ]
    for i, (rid, shop, kind, buyer, amount, cur, reason) in enumerate(extra):
        svc.submit(
            BUYER,
            d.Submission(
                id=rid, order_id="O" + rid, shop=shop, type=kind, buyer=buyer,
                product="Mug", sku="MUG-1", quantity=1, amount=amount, currency=cur,
                reason=reason, note="",
            ),
            NOW.subtract(hours=5 - i),
        )  # fmt: skip
    # Rejected 72 h ago, the buyer's window (48 h) closed: nothing is due on it. Rejected 44 h
    # ago: the window closes in 4 h; R2008 too, but the buyer's second request on its order
    # (R2009) superseded it: nothing is due on it either.
    for rid, order, at, rejected in (
        ("R2006", "OR2006", 74, 72), ("R2007", "OR2007", 46, 44), ("R2008", "OR2008", 46, 44),
        ("R2009", "OR2008", 1, None),
    ):  # fmt: skip
        svc.submit(
            BUYER,
            d.Submission(
                id=rid, order_id=order, shop="acme", type="refund", buyer="Old Case",
                product="Mug", sku="MUG-1", quantity=1, amount="3.00", currency="USD",
                reason="wrong_item", note="",
            ),
            NOW.subtract(hours=at),
        )  # fmt: skip
        if rejected is not None:
            svc.reject(svc.login("alice"), rid, NOW.subtract(hours=rejected), "no_proof", "No.")
    return svc


def every(svc, who: str, tab: d.Tab = d.Tab.ALL, search: str = "", narrow=None) -> list:
    return svc.page(
        svc.login(who), tab, DEFAULT_SORT[tab], search, limit=ALL, narrow=narrow, now=NOW
    )


def oracle(svc, who: str, keep) -> dict[d.Tab, set[str]]:
    """What each tab should show under a filter: every row the viewer sees, kept by `keep`
    (a test of the row and its full request), without the filter's SQL."""
    shown: dict[d.Tab, set[str]] = {}
    actor = svc.login(who)
    for tab in d.Tab:
        rows = every(svc, who, tab)
        shown[tab] = {r.id for r in rows if keep(r, svc.get(actor, r.id))}
    return shown


def handled_by(svc, who: str):
    actor = svc.login("root-admin")
    return lambda row, req: any(rec.actor == who for rec in svc.records(actor, row.id))


HOUR = 3_600_000_000
DUE_BY = to_micros(NOW.replace(second=0, microsecond=0)) + 6 * HOUR
CASES = {
    "shop": (Narrowing(shop="globex"), lambda r, q: r.shop == "globex"),
    "type": (Narrowing(type="refund"), lambda r, q: r.type == "refund"),
    "reason": (Narrowing(reason="not_received"), lambda r, q: q.reason == "not_received"),
    "currency": (Narrowing(currency="JPY"), lambda r, q: r.currency == "JPY"),
    "amount range": (
        Narrowing(min_cents=500, max_cents=1000),
        lambda r, q: 500 <= r.amount_cents <= 1000,
    ),
    "amount from, of a currency": (
        Narrowing(currency="USD", min_cents=1001),
        lambda r, q: r.currency == "USD" and r.amount_cents >= 1001,
    ),
    "due within 6h": (
        Narrowing(due_hours=6),
        lambda r, q: r.deadline_us is not None
        and r.deadline_us <= DUE_BY
        # a rejection's window that has closed or was superseded: nothing due (a dash)
        and not (
            q.status == d.Status.REJECTED
            and (r.deadline_us <= DUE_BY - 6 * HOUR or r.superseded)
        ),
    ),
    "shop+type+amount": (
        Narrowing(shop="acme", type="refund", max_cents=1000),
        lambda r, q: r.shop == "acme" and r.type == "refund" and r.amount_cents <= 1000,
    ),
    "reason+currency": (
        Narrowing(reason="not_received", currency="USD"),
        lambda r, q: q.reason == "not_received" and r.currency == "USD",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_filter_and_combination_shows_and_counts_what_it_names(data, case, plan):
    narrow, keep = CASES[case]
    expected = oracle(data, "sam", keep)
    assert 0 < len(expected[d.Tab.ALL]) < len(every(data, "sam")), "the case must narrow"
    counts = data.counts(data.login("sam"), narrow=narrow, now=NOW)
    for tab in d.Tab:
        assert {r.id for r in every(data, "sam", tab, narrow=narrow)} == expected[tab], tab
        assert counts[tab] == len(expected[tab]), tab


@pytest.mark.parametrize("who", ["sam", "olga", "alice"])
@pytest.mark.parametrize("case", [*CASES, "mine"])
def test_the_money_at_stake_of_each_filter_is_the_sum_of_what_it_shows(data, case, who):
    """queries.totals for each filter, in each tab, an operator's shops included: the sum per
    currency of the amounts of the rows the tab shows (read from an index, from tab_counts
    or from the deadline ranges, by the filter)."""
    narrow = Narrowing(mine=True) if case == "mine" else CASES[case][0]
    actor = data.login(who)
    for tab in d.Tab:
        money = Counter()
        for r in every(data, who, tab, narrow=narrow):
            money[r.currency] += r.amount_cents
        got = data.totals(actor, tab, narrow=narrow, now=NOW)
        assert got == dict(sorted(money.items())), (tab, got)


def test_handled_by_me_is_the_requests_with_a_record_of_mine(data, plan):
    mine = Narrowing(mine=True)
    for who in ("alice", "olga"):
        expected = oracle(data, who, handled_by(data, who))
        assert expected[d.Tab.ALL], who
        assert {r.id for r in every(data, who, narrow=mine)} == expected[d.Tab.ALL]
        counts = data.counts(data.login(who), narrow=mine, now=NOW)
        assert counts == {tab: len(ids) for tab, ids in expected.items()}
    # An agent handled none of them: nothing is theirs.
    assert every(data, "sam", narrow=mine) == []


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize(
    "narrow", [Narrowing(mine=True), Narrowing(mine=True, type="refund")], ids=["mine", "+type"]
)
def test_handled_by_me_pages_and_positions_in_every_tab_and_order(data, sort, narrow, plan):
    """Every way "mine" is read (the viewer's requests walked in `handled`, a tab's few
    gathered, a tab's order walked) gives, page by page and backwards, exactly the rows of
    the unfiltered tab that the viewer has a record on, in the same order."""
    alice, keep = data.login("alice"), handled_by(data, "alice")
    counts = data.counts(alice, narrow=narrow, now=NOW)
    for tab in d.Tab:
        expected = [
            r.id
            for r in data.page(alice, tab, sort, limit=ALL, now=NOW)
            if keep(r, None) and narrow.type in (None, r.type)
        ]
        paged, after = [], None
        while chunk := data.page(alice, tab, sort, after=after, limit=2, narrow=narrow, now=NOW):
            paged += chunk
            after = chunk[-1]
        assert [r.id for r in paged] == expected, tab
        assert counts[tab] == len(expected), tab
        last = data.page(alice, tab, sort, limit=2, backwards=True, narrow=narrow, now=NOW)
        assert [r.id for r in last] == expected[-2:], tab
        for i, row in enumerate(paged):
            assert data.position(alice, tab, sort, "", row, narrow=narrow, now=NOW) == i, tab
    assert counts[d.Tab.ALL] >= 3


@pytest.mark.parametrize("who", ["sam", "olga", "alice"])
@pytest.mark.parametrize("shop", [None, "globex"])
def test_due_within_counts_each_tab_within_the_viewers_shops(data, who, shop):
    """The counts of "due within" alone or with a shop are read a tab at a time from the
    deadline indexes (queries.counts): the same as what each tab shows."""
    narrow = Narrowing(due_hours=6, shop=shop)
    keep = CASES["due within 6h"][1]
    expected = oracle(data, who, lambda r, q: keep(r, q) and shop in (None, r.shop))
    counts = data.counts(data.login(who), narrow=narrow, now=NOW)
    assert counts == {tab: len(ids) for tab, ids in expected.items()}
    assert counts[d.Tab.ALL] > 0 or (who, shop) != ("sam", None)  # the case counts some


def test_due_within_keeps_a_rejection_while_its_window_is_open(data):
    closed = every(data, "sam", d.Tab.CLOSED, narrow=Narrowing(due_hours=6))
    # Not R2006, whose window closed, nor R2008, which R2009 superseded.
    assert {r.id for r in closed} == {"R1016", "R2007"}


def test_filters_combine_with_the_search(data):
    narrow = Narrowing(shop="acme", type="refund")
    found = {r.id for r in every(data, "sam", search="lima", narrow=narrow)}
    searched = {r.id for r in every(data, "sam", search="lima")}
    expected = {r.id for r in every(data, "sam", narrow=narrow)} & searched
    assert found == expected and {"R2001", "R2002"} <= found and "R2003" not in found
    assert data.counts(data.login("sam"), "lima", narrow=narrow, now=NOW)[d.Tab.ALL] == len(found)


@pytest.mark.parametrize("few", [True, False], ids=["ranges first", "every candidate"])
@pytest.mark.parametrize("text", ["lima", "old case", "mug", "acme"])
def test_due_within_with_a_search_keeps_what_both_keep(data, text, few, monkeypatch):
    """With a search, "due within" keeps of the search's candidates those in its ranges
    before a row is read (queries.Filter.within_due: SQLite, when the ranges hold fewer than
    DUE_FEW requests), or the search reads every candidate: either way what both keep, in
    every tab, Closed's open windows included; counted, and their money summed."""
    from returns_tui.store import queries

    monkeypatch.setattr(queries, "DUE_FEW", 10**9 if few else 0)
    narrow, keep = CASES["due within 6h"]
    expected = oracle(data, "sam", keep)
    counts = data.counts(data.login("sam"), text, narrow=narrow, now=NOW)
    for tab in d.Tab:
        want = expected[tab] & {r.id for r in every(data, "sam", tab, search=text)}
        rows = every(data, "sam", tab, text, narrow)
        assert {r.id for r in rows} == want, tab
        assert counts[tab] == len(want), tab
        money = Counter()
        for r in rows:
            money[r.currency] += r.amount_cents
        totals = data.totals(data.login("sam"), tab, text, narrow=narrow, now=NOW)
        assert totals == dict(sorted(money.items())), tab
    assert counts[d.Tab.ALL] or text == "lima"  # lima's requests are all due later
    if text == "old case":
        assert counts[d.Tab.CLOSED] == 1  # R2007's window is open, R2006's closed
    flt = queries.Filter(None, d.Tab.ALL, text, narrow=narrow, due_by_us=DUE_BY)
    with read(data.engine) as conn:
        within = queries._within_due(conn, flt).within_due
    assert within == (few and data.engine.dialect.name == "sqlite")


def test_filters_stay_inside_the_viewers_shops(data):
    # olga sees globex only: asking for acme shows nothing, not acme's requests.
    assert every(data, "olga", narrow=Narrowing(shop="acme")) == []
    assert data.counts(data.login("olga"), narrow=Narrowing(shop="acme"), now=NOW)[d.Tab.ALL] == 0
    refunds = {r.id for r in every(data, "olga", narrow=Narrowing(type="refund"))}
    assert refunds and all(data.get(data.login("sam"), rid).shop == "globex" for rid in refunds)
    assert refunds < {r.id for r in every(data, "sam", narrow=Narrowing(type="refund"))}


def test_the_money_at_stake_follows_the_filter(data):
    sam = data.login("sam")
    narrow = Narrowing(reason="not_received")
    rows = every(data, "sam", narrow=narrow)
    expected = Counter()
    for r in rows:
        expected[r.currency] += r.amount_cents
    assert data.totals(sam, d.Tab.ALL, narrow=narrow, now=NOW) == dict(sorted(expected.items()))
    assert data.totals(sam, d.Tab.ALL, narrow=narrow, now=NOW) == {"JPY": 150000, "USD": 1500}


@pytest.mark.parametrize("sort", list(Sort))
def test_a_filtered_tab_pages_and_positions_as_one_page_would(data, sort, plan):
    sam, narrow = data.login("sam"), Narrowing(shop="acme")
    whole = data.page(sam, d.Tab.ALL, sort, limit=ALL, narrow=narrow, now=NOW)
    paged, after = [], None
    while True:
        chunk = data.page(sam, d.Tab.ALL, sort, after=after, limit=4, narrow=narrow, now=NOW)
        if not chunk:
            break
        paged += chunk
        after = chunk[-1]
    assert [r.id for r in paged] == [r.id for r in whole]
    row = whole[len(whole) // 2]
    assert data.position(sam, d.Tab.ALL, sort, "", row, narrow=narrow, now=NOW) == len(whole) // 2


@pytest.mark.parametrize("sort", list(Sort))
def test_due_within_positions_every_row_in_every_tab_and_order(data, sort, plan):
    """"Row N of M" with "due within": each row's position is its place in the filtered tab
    (the count before it bounds the key's first column too: queries._before_query)."""
    sam, narrow = data.login("sam"), Narrowing(due_hours=30)
    for tab in d.Tab:
        whole = data.page(sam, tab, sort, limit=ALL, narrow=narrow, now=NOW)
        for i, row in enumerate(whole):
            assert data.position(sam, tab, sort, "", row, narrow=narrow, now=NOW) == i, tab
    everything = data.page(sam, d.Tab.ALL, sort, limit=ALL, narrow=narrow, now=NOW)
    assert len(everything) > 3

def test_the_amount_range_includes_both_ends(data):
    narrow = Narrowing(currency="USD", min_cents=1000, max_cents=1000)
    assert "R2002" in {r.id for r in every(data, "sam", narrow=narrow)}
    assert not {"R2001", "R2003"} & {r.id for r in every(data, "sam", narrow=narrow)}


def test_due_within_moves_with_the_clock(data):
    sam, narrow = data.login("sam"), Narrowing(due_hours=1, type="refund")
    now_ids = {r.id for r in data.page(sam, d.Tab.TO_PROCEED, Sort.DEADLINE, limit=ALL,
                                       narrow=narrow, now=NOW)}  # fmt: skip
    later = {r.id for r in data.page(sam, d.Tab.TO_PROCEED, Sort.DEADLINE, limit=ALL,
                                     narrow=narrow, now=NOW.add(hours=30))}  # fmt: skip
    assert now_ids < later


# ---------------------------------------------------------------------------------------------
# The filters as typed


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ({"type": "exchange"}, "The type must be refund or return_and_refund."),
        ({"currency": "US"}, "The currency must be three letters, like USD."),
        ({"min_amount": "1,5"}, "The lowest amount must be a decimal number"),
        ({"max_amount": "-3"}, "The highest amount must be a decimal number"),
        ({"max_amount": "1e3"}, "The highest amount must be a decimal number"),
        ({"min_amount": "10.001"}, "The lowest amount must be a decimal number"),
        ({"currency": "JPY", "max_amount": "10.5"}, "JPY amounts have no minor units"),
        ({"min_amount": "20", "max_amount": "10"}, "The lowest amount must not be above"),
        ({"due_hours": "0"}, "Due within must be a whole number of hours"),
        ({"due_hours": "1.5"}, "Due within must be a whole number of hours"),
        ({"due_hours": "٣"}, "Due within must be a whole number of hours"),
        ({"shop": "a\x00b"}, "The shop cannot be"),
    ],
)
def test_a_filter_that_cannot_be_one_is_refused_in_one_sentence(typed, sentence):
    with pytest.raises(Refused) as caught:
        narrowing_from_text(**typed)
    assert caught.value.message.startswith(sentence)
    assert "\n" not in caught.value.message and "\x00" not in caught.value.message


def test_a_shop_outside_the_viewers_is_refused_not_shown_empty():
    mine = frozenset({"acme", "globex"})
    with pytest.raises(Refused) as caught:
        narrowing_from_text(shop="initech", shops=mine)
    assert caught.value.message == "'initech' is not one of your shops (acme, globex)."
    assert narrowing_from_text(shop="acme", shops=mine) == Narrowing(shop="acme")
    assert narrowing_from_text(shop="initech") == Narrowing(shop="initech")  # sees every shop
    with pytest.raises(Refused) as caught:  # what a shop name holds is shown safely
        narrowing_from_text(shop="[b]x\x1b[2J", shops=mine)
    assert "\x1b" not in caught.value.message


def test_amounts_become_minor_units_without_a_float():
    narrow = narrowing_from_text(min_amount="0.1", max_amount="19.99", currency="usd")
    assert (narrow.min_cents, narrow.max_cents, narrow.currency) == (10, 1999, "USD")
    assert narrowing_from_text(max_amount="1500", currency="JPY").max_cents == 150000
    assert narrowing_from_text(max_amount="1500.00", currency="JPY").max_cents == 150000
    with pytest.raises(Refused):  # more digits than any amount has
        narrowing_from_text(max_amount="99999999999")
    assert not narrowing_from_text()  # every field blank: no filter


def test_the_status_line_text_makes_the_values_safe():
    narrow = Narrowing(shop="[b]x\x1b]0;pwn\x07", reason="\u202eevil", mine=True, due_hours=6)
    text = narrow.describe()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "␛" in text and "due in 6h" in text and text.endswith("mine")


# ---------------------------------------------------------------------------------------------
# The buyer's history


def test_the_buyers_history_counts_their_other_orders_in_the_viewers_shops(data):
    sam, alice, olga = data.login("sam"), data.login("alice"), data.login("olga")
    # Ana Lima: R1001 (globex, pending) and R1007 (acme) from the seed, and R2001-R2004.
    ana = [r for r in every(data, "sam") if data.get(sam, r.id).buyer == "Ana Lima"]
    assert len(ana) >= 5
    others = [data.get(sam, r.id) for r in ana if r.id != "R2003"]
    rejected = sum(q.rejected_at is not None for q in others if q.id not in ("R2001", "R2002"))
    appealed = sum(q.arbitration is not None for q in others if q.id != "R2001")
    data.reject(alice, "R2001", NOW, "no_proof")
    data.appeal(BUYER, "R2001", NOW.add(minutes=1))
    data.reject(alice, "R2002", NOW, "no_proof")
    seen = data.buyer_history(sam, "R2003", NOW.add(minutes=2))
    assert seen.other_orders == len(ana) - 1
    assert (seen.rejected, seen.appealed) == (rejected + 2, appealed + 1)
    assert seen.recent == len(ana)  # every one of them is within 90 days
    # An operator counts only their own shops' requests.
    acme = [r for r in ana if r.shop == "acme"]
    mine = data.buyer_history(alice, "R2003", NOW.add(minutes=2))
    assert (mine.other_orders, mine.recent) == (len(acme) - 1, len(acme))
    globex = data.buyer_history(olga, "R2004", NOW.add(minutes=2))
    theirs = [data.get(sam, r.id) for r in ana if r.shop == "globex" and r.id != "R2004"]
    assert globex.other_orders == len(theirs) >= 1
    assert globex.rejected == sum(q.rejected_at is not None for q in theirs)  # not acme's two
    assert globex.appealed == 0
    # 90 days later none of them is recent.
    assert data.buyer_history(sam, "R2003", NOW.add(days=91)).recent == 0


def test_the_buyers_history_is_read_from_its_index_alone(tmp_path):
    from returns_tui.store import queries as q
    from returns_tui.store.engine import open_engine, upgrade

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    engine = open_engine(url)
    upgrade(engine)
    captured = []
    with engine.connect() as conn:
        import sqlalchemy as sa

        @sa.event.listens_for(conn, "before_cursor_execute")
        def keep(conn_, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        q.buyer_history(conn, "Ana", frozenset({"acme", "globex"}), "O1", 0)
    engine.dispose()
    plan = sqlite3.connect(tmp_path / "plan.db")
    statement, params = captured[-1]
    steps = " ".join(row[-1] for row in plan.execute("EXPLAIN QUERY PLAN " + statement, params))
    assert "COVERING INDEX ix_requests_buyer" in steps, steps


def test_a_pages_auto_approved_mark_reads_the_requests_own_records(tmp_path):
    """A completed row's "approved by the clock" is one look at its records by request id;
    led by the kind to ix_records_kind_at, SQLite read every auto-approval's entry per row
    (0.74 s for a page of Completed at 1M, 0.14 s for "handled by me")."""
    from returns_tui.store import queries as q
    from returns_tui.store.engine import open_engine, upgrade

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    engine = open_engine(url)
    upgrade(engine)
    flt = q.Filter(None, d.Tab.COMPLETED, narrow=Narrowing(mine=True), viewer="alice")
    shape = q._PageShape(flt, Sort.NEWEST, False, False, True, 101)
    with engine.connect() as conn:
        statement, _names, values = q._page_sql(conn.dialect, shape)
    engine.dispose()
    plan = sqlite3.connect(tmp_path / "plan.db")
    params = tuple(values[n] for n in _names) if _names else values
    steps = " ".join(row[-1] for row in plan.execute("EXPLAIN QUERY PLAN " + statement, params))
    assert "ix_records_kind_at" not in steps, steps
    assert "sqlite_autoindex_records_1" in steps, steps


def test_due_within_on_a_page_newest_first_reads_the_deadline_from_an_index(tmp_path):
    """All, newest first, "due within": the walk past the newest requests (far deadlines)
    checks each deadline in ix_requests_created_due (migration 0011), not in the table."""
    from returns_tui.store import queries as q
    from returns_tui.store.engine import open_engine, upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    flt = q.Filter(None, d.Tab.ALL, narrow=Narrowing(due_hours=6), due_by_us=to_micros(NOW))
    shape = q._PageShape(flt, Sort.NEWEST, False, False, True, 101)
    with engine.connect() as conn:
        statement, names, values = q._page_sql(conn.dialect, shape)
    engine.dispose()
    plan = sqlite3.connect(tmp_path / "plan.db")
    params = tuple(values[n] for n in names) if names else values
    steps = " ".join(row[-1] for row in plan.execute("EXPLAIN QUERY PLAN " + statement, params))
    assert "SCAN requests USING INDEX ix_requests_created_due" in steps, steps


@pytest.mark.parametrize(
    "shops, narrow, index",
    [
        (None, Narrowing(max_cents=1000), "ix_requests_amount"),
        (None, Narrowing(currency="USD", min_cents=50000), "ix_requests_amount"),
        (None, Narrowing(currency="JPY"), "ix_requests_amount"),
        (frozenset({"acme"}), Narrowing(max_cents=1000), "ix_requests_filters"),
        (frozenset({"acme"}), Narrowing(type="refund", currency="USD"), "ix_requests_filters"),
        (None, Narrowing(shop="acme", reason="damaged", max_cents=5000), "ix_requests_filters"),
    ],
)
def test_the_counts_and_the_few_matches_read_the_index_named(tmp_path, shops, narrow, index):
    """SQLite is told which index (INDEXED BY, which SQLAlchemy does not write for SQLite on
    its own): a currency or an amount range across every shop seeks ix_requests_amount, a
    fixed shop ix_requests_filters, each alone (COVERING), whatever other indexes there are."""
    import sqlalchemy as sa

    from returns_tui.store import queries as q
    from returns_tui.store.engine import open_engine, upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    flt = q.Filter(shops, d.Tab.ALL, narrow=narrow, viewer="sam")
    with engine.connect() as conn:
        counted = sa.select(q.requests.c.tab, sa.func.count()).group_by(q.requests.c.tab)
        gathered = sa.select(q._ROWID).select_from(q.requests)
        for query in (q._seeking(conn, counted, flt), q._seeking(conn, gathered, flt)):
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            assert f"FROM requests INDEXED BY {index}" in sql, sql
            steps = " ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert f"USING COVERING INDEX {index} " in steps, steps
    engine.dispose()


@pytest.mark.parametrize(
    "shops, narrow, read_from",
    [
        (None, Narrowing(due_hours=6), "COVERING INDEX ix_requests_tab_deadline"),
        (frozenset({"acme"}), Narrowing(due_hours=6),
         "COVERING INDEX ix_requests_shop_tab_deadline"),  # fmt: skip
        (None, Narrowing(mine=True), "COVERING INDEX ix_handled_actor"),
        (frozenset({"acme"}), Narrowing(reason="damaged", currency="USD"), "tab_counts"),
        (None, None, "tab_counts"),
    ],
)
def test_the_money_at_stake_reads_no_request_row(tmp_path, shops, narrow, read_from):
    """queries.totals of To Proceed (SQLite's plan): "due within" alone from the deadline
    indexes, which hold the money (migration 0019), "mine" alone from ix_handled_actor (0018),
    no filter or the fields of tab_counts from tab_counts (0017); no row of requests read."""
    import sqlalchemy as sa

    from returns_tui.store import queries as q
    from returns_tui.store.engine import open_engine, upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    flt = q.Filter(shops, d.Tab.TO_PROCEED, narrow=narrow, viewer="sam", due_by_us=DUE_BY)
    sent = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2:4]))
    with engine.connect() as conn:
        q.totals(conn, flt)
        (sql, params), = sent
        steps = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    engine.dispose()
    assert any(read_from in step for step in steps), steps
    assert not any(s.startswith("SCAN requests") or "SEARCH requests USING INDEX" in s
                   or "SEARCH requests USING INTEGER" in s for s in steps), steps  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Saved views' file, and the settings


def test_saved_views_round_trip_through_the_users_own_file(tmp_path):
    path = views_file(tmp_path, "al/../ice")
    assert path.parent == tmp_path and "/" not in path.name[:-5]
    hostile = 'lima "quoted" \\ \x7f end'
    first = SavedView("acme soon", 0, d.Tab.TO_PROCEED, Sort.DEADLINE, "",
                      Narrowing(shop="ac\"me", due_hours=6, mine=True))  # fmt: skip
    second = SavedView("big ones", 0, d.Tab.ALL, Sort.NEWEST, hostile,
                       Narrowing(currency="JPY", min_cents=100000))  # fmt: skip
    views = with_view(with_view([], first), second)
    assert [v.slot for v in views] == [1, 2]
    save_views(path, views)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = load_views(path)
    assert loaded == views
    # The same name replaces, in its slot; delete frees the slot for the next.
    again = with_view(loaded, SavedView("acme soon", 0, d.Tab.CLOSED, Sort.OLDEST))
    assert [(v.name, v.slot, v.tab) for v in again][0] == ("acme soon", 1, d.Tab.CLOSED)
    fewer = without_view(again, "acme soon")
    assert with_view(fewer, SavedView("new", 0, d.Tab.ALL, Sort.NEWEST))[0].slot == 1


def test_nine_views_at_most_and_a_broken_file_is_said_not_overwritten(tmp_path):
    views = []
    for i in range(9):
        views = with_view(views, SavedView(f"v{i}", 0, d.Tab.ALL, Sort.NEWEST))
    with pytest.raises(Refused, match="All 9 views are saved"):
        with_view(views, SavedView("tenth", 0, d.Tab.ALL, Sort.NEWEST))
    path = tmp_path / "me.toml"
    path.write_text('[[view]]\nname = "x"\nslot = 12\n')
    with pytest.raises(Refused, match="cannot be used: a view's slot must be 1 to 9"):
        load_views(path)
    path.write_text("[[view]\n")
    with pytest.raises(Refused, match="cannot be used"):
        load_views(path)


def test_toml_strings_escape_what_toml_allows_no_raw():
    import tomllib

    text = 'a"b\\c\x00\x1b\x7f\ttab é 🎸'
    assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_timezone_and_the_mark_threshold_are_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[console]\ntimezone = "Asia/Jakarta"\nbuyer_mark_threshold = 3\n')
    settings = load_settings(path)
    assert (settings.timezone, settings.buyer_mark_threshold) == ("Asia/Jakarta", 3)
    assert settings.views_dir == tmp_path / "views"
    path.write_text("[console]\nbuyer_mark_threshold = 0\n")
    with pytest.raises(SettingsError, match="buyer_mark_threshold must be a whole number"):
        load_settings(path)
    path.write_text("[console]\ntimezone = 7\n")
    with pytest.raises(SettingsError, match="timezone must be a time zone name"):
        load_settings(path)


def test_a_zone_that_is_not_one_falls_back_to_utc_in_one_sentence():
    assert viewer_zone("Asia/Jakarta") == ("Asia/Jakarta", "")
    assert viewer_zone(None, {"TZ": ":Europe/Berlin"}) == ("Europe/Berlin", "")
    zone, why = viewer_zone("Mars/Olympus")
    assert zone == "UTC"
    assert why == "The time zone 'Mars/Olympus' is not one; times are shown in UTC."
    zone, why = viewer_zone(None, {"TZ": "x\x1b[31m"})
    assert zone == "UTC" and "\x1b" not in why


@pytest.mark.parametrize("sort", list(Sort))
def test_gathered_and_walked_pages_come_in_the_same_order(data, sort, monkeypatch):
    """The two ways a filtered page is read on SQLite give the same rows in the same order,
    page after page (the gathered one orders its matches itself)."""
    from returns_tui.store import queries

    sam, narrow = data.login("sam"), Narrowing(type="return_and_refund")

    def pages(few: int) -> list[str]:
        monkeypatch.setattr(queries, "FEW_MATCHES", few)
        ids, after = [], None
        while chunk := data.page(sam, d.Tab.ALL, sort, after=after, limit=3, narrow=narrow,
                                 now=NOW):  # fmt: skip
            ids += [r.id for r in chunk]
            after = chunk[-1]
        return ids

    walked = pages(0)
    assert len(walked) > 6
    assert pages(10**9) == walked
    # And backwards from the end, as the table jumps there.
    monkeypatch.setattr(queries, "FEW_MATCHES", 10**9)
    last = data.page(sam, d.Tab.ALL, sort, limit=3, backwards=True, narrow=narrow, now=NOW)
    assert [r.id for r in last] == walked[-3:]


def test_migration_0009_makes_the_filters_indexes(engine):
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    on_requests = {ix["name"] for ix in inspector.get_indexes("requests")}
    on_records = {ix["name"] for ix in inspector.get_indexes("records")}
    assert {"ix_requests_filters", "ix_requests_buyer", "ix_requests_created_due"} <= on_requests
    assert "ix_records_actor" not in on_records  # "mine" reads `handled` (migration 0012)
    # The reason's and the type's own indexes serve PostgreSQL's counts only.
    pg_only = {"ix_requests_by_reason", "ix_requests_by_type"}
    assert (pg_only <= on_requests) == (engine.dialect.name == "postgresql")
    assert not (pg_only & on_requests) or engine.dialect.name == "postgresql"


def test_migration_0019_puts_the_money_in_the_deadline_indexes(engine):
    """The two deadline indexes end with the currency and the amount; down to 0018 they are
    as they were, and up again."""
    import sqlalchemy as sa
    from alembic import command

    from returns_tui.store import engine as store

    def columns() -> dict[str, list[str]]:
        with engine.connect() as conn:
            found = sa.inspect(conn).get_indexes("requests")
        wanted = ("ix_requests_tab_deadline", "ix_requests_shop_tab_deadline")
        return {ix["name"]: ix["column_names"] for ix in found if ix["name"] in wanted}

    money = ["currency", "amount_cents"]
    at_head = {"ix_requests_tab_deadline": ["tab", "deadline_at", "id", *money, "has_later"],
               "ix_requests_shop_tab_deadline":
                   ["shop", "tab", "deadline_at", "id", *money, "has_later"]}  # fmt: skip
    assert columns() == at_head
    with engine.connect() as conn, conn.begin():
        command.downgrade(store._alembic_config(conn), "0018")
    assert columns() == {name: cols[:-3] for name, cols in at_head.items()}
    store.upgrade(engine)
    assert columns() == at_head


def test_migration_0021_fills_has_later_from_the_orders(engine):
    """Down to 0020 the column is gone and the deadline indexes end with the money; up again,
    each request has a later one exactly when the seed (which knows each order's story) and
    `check` say so."""
    import sqlalchemy as sa
    from alembic import command

    from returns_tui.check import check
    from returns_tui.seed import seed_requests
    from returns_tui.store import engine as store

    seed_requests(engine, 300, seed=3, now=NOW)

    def stored() -> dict[str, bool]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, has_later FROM requests")
            return {rid: bool(later) for rid, later in rows}

    seeded = stored()
    assert 0 < sum(seeded.values()) < len(seeded)  # some orders have a second request
    with engine.connect() as conn, conn.begin():
        command.downgrade(store._alembic_config(conn), "0020")
    with engine.connect() as conn:
        assert "has_later" not in {c["name"] for c in sa.inspect(conn).get_columns("requests")}
        found = sa.inspect(conn).get_indexes("requests")
    assert next(ix for ix in found if ix["name"] == "ix_requests_tab_deadline")[
        "column_names"
    ] == ["tab", "deadline_at", "id", "currency", "amount_cents"]
    store.upgrade(engine)
    assert stored() == seeded
    assert check(engine, NOW) == []


def test_an_export_of_the_view_keeps_what_the_filters_keep(data, plan):
    sam, narrow = data.login("sam"), Narrowing(shop="acme", type="refund")
    exported = [row["id"] for row, _records in data.export(sam, d.Tab.ALL, "", narrow, NOW)]
    assert exported == sorted(r.id for r in every(data, "sam", narrow=narrow))
    assert exported and len(exported) < len(every(data, "sam"))
    # And with a search beside them.
    found = [row["id"] for row, _ in data.export(sam, d.Tab.ALL, "lima", narrow, NOW)]
    assert found == sorted(r.id for r in every(data, "sam", search="lima", narrow=narrow))


@pytest.mark.parametrize("table,before", [("requests", "0014"), ("handled", "0021")])
def test_autovacuum_visits_the_filters_tables_sooner_on_postgresql(pg_url, table, before):
    """The counts read PostgreSQL's indexes alone only where vacuum has been: after 1 % of
    `requests` (migration 0015) or of `handled` ("handled by me": migration 0022) changed,
    not 20 %; the downgrade puts the defaults back."""
    from alembic import command

    from returns_tui.store.engine import _alembic_config, open_engine, upgrade

    engine = open_engine(pg_url)
    upgrade(engine)

    def options() -> list[str]:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = %s", (table,)
            )
            return sorted(found.scalar_one() or [])

    assert options() == [
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_insert_scale_factor=0.01",
        "autovacuum_vacuum_scale_factor=0.01",
    ]
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), before)
    assert options() == []
    engine.dispose()
