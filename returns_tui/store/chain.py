"""Tamper-evident records (DESIGN §3): every request and record carries an HMAC-SHA256 chain
keyed with a secret kept outside the database, so that `check` finds a changed, forged,
rewritten or deleted record made by anyone who can write the database but cannot read the key.

The chain of a request, with K the key and enc() the encoding below:

    seal      = HMAC(K, "F" ‖ enc(the fixed fields))                requests.seal
    chain(1)  = HMAC(K, "R" ‖ seal ‖ enc(record 1))                  records.chain
    link(n)   = HMAC(K, "L" ‖ chain(n))
    chain(n)  = HMAC(K, "R" ‖ link(n-1) ‖ enc(record n))             records.chain
    head      = link(last record)                                    requests.chain

The fixed fields are those that never change after submission (FIXED_FIELDS); a record's
fields are all of them (RECORD_FIELDS), as stored. Each record's chain covers the one before
it through its link, and the request's head is the link of its last record. The links are
what keeps the head honest: a record's chain is stored in the database, so a head that were
that chain could be copied from the record before the last one after deleting the last one;
a link can be made only with the key. And since a writer needs only the head to chain the
next record, the sweep reads it with the due rows instead of looking up each last record.

enc() is a length-prefixed encoding, unambiguous without escaping: None is `n;`, an integer
`i<digits>;`, a text `s<length in characters>:<text>`; anything else (only a database edited
by hand holds it) `o<length>:<repr>`, which no writer produces. Times are the integer
microseconds they are stored as, details the JSON text they are stored as.

The key is 32 random bytes, written in hex to a file of its own (`chain.key` beside the
settings file, or the file RETURNS_TUI_CHAIN_KEY names), created by `returns-tui init` with
mode 0600 and never overwritten; a key file that its group or others may read or write is
refused, as ssh refuses such a private key. The database keeps the key's fingerprint (an HMAC
of a fixed text) in `chain_key`, so that a process holding another key refuses to write
instead of forking every chain it touches.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from returns_tui.errors import StoreError
from returns_tui.store.engine import PLACEHOLDER, read
from returns_tui.timefmt import to_micros

KEY_ENV = "RETURNS_TUI_CHAIN_KEY"
KEY_FILE = "chain.key"
KEY_BYTES = 32
# The request's fields that never change after submission, in the order they are sealed.
FIXED_FIELDS = (
    "id", "order_id", "shop", "type", "buyer", "product", "sku", "quantity", "amount_cents",
    "currency", "reason", "buyer_note", "created_at", "attempt",
)  # fmt: skip
# A record's fields, in the order they are chained: the order of the records table's columns.
RECORD_FIELDS = ("request_id", "seq", "at", "actor", "kind", "from_status", "to_status", "details")
_FINGERPRINT_TEXT = b"returns-tui chain key"


class ChainKeyError(StoreError):
    """The chain key is missing, unreadable, too open, or not the database's: nothing that
    writes records can run (it would break or fork the chains)."""


def encode(values: Iterable[Any]) -> bytes:
    """The unambiguous encoding of a row's values (see the module's docstring)."""
    parts = []
    for value in values:
        kind = type(value)
        if value is None:
            parts.append("n;")
        elif kind is int:
            parts.append(f"i{value};")
        elif kind is str:
            parts.append(f"s{len(value)}:{value}")
        else:
            text = repr(value)
            parts.append(f"o{len(text)}:{text}")
    # surrogatepass: a hand-edited SQLite file may hold one; it must be checked, not crash.
    return "".join(parts).encode("utf-8", "surrogatepass")


class ChainKey:
    """The secret and what it computes. HMAC-SHA256 is computed from the key's inner and
    outer pad states, hashed once here (the standard construction of RFC 2104, a third of
    the cost of hmac.digest per call: the seed chains millions of records)."""

    __slots__ = ("_secret", "_inner", "_outer", "fingerprint", "path")

    def __init__(self, secret: bytes, path: Path | None = None) -> None:
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a chain key is {KEY_BYTES} bytes")
        self._secret = secret
        block = secret.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.fingerprint = self.mac(_FINGERPRINT_TEXT).hex()
        self.path = path

    def __reduce__(self) -> tuple:
        # The seed's worker processes receive the key with their chunk.
        return (ChainKey, (self._secret, self.path))

    def __repr__(self) -> str:  # never the secret, in a traceback or a log
        return f"ChainKey(fingerprint={self.fingerprint[:12]}…, path={self.path})"

    def mac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def seal(self, fixed: Sequence[Any]) -> bytes:
        """The MAC of a request's fixed fields (values in FIXED_FIELDS order, as stored)."""
        return self.mac(b"F" + encode(fixed))

    def record(self, previous: bytes, values: Sequence[Any]) -> bytes:
        """A record's chain: `previous` is the seal (first record) or the previous link."""
        return self.mac(b"R" + previous + encode(values))

    def link(self, chain: bytes) -> bytes:
        return self.mac(b"L" + chain)

    def chained(self, head: bytes | None, rows: Iterable[tuple]) -> tuple[list[tuple], bytes]:
        """Record rows (values in RECORD_FIELDS order) that follow `head`, each with its chain
        appended, and the request's new head. A head that was never written (a row put there
        by another program) chains from nothing: `check` reports that request."""
        out = []
        head = head or b""
        for row in rows:
            chain = self.record(head, row)
            head = self.link(chain)
            out.append((*row, chain))
        return out, head


def chain_values(key: ChainKey, request: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Seal a request's column values and chain its records' (store.rows.request_values and
    record_values; times as DateTimes or microseconds), in place: for a program that writes
    rows itself, as the bench's setup does."""

    def stored(value: Any) -> Any:
        return value if value is None or isinstance(value, int | str) else to_micros(value)

    request["seal"] = head = key.seal([stored(request[name]) for name in FIXED_FIELDS])
    for values in records:
        values["chain"] = key.record(head, [stored(values[name]) for name in RECORD_FIELDS])
        head = key.link(values["chain"])
    request["chain"] = head


# ---------------------------------------------------------------------------------------------
# The key file


def key_path() -> Path:
    """RETURNS_TUI_CHAIN_KEY, else `chain.key` in the settings file's directory."""
    if path := os.environ.get(KEY_ENV):
        return Path(path)
    from returns_tui.settings import config_path

    return config_path().parent / KEY_FILE


def load_key(path: Path | None = None) -> ChainKey:
    """The key in its file, or ChainKeyError saying in one sentence what is wrong."""
    path = path or key_path()
    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            data = file.read(4 * KEY_BYTES)
    except IsADirectoryError:
        raise ChainKeyError(f"The chain key {path} is not a file.") from None
    except FileNotFoundError:
        raise ChainKeyError(
            f"The chain key {path} is missing; run `returns-tui init` as the account that "
            "owns the data to create it."
        ) from None
    except OSError as exc:
        raise ChainKeyError(
            f"The chain key {path} cannot be read: {exc.strerror or exc}."
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ChainKeyError(f"The chain key {path} is not a file.")
    if info.st_mode & 0o077:
        raise ChainKeyError(
            f"The chain key {path} is open to its group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it private with `chmod 600 {path}`."
        )
    try:
        secret = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise ChainKeyError(f"The chain key {path} is not {2 * KEY_BYTES} hexadecimal digits.")
    return ChainKey(secret, path)


def create_key(path: Path | None = None) -> tuple[ChainKey, bool]:
    """The key, made first if its file does not exist (32 random bytes, mode 0600); an
    existing file is never overwritten. Returns the key and whether it was made now."""
    path = path or key_path()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another init made it meanwhile: use theirs
            return load_key(path), False
        except OSError as exc:
            raise ChainKeyError(
                f"The chain key {path} cannot be created: {exc.strerror or exc}."
            ) from None
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(KEY_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        return load_key(path), True
    return load_key(path), False


# ---------------------------------------------------------------------------------------------
# The key's fingerprint in the database

_FINGERPRINT = "SELECT fingerprint FROM chain_key WHERE id = 1"


def stored_fingerprint(conn: Connection) -> str | None:
    row = conn.exec_driver_sql(_FINGERPRINT).first()
    return None if row is None else row[0]


def recorded_fingerprint(engine: Engine) -> str | None:
    """The fingerprint a database records (None: none yet, or a schema from before 0003)."""
    with read(engine) as conn:
        if not sa.inspect(conn).has_table("chain_key"):
            return None
        return stored_fingerprint(conn)


def require_key(conn: Connection, key: ChainKey) -> None:
    """Before writing chains in this transaction: the database's records are chained with
    `key` (its fingerprint is recorded on the first write). Two first writers with different
    keys collide on the one row, and the loser, retried, is refused here."""
    stored = stored_fingerprint(conn)
    if stored is None:
        mark = PLACEHOLDER[conn.dialect.paramstyle]
        conn.exec_driver_sql(
            f"INSERT INTO chain_key (id, fingerprint) VALUES (1, {mark})", (key.fingerprint,)
        )
    elif stored != key.fingerprint:
        raise ChainKeyError(
            f"This database's records are chained with another key than {key.path or 'this one'}; "
            "use the key file that was made with it (nothing was written)."
        )


# ---------------------------------------------------------------------------------------------
# Chaining what is there (migration 0003)


def chain_all(conn: Connection, key: ChainKey, batch: int = 2000) -> int:
    """Seal and chain every request and record as they stand, a batch of requests at a time
    in id order; returns the number of requests. The records' append-only trigger must be
    lifted by the caller (it refuses the UPDATE), in the same transaction."""
    mark = PLACEHOLDER[conn.dialect.paramstyle]
    select_requests = (
        f"SELECT {', '.join(FIXED_FIELDS)} FROM requests WHERE id > {mark} "
        f"ORDER BY id LIMIT {batch}"
    )
    update_request = f"UPDATE requests SET seal = {mark}, chain = {mark} WHERE id = {mark}"
    update_record = f"UPDATE records SET chain = {mark} WHERE id = {mark}"
    done, after = 0, ""
    while rows := conn.exec_driver_sql(select_requests, (after,)).all():
        ids = [row[0] for row in rows]
        records: dict[str, list[tuple]] = {i: [] for i in ids}
        select_records = (
            f"SELECT id, {', '.join(RECORD_FIELDS)} FROM records "
            f"WHERE request_id IN ({', '.join([mark] * len(ids))}) ORDER BY request_id, seq"
        )
        for rec in conn.exec_driver_sql(select_records, tuple(ids)):
            records[rec[1]].append(tuple(rec))
        request_updates, record_updates = [], []
        for row in rows:
            seal = key.seal(tuple(row))
            recs = records[row[0]]
            chained, head = key.chained(seal, (rec[1:] for rec in recs))
            request_updates.append((seal, head, row[0]))
            record_updates += [(c[-1], rec[0]) for c, rec in zip(chained, recs, strict=True)]
        conn.exec_driver_sql(update_request, request_updates)
        if record_updates:
            conn.exec_driver_sql(update_record, record_updates)
        done += len(rows)
        after = ids[-1]
    return done
