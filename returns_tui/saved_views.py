"""Saved views (DESIGN §10): a tab, its sort, a search and the filters, by name, each on a
key (slots 1 to 9: F1 to F9), kept in the user's own file.

The config file is shared by everyone who reaches the console through the service account
(deploy/), so each user's views are a file of their own: `<views dir>/<login>.toml`, written
whole to a new file and renamed over the old one (never half written), readable by its
owner only. The format, one table per view:

    [[view]]
    name = "acme, due soon"
    slot = 1
    tab = "to_proceed"
    sort = "deadline"
    search = ""
    [view.filters]
    shop = "acme"
    due_hours = 6
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from returns_tui.domain import Tab, storable
from returns_tui.errors import Refused
from returns_tui.filters import Narrowing
from returns_tui.store.queries import Sort
from returns_tui.textsafe import safe

SLOTS = 9
NAME_MAX = 40


@dataclass(frozen=True)
class SavedView:
    name: str
    slot: int
    tab: Tab
    sort: Sort
    search: str = ""
    narrow: Narrowing = field(default_factory=Narrowing)


def views_file(directory: Path, login: str) -> Path:
    """The user's file: their login, with anything but letters, digits, `.`, `_` and `-`
    written as `%XX` (a login never names another path)."""
    name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "_-") else f"%{ord(ch):02X}" for ch in login
    )
    return directory / f"{name}.toml"


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Refused("A view needs a name.")
    if len(name) > NAME_MAX or not storable(name) or safe(name) != name:
        raise Refused(f"A view's name is 1 to {NAME_MAX} characters, without control characters.")
    return name


def load_views(path: Path) -> list[SavedView]:
    """The user's views in slot order; none when the file does not exist. A file that cannot
    be read, or holds something that is not a view, raises Refused in one sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"The saved views {path} cannot be read: {exc}.") from None
    try:
        data = tomllib.loads(text)
        views = [_view(entry) for entry in data.get("view", [])]
    except (tomllib.TOMLDecodeError, Refused, ValueError, TypeError, AttributeError) as exc:
        message = exc.message if isinstance(exc, Refused) else str(exc)
        raise Refused(f"The saved views {path} cannot be used: {safe(message)}") from None
    slots = [v.slot for v in views]
    if len(set(slots)) != len(slots) or len({v.name for v in views}) != len(views):
        raise Refused(f"The saved views {path} give two views one name or one key.")
    return sorted(views, key=lambda v: v.slot)


def _view(entry: Any) -> SavedView:
    if not isinstance(entry, dict):
        raise Refused("each view must be a table")
    slot = entry.get("slot")
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= SLOTS:
        raise Refused(f"a view's slot must be 1 to {SLOTS}")
    search = entry.get("search", "")
    if not isinstance(search, str) or not storable(search):
        raise Refused("a view's search must be text")
    return SavedView(
        name=check_name(str(entry.get("name", ""))),
        slot=slot,
        tab=Tab(entry.get("tab", "all")),
        sort=Sort(entry.get("sort", "newest")),
        search=search,
        narrow=Narrowing.from_dict(entry.get("filters", {})),
    )


def with_view(views: list[SavedView], new: SavedView) -> list[SavedView]:
    """The views with `new` saved: in place of the one of its name, else in the first free
    slot (its own slot is then ignored); refused when all are taken."""
    for i, old in enumerate(views):
        if old.name == new.name:
            return [*views[:i], _in_slot(new, old.slot), *views[i + 1 :]]
    free = sorted(set(range(1, SLOTS + 1)) - {v.slot for v in views})
    if not free:
        raise Refused(f"All {SLOTS} views are saved; delete one first (the palette).")
    return sorted([*views, _in_slot(new, free[0])], key=lambda v: v.slot)


def _in_slot(view: SavedView, slot: int) -> SavedView:
    return SavedView(view.name, slot, view.tab, view.sort, view.search, view.narrow)


def without_view(views: list[SavedView], name: str) -> list[SavedView]:
    return [v for v in views if v.name != name]


def save_views(path: Path, views: list[SavedView]) -> None:
    """Write the file whole: to a new file beside it, then renamed over it."""
    lines = ["# returns-tui: this user's saved views, written by the console (`w` saves one)."]
    for view in views:
        lines += [
            "",
            "[[view]]",
            f"name = {toml_string(view.name)}",
            f"slot = {view.slot}",
            f"tab = {toml_string(view.tab.value)}",
            f"sort = {toml_string(view.sort.value)}",
            f"search = {toml_string(view.search)}",
            "[view.filters]",
        ]
        for key, value in view.narrow.as_dict().items():
            shown = str(value).lower() if isinstance(value, bool) else value
            lines.append(f"{key} = {toml_string(value) if isinstance(value, str) else shown}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise Refused(f"The views cannot be saved to {path}: {exc.strerror or exc}.") from None


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped (TOML allows
    none of them raw)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
