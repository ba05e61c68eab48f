"""`returns-tui export`: the requests the caller may see, as JSON Lines with their records or
as CSV (DESIGN §4). It reads through Returns.export, which streams the rows in id order a
batch at a time, so a million requests never sit in memory; and it changes nothing: what is
written is the database as it stands, deadlines not yet swept included.

The row loop runs a million times, so it avoids the costly general tools where a cheaper one
gives the same text: times are formatted with the plain datetime method (pendulum's costs
three times as much), and amounts and record details, which repeat, are remembered.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TextIO

from returns_tui import domain as d
from returns_tui.money import format_amount
from returns_tui.timefmt import iso_utc

Row = Mapping[str, Any]
Rows = Iterable[tuple[Row, list[Row]]]

_TAB = {status.value: tab.value for status, tab in d.TAB_OF_STATUS.items()}


def write_jsonl(rows: Rows, out: TextIO) -> int:
    """One request a line, ordered as given (by id), with its records. Returns the count."""
    count = 0
    dumps = json.dumps
    for row, recs in rows:
        out.write(dumps(request_object(row, recs), ensure_ascii=False) + "\n")
        count += 1
    return count


def request_object(row: Row, recs: list[Row]) -> dict[str, Any]:
    """A request as export shows it: exactly the keys of DESIGN §4, in its order."""
    return {
        "id": row["id"],
        "order_id": row["order_id"],
        "shop": row["shop"],
        "type": row["type"],
        "status": row["status"],
        "tab": _TAB[row["status"]],
        "attempt": row["attempt"],
        "arbitration": row["arbitration"],
        "created_at": _iso(row["created_at"]),
        "respond_by": _iso(row["respond_by"]),
        "amount": _amount(row["amount_cents"], row["currency"]),
        "currency": row["currency"],
        "records": [_record_object(rec) for rec in recs],
    }


def _record_object(rec: Row) -> dict[str, Any]:
    obj = {
        "at": _iso(rec["at"]),
        "actor": rec["actor"],
        "kind": rec["kind"],
        "from": rec["from_status"],
        "to": rec["to_status"],
    }
    if details := rec["details"]:
        obj.update(_details(details))  # reason, note, tracking, decision
    return obj


@lru_cache(maxsize=65_536)
def _details(text: str) -> dict[str, Any]:
    # Most details repeat (reason codes, common notes); read each text once. Callers copy it.
    return json.loads(text)


# ---------------------------------------------------------------------------------------------
# CSV

CSV_COLUMNS = (
    "id", "order_id", "shop", "type", "status", "tab", "attempt", "arbitration", "buyer",
    "product", "sku", "quantity", "amount", "currency", "reason", "buyer_note", "created_at",
    "respond_by", "deadline", "rejected_at", "tracking", "records",
)  # fmt: skip

# A spreadsheet runs a cell that starts with one of these as a formula ("=HYPERLINK(...)" in
# a buyer's note). Such cells get a leading apostrophe, which spreadsheets show as text and
# hide; the OWASP advice for CSV injection.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(rows: Rows, out: TextIO) -> int:
    """One request a row with a header, no records (their count only). `deadline` is the
    next deadline of the status: respond_by, ship_by, receive_by, or the end of the buyer's
    window after a rejection. Returns the count."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row, recs in rows:
        writer.writerow([_cell(value) for value in _csv_values(row, len(recs))])
        count += 1
    return count


def _csv_values(row: Row, records: int) -> tuple[Any, ...]:
    return (
        row["id"], row["order_id"], row["shop"], row["type"], row["status"],
        _TAB[row["status"]], row["attempt"], row["arbitration"] or "", row["buyer"],
        row["product"], row["sku"], row["quantity"],
        _amount(row["amount_cents"], row["currency"]), row["currency"], row["reason"],
        row["buyer_note"], _iso(row["created_at"]), _iso(row["respond_by"]),
        _iso(row["deadline_at"]), _iso(row["rejected_at"]), row["tracking"] or "", records,
    )  # fmt: skip


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


# ---------------------------------------------------------------------------------------------
# Values


def _iso(at: dt.datetime | None) -> str | None:
    """timefmt.iso_utc's text. The store hands back UTC times, for which the plain isoformat
    already is that text but for the Z."""
    if at is None:
        return None
    text = dt.datetime.isoformat(at)
    return text[:-6] + "Z" if text.endswith("+00:00") else iso_utc(at)


@lru_cache(maxsize=65_536)
def _amount(cents: int, currency: str) -> str:
    # Amounts repeat (the same products, the same prices), and Decimal is slow.
    return format_amount(cents, currency)
