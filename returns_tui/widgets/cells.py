"""How one value of a request looks on screen. Every piece of outside text passes through
`plain()`: control characters made visible (textsafe) and wrapped in a rich Text, which no
widget parses as markup."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from pendulum import DateTime
from rich.text import Text

from returns_tui import domain as d
from returns_tui import labels
from returns_tui.money import format_amount
from returns_tui.textsafe import safe
from returns_tui.timefmt import countdown
from returns_tui.timefmt import seconds_between as seconds_left

WARNING_SECONDS = 24 * 3600
URGENT_SECONDS = 6 * 3600


def plain(value: object, style: str = "") -> Text:
    """Outside text as a Text: never markup, never a control sequence."""
    return Text(safe("" if value is None else str(value)), style=style, no_wrap=True)


# Every code on screen goes through labels.py: one word for a status, a type or a reason,
# the same as the command line's sentences.
status_label = labels.status
type_label = labels.request_type
reason_label = labels.buyer_reason

# An appeal's arbitration, as the detail panel says it after "arbitration".
_ARBITRATION = {
    d.Arbitration.IN_PROGRESS.value: "under way",
    d.Arbitration.SUPPORT_BUYER.value: "decided for the buyer",
    d.Arbitration.SUPPORT_SELLER.value: "decided for the seller",
}


def arbitration_label(code: object) -> str:
    return _ARBITRATION.get(str(code)) or labels.status(code)


def amount_text(cents: int, currency: str, width: int | None = None) -> Text:
    return plain(amount_in(cents, currency, width))


_SHORT = (("k", 3), ("M", 6), ("B", 9))


def amount_in(cents: int, currency: str, width: int | None = None) -> str:
    """The amount and its currency in at most `width` cells: in full when it fits, else in
    thousands, millions or billions with as many decimals as fit, rounded down (12345.67 USD
    in 11 cells reads 12.34k USD): never cut, so the currency is always there. Decimal
    throughout, never a float; the detail panel shows the amount in full."""
    full = f"{format_amount(cents, currency)} {currency}"
    if width is None or len(full) <= width:
        return full
    units = Decimal(cents).scaleb(-2)
    for suffix, power in _SHORT:
        scaled = units.scaleb(-power)
        if scaled >= 1000 and suffix != _SHORT[-1][0]:
            continue  # 1.23M reads better than 1234.56k
        for digits in (2, 1, 0):
            shown = scaled.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN)
            text = f"{shown}{suffix} {currency}"
            if len(text) <= width:
                return text
    return full


# The statuses whose deadline moves the request by itself, as a row holds them (text).
_TIMED = frozenset(s.value for s in d.TIMED_STATUSES)


def urgency(deadline: DateTime | None, now: DateTime) -> str:
    """'' , 'warning' (under 24 h) or 'urgent' (under 6 h, or past)."""
    if deadline is None:
        return ""
    left = seconds_left(deadline, now)
    if left < URGENT_SECONDS:
        return "urgent"
    if left < WARNING_SECONDS:
        return "warning"
    return ""


def countdown_text(
    deadline: DateTime | None,
    status: str,
    now: DateTime,
    styles: dict[str, str],
    *,
    superseded: bool = False,
) -> Text:
    """The time left as `47h 12m`. Coloured by urgency where the request moves by itself when
    it runs out and the seller must act first ("due" once past, until the sweep moves it);
    dim where the clock is the buyer's: an offer's offer_by (it lapses by itself, but the
    buyer answers it), and a rejection's window, the buyer's to appeal or ask again, unless a
    later request on its order superseded it (the buyer can no longer act on it); a dash
    otherwise."""
    if deadline is not None:
        left = seconds_left(deadline, now)
        if status == d.Status.AWAITING_BUYER_RESPONSE:
            return Text(countdown(left), style="dim")
        if status in _TIMED:
            return Text(countdown(left), style=styles.get(urgency(deadline, now), ""))
        if status == d.Status.REJECTED and left > 0 and not superseded:
            return Text(countdown(left), style="dim")
    return Text("—", style="dim")
