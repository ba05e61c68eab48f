"""Each dialog in a tiny host app, driven as a person drives it: keys, typing, clicks."""

from __future__ import annotations

from textual.geometry import Region
from textual.widgets import Input, Select, Static

from returns_tui import domain as d
from returns_tui.screens.confirm import ConfirmScreen
from returns_tui.screens.form import ErrorLine, NoteField
from returns_tui.screens.help import HelpScreen
from returns_tui.screens.mediate import NO_DECISION, MediateScreen
from returns_tui.screens.note import NoteScreen
from returns_tui.screens.records import RecordsScreen, Timeline, what_happened
from returns_tui.screens.reject import NO_REASON, RejectScreen
from tests.dialog_data import APPEALED, HOSTILE_NOTE, KEYS, LIFE, RECORDS, Host, screen_text

SIZE = (120, 36)
RULES = d.Rules()


def shown(widget) -> str:
    """The text a widget actually paints, line by line."""
    region = Region(0, 0, widget.outer_size.width, widget.outer_size.height)
    return "\n".join(strip.text for strip in widget.render_lines(region))


async def choose_reason(pilot, code: str) -> None:
    pilot.app.screen.query_one("#reason", Select).value = code
    await pilot.pause()


async def type_note(pilot, text: str) -> None:
    field = pilot.app.screen.query_one(NoteField)
    field.input.focus()
    field.input.value = text  # as a paste would: the Input itself sets no limit
    await pilot.pause()


# ---------------------------------------------------------------------------------------------
# Reject


async def test_reject_refuses_without_a_reason_and_stays_open():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await type_note(pilot, "no photo")
        await pilot.press("enter")
        assert isinstance(app.screen, RejectScreen)
        assert app.screen.error_text == NO_REASON
        assert app.results == []


async def test_reject_refuses_other_without_a_note():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "other")
        await type_note(pilot, "   ")
        await pilot.press("enter")
        assert isinstance(app.screen, RejectScreen)
        assert app.screen.error_text == "A note is required when the reason is 'other'."
        assert app.results == []


async def test_reject_refuses_a_501_character_note_and_the_counter_says_so():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "no_proof")
        await type_note(pilot, "x" * 501)
        field = app.screen.query_one(NoteField)
        assert field.counter_text == "501/500"
        assert field.query_one(".counter").has_class("over")
        await pilot.press("enter")
        assert isinstance(app.screen, RejectScreen)
        assert app.screen.error_text == "The note is 501 characters; at most 500 are allowed."
        # Back to 500: the counter and the check agree.
        field.input.value = "x" * 500
        await pilot.pause()
        assert field.counter_text == "500/500"
        assert app.screen.error_text == ""
        await pilot.press("enter")
        assert app.results == [("no_proof", "x" * 500)]


async def test_reject_submits_with_enter_after_typing_the_note():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "other")
        # Choosing a reason moves the focus to the note.
        assert isinstance(app.focused, Input)
        await pilot.press(*"agreed by phone")
        assert app.screen.query_one(NoteField).counter_text == "15/500"
        await pilot.press("enter")
        assert app.results == [("other", "agreed by phone")]
        assert not isinstance(app.screen, RejectScreen)


async def test_reject_picks_the_reason_with_the_keyboard():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")  # open the list
        await pilot.press("down", "enter")  # the first reason
        assert app.screen.query_one("#reason", Select).value == "no_proof"
        await pilot.press("enter")  # the note is focused; an empty note is fine here
        assert app.results == [("no_proof", "")]


async def test_reject_ctrl_s_and_the_button_submit_too():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "outside_policy")
        await pilot.press("ctrl+s")
        assert app.results == [("outside_policy", "")]
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "no_proof")
        await pilot.click("#reject")
        assert app.results == [("no_proof", "")]


async def test_reject_escape_cancels_with_none():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await choose_reason(pilot, "no_proof")
        await type_note(pilot, "half written")
        await pilot.press("escape")
        assert app.results == [None]


async def test_reject_escape_first_closes_an_open_reason_list():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert app.screen.query_one("#reason", Select).expanded
        await pilot.press("escape")
        assert isinstance(app.screen, RejectScreen)
        await pilot.press("escape")
        assert app.results == [None]


async def test_reject_lists_the_configured_reasons_as_text():
    rules = d.Rules(reasons={"no_proof": "No proof", "other": "[bold]Other[/] \x1b[2J"})
    app = Host(RejectScreen("R1", rules))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        overlay = app.screen.query_one("SelectOverlay")
        text = shown(overlay)
        assert "[bold]Other[/] ␛[2J" in text
        await pilot.press("escape", "escape")
        assert app.results == [None]


async def test_reject_says_which_reason_needs_a_note_by_its_configured_label():
    for reasons, hint in (
        ({"no_proof": "No proof", "other": "Autre"}, "(required for Autre; at most 500"),
        ({"no_proof": "No proof"}, "(at most 500"),
    ):
        app = Host(RejectScreen("R1", d.Rules(reasons=reasons)))
        async with app.run_test(size=SIZE):
            assert hint in screen_text(app)


def test_a_rejection_for_other_reads_as_just_that_in_the_records():
    # The dialog's hint that Other needs a note is not part of the reason itself.
    rec = d.Record(
        LIFE[0].at, "alice", d.Kind.REJECTED, d.Status.PENDING, d.Status.REJECTED,
        {"reason": "other", "note": "Sold out"},
    )  # fmt: skip
    assert what_happened(rec, RULES) == "rejected: Other"


# ---------------------------------------------------------------------------------------------
# Records


async def test_records_show_hostile_text_literally_and_clicking_it_does_nothing():
    app = Host(RecordsScreen("R100234", RECORDS, RULES, tz="UTC"))
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.screen.query_one(Timeline)
        painted = shown(timeline)
        assert painted.count("UTC   ") == 4  # the four entries
        assert "see [@click=app.quit]x[/] [bold] [00] ␛[31mred" in painted
        assert "\x1b" not in painted
        row = next(i for i, line in enumerate(painted.splitlines()) if "[@click" in line)
        await pilot.click(timeline)
        await pilot.click(timeline, offset=(20, row))  # on "[@click=app.quit]x"
        await pilot.pause()
        assert app.is_running
        assert isinstance(app.screen, RecordsScreen)


async def test_records_timeline_says_what_happened_in_words():
    app = Host(RecordsScreen("R1", RECORDS + LIFE[1:], RULES, tz="UTC"))
    async with app.run_test(size=SIZE):
        text = "\n".join(line.plain for line in app.screen.query_one(Timeline).lines)
        assert "2026-11-20 09:00 UTC" in text
        assert "rejected: No proof provided" in text
        assert "Note: No photo of the crack was attached." in text
        assert "pending → rejected" in text
        assert "auto-approved by the system (48 h passed)" in text
        assert "Tracking: 1Z999AA10123456784" in text
        assert "Buyer's note: cracked on arrival" in text


def test_what_happened_covers_every_kind():
    for kind in d.Kind:
        frm, to = next(iter(d.EDGES[kind]))
        rec = d.Record(LIFE[0].at, "x", kind, frm, to, {"decision": "seller"})
        assert what_happened(rec, RULES)
    rec = d.Record(
        LIFE[0].at, "system", d.Kind.EXPIRED, d.Status.AWAITING_BUYER_SHIP, d.Status.CANCELLED
    )
    assert what_happened(rec, RULES) == (
        "cancelled by the system: the item was not shipped within 5 days"
    )


async def test_records_close_with_escape_v_and_q():
    for key in ("escape", "v", "q"):
        app = Host(RecordsScreen("R1", LIFE, RULES, tz="UTC"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(key)
            assert app.results == [None], key


# ---------------------------------------------------------------------------------------------
# Note


async def test_note_requires_text_and_returns_it():
    app = Host(NoteScreen("R1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert app.screen.error_text == "A note of 1 to 500 characters is required."
        await type_note(pilot, "y" * 501)
        await pilot.press("enter")
        assert app.screen.error_text.startswith("The note is 501 characters")
        await type_note(pilot, "")
        await pilot.press(*"called the buyer")
        await pilot.press("enter")
        assert app.results == ["called the buyer"]


async def test_note_escape_cancels():
    app = Host(NoteScreen("R1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "escape")
        assert app.results == [None]


# ---------------------------------------------------------------------------------------------
# Mediate


async def test_mediate_shows_the_case():
    app = Host(MediateScreen(APPEALED, RECORDS, tz="UTC"))
    async with app.run_test(size=SIZE):
        case = shown(app.screen.query_one("#case", Static))
        assert "acme-home" in case
        assert "2026-11-20 10:30 UTC by alice: No proof provided" in case
        assert "No photo of the crack was attached." in case
        assert "Appealed" in case and "2026-11-20 12:00 UTC" in case
        assert "34.99 USD" in case


async def test_mediate_requires_a_decision_and_a_note():
    app = Host(MediateScreen(APPEALED, RECORDS, tz="UTC"))
    async with app.run_test(size=SIZE) as pilot:
        await type_note(pilot, "photo is clear")
        await pilot.press("enter")
        assert app.screen.error_text == NO_DECISION
        # The decision set has the focus again: down highlights, enter chooses.
        await pilot.press("enter")
        await type_note(pilot, "")
        await pilot.press("enter")
        assert app.screen.error_text == "A note of 1 to 500 characters is required."
        assert app.results == []
        await pilot.press(*"photo is clear", "enter")
        assert app.results == [("buyer", "photo is clear")]


async def test_mediate_for_the_seller_and_escape():
    app = Host(MediateScreen(APPEALED, RECORDS, tz="UTC"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "enter")
        await pilot.press(*"no proof", "ctrl+s")
        assert app.results == [("seller", "no proof")]
    app = Host(MediateScreen(APPEALED, RECORDS, tz="UTC"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        assert app.results == [None]


# ---------------------------------------------------------------------------------------------
# Confirm and help


async def test_confirm_returns_true_or_false():
    for keys, expected in (
        (["enter"], True),
        (["y"], True),
        (["escape"], False),
        (["n"], False),
        (["tab", "enter"], False),  # Enter on the focused Cancel button
    ):
        app = Host(ConfirmScreen("Accept R1?", "Refund 12.99 USD to [bold]Ana[/]", "Accept"))
        async with app.run_test(size=SIZE) as pilot:
            assert "Refund 12.99 USD to [bold]Ana[/]" in shown(app.screen.query_one("#body"))
            await pilot.press(*keys)
            assert app.results == [expected], keys


async def test_help_lists_the_keys_and_closes():
    for key in ("escape", "question_mark", "q"):
        app = Host(HelpScreen(KEYS))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one("#keys")
            assert table.row_count == len(KEYS)
            painted = shown(table)
            assert "Reject the request" in painted and "ctrl+q" in painted
            assert "48 h" in str(app.screen.query_one("#about", Static).content)
            await pilot.press(key)
            assert app.results == [None], key


async def test_error_line_is_never_markup():
    app = Host(NoteScreen("R1"))
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one(ErrorLine).show("[00] [bold]x")
        await pilot.pause()
        assert "[00] [bold]x" in shown(app.screen.query_one(ErrorLine))


async def test_long_help_and_long_history_keep_title_and_hint_on_screen():
    many_keys = [(f"k{i}", f"does thing {i}") for i in range(40)]
    many_records = RECORDS[:1] + [
        d.Record(
            RECORDS[0].at.add(minutes=i + 1),
            "sam",
            d.Kind.NOTED,
            d.Status.PENDING,
            d.Status.PENDING,
            {"note": f"note {i}"},
        )
        for i in range(40)
    ]
    for dialog, title, hint in (
        (HelpScreen(many_keys), "Help: tabs, deadlines and keys", "Esc, ? or q closes"),
        (RecordsScreen("R1", many_records, RULES, tz="UTC"), "41 records", "Esc, v or q closes"),
    ):
        for size in (SIZE, (100, 24)):
            app = Host(dialog.__class__(*dialog_args(dialog)))
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                text = screen_text(app)
                assert title in text and hint in text, (type(dialog).__name__, size)


def dialog_args(dialog):
    """The arguments a dialog was made with, to make a fresh one per run."""
    if isinstance(dialog, HelpScreen):
        return (dialog._keys,)
    return (dialog._request_id, dialog._records, dialog._rules, dialog._tz)


async def test_mediate_shows_hostile_buyer_text_literally():
    from dataclasses import replace

    request = replace(APPEALED, buyer_note=HOSTILE_NOTE, buyer="[b]Eve[/b]\u202e")
    app = Host(MediateScreen(request, RECORDS, tz="UTC"))
    async with app.run_test(size=SIZE) as pilot:
        case = shown(app.screen.query_one("#case", Static))
        assert "[@click=app.quit]x[/] [bold] [00] ␛[31mred" in case
        assert "[b]Eve[/b]<U+202E>" in case
        await pilot.click("#case")
        assert app.is_running and isinstance(app.screen, MediateScreen)


async def test_the_console_opens_mediate_with_the_markets_own_reason_labels(tmp_path):
    from tests.support.console import new_service, opened, opens, screen_text, seed, wait_for

    svc = new_service(f"sqlite:///{tmp_path / 'm.db'}")
    seed(svc)
    svc.rules = d.Rules(reasons={**d.Rules().reasons, "not_as_claimed": "Not what was claimed"})
    async with opened(svc, "sam") as (app, pilot):
        await pilot.press("6")
        await wait_for(pilot, lambda: app.main.tab is d.Tab.APPEALS and app.main.table.row_count)
        await opens(pilot, app, "m", "MediateScreen")
        await wait_for(pilot, lambda: "Not what was claimed" in screen_text(app))
    svc.engine.dispose()


async def test_reject_a_digit_chooses_a_reason_and_in_the_note_it_is_text():
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        select = app.screen.query_one("#reason", Select)
        assert select.value == list(RULES.reasons)[2] == "not_as_claimed"
        note = app.screen.query_one(NoteField).input
        assert note.has_focus  # as when chosen from the list: the note is next
        await pilot.press("8", "2")  # typed into the note, the reason stays
        assert note.value == "82" and select.value == "not_as_claimed"
        await pilot.press("enter")
        assert app.results == [("not_as_claimed", "82")]
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8", "enter")  # "Other" needs a note: refused, the dialog stays
        assert app.screen.query_one("#reason", Select).value == "other"
        assert app.results == [] and app.screen.error_text
    app = Host(RejectScreen("R1", RULES))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")  # opens the list: each reason shows its key
        assert "1 No proof provided" in screen_text(app)
        assert "8 Other" in screen_text(app)
