"""Facets: a request's shop, reason, currency, type and amount, written into its entry of the
SQLite search index beside its search_text (migration 0016), so that a search with those
filters asks the index for them too and reads fewer candidates: at 1M, "lima" has 25 209,
"lima" in JPY 2 536. A facet is two trigrams (an amount range: one of a few), where the
shop's and reason's words were all of theirs ("damaged": five, each in 125 000 entries; the
index's AND of "lima" with them took 15 ms, with the facet 5).

Each facet is one trigram, which opens with a control character of its own: a search's
trigrams never hold one (they come from its words), so a facet is told apart from the text,
and from another field's:

- shop, reason, currency and type: the field's character, the value's first character, and a
  character of Unicode's private use area that stands for its last character and its length
  ("refund" and "return_and_refund" differ by the length);
- amount: RS, a letter for the number of characters of amount_cents, and its first one (12.99:
  "1299", RS D 1); and US, that letter (or "-" below zero), US: its decade.

A filter asks for its value's facet (an amount range: one of the decades and leading digits it
covers). Those only narrow the candidates: the filter's own conditions still decide, so a
value that shares a facet with another (two shops of the same ends, their lengths 6 400 apart)
costs candidates, never a result. Python (here) and SQL (indexed_sql, in the triggers) write
the same facet: the same characters of the same text, and an empty value none.

Change a facet only with a migration that indexes every request again (store.search.rebuild).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from returns_tui.domain import storable
from returns_tui.filters import Narrowing

# The character that opens each text field's facet.
OPENS = {"shop": "\x1a", "reason": "\x1b", "currency": "\x1c", "type": "\x1d"}
RS, US = "\x1e", "\x1f"  # the amount's leading digit, and its decade
# The columns of requests that the index holds (store.search.index_ddl's triggers).
SOURCE_COLUMNS = ("search_text", *OPENS, "amount_cents")
_LENGTHS = 32  # a longer value's length letter is that of 32
# The longest amount_cents (a 64-bit integer, sign aside) has 19 digits.
_DIGITS = 19


def _length(n: int) -> str:
    return chr(64 + min(n, _LENGTHS))


# The private use area's characters that stand for a value's last character and length.
_ENDS, _ENDS_FROM = 6400, 0xE000


def _value(opens: str, value: str) -> str:
    if not value:
        return ""
    ends = (ord(value[-1]) * 33 + min(len(value), _LENGTHS)) % _ENDS
    return opens + value[0] + chr(_ENDS_FROM + ends)


def _value_sql(opens: str, column: str) -> str:
    ends = f"(unicode(substr({column}, -1, 1)) * 33 + min(length({column}), {_LENGTHS})) % {_ENDS}"
    return (
        f"CASE WHEN {column} = '' THEN '' "
        f"ELSE char({ord(opens)}) || substr({column}, 1, 1) || char({_ENDS_FROM} + {ends}) END"
    )


def of_request(row: Mapping[str, Any]) -> str:
    """The facets of a request (its shop, reason, currency, type and amount_cents), as the
    index holds them after its search_text; for the tests: the triggers write them with
    indexed_sql."""
    digits = str(row["amount_cents"])
    decade = "-" if row["amount_cents"] < 0 else _length(len(digits))
    texts = [_value(opens, row[name]) for name, opens in OPENS.items()]
    return " ".join([*texts, RS + _length(len(digits)) + digits[:1], US + decade + US])


def indexed_sql(row: str) -> str:
    """The text the index holds for the request `row` (`new` or `old` in a trigger,
    `requests` in a SELECT): its search_text and its facets (of_request)."""
    amount = f"{row}.amount_cents"
    return " || ' ' || ".join(
        (
            f"{row}.search_text",
            *(_value_sql(opens, f"{row}.{name}") for name, opens in OPENS.items()),
            f"char({ord(RS)}, 64 + min(length({amount}), {_LENGTHS})) || substr({amount}, 1, 1)",
            f"char({ord(US)}) || CASE WHEN {amount} < 0 THEN '-' "
            f"ELSE char(64 + min(length({amount}), {_LENGTHS})) END || char({ord(US)})",
        )
    )


def asked(narrow: Narrowing | None) -> tuple[tuple[str, ...], ...]:
    """What a search with these filters asks of the index beside its words: groups of
    trigrams, a row holding at least one of each group (an AND of ORs). Every request that
    the filters keep holds them."""
    if narrow is None:
        return ()
    groups: list[tuple[str, ...]] = []
    for name, opens in OPENS.items():
        value = getattr(narrow, name)
        # Nothing asked for an empty value (it has no facet), or one no column can hold (the
        # filter then finds nothing anyway).
        if value and storable(value):
            groups.append((_value(opens, value),))
    if narrow.min_cents is not None or narrow.max_cents is not None:
        if amounts := amount_range(narrow.min_cents, narrow.max_cents):
            groups.append(amounts)
    return tuple(groups)


def amount_range(low: int | None, high: int | None) -> tuple[str, ...]:
    """The amount facets' trigrams of every amount from `low` to `high` (None: no bound),
    both included: each decade of digits inside the range whole, and at its ends the
    leading digits that it reaches."""
    if low is not None and high is not None and low > high:
        return ()  # nothing is asked: the filter's own condition finds nothing
    found = []
    if low is None or low < 0:
        found.append(US + "-" + US)
        low = 0
    if high is not None and high < 0:
        return tuple(found)
    top = len(str(high)) if high is not None else _DIGITS
    for digits in range(len(str(low)), top + 1):
        first = 0 if digits == 1 else 10 ** (digits - 1)
        last = 10**digits - 1
        if low <= first and (high is None or last <= high):
            found.append(US + _length(digits) + US)
            continue
        step = 1 if digits == 1 else 10 ** (digits - 1)
        for lead in range(0 if digits == 1 else 1, 10):
            start, end = lead * step, (lead + 1) * step - 1
            if end >= low and (high is None or start <= high):
                found.append(RS + _length(digits) + str(lead))
    return tuple(found)
