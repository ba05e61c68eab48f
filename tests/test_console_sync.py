"""The console's side of the marketplace sync (DESIGN §8): a synced request is marked in the
table, shows "sending" while its decision waits in the outbox, the operator is told when the
marketplace refused their decision (a toast and the detail, the message as data), the reject
dialog offers the marketplace's reasons, and the records view shows evidence as terminal
hyperlinks that data cannot turn into markup or control sequences."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from returns_tui import domain as d
from returns_tui.screens.records import record_text, what_happened
from returns_tui.screens.reject import RejectScreen
from returns_tui.store.queries import Sort
from returns_tui.sync.ledger import Ledger
from returns_tui.sync.values import MarketRecord, MarketReturn
from returns_tui.textsafe import safe
from returns_tui.widgets.sync_marks import SYNC_GLYPH, web_link
from tests.support.console import (
    HOSTILE,
    NOW,
    FakeClock,
    new_service,
    opened,
    opens,
    row_text,
    screen_text,
    submit,
    toasts,
    wait_for,
)

S = d.Status
REASONS = [("reverse_reject_request_reason_2", "Item not returned in time"),
           ("reverse_reject_request_reason_5", "Buyer's evidence is not valid")]  # fmt: skip


@pytest.fixture
def svc(tmp_path):
    service = new_service(f"sqlite:///{tmp_path / 'sync.db'}")
    yield service
    service.engine.dispose()


@pytest.fixture
def ledger(svc) -> Ledger:
    return Ledger(svc, clock=lambda: NOW.add(minutes=5))


def market(rid: str = "M1", **over) -> MarketReturn:
    fields = dict(
        shop="acme", return_id=rid, order_id="MO-" + rid, type="return_and_refund",
        amount_cents=2599, currency="USD", reason="damaged", product="Teapot", sku="TEA-1",
        quantity=1, buyer="buyer-77", created_at=NOW.subtract(hours=2),
        updated_at=NOW.subtract(hours=1), raw_status="RETURN_OR_REFUND_REQUEST_PENDING",
        arbitration_status=None, status="pending", reject_stage=None,
        respond_by=NOW.add(hours=40), can_buyer_keep_item=True, is_quick_refund=False,
        offer_cents=None, refund_cents=None,
    )  # fmt: skip
    fields.update(over)
    return MarketReturn(**fields)


def evidence_record(*images: str) -> MarketRecord:
    return MarketRecord(
        event="BUYER_UPLOAD_EVIDENCE", role="BUYER", description="Photo of the crack",
        reason_text="", note="", images=images, videos=("https://v.example/clip.mp4",),
        at=NOW.subtract(hours=1),
    )  # fmt: skip


def test_a_synced_request_is_marked_and_shows_sending_while_its_decision_waits(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    submit(svc, "L1", NOW.subtract(hours=1))
    rows = {row.id: row for row in svc.page(svc.login("alice"), d.Tab.ALL, Sort.DEADLINE)}
    assert (rows["M1"].source, rows["M1"].sending) == ("marketplace", 0)
    assert (rows["L1"].source, rows["L1"].sending) == ("local", 0)
    svc.accept(svc.login("alice"), "M1", NOW)
    rows = {row.id: row for row in svc.page(svc.login("alice"), d.Tab.ALL, Sort.DEADLINE)}
    assert rows["M1"].sending == 1


async def test_the_table_marks_synced_rows_and_says_sending(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    submit(svc, "L1", NOW.subtract(hours=1))
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        await wait_for(pilot, lambda: "M1" in app.main.table.ids, what="M1")
        m1, l1 = row_text(app, "M1"), row_text(app, "L1")
        assert SYNC_GLYPH + "M1" in m1 and SYNC_GLYPH not in "".join(l1)
        assert "pending" in m1 and not any("sending" in cell for cell in m1)
        svc.accept(svc.login("alice"), "M1", NOW)  # another console's decision
        await wait_for(pilot, lambda: "sending (pending)" in row_text(app, "M1"),
                       what="sending in the row")  # fmt: skip
        app.main.table.move_cursor(row=app.main.table.ids.index("M1"))
        await wait_for(pilot, lambda: "sending accept by alice" in screen_text(app),
                       what="sending in the detail")  # fmt: skip
        assert "marketplace RETURN_OR_REFUND_REQUEST_PENDING" in screen_text(app)


async def test_the_operator_is_told_when_the_marketplace_refused_their_decision(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        await wait_for(pilot, lambda: app.main._refusal_mark is not None, what="the mark")
        svc.accept(svc.login("alice"), "M1", NOW)
        (out,) = ledger.outbox("acme")
        ledger.refused(out.id, "Cannot approve: " + HOSTILE, None)
        said = safe("The marketplace refused alice's accept of M1: Cannot approve: " + HOSTILE)
        await wait_for(pilot, lambda: said in toasts(app), what="the refusal's toast")
        assert not any("\x1b" in t for t in toasts(app))
        assert toasts(app).count(said) == 1
        await wait_for(pilot, lambda: "refused at" in screen_text(app), what="the detail")
        assert "\x1b" not in screen_text(app)
        assert "[@click=app.quit]x[/]" in screen_text(app)  # shown as text, not markup
        assert "sending" not in "".join(row_text(app, "M1"))


async def test_bob_is_not_told_of_alices_refusal(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    async with opened(svc, "bob", FakeClock()) as (app, pilot):
        await wait_for(pilot, lambda: app.main._refusal_mark is not None, what="the mark")
        svc.accept(svc.login("alice"), "M1", NOW)
        (out,) = ledger.outbox("acme")
        ledger.refused(out.id, "no", None)
        await wait_for(pilot, lambda: "refused at" in screen_text(app), what="the detail")
        assert not any("refused" in t for t in toasts(app))


async def test_the_reject_dialog_offers_the_marketplaces_reasons(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    ledger.store_reasons("M1", "request", REASONS)
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        dialog = await opens(pilot, app, "r", "RejectScreen")
        assert isinstance(dialog, RejectScreen)
        shown = screen_text(app)
        assert "the marketplace's reasons" in shown
        await pilot.press("2")
        await wait_for(pilot, lambda: "Buyer's evidence is not valid" in screen_text(app),
                       what="the chosen reason")  # fmt: skip
        assert "No proof provided" not in screen_text(app)  # not our list
        for ch in "blurry":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(ledger.outbox("acme")), what="the outbox")
        (out,) = ledger.outbox("acme")
        assert out.body == {"decision": "REJECT_RETURN", "reject_reason": REASONS[1][0],
                            "comment": "blurry"}  # fmt: skip
        said = "M1: the reject is being sent to the marketplace; its answer shows here."
        await wait_for(pilot, lambda: said in toasts(app), what="the sending toast")
        assert not any("rejected" in t for t in toasts(app))  # not done until it answers


async def test_without_the_marketplaces_reasons_the_reject_dialog_says_why(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        await pilot.press("r")
        await wait_for(pilot, lambda: any("not been fetched" in t for t in toasts(app)),
                       what="the refusal")  # fmt: skip
        assert type(app.screen).__name__ == "ConsoleScreen"


async def test_x_on_a_synced_package_offers_the_marketplaces_receipt_reasons(svc, ledger):
    shipped = market(raw_status="BUYER_SHIPPED_ITEM", status="buyer_shipped", refund_cents=2599)
    ledger.bring_in("acme", [(shipped, [])])
    ledger.store_reasons("M1", "receipt", [("reverse_reject_receipt_1", "Package is empty")])
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        await opens(pilot, app, "x", "RejectScreen")
        assert "returned package of M1 (the marketplace's reasons)" in screen_text(app)
        await pilot.press("1")
        await wait_for(pilot, lambda: "Package is empty" in screen_text(app), what="the reason")
        await pilot.press("enter")  # a note is required at receipt
        await wait_for(pilot, lambda: "note" in app.screen.error_text, what="the note's refusal")
        for ch in "empty":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(ledger.outbox("acme")), what="the outbox")
        assert ledger.outbox("acme")[0].body == {
            "decision": "REJECT_RECEIVED_PACKAGE", "reject_reason": "reverse_reject_receipt_1",
            "comment": "empty"}  # fmt: skip


def test_the_detail_drops_a_refusal_once_someone_decided_again(svc, ledger):
    from returns_tui.console_data import load_detail

    ledger.bring_in("acme", [(market(), [])])
    alice = svc.login("alice")
    svc.accept(alice, "M1", NOW)
    ledger.refused(ledger.outbox("acme")[0].id, "try later", None)
    detail = load_detail(svc, alice, "M1", NOW)
    assert detail.refusal is not None and detail.refusal.message == "try later"
    svc.note(alice, "M1", NOW.add(minutes=10), "will retry")
    assert load_detail(svc, alice, "M1", NOW).refusal is not None  # a note decides nothing
    svc.accept(alice, "M1", NOW.add(minutes=11))
    ledger.sent(ledger.outbox("acme")[0].id, (market(raw_status="AWAITING_BUYER_SHIP",
                status="awaiting_buyer_ship", respond_by=None, updated_at=NOW), []))  # fmt: skip
    detail = load_detail(svc, alice, "M1", NOW)
    assert (detail.refusal, detail.sending) == (None, None)


async def test_the_accept_question_offers_keep_item_only_when_the_marketplace_allows(
    svc, ledger
):
    from returns_tui import actions

    ledger.bring_in("acme", [(market("M1", can_buyer_keep_item=False), []),
                             (market("M2", created_at=NOW.subtract(hours=3)), [])])  # fmt: skip
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        for rid, offered in (("M1", False), ("M2", True)):
            app.main.table.move_cursor(row=app.main.table.ids.index(rid))
            await opens(pilot, app, "a", "ConfirmScreen")
            assert (actions.KEEP_ITEM_LABEL in screen_text(app)) is offered, rid
            await pilot.press("escape")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConsoleScreen",
                           what="the console")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Evidence links


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://img.example/a.jpg", True),
        ("http://img.example/a.jpg?size=2&x=[b]", True),
        ("HTTPS://IMG.EXAMPLE/A.JPG", True),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("https:///no-host", False),
        ("https://x.example/\x1b]8;;https://evil.example\x1b\\", False),
        ("https://x.example/\x07", False),
        ("https://x.example/a b", False),
        ("https://x.example/é", False),
        ("https://x.example/" + "a" * 2000, False),
        ("", False),
        (None, False),
        (["https://x.example"], False),
    ],
)  # fmt: skip
def test_only_plain_web_addresses_become_links(url, ok):
    assert (web_link(url) is not None) is ok


def test_the_records_view_links_evidence_and_nothing_from_data_escapes(svc, ledger):
    bad = "https://x.example/\x1b]8;;https://evil.example\x1b\\"
    good = "https://img.example/a.jpg?x=[b]bold[/b]"
    ledger.bring_in("acme", [(market(), [evidence_record(good, bad, "javascript:alert(1)")])])
    recs = svc.records(svc.login("alice"), "M1")
    text = record_text(recs[1], svc.rules, "UTC", "USD")
    assert "on the marketplace: BUYER_UPLOAD_EVIDENCE (BUYER): Photo of the crack" in text.plain
    links = [span.style.link for span in text.spans if getattr(span.style, "link", None)]
    assert links == [good, "https://v.example/clip.mp4"]
    assert "\x1b" not in text.plain
    assert "(not a web link)" in text.plain
    # As a terminal draws it: one OSC 8 hyperlink per good address, none from the bad one.
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="truecolor", width=200).print(text)
    drawn = out.getvalue()
    assert drawn.count("\x1b]8;id=") == 2
    assert drawn.count("\x1b]8;") == 4  # each link opened and closed, no other
    assert "\x1b]8;;https://evil" not in drawn and "evil.example\x1b" not in drawn
    assert "␛]8;;https://evil.example␛" in drawn  # the bad one shown, made visible
    assert "[b]bold[/b]" in text.plain  # the brackets are text, never markup


def test_the_records_view_says_what_the_marketplace_did(svc, ledger):
    ledger.bring_in("acme", [(market(), [])])
    ledger.store_reasons("M1", "request", REASONS)
    svc.reject(svc.login("alice"), "M1", NOW, REASONS[0][0], "late")
    (out,) = ledger.outbox("acme")
    ledger.refused(out.id, "Not allowed \x1b[2J", (market(raw_status="AWAITING_BUYER_SHIP",
                   status="awaiting_buyer_ship", respond_by=None, updated_at=NOW), []))  # fmt: skip
    recs = svc.records(svc.login("alice"), "M1")
    words = [what_happened(r, svc.rules) for r in recs]
    assert words[0] == "brought in from the marketplace (RETURN_OR_REFUND_REQUEST_PENDING)"
    assert words[1] == "The marketplace refused alice's reject of this request: Not allowed ␛[2J"
    assert words[2] == "moved on the marketplace (AWAITING_BUYER_SHIP)"
    plain = "".join(record_text(r, svc.rules).plain for r in recs)
    assert "\x1b" not in plain and "Decision: for the" not in plain
    assert isinstance(record_text(recs[1], svc.rules), Text)
