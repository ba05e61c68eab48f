"""Search through the index finds exactly what a plain scan finds, and what a plain Python
filter says matches, on random buyers and products full of accents, emoji, case and the
characters that LIKE and FTS5 treat specially; on SQLite (FTS5 trigram) and PostgreSQL
(pg_trgm, and without it where the server refuses CREATE EXTENSION)."""

from __future__ import annotations

import random
import uuid

import pytest
import sqlalchemy as sa

from returns_tui import domain as d
from returns_tui.roles import BUYER
from returns_tui.services import Returns
from returns_tui.store import queries as q
from returns_tui.store import search
from returns_tui.store.engine import open_engine, read, upgrade
from returns_tui.store.schema import requests
from tests.conftest import PG_URL, T0, needs_pg, submission

# Letters whose lower case is one letter in Python, SQLite and PostgreSQL's C.UTF-8 alike
# (no dotted İ, no final sigma), in both cases; digits, blanks; emoji and CJK (beyond the
# Basic Multilingual Plane too), a combining accent; and what LIKE (% _ \) and FTS5 queries
# (" * ( ) - : ^ +) treat specially.
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "0123456789   "
    "éÉèÈüÜöÖñÑøØåÅçÇßłŁ" "αΑβΒγΓδΔ" "дДжЖ" "田中花子김민준" "🎸🌸😀" "\u0301"
    "%_\\\"*()-:^+'."
)  # fmt: skip
NAMES = ["Ana Lima", "ANA LIMA", "Zoë Müller", "ZOË MÜLLER", "Lucy Chen 🌸", "田中 花子", "Søren"]
PRODUCTS = ["Stoneware mug", "Mug 100% cotton", "snake_case \\ mug", 'Say "cheese"', "Ελα δω"]


def random_text(rng: random.Random, low: int = 1, high: int = 14) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(low, high))).strip() or "x"


def fill(svc: Returns, rng: random.Random, count: int) -> list[tuple[str, str, str, str]]:
    """`count` requests with random buyers and products; (id, order id, buyer, product)."""
    rows = []
    for n in range(count):
        buyer = rng.choice(NAMES) if rng.random() < 0.3 else random_text(rng)
        product = rng.choice(PRODUCTS) if rng.random() < 0.3 else random_text(rng)
        rid, order = f"R{n:05d}", f"O{n:05d}"
        sub = submission(rid, order, shop=rng.choice(["acme", "globex"]), buyer=buyer)
        sub = d.Submission(**{**sub.__dict__, "product": product})
        svc.submit(BUYER, sub, T0)
        rows.append((rid, order, buyer, product))
    return rows


def expected(rows, text: str) -> set[str]:
    """The plain Python filter: the definition of a match (store.search), the same on both
    databases for this alphabet."""
    text = text.strip()
    needle = text.lower()
    return {
        rid
        for rid, order, buyer, product in rows
        if text in (rid, order) or needle in buyer.lower() or needle in product.lower()
    }


def found(svc: Returns, actor, text: str, tab: d.Tab = d.Tab.ALL) -> list[str]:
    return [r.id for r in svc.page(actor, tab, q.Sort.NEWEST, text, limit=100_000)]


def scanned(engine, text: str) -> set[str]:
    """The same search without any index: the LIKE alone, and the exact ids."""
    text = text.strip()
    query = sa.select(requests.c.id).where(
        sa.or_(requests.c.id == text, requests.c.order_id == text, search.like_clause(text))
    )
    with read(engine) as conn:
        return set(conn.scalars(query))


def queries_for(rng: random.Random, rows, n: int) -> list[str]:
    """Pieces of stored text (recased, of every length from one character), random text,
    and ids."""
    out = []
    for _ in range(n):
        _rid, _order, buyer, product = rng.choice(rows)
        source = rng.choice([buyer, product])
        start = rng.randrange(len(source))
        piece = source[start : start + rng.randint(1, 8)]
        kind = rng.random()
        if kind < 0.3:
            piece = piece.upper()
        elif kind < 0.5:
            piece = piece.swapcase()
        elif kind < 0.6:
            piece = random_text(rng, 1, 6)
        out.append(piece)
    out += [rows[0][0], rows[1][1], "lim", "LIMA", "müller", "MÜLLER", "🌸", "花子", "100%",
            "_case", "\\", '"cheese"', "e_c", "Ελα", "ελα", "zzzzzz", "a", "ab", "%",
            "_"]  # fmt: skip
    return [p for p in out if p.strip()]


def test_the_index_finds_what_the_python_filter_and_the_scan_find(svc, db_url):
    rng = random.Random(20261127)
    rows = fill(svc, rng, 160)
    sam = svc.login("sam")
    for text in queries_for(rng, rows, 150):
        want = expected(rows, text)
        got = found(svc, sam, text)
        assert set(got) == want, text
        assert len(got) == len(set(got)), text
        assert scanned(svc.engine, text) == want, text
        counts = svc.counts(sam, text)
        assert counts[d.Tab.ALL] == len(want), text


def test_an_operator_searches_a_tab_page_by_page_in_order(svc, db_url):
    """The indexed search filters by shop, tab and the page's key (search.unindexed): a walk
    page by page, both ways, gives the rows of an unsearched walk that match, in order."""
    rng = random.Random(7)
    rows = fill(svc, rng, 120)
    alice = svc.login("alice")
    for request_id, *_ in rows[::3]:
        if svc.get(svc.login("sam"), request_id).shop == "acme":
            svc.accept(alice, request_id, T0.add(hours=1))
    texts = ["ana", "MÜL", "mug", "🌸", rows[5][2][:4] or "abc"]
    for tab in (d.Tab.ALL, d.Tab.TO_PROCEED, d.Tab.IN_PROCESS):
        for sort in q.Sort:
            every = _walk(svc, alice, tab, sort, "")
            for text in texts:
                want = expected(rows, text)
                in_order = [rid for rid in every if rid in want]
                assert _walk(svc, alice, tab, sort, text) == in_order, (text, tab, sort)
                back = _walk(svc, alice, tab, sort, text, backwards=True)
                assert back == in_order, (text, tab, sort)
                if in_order:
                    flt = q.Filter(alice.visible_shops(), tab, text)
                    last = svc.page(alice, tab, sort, text, limit=1, backwards=True)[0]
                    with read(svc.engine) as conn:
                        assert q.position(conn, flt, sort, last) == len(in_order) - 1


def _shop(svc: Returns, request_id: str) -> str:
    return svc.get(svc.login("sam"), request_id).shop


def _walk(svc, actor, tab, sort, text, *, backwards: bool = False) -> list[str]:
    """Every row, three at a time, from the first page on (or from the last page back)."""
    out: list[str] = []
    after = None
    while True:
        page = svc.page(actor, tab, sort, text, after=after, limit=3, backwards=backwards)
        if not page:
            return out
        if backwards:
            out[:0] = [r.id for r in page]
            after = page[0]
        else:
            out += [r.id for r in page]
            after = page[-1]


def test_the_index_follows_inserts_updates_deletes_and_a_vacuum(tmp_path):
    """On SQLite the triggers keep the index in step with every change, and VACUUM (which
    may renumber the rowids the index is keyed by) leaves it right."""
    engine = open_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    svc = Returns(engine)
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    admin = svc.login("root-admin")
    for n, buyer in enumerate(["Ana Lima", "Zoë Müller", "Lucy Chen", "Omar Haddad"]):
        svc.submit(BUYER, submission(f"R{n}", f"O{n}", buyer=buyer), T0)
    with engine.begin() as conn:
        conn.execute(sa.update(requests).where(requests.c.id == "R1").values(buyer="Björn Berg"))
        conn.exec_driver_sql("DROP TRIGGER records_no_delete")  # records are append-only
        conn.execute(sa.text("DELETE FROM records WHERE request_id = 'R2'"))
        conn.execute(sa.delete(requests).where(requests.c.id == "R2"))
    assert found(svc, admin, "müller") == []
    assert found(svc, admin, "björn") == ["R1"]
    assert found(svc, admin, "chen") == []
    assert found(svc, admin, "lima") == ["R0"]
    with read(engine) as conn:
        rowids = conn.exec_driver_sql("SELECT rowid, id FROM requests ORDER BY id").all()
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("VACUUM")
    finally:
        raw.close()
    with read(engine) as conn:
        assert conn.exec_driver_sql("SELECT rowid, id FROM requests ORDER BY id").all() == rowids
    svc.submit(BUYER, submission("R9", "O9", buyer="Ana Souza"), T0)
    assert sorted(found(svc, admin, "ana ")) == ["R0", "R9"]
    assert found(svc, admin, "haddad") == ["R3"]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO requests_search(requests_search) VALUES ('integrity-check')"
        )


def test_the_seed_rebuilds_the_index_it_suspends(tmp_path):
    """A big seed drops the index's triggers and rebuilds the index once: afterwards both
    are there, and every seeded buyer is found."""
    from returns_tui import seed as seeding

    engine = open_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    svc = Returns(engine)
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    admin = svc.login("root-admin")
    old = seeding.REBUILD_FROM
    seeding.REBUILD_FROM = 50
    try:
        seeding.seed_requests(engine, 300, seed=3, now=T0)
    finally:
        seeding.REBUILD_FROM = old
    with read(engine) as conn:
        triggers = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'requests'"
        ).scalars()
        assert sorted(triggers) == [f"requests_search_{v}" for v in ("delete", "insert", "update")]
        buyers = [r.buyer for r in conn.execute(sa.select(requests.c.buyer))]
    for name in {b for b in buyers}:
        want = sum(name.lower() in b.lower() for b in buyers)
        assert svc.counts(admin, name)[d.Tab.ALL] == want, name
    svc.submit(BUYER, submission("X1", "X1", buyer="Quentin Blake"), T0)
    assert found(svc, admin, "quentin") == ["X1"]


@needs_pg
def test_postgresql_gets_trigram_indexes_when_it_may(pg_url):
    engine = open_engine(pg_url)
    upgrade(engine)
    with read(engine) as conn:
        names = set(
            conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'requests'"
            ).scalars()
        )
    engine.dispose()
    assert {"ix_requests_buyer_trgm", "ix_requests_product_trgm"} <= names


@pytest.fixture
def unprivileged_pg_url():
    """A fresh database whose owner may create tables but not extensions."""
    if not PG_URL:
        pytest.skip("RETURNS_TUI_TEST_PG is not set (no PostgreSQL)")
    suffix = uuid.uuid4().hex[:10]
    role, name = f"rt_user_{suffix}", f"rt_noext_{suffix}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = sa.create_engine(
        sa.engine.make_url(PG_URL).set(database=name), isolation_level="AUTOCOMMIT"
    )
    with db.connect() as conn:
        conn.exec_driver_sql(f'GRANT ALL ON SCHEMA public TO "{role}"')
    db.dispose()
    url = sa.engine.make_url(PG_URL).set(database=name, username=role)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def test_postgresql_without_pg_trgm_migrates_and_searches_by_scanning(unprivileged_pg_url):
    engine = open_engine(unprivileged_pg_url)
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError), conn.begin():
            conn.exec_driver_sql("CREATE EXTENSION pg_trgm")  # really refused
    upgrade(engine)
    svc = Returns(engine)
    svc.add_user("root-admin", "root-admin", "admin", (), T0)
    admin = svc.login("root-admin")
    rng = random.Random(3)
    rows = fill(svc, rng, 40)
    for text in ["ana", "MÜLLER", "🌸", "mug", rows[3][2][:3] or "abc", "a"]:
        assert set(found(svc, admin, text)) == expected(rows, text), text
    with read(engine) as conn:
        assert not conn.exec_driver_sql(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_requests_buyer_trgm'"
        ).first()
    engine.dispose()
