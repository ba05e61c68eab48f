"""Exporting a view of the console (a tab, a search) to a file the operator names.

The rows are written as `returns-tui export` writes them (CSV, or JSON Lines for a name
ending in .jsonl), to a new file that only its owner may read (it holds buyers' names and
notes), first under a temporary name in the same folder and given its name only when
complete: a name never shows half an export, and an existing file is never overwritten.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from returns_tui import export as exporting
from returns_tui.domain import quoted
from returns_tui.errors import Refused

FORMATS = {"csv": exporting.write_csv, "jsonl": exporting.write_jsonl}


def format_for(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for: JSON Lines for .jsonl (or .json), else CSV."""
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "csv"


def target(path: str | os.PathLike[str]) -> Path:
    """The file a typed name means: `~` expanded, relative to the current folder; refused in
    one sentence when it cannot be a new file."""
    text = os.fspath(path)
    if not text.strip():
        raise Refused("Give the export a file name.")
    if "\x00" in text:
        raise Refused("A file name cannot contain the NUL character.")
    where = Path(text).expanduser().absolute()
    if where.exists() or where.is_symlink():
        raise Refused(f"{quoted(where)} already exists; choose another name.")
    if not where.parent.is_dir():
        raise Refused(f"There is no folder {quoted(where.parent)}.")
    return where


def write_file(
    rows: Iterable[tuple[Any, list[Any]]], path: str | os.PathLike[str], fmt: str | None = None
) -> tuple[Path, int]:
    """Write `rows` to the new file `path` in `fmt` (default: by its name, format_for);
    returns the file's absolute path and the number of requests written."""
    fmt = fmt or format_for(path)
    if fmt not in FORMATS:
        raise Refused(f"The format must be csv or jsonl, not {quoted(fmt, 20)}.")
    where = target(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{where.name}.", dir=where.parent)
    except OSError as exc:
        raise Refused(f"{quoted(where)} cannot be written: {exc.strerror or exc}.") from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as out:
            count = FORMATS[fmt](rows, out)
        _link(temporary, where)
    except OSError as exc:
        raise Refused(f"{quoted(where)} cannot be written: {exc.strerror or exc}.") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return where, count


def _link(temporary: str, where: Path) -> None:
    """Give the finished file its name, refusing (not replacing) one that appeared meanwhile."""
    try:
        os.link(temporary, where)
    except FileExistsError:
        raise Refused(f"{quoted(where)} already exists; choose another name.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        # A file system without hard links: the name is taken only if still free.
        if where.exists():
            raise Refused(f"{quoted(where)} already exists; choose another name.") from None
        os.rename(temporary, where)
