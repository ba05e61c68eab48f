"""Offer a partial refund (DESIGN §7): an amount below the one asked, checked before it closes.

It dismisses with the amount as typed (a decimal string, which the services parse again) or
None. The check is the domain's `check_offer_amount`, the very one the service applies.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from returns_tui.domain import check_offer_amount
from returns_tui.errors import Refused
from returns_tui.money import format_amount, minor_digits
from returns_tui.screens.form import ErrorLine, FormDialog
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.safe_input import SafeInput


class OfferScreen(FormDialog[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Offer"),
    ]

    def __init__(self, request_id: str, asked_cents: int, currency: str) -> None:
        super().__init__()
        self._request_id = request_id
        self._asked_cents = asked_cents
        self._currency = currency

    def compose(self) -> ComposeResult:
        currency = safe(self._currency, single_line=True)
        asked = f"{format_amount(self._asked_cents, self._currency)} {currency}"
        digits = minor_digits(self._currency)
        form = "a whole number" if digits == 0 else f"at most {digits} decimals"
        with Vertical(id="dialog"):
            yield Static(
                f"Offer a partial refund on {safe(self._request_id)}",
                classes="dialog-title",
                markup=False,
            )
            yield Static(
                f"The buyer asked for {asked}. If they agree they are refunded the offer and "
                "keep the item; if they decline or do not answer in time, you answer the "
                "request again. One offer per request.",
                id="asked",
                classes="facts",
                markup=False,
            )
            yield Label(
                f"Amount in {currency} (more than zero, below {asked}, {form})",
                classes="field-label",
                markup=False,
            )
            yield SafeInput(placeholder="e.g. 5.00", id="amount")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Offer", variant="primary", id="offer")
                yield Button("Cancel", id="cancel")
            yield Static("Enter or ctrl+s offers · Esc cancels", classes="hint", markup=False)

    def on_mount(self) -> None:
        focus_now(self.query_one("#amount", Input))

    @on(Input.Submitted)
    @on(Button.Pressed, "#offer")
    def action_submit(self) -> None:
        field = self.query_one("#amount", Input)
        text = field.value.strip()
        try:
            check_offer_amount(text, self._asked_cents, self._currency)
        except Refused as exc:
            self.query_one(ErrorLine).show(safe(exc.message))
            focus_now(field)
            return
        self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
