"""Money as integer hundredths and Decimal strings, never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from returns_tui.errors import Refused

# ISO 4217 currencies without minor units; every other currency is taken to have two.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
# ASCII only: `\d` alone would also take Arabic-Indic or full-width digits ("١٢" -> 12.00).
_AMOUNT_RE = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,2}))?")


def minor_digits(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 2


def parse_amount(text: Any, currency: str) -> int:
    """A positive decimal string with at most two decimals (and no more than the currency
    has) to integer hundredths. Numbers are refused: JSON floats cannot hold money exactly."""
    if not isinstance(text, str) or not (m := _AMOUNT_RE.fullmatch(text)):
        raise Refused("The amount must be a positive decimal string with at most two decimals.")
    whole, frac = m.group(1), m.group(2) or ""
    if frac.strip("0") and len(frac) > minor_digits(currency):
        raise Refused(f"{currency} amounts have no minor units; {text} is not one.")
    cents = int(whole) * 100 + int(frac.ljust(2, "0"))
    if cents <= 0:
        raise Refused("The amount must be more than zero.")
    return cents


def format_amount(cents: int, currency: str) -> str:
    """Integer hundredths as a decimal string with the currency's minor digits ("12.99")."""
    value = Decimal(cents).scaleb(-2)
    digits = minor_digits(currency)
    return f"{value:.{digits}f}"


def grouped_amount(cents: int, currency: str) -> str:
    """format_amount with its thousands grouped, for people to read ("15,756,515.32"); files
    and the command line keep format_amount's plain decimal."""
    value = Decimal(cents).scaleb(-2)
    return f"{value:,.{minor_digits(currency)}f}"
