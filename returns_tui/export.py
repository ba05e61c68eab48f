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
import gc
import json
import string
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from operator import itemgetter
from typing import Any, TextIO

from returns_tui import domain as d
from returns_tui.money import format_amount
from returns_tui.store.queries import RECORD_COLUMNS, REQUEST_COLUMNS, RequestRow
from returns_tui.textsafe import safe
from returns_tui.timefmt import iso_micros, iso_stored

Row = Mapping[str, Any]
Rows = Iterable[tuple[Row, list[Row]]]

_TAB = {status.value: tab.value for status, tab in d.TAB_OF_STATUS.items()}


# json.dumps(obj, ensure_ascii=False) makes an encoder per call; this one is made once.
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def write_jsonl(rows: Rows, out: TextIO) -> int:
    """One request a line, ordered as given (by id), with its records. Returns the count."""
    count = 0
    write = out.write
    with _no_cycle_collection():
        for row, recs in rows:
            if row.__class__ is RequestRow:
                obj = _stored_object(row, recs)
            else:
                obj = request_object(row, recs)
            text = _dumps(obj)
            # Most lines go out as the encoder made them. An ASCII line (isascii costs
            # nothing) is printable but for DEL, as the encoder escaped C0; others are read.
            if not (text.isascii() and "\x7f" not in text) and not text.isprintable():
                text = _escaped(text)
            write(text + "\n")
            count += 1
    return count


def _escaped(text: str) -> str:
    """A JSON text with every character that a terminal would act on, or that changes how
    the rest of a line reads, written as a \\u escape: the same JSON after parsing, never a
    raw control sequence on the terminal that `export` writes to. The JSON encoder has
    escaped the C0 controls already; this takes DEL, the C1 controls, the line and paragraph
    separators, the bidi and other format characters (Cf), private use and unassigned code
    points: every character str.isprintable() refuses except the spaces (Zs: no-break,
    ideographic, ...), which are plain text. Such characters only occur inside JSON
    strings, where an escape means the character itself."""
    return "".join(_escape(ch) if not ch.isprintable() and not _is_space(ch) else ch for ch in text)


def _is_space(ch: str) -> bool:
    return unicodedata.category(ch) == "Zs"


@lru_cache(maxsize=1024)
def _escape(ch: str) -> str:
    return json.dumps(ch)[1:-1]  # \u007f; a pair of surrogate escapes above U+FFFF


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector held off while the rows stream: each row makes a dozen
    containers, and the collector's passes over them cost an eighth of the export. Nothing
    here makes a cycle (rows, dicts and strings are freed by their reference counts), so no
    memory waits for it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Where _stored_object finds its values in the stored tuples (by the columns' names).
_REQUEST_VALUES = itemgetter(*map(REQUEST_COLUMNS.index, (
    "id", "order_id", "shop", "type", "status", "attempt", "arbitration", "created_at",
    "respond_by", "amount_cents", "currency", "buyer", "product", "reason", "buyer_note",
    "refund_cents", "offer_cents", "offer_by", "keep_item", "reject_stage",
    "source", "sending", "marketplace_status", "deadline_at",
)))  # fmt: skip
_RECORD_VALUES = itemgetter(*map(RECORD_COLUMNS.index, (
    "at", "actor", "kind", "from_status", "to_status", "details",
)))  # fmt: skip


def _stored_object(row: tuple, recs: list[tuple]) -> dict[str, Any]:
    """request_object of a StoredRow (Returns.export's rows): the same object, read from the
    stored tuple (the plain tuple: a StoredRow's own row["name"] converts the times), the
    times formatted from their microseconds."""
    (rid, order_id, shop, rtype, status, attempt, arbitration, created_at, respond_by,
     amount_cents, currency, buyer, product, reason, buyer_note, refund_cents, offer_cents,
     offer_by, keep_item, reject_stage, source, sending,
     marketplace_status, deadline_at) = _REQUEST_VALUES(tuple(row))  # fmt: skip
    if source == _SYNCED:  # the marketplace's own deadline for the seller, or none (§8)
        respond_by = deadline_at
    created, respond = iso_micros(created_at), iso_micros(respond_by)
    records = []
    auto_approved = False
    for rec in recs:
        at, actor, kind, from_status, to_status, details = _RECORD_VALUES(tuple(rec))
        auto_approved = auto_approved or kind == _AUTO_APPROVED
        # Most records fall on one of the request's own times (submitted at created_at, an
        # auto-approval at respond_by): their text is made once.
        text = created if at == created_at else respond if at == respond_by else iso_micros(at)
        obj = {"at": text, "actor": actor, "kind": kind, "from": from_status, "to": to_status}
        if details:
            obj.update(_details(details))  # reason, note, tracking, decision
        records.append(obj)
    return {
        "id": rid,
        "order_id": order_id,
        "shop": shop,
        "type": rtype,
        "status": status,
        "tab": _TAB[status],
        "attempt": attempt,
        "arbitration": arbitration,
        "created_at": created,
        "respond_by": respond,
        "amount": _amount(amount_cents, currency),
        "currency": currency,
        "buyer": buyer,
        "product": product,
        "reason": reason,
        "buyer_note": buyer_note,
        "auto_approved": auto_approved,
        # DESIGN §7's five, on every request (null when empty; keep_item always a boolean,
        # SQLite's driver gives it as 0 or 1)
        "refund_amount": _maybe_amount(refund_cents, currency),
        "offer_amount": _maybe_amount(offer_cents, currency),
        "offer_by": iso_micros(offer_by),
        "keep_item": bool(keep_item),
        "reject_stage": reject_stage,
        # DESIGN §8's three: where the request comes from, whether a decision on it waits
        # to be sent, and the marketplace's raw status (null for a local request)
        "source": source,
        "sending": bool(sending),
        "marketplace_status": marketplace_status,
        "records": records,
    }


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
        "created_at": iso_stored(row["created_at"]),
        "respond_by": iso_stored(_respond_by(row)),
        "amount": _amount(row["amount_cents"], row["currency"]),
        "currency": row["currency"],
        "buyer": row["buyer"],
        "product": row["product"],
        "reason": row["reason"],
        "buyer_note": row["buyer_note"],
        "auto_approved": auto_approved(recs),
        "refund_amount": _maybe_amount(row["refund_cents"], row["currency"]),
        "offer_amount": _maybe_amount(row["offer_cents"], row["currency"]),
        "offer_by": iso_stored(row["offer_by"]),
        "keep_item": bool(row["keep_item"]),
        "reject_stage": row["reject_stage"],
        "source": row["source"],
        "sending": bool(row["sending"]),
        "marketplace_status": row["marketplace_status"],
        "records": [_record_object(rec) for rec in recs],
    }


_AUTO_APPROVED = d.Kind.AUTO_APPROVED.value
_SYNCED = d.SYNCED


def _respond_by(row: Row) -> Any:
    """respond_by as export writes it: for a synced request the deadline the marketplace
    gives the seller now (DESIGN §8: `null` when it gives none), else ours."""
    return row["deadline_at"] if row["source"] == _SYNCED else row["respond_by"]


def auto_approved(recs: list[Row]) -> bool:
    """Whether the request was approved by the clock: its 48 hours ran out unanswered."""
    return any(rec["kind"] == _AUTO_APPROVED for rec in recs)


def _record_object(rec: Row) -> dict[str, Any]:
    obj = {
        "at": iso_stored(rec["at"]),
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
    "respond_by", "deadline", "rejected_at", "tracking", "refund_amount", "offer_amount",
    "offer_by", "keep_item", "reject_stage", "source", "sending", "marketplace_status",
    "records", "auto_approved",
)  # fmt: skip

# A spreadsheet runs a cell that starts with one of these as a formula ("=HYPERLINK(...)" in
# a buyer's note). Such cells get a leading apostrophe, which spreadsheets show as text and
# hide; the OWASP advice for CSV injection. Spreadsheets also skip leading white space
# before a formula, and some read the fullwidth and small forms (＝, ﹢) as these: a cell
# whose first character after any white space is one of them, in its NFKC form, gets the
# apostrophe too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset("=+-@")
_PLAIN_STARTS = frozenset(string.ascii_letters + string.digits)


def write_csv(rows: Rows, out: TextIO) -> int:
    """One request a row with a header, no records (their count only). `deadline` is the
    next deadline of the status: respond_by, ship_by, receive_by, or the end of the buyer's
    window after a rejection; `auto_approved` is true or false. Returns the count."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    with _no_cycle_collection():
        for row, recs in rows:
            writer.writerow([_cell(value) for value in _csv_values(row, recs)])
            count += 1
    return count


def _csv_values(row: Row, recs: list[Row]) -> tuple[Any, ...]:
    return (
        row["id"], row["order_id"], row["shop"], row["type"], row["status"],
        _TAB[row["status"]], row["attempt"], row["arbitration"] or "", row["buyer"],
        row["product"], row["sku"], row["quantity"],
        _amount(row["amount_cents"], row["currency"]), row["currency"], row["reason"],
        row["buyer_note"], iso_stored(row["created_at"]), iso_stored(_respond_by(row)),
        iso_stored(row["deadline_at"]), iso_stored(row["rejected_at"]), row["tracking"] or "",
        _maybe_amount(row["refund_cents"], row["currency"]) or "",
        _maybe_amount(row["offer_cents"], row["currency"]) or "", iso_stored(row["offer_by"]),
        "true" if row["keep_item"] else "false", row["reject_stage"] or "", row["source"],
        "true" if row["sending"] else "false", row["marketplace_status"] or "", len(recs),
        "true" if auto_approved(recs) else "false",
    )  # fmt: skip


def _cell(value: Any) -> Any:
    """A cell as written: text with no raw control or format character (textsafe's visible
    placeholders, ␛ or <U+202E>, as the console shows them; line breaks and tabs stay, CSV
    quotes them), and never a formula."""
    if value.__class__ is not str or not value:
        return value
    if value[0] in _PLAIN_STARTS and value.isprintable():
        return value  # most cells: a letter or a digit first, nothing to change
    if not value.isprintable():
        value = safe(value, single_line=False)
    if value.startswith(_FORMULA_STARTS) or _formula_after_spaces(value):
        return "'" + value
    return value


def _formula_after_spaces(text: str) -> bool:
    """True when `text` opens, after any white space (and the zero-width joiner, the one
    invisible character textsafe leaves), with a formula character in its NFKC form
    (" =1+1", "\n@SUM", "\u00a0-2", "＝1+1")."""
    for ch in text:
        if ch.isspace() or ch == "\u200d":
            continue
        if ch.isascii():
            return ch in _FORMULA_CHARS
        return unicodedata.normalize("NFKC", ch)[:1] in _FORMULA_CHARS
    return False


# ---------------------------------------------------------------------------------------------
# Values


def _maybe_amount(cents: int | None, currency: str) -> str | None:
    return None if cents is None else _amount(cents, currency)


@lru_cache(maxsize=65_536)
def _amount(cents: int, currency: str) -> str:
    # Amounts repeat (the same products, the same prices), and Decimal is slow.
    return format_amount(cents, currency)
