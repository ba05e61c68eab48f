"""The console's part of issue 13 (DESIGN §7): `o` offers a partial refund, `x` rejects a
returned package, the accept question of a return lets the buyer keep the item, and an offer
out shows the buyer's clock dimmed, its deadline in the detail and its records in words."""

from __future__ import annotations

import pytest
from rich.text import Text

from returns_tui import domain as d
from returns_tui.roles import BUYER
from returns_tui.screens.offer import OfferScreen
from returns_tui.screens.records import what_happened
from returns_tui.widgets.cells import countdown_text
from returns_tui.widgets.detail import DetailPanel
from tests.dialog_data import Host
from tests.support.console import (
    HOSTILE,
    NOW,
    FakeClock,
    new_service,
    opened,
    opens,
    screen_text,
    submit,
    wait_for,
)

S = d.Status
STYLES = {"warning": "bold yellow", "urgent": "bold reverse red"}


@pytest.fixture
def svc(tmp_path):
    service = new_service(f"sqlite:///{tmp_path / 'decisions.db'}")
    yield service
    service.engine.dispose()


async def _type(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch)


async def test_o_offers_a_partial_refund_once_the_dialog_takes_the_amount(svc):
    submit(svc, "R1", NOW.subtract(hours=1), amount="20.00")
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        dialog = await opens(pilot, app, "o", "OfferScreen")
        assert isinstance(dialog, OfferScreen)
        assert "The buyer asked for 20.00 USD" in screen_text(app)
        refusals = {
            "20.00": "below the amount asked (20.00 USD); 20.00 is not",
            "25": "below the amount asked",
            "0": "more than zero",
            "5.001": "at most two decimals",
            "-3": "positive decimal string",
        }
        for typed, said in refusals.items():
            dialog.query_one("#amount").value = ""
            await _type(pilot, typed)
            await pilot.press("enter")
            await wait_for(pilot, lambda said=said: said in dialog.error_text, what=said)
            assert app.screen is dialog
            # Refused in the dialog: nothing reached the database.
            assert svc.get(svc.login("alice"), "R1").status is S.PENDING
        dialog.query_one("#amount").value = ""
        await _type(pilot, "5.50")
        assert dialog.error_text == ""  # an edit clears the refusal
        await pilot.press("enter")

        def offered() -> bool:
            return svc.get(svc.login("alice"), "R1").status is S.AWAITING_BUYER_RESPONSE

        await wait_for(pilot, offered, what="the offer")
        req = svc.get(svc.login("alice"), "R1")
        assert req.offer_cents == 550
        said = "R1 offered a partial refund; the buyer answers."
        await wait_for(
            pilot, lambda: any(said == str(n.message) for n in app._notifications), what=said
        )


async def test_the_offer_dialog_refuses_minor_units_a_currency_has_not():
    app = Host(OfferScreen("R1", 1000_00, "JPY"))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type(pilot, "5.5")
        await pilot.press("enter")
        assert "JPY amounts have no minor units" in app.dialog.error_text
        assert app.results == []
        app.dialog.query_one("#amount").value = "500"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.results == ["500"], what="the answer")


async def test_o_on_a_request_past_pending_says_why_and_opens_nothing(svc):
    submit(svc, "R1", NOW.subtract(hours=1), kind="return_and_refund")
    svc.accept(svc.login("alice"), "R1", NOW.subtract(minutes=30))
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        await pilot.press("o")
        await wait_for(pilot, lambda: app._notifications, what="the refusal")
        assert type(app.screen).__name__ == "ConsoleScreen"


async def test_x_rejects_a_returned_package_with_a_receipt_reason_and_a_note(svc):
    submit(svc, "R1", NOW.subtract(hours=20), kind="return_and_refund")
    svc.accept(svc.login("alice"), "R1", NOW.subtract(hours=19))
    svc.ship(BUYER, "R1", NOW.subtract(hours=10), "1ZTRACK")
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        dialog = await opens(pilot, app, "x", "RejectScreen")
        text = screen_text(app)
        assert "Reject the returned package of R1" in text
        assert "Note to the buyer (required; at most 500 characters)" in text
        await pilot.press("2")  # the second receipt reason
        await pilot.press("enter")  # in the note, empty: refused, as the service would
        await wait_for(pilot, lambda: "A note of 1 to 500" in dialog.error_text, what="refusal")
        await _type(pilot, "Worn")
        await pilot.press("enter")

        def rejected() -> bool:
            return svc.get(svc.login("alice"), "R1").status is S.REJECTED

        await wait_for(pilot, rejected, what="the rejection")
        last = svc.records(svc.login("alice"), "R1")[-1]
        assert last.kind is d.Kind.RECEIPT_REJECTED
        assert last.details == {"reason": "item_used_or_damaged", "note": "Worn"}


async def test_the_accept_question_of_a_return_lets_the_buyer_keep_the_item(svc):
    submit(svc, "R1", NOW.subtract(hours=1), kind="return_and_refund", amount="30.00")
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        dialog = await opens(pilot, app, "a", "ConfirmScreen")
        assert "Refund, buyer keeps it" in screen_text(app)
        assert dialog.query("#extra")
        await pilot.press("k")

        def done() -> bool:
            return svc.get(svc.login("alice"), "R1").status is S.COMPLETED

        await wait_for(pilot, done, what="the refund")
        req = svc.get(svc.login("alice"), "R1")
        assert (req.keep_item, req.refund_cents) == (True, 3000)


async def test_the_accept_question_of_a_refund_has_no_third_answer(svc):
    submit(svc, "R1", NOW.subtract(hours=1), kind="refund")
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        dialog = await opens(pilot, app, "a", "ConfirmScreen")
        assert not dialog.query("#extra")
        await pilot.press("k")  # not this dialog's key: nothing happens
        await pilot.pause(0.1)
        assert app.screen is dialog
        assert svc.get(svc.login("alice"), "R1").status is S.PENDING


def test_an_offers_deadline_is_dim_as_the_buyers_clock_whatever_its_urgency():
    for hours in (40, 3):  # neither amber nor red: the seller has nothing to do
        text = countdown_text(NOW.add(hours=hours), "awaiting_buyer_response", NOW, STYLES)
        assert str(text.style) == "dim", (hours, text)
    pending = countdown_text(NOW.add(hours=3), "pending", NOW, STYLES)
    assert str(pending.style) == STYLES["urgent"]


async def test_an_offer_out_shows_its_deadline_dimmed_in_words_and_its_records(svc):
    submit(svc, "R1", NOW.subtract(hours=2), amount="20.00")
    svc.offer(svc.login("alice"), "R1", NOW.subtract(hours=1), "7.25")
    offer_by = svc.get(svc.login("alice"), "R1").offer_by
    async with opened(svc, "alice", FakeClock()) as (app, pilot):
        screen = app.main
        cell = screen.table.get_cell("R1", "due")
        assert isinstance(cell, Text) and "dim" in str(cell.style), cell
        panel = screen.query_one(DetailPanel)
        await wait_for(pilot, lambda: panel.detail is not None, what="the detail")
        detail = panel._render_detail(NOW).plain
        assert f"Buyer answers the offer by {offer_by.format('YYYY-MM-DD HH:mm')}" in detail
        assert "lapses then" in detail and "offer 7.25 USD" in detail
        await opens(pilot, app, "v", "RecordsScreen")
        assert "offered a partial refund of 7.25 USD" in screen_text(app)


def test_the_records_say_each_step_of_an_offer_and_a_receipt_rejection():
    rules = d.Rules()

    def said(kind: d.Kind, **details) -> str:
        rec = d.Record(NOW, "alice", kind, S.PENDING, S.PENDING, details)
        return what_happened(rec, rules, "EUR")

    assert said(d.Kind.OFFERED, amount="5.00") == "offered a partial refund of 5.00 EUR"
    assert said(d.Kind.AGREED, amount="5.00").startswith("offer agreed to by the buyer: 5.00 EUR")
    assert said(d.Kind.DECLINED).startswith("offer declined by the buyer")
    assert said(d.Kind.OFFER_LAPSED).startswith("offer left unanswered (48 h passed)")
    assert said(d.Kind.RECEIPT_REJECTED, reason="empty_package", note="x") == (
        "returned package rejected at receipt: Empty package"
    )
    # Data stays data: an amount from a record is never markup nor a control sequence.
    hostile = said(d.Kind.OFFERED, amount=HOSTILE)
    assert "\x1b" not in hostile


async def test_o_and_x_give_way_in_the_footer_before_the_older_keys(svc):
    """At 120 columns the footer had just room for the keys before §7: o and x give way
    first (they stay in help and the palette), and show when the terminal is wide enough."""
    from textual.widgets._footer import FooterKey

    submit(svc, "R1", NOW.subtract(hours=1))

    def on_screen(app, width: int) -> list[str]:
        return [
            key.key_display
            for key in app.screen.query(FooterKey)
            if key.display and key.region.width and key.region.right <= width
        ]

    async with opened(svc, "alice", FakeClock(), size=(120, 36)) as (app, pilot):
        await wait_for(pilot, lambda: "^q" in on_screen(app, 120), what="^q at 120 columns")
        shown = on_screen(app, 120)
        assert {"a", "r", "v", "c", "n", "/", "s", "␣", "i", "?", "^q"} <= set(shown), shown
        assert "o" not in shown and "x" not in shown, shown
        await pilot.resize_terminal(200, 36)
        await wait_for(pilot, lambda: "x" in on_screen(app, 200), what="x at 200 columns")
        assert {"o", "x", "A", "?", "^q"} <= set(on_screen(app, 200))
        keys = [key for key, _ in app.main.key_rows()]
        assert "o" in keys and "x" in keys  # in help at every width
