"""Facets: a request's currency, type and amount, written into its entry of the SQLite search
index beside its search_text (migration 0016), so that a search with those filters asks the
index for them too and gets fewer candidates: at 1M, "lima" has 25 209, "lima" in JPY 2 536.
A search with a shop or reason asks for those as words (store.queries.Filter.searched): they
are in search_text already, and the currency, type and amount are not (searching "usd" finds
no request by its currency, DESIGN §8).

Each facet is a few characters that open with a control character of its own (FS, GS, RS,
US), which a search's trigrams never hold (they come from its words), so the facets' trigrams
are told apart from the text's:

- currency: FS, a letter for its length, its first and its last character ("JPY": FS C J Y);
- type: GS and the same three ("refund": GS F r d; "return_and_refund": GS Q r d);
- amount: RS, a letter for the number of characters of amount_cents and its first one (12.99:
  "1299", RS D 1), and US, that letter (or "-" below zero), US: its decade.

A filter asks for each trigram of its value's facet (an amount range: one of the decades and
leading digits it covers). Those only narrow the candidates: the filter's own conditions still
decide, so a value that shares a facet with another (two currencies of the same length and
ends) costs candidates, never a result. Python (here) and SQL (SQL_INDEXED, in the triggers)
write the same facet: the same characters of the same text, length included; the length letter
stops at 32 so that no length makes a character that cannot be stored.

Change a facet only with a migration that indexes every request again (store.search.rebuild).
"""

from __future__ import annotations

from returns_tui.domain import storable
from returns_tui.filters import Narrowing

FS, GS, RS, US = "\x1c", "\x1d", "\x1e", "\x1f"
_LENGTHS = 32  # a longer value's length letter is that of 32
# The columns of requests that the index holds (store.search.index_ddl's triggers).
SOURCE_COLUMNS = ("search_text", "currency", "type", "amount_cents")
# The longest amount_cents (a 64-bit integer, sign aside) has 19 digits.
_DIGITS = 19


def _length(n: int) -> str:
    return chr(64 + min(n, _LENGTHS))


def _value(sep: str, value: str) -> str:
    return sep + _length(len(value)) + value[:1] + value[-1:]


def _value_sql(sep: str, column: str) -> str:
    return (
        f"char({ord(sep)}, 64 + min(length({column}), {_LENGTHS})) "
        f"|| substr({column}, 1, 1) || substr({column}, -1, 1)"
    )


def of_request(currency: str, type_: str, amount_cents: int) -> str:
    """The facets of a request, as the index holds them after its search_text (for the
    tests: the triggers write them with SQL_INDEXED)."""
    digits = str(amount_cents)
    decade = "-" if amount_cents < 0 else _length(len(digits))
    return " ".join(
        (
            _value(FS, currency),
            _value(GS, type_),
            RS + _length(len(digits)) + digits[:1],
            US + decade + US,
        )
    )


def indexed_sql(row: str) -> str:
    """The text the index holds for the request `row` (`new` or `old` in a trigger,
    `requests` in a SELECT): its search_text and its facets (of_request)."""
    amount = f"{row}.amount_cents"
    return " || ' ' || ".join(
        (
            f"{row}.search_text",
            _value_sql(FS, f"{row}.currency"),
            _value_sql(GS, f"{row}.type"),
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
    for sep, value in ((FS, narrow.currency), (GS, narrow.type)):
        if value is not None and storable(value):  # else the filter finds nothing anyway
            facet = _value(sep, value)
            groups += [(facet[i : i + 3],) for i in range(len(facet) - 2)]
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
