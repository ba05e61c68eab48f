"""The console's filters (DESIGN §10): which requests of a tab to show, beside the search.

A `Narrowing` is a plain value: the shop, type, reason and currency asked for, an amount
range in minor units, "due within N hours" and "handled by me". `narrowing_from_text` reads
what a person typed into one, or refuses in one sentence; the store turns it into SQL
(store/queries.py), the console shows it in the status line (`describe`). No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from returns_tui.domain import RequestType, storable
from returns_tui.errors import Refused
from returns_tui.money import format_amount, minor_digits
from returns_tui.textsafe import safe

# The longest "due within" a person may ask for: a year of hours (a deadline is never further).
DUE_HOURS_MAX = 24 * 366
_AMOUNT = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,2}))?")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Narrowing:
    """Filters on a tab; None (or False) is "any". Amounts are minor units (hundredths, as the
    requests store them), both bounds included."""

    shop: str | None = None
    type: str | None = None
    reason: str | None = None
    currency: str | None = None
    min_cents: int | None = None
    max_cents: int | None = None
    due_hours: int | None = None
    mine: bool = False

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) not in (None, False) for f in fields(self))

    def describe(self) -> str:
        """The filters as the status line says them, each value made safe to show:
        `shop acme · refund · reason damaged · ≤ 10.00 USD · due in 6h · mine`."""
        cur = self.currency or ""
        parts = []
        if self.shop is not None:
            parts.append(f"shop {safe(self.shop)}")
        if self.type is not None:
            parts.append(safe(self.type.replace("_", " ")))
        if self.reason is not None:
            parts.append(f"reason {safe(self.reason)}")
        if self.currency is not None and self.min_cents is None and self.max_cents is None:
            parts.append(safe(self.currency))
        if self.min_cents is not None or self.max_cents is not None:
            parts.append(_range_text(self.min_cents, self.max_cents, cur))
        if self.due_hours is not None:
            parts.append(f"due in {self.due_hours}h")
        if self.mine:
            parts.append("mine")
        return " · ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, for a saved view (store order; no None: TOML has none)."""
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_dict(cls, data: Any) -> Narrowing:
        """A saved view's filters, checked as they would be typed (the file may be edited)."""
        if not isinstance(data, dict):
            raise Refused("A view's filters must be a table of names and values.")
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(data) - known):
            raise Refused(f"A view's filters have no {', '.join(unknown)}.")
        cur = data.get("currency")
        minimum, maximum = data.get("min_cents"), data.get("max_cents")
        for name in ("min_cents", "max_cents", "due_hours"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise Refused(f"A view's {name} must be a whole number.")
        return narrowing_from_text(
            shop=_text(data.get("shop")),
            type=_text(data.get("type")),
            reason=_text(data.get("reason")),
            currency=_text(cur),
            min_amount="" if minimum is None else format_amount(minimum, "XXX"),
            max_amount="" if maximum is None else format_amount(maximum, "XXX"),
            due_hours="" if data.get("due_hours") is None else str(data["due_hours"]),
            mine=data.get("mine") is True,
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused("A view's shop, type, reason and currency must be text.")
    return value


def _range_text(low: int | None, high: int | None, currency: str) -> str:
    unit = f" {safe(currency)}" if currency else ""

    def amount(cents: int) -> str:
        return format_amount(cents, currency or "XXX")

    if low is not None and high is not None:
        return f"{amount(low)}–{amount(high)}{unit}"
    if low is not None:
        return f"≥ {amount(low)}{unit}"
    return f"≤ {amount(high)}{unit}"  # type: ignore[arg-type]


def amount_bound(text: str, currency: str | None, which: str) -> int | None:
    """A bound of the amount range typed as a decimal string (`10`, `9.99`, `0`) to minor
    units; "" is no bound. More decimals than the currency has are refused (`10.5` JPY)."""
    text = text.strip()
    if not text:
        return None
    if not (m := _AMOUNT.fullmatch(text)):
        raise Refused(
            f"The {which} amount must be a decimal number with at most two decimals, like 10.00."
        )
    frac = m.group(2) or ""
    if currency and frac.strip("0") and len(frac) > minor_digits(currency):
        raise Refused(f"{currency} amounts have no minor units; {text} is not one.")
    return int(m.group(1)) * 100 + int(frac.ljust(2, "0"))


def narrowing_from_text(
    *,
    shop: str = "",
    type: str = "",  # noqa: A002 - the request's field
    reason: str = "",
    currency: str = "",
    min_amount: str = "",
    max_amount: str = "",
    due_hours: str = "",
    mine: bool = False,
    shops: frozenset[str] | None = None,
) -> Narrowing:
    """The filters as typed in the filter dialog; a blank field is "any". Refused, in one
    sentence, when a value cannot be one, or names a shop outside the viewer's `shops` (None:
    every shop), which would only ever show nothing."""
    shop, reason, currency = shop.strip(), reason.strip(), currency.strip().upper()
    kind = type.strip().replace(" ", "_").lower()
    for label, value in (("shop", shop), ("reason", reason)):
        if value and (not storable(value) or len(value) > 200):
            raise Refused(f"The {label} cannot be {safe(value[:40])!r}.")
    if shop and shops is not None and shop not in shops:
        yours = ", ".join(safe(s) for s in sorted(shops)) or "none"
        raise Refused(f"{safe(shop[:40])!r} is not one of your shops ({yours}).")
    if kind and kind not in {t.value for t in RequestType}:
        raise Refused("The type must be refund or return_and_refund.")
    if currency and not _CURRENCY.fullmatch(currency):
        raise Refused("The currency must be three letters, like USD.")
    low = amount_bound(min_amount, currency or None, "lowest")
    high = amount_bound(max_amount, currency or None, "highest")
    if low is not None and high is not None and low > high:
        raise Refused("The lowest amount must not be above the highest.")
    hours = None
    if due_hours.strip():
        text = due_hours.strip()
        if not text.isascii() or not text.isdigit() or not 0 < int(text) <= DUE_HOURS_MAX:
            raise Refused(f"Due within must be a whole number of hours, 1 to {DUE_HOURS_MAX}.")
        hours = int(text)
    return Narrowing(
        shop=shop or None,
        type=kind or None,
        reason=reason or None,
        currency=currency or None,
        min_cents=low,
        max_cents=high,
        due_hours=hours,
        mine=mine,
    )
