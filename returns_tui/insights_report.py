"""`returns-tui report`'s three forms of the Insights figures (DESIGN §9): one JSON object with
the design's keys, CSV rows for a spreadsheet, aligned text for a person. Amounts are decimal
strings keyed by currency; durations are seconds. Text from the data (shops, users, SKUs,
reason codes) is made safe for a terminal in the text form only: the files keep it as it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from returns_tui import labels
from returns_tui.insights import Insights, Spread, Tally
from returns_tui.money import format_amount
from returns_tui.textsafe import safe

_MICRO = Decimal(1_000_000)


def seconds(micros: Decimal | int | None) -> int | float | None:
    """Microseconds as a JSON number of seconds: whole when it is, else to the microsecond
    (the shortest float that reads back as that decimal; a time, never money)."""
    if micros is None:
        return None
    value = Decimal(micros) / _MICRO
    return int(value) if value == value.to_integral_value() else float(value)


def money(amount: dict[str, int]) -> dict[str, str]:
    return {currency: format_amount(cents, currency) for currency, cents in amount.items()}


def _tally(t: Tally) -> dict[str, Any]:
    return {"count": t.count, "amount": money(t.amount)}


def _spread(s: Spread) -> dict[str, Any]:
    return {"count": s.count, "median": seconds(s.median_us), "p90": seconds(s.p90_us)}


def as_json(ins: Insights) -> dict[str, Any]:
    """The object `report --format json` writes: exactly the keys of DESIGN §9."""
    return {
        "period": {"since": ins.period.since.isoformat(), "until": ins.period.until.isoformat()},
        "shops": None if ins.shops is None else list(ins.shops),
        "requests": ins.requests,
        "by_status": ins.by_status,
        "auto_approved": {
            **_tally(ins.auto_approved),
            "by_shop": {k: _tally(v) for k, v in ins.auto_by_shop.items()},
            "by_week": {k: _tally(v) for k, v in ins.auto_by_week.items()},
        },
        "first_answer": {
            **_spread(ins.first_answer),
            "by_shop": {k: _spread(v) for k, v in ins.answer_by_shop.items()},
            "by_user": {k: _spread(v) for k, v in ins.answer_by_user.items()},
        },
        "reasons": ins.reasons,
        "skus": [
            {"sku": s.sku, "requests": s.requests, "amount": money(s.amount)} for s in ins.skus
        ],
        "refunds": {
            **_tally(ins.refunds),
            "by_week": {k: _tally(v) for k, v in ins.refunds_by_week.items()},
        },
        "appeals": {
            "appealed": ins.appeals.appealed,
            "mediated_buyer": ins.appeals.mediated_buyer,
            "mediated_seller": ins.appeals.mediated_seller,
        },
    }


def write_json(ins: Insights, out: IO[str]) -> None:
    out.write(json.dumps(as_json(ins), ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# CSV: one figure a row (figure, by, key, detail, value), the whole report in one sheet; the
# detail is a currency, a status (requests by day) or a statistic (first_answer)

CSV_HEADER = ("figure", "by", "key", "detail", "value")


def csv_rows(ins: Insights) -> Iterator[tuple[Any, ...]]:
    yield ("period", "", "since", "", ins.period.since.isoformat())
    yield ("period", "", "until", "", ins.period.until.isoformat())
    for shop in ins.shops or ("*",):
        yield ("shops", "", shop, "", "")
    yield ("requests", "", "", "", ins.requests)
    for status, n in ins.by_status.items():
        yield ("by_status", "", status, "", n)
    for day, counts in ins.by_day:
        for status, n in sorted(counts.items()):
            yield ("requests", "day", day.isoformat(), status, n)
    yield from _tally_rows("auto_approved", "", "", ins.auto_approved)
    for by, tallies in (("shop", ins.auto_by_shop), ("week", ins.auto_by_week)):
        for key, t in tallies.items():
            yield from _tally_rows("auto_approved", by, key, t)
    yield from _spread_rows("", "", ins.first_answer)
    for by, spreads in (("shop", ins.answer_by_shop), ("user", ins.answer_by_user)):
        for key, s in spreads.items():
            yield from _spread_rows(by, key, s)
    for reason, n in ins.reasons.items():
        yield ("reasons", "", reason, "", n)
    for sku in ins.skus:
        yield ("skus", "", sku.sku, "", sku.requests)
        for currency, text in money(sku.amount).items():
            yield ("skus", "amount", sku.sku, currency, text)
    yield from _tally_rows("refunds", "", "", ins.refunds)
    for key, t in ins.refunds_by_week.items():
        yield from _tally_rows("refunds", "week", key, t)
    yield ("appeals", "", "appealed", "", ins.appeals.appealed)
    yield ("appeals", "", "mediated_buyer", "", ins.appeals.mediated_buyer)
    yield ("appeals", "", "mediated_seller", "", ins.appeals.mediated_seller)


def _tally_rows(figure: str, by: str, key: str, t: Tally) -> Iterator[tuple[Any, ...]]:
    yield (figure, by, key, "", t.count)
    for currency, text in money(t.amount).items():
        yield (figure, by, key, currency, text)


def _spread_rows(by: str, key: str, s: Spread) -> Iterator[tuple[Any, ...]]:
    yield ("first_answer", by, key, "count", s.count)
    for name, value in (("median", s.median_us), ("p90", s.p90_us)):
        shown = seconds(value)
        yield ("first_answer", by, key, name, "" if shown is None else shown)


def write_csv(ins: Insights, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(ins):
        writer.writerow([_cell(v) for v in row])


def _cell(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula gets a leading ' (as export does)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# ---------------------------------------------------------------------------------------------
# Text: aligned tables for a person


def duration(micros: Decimal | int | None) -> str:
    """A duration for people: "45 s", "12 min", "3 h 05 min", "2 d 04 h"."""
    if micros is None:
        return "-"
    total = int(Decimal(micros) / _MICRO)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def amounts(amount: dict[str, int]) -> str:
    """Money per currency for people: "12.99 USD, 1500 JPY" ("-" for none)."""
    return ", ".join(f"{text} {cur}" for cur, text in money(amount).items()) or "-"


def share(part: int, whole: int) -> str:
    return "-" if not whole else f"{Decimal(100 * part) / whole:.0f}%"


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; numbers (every column but the first) right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def text_lines(ins: Insights) -> list[str]:
    """The whole report for a person: every section below, in order."""
    p = ins.period
    return [
        f"Returns from {p.since} to {p.until} (UTC, {p.days} days), {shops_text(ins)}",
        "",
        *auto_lines(ins),
        "",
        *request_lines(ins),
        "",
        *answer_lines(ins),
        "",
        *reason_lines(ins),
        "",
        *sku_lines(ins),
        "",
        *refund_lines(ins),
        "",
        appeal_line(ins),
    ]


def shops_text(ins: Insights) -> str:
    return "every shop" if ins.shops is None else ", ".join(safe(s) for s in ins.shops)


def headline(ins: Insights) -> str:
    """The cost of a missed deadline, in one line (the top of the Insights screen)."""
    aa = ins.auto_approved
    return (
        f"Approved by the clock (nobody answered in 48 h): {aa.count} requests, "
        f"{amounts(aa.amount)}"
    )


def auto_lines(ins: Insights) -> list[str]:
    return [
        headline(ins),
        *table(
            ("shop", "requests", "amount"),
            [(safe(k), str(t.count), amounts(t.amount)) for k, t in ins.auto_by_shop.items()],
        ),
        *table(
            ("week", "requests", "amount"),
            [(k, str(t.count), amounts(t.amount)) for k, t in ins.auto_by_week.items()],
        ),
    ]


def request_lines(ins: Insights) -> list[str]:
    statuses = list(ins.by_status)
    return [
        f"Requests created: {ins.requests}",
        *table(
            ("status now", "requests", "share"),
            [(labels.status(s), str(n), share(n, ins.requests)) for s, n in ins.by_status.items()],
        ),
        *table(
            ("day", "requests", *(labels.status(s) for s in statuses)),
            [
                (str(day), str(sum(c.values())), *(str(c.get(s, 0)) for s in statuses))
                for day, c in ins.by_day
            ],
        ),
    ]


def answer_lines(ins: Insights) -> list[str]:
    fa = ins.first_answer
    rows = [("all", str(fa.count), duration(fa.median_us), duration(fa.p90_us))]
    rows += [
        (f"shop {safe(k)}", str(s.count), duration(s.median_us), duration(s.p90_us))
        for k, s in ins.answer_by_shop.items()
    ]
    rows += [
        (f"user {safe(k)}", str(s.count), duration(s.median_us), duration(s.p90_us))
        for k, s in ins.answer_by_user.items()
    ]
    return ["Time to the first answer", *table(("", "answered", "median", "p90"), rows)]


def reason_lines(ins: Insights) -> list[str]:
    total = sum(ins.reasons.values())
    return [
        "Buyers' reasons",
        *table(
            ("reason", "requests", "share"),
            [
                (safe(labels.buyer_reason(r)), str(n), share(n, total))
                for r, n in ins.reasons.items()
            ],
        ),
    ]


def sku_lines(ins: Insights) -> list[str]:
    return [
        f"Top {len(ins.skus)} SKUs by requests",
        *table(
            ("sku", "requests", "amount"),
            [(safe(s.sku), str(s.requests), amounts(s.amount)) for s in ins.skus],
        ),
    ]


def refund_lines(ins: Insights) -> list[str]:
    return [
        f"Refunds: {ins.refunds.count} requests completed, {amounts(ins.refunds.amount)}",
        *table(
            ("week", "requests", "refunded"),
            [(k, str(t.count), amounts(t.amount)) for k, t in ins.refunds_by_week.items()],
        ),
    ]


def appeal_line(ins: Insights) -> str:
    ap = ins.appeals
    buyer = "-" if ap.buyer_share is None else f"{ap.buyer_share * 100:.0f}%"
    return (
        f"Appeals: {ap.appealed}; mediation decided {ap.mediated_buyer} for the buyer and "
        f"{ap.mediated_seller} for the seller ({buyer} for the buyer)"
    )


def write_text(ins: Insights, out: IO[str]) -> None:
    out.write("\n".join(text_lines(ins)) + "\n")
