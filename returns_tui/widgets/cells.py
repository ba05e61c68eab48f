"""How one value of a request looks on screen. Every piece of outside text passes through
`plain()`: control characters made visible (textsafe) and wrapped in a rich Text, which no
widget parses as markup."""

from __future__ import annotations

from pendulum import DateTime
from rich.text import Text

from returns_tui import domain as d
from returns_tui.money import format_amount
from returns_tui.textsafe import safe
from returns_tui.timefmt import countdown
from returns_tui.timefmt import seconds_between as seconds_left

WARNING_SECONDS = 24 * 3600
URGENT_SECONDS = 6 * 3600

TYPE_LABELS = {"refund": "refund only", "return_and_refund": "return+refund"}


def plain(value: object, style: str = "") -> Text:
    """Outside text as a Text: never markup, never a control sequence."""
    return Text(safe("" if value is None else str(value)), style=style, no_wrap=True)


_STATUS_LABELS = {"awaiting_buyer_ship": "awaiting shipment"}


def status_label(status: str) -> str:
    return _STATUS_LABELS.get(str(status), str(status).replace("_", " "))


def type_label(kind: str) -> str:
    return TYPE_LABELS.get(str(kind), str(kind))


def amount_text(cents: int, currency: str) -> Text:
    return plain(f"{format_amount(cents, currency)} {currency}")


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
    deadline: DateTime | None, status: str, now: DateTime, styles: dict[str, str]
) -> Text:
    """The time left as `47h 12m`. Coloured by urgency where the request moves by itself when
    it runs out ("due" once past, until the sweep moves it); dim for a rejection, whose window
    is the buyer's to appeal or ask again, not the seller's to answer; a dash otherwise."""
    if deadline is not None:
        left = seconds_left(deadline, now)
        if status in _TIMED:
            return Text(countdown(left), style=styles.get(urgency(deadline, now), ""))
        if status == d.Status.REJECTED and left > 0:
            return Text(countdown(left), style="dim")
    return Text("—", style="dim")
