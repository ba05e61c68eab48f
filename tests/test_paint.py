"""One paint of the console (paint.py): its tab counts and money, read with one Paint, are
what each read alone gives, in every tab and every way they are read; a search's are read
once for both, from two threads at once as the console asks them; the next paint sees what
changed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.filters import Narrowing
from returns_tui.paint import Paint
from returns_tui.roles import BUYER
from tests.support.console import NOW, seed

LIMA = [f"R30{n:02d}" for n in range(1, 6)]


@pytest.fixture
def data(svc):
    """The console tests' requests, five of "Tia Lima" in two currencies (one rejected), and
    one in yen, accepted."""
    seed(svc)
    for n, rid in enumerate(LIMA):
        svc.submit(
            BUYER,
            d.Submission(
                id=rid, order_id="O" + rid, shop="acme" if n % 3 else "globex", type="refund",
                buyer="Tia Lima", product="Mug", sku="MUG-1", quantity=1,
                amount=f"{n + 1}.25", currency="USD" if n % 2 else "EUR", reason="damaged",
                note="",
            ),
            NOW.subtract(hours=n + 1),
        )  # fmt: skip
    svc.reject(svc.login("alice"), LIMA[1], NOW.subtract(minutes=30), "no_proof", "No.")
    # The one request in yen, accepted: To Proceed's row of it in tab_counts holds 0 now.
    svc.submit(
        BUYER,
        d.Submission(
            id="R3100", order_id="OR3100", shop="acme", type="refund", buyer="Ken", product="Mug",
            sku="MUG-1", quantity=1, amount="900", currency="JPY", reason="damaged", note="",
        ),
        NOW.subtract(hours=2),
    )  # fmt: skip
    svc.accept(svc.login("alice"), "R3100", NOW.subtract(hours=1))
    return svc


N = Narrowing
VIEWS = [
    ("lima", None),
    ("lima", N(type="refund")),
    ("lima", N(currency="USD", max_cents=400)),
    ("mug", N(due_hours=30)),
    ("acme", N(shop="acme", reason="damaged")),
    ("zzzz", None),  # nothing found
    ("r", None),  # a letter: no index, a scan
    ("", None),  # tab_counts
    ("", N(type="refund", currency="EUR")),  # tab_counts
    ("", N(mine=True)),  # the viewer's range of `handled`
    ("", N(due_hours=30)),  # a range of each tab's deadlines
    ("", N(due_hours=30, shop="acme")),
    ("", N(min_cents=300, max_cents=2000)),  # an amount range
    ("", N(shop="acme", type="refund", max_cents=2000)),  # the filters' index
    ("", N(mine=True, type="refund")),
    ("lima", N(mine=True)),
]


@pytest.mark.parametrize("text,narrow", VIEWS, ids=[f"{t}-{n}" for t, n in VIEWS])
def test_a_paint_reads_the_counts_and_money_each_read_alone_reads(data, text, narrow):
    found = 0
    for who in ("root-admin", "alice"):  # every shop; acme's alone
        actor = data.login(who)
        paint = Paint(NOW)
        alone = data.counts(actor, text, narrow=narrow, now=NOW)
        assert data.counts(actor, text, narrow=narrow, paint=paint) == alone, who
        found += alone[d.Tab.ALL]
        for tab in d.Tab:
            alone = data.totals(actor, tab, text, narrow=narrow, now=NOW)
            assert data.totals(actor, tab, text, narrow=narrow, paint=paint) == alone, (who, tab)
    assert found or text == "zzzz"


@pytest.fixture
def grouped(engine):
    """Every grouped statement sent that reads the requests: a count or a sum of them."""
    sent: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY" in statement and "FROM requests" in statement:
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listen)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", listen)


def test_a_search_is_counted_and_summed_once_for_a_paint_from_two_threads(data, grouped):
    actor, narrow = data.login("alice"), Narrowing(type="refund")
    alone = (
        data.counts(actor, "lima", narrow=narrow, now=NOW),
        data.totals(actor, d.Tab.TO_PROCEED, "lima", narrow=narrow, now=NOW),
    )
    assert len(grouped) == 2
    assert alone[0][d.Tab.TO_PROCEED] == 2 and alone[1] == {"EUR": 325 + 525}  # acme's
    grouped.clear()
    paint, start = Paint(NOW), threading.Barrier(2)

    def at_once(read):
        start.wait()
        return read()

    reads = [
        lambda: data.counts(actor, "lima", narrow=narrow, paint=paint),
        lambda: data.totals(actor, d.Tab.TO_PROCEED, "lima", narrow=narrow, paint=paint),
    ]
    with ThreadPoolExecutor(2) as pool:
        shared = tuple(f.result() for f in [pool.submit(at_once, r) for r in reads])
    assert shared == alone
    assert len(grouped) == 1


def test_the_next_paint_sees_what_changed_since_the_last(data):
    actor = data.login("alice")
    before = data.counts(actor, "lima", paint=Paint(NOW))
    data.accept(actor, LIMA[2], NOW)
    after = data.counts(actor, "lima", paint=Paint(NOW))
    assert after[d.Tab.TO_PROCEED] == before[d.Tab.TO_PROCEED] - 1
    assert after[d.Tab.COMPLETED] == before[d.Tab.COMPLETED] + 1
