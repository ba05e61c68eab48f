"""Search and paging over one shop's returns, without quadratic cost.

Two sorted lists of (time, return_id), by create_time and by update_time, kept in step with the
returns. A page is found by bisection: the time filters on the sort field bound a slice, the
page token (the last key served, and a fingerprint of the filters it was served under) starts
the slice after it, and the other filters are checked as the slice is walked. Paging through
N returns therefore reads each about once: keyset paging, stable under unchanged filters (a
return that does not change is served exactly once; one that changes moves to its new
update_time and may be served again, as it should). `total_count` is a bisection when only the
sort field's time range filters, else counted once per (filters, state of the shop).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from returns_tui.marketplace.simulator.model import Return

Key = tuple[int, str]
_SET_FILTERS = ("return_ids", "order_ids", "buyer_user_ids", "return_types", "return_status",
                "arbitration_status")
_TIME_FILTERS = ("create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt")


class PageTokenError(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    """A validated search: filters, sort and page (see protocol.SEARCH_FILTERS)."""

    filters: dict[str, Any]
    sort_field: str
    sort_order: str
    page_size: int
    page_token: str | None

    def fingerprint(self) -> str:
        shape = {"f": self.filters, "s": [self.sort_field, self.sort_order]}
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Page:
    returns: list[Return]
    next_page_token: str
    total_count: int
    walked: int  # index positions read for this page (the total count's walk aside)


class ShopIndex:
    def __init__(self, shop: str) -> None:
        self.shop = shop
        self.keys: dict[str, list[Key]] = {"create_time": [], "update_time": []}
        self.by_order: dict[str, list[str]] = {}
        self.version = 0
        self._counts: dict[tuple[str, int], int] = {}

    def add(self, ret: Return) -> None:
        insort(self.keys["create_time"], (ret.create_time, ret.return_id))
        insort(self.keys["update_time"], (ret.update_time, ret.return_id))
        self.by_order.setdefault(ret.order_id, []).append(ret.return_id)
        self.version += 1

    def moved(self, ret: Return, old_update_time: int) -> None:
        keys = self.keys["update_time"]
        old = (old_update_time, ret.return_id)
        at = bisect_left(keys, old)
        if at < len(keys) and keys[at] == old:
            del keys[at]
        insort(keys, (ret.update_time, ret.return_id))
        self.version += 1

    def rebuild(self, rets: Iterable[Return]) -> None:
        rets = list(rets)
        self.keys["create_time"] = sorted((r.create_time, r.return_id) for r in rets)
        self.keys["update_time"] = sorted((r.update_time, r.return_id) for r in rets)
        self.by_order = {}
        for r in rets:
            self.by_order.setdefault(r.order_id, []).append(r.return_id)
        self.version += 1

    def search(self, returns: dict[str, Return], q: Query) -> Page:
        keys = self._candidates(returns, q)
        lo, hi = _time_bounds(keys, q.filters, q.sort_field)
        total = self._total(returns, q, keys, lo, hi)
        fingerprint = q.fingerprint()
        if q.page_token:
            last = _read_token(q.page_token, fingerprint)
            if q.sort_order == "ASC":
                lo = max(lo, bisect_right(keys, last))
            else:
                hi = min(hi, bisect_left(keys, last))
        match = _matcher(q.filters, q.sort_field)
        positions = range(lo, hi) if q.sort_order == "ASC" else range(hi - 1, lo - 1, -1)
        page: list[Return] = []
        token, walked = "", 0
        for pos in positions:
            walked += 1
            ret = returns[keys[pos][1]]
            if match(ret):
                page.append(ret)
                if len(page) == q.page_size:
                    if walked < len(positions):
                        token = _write_token(keys[pos], fingerprint)
                    break
        return Page(page, token, total, walked)

    def _candidates(self, returns: dict[str, Return], q: Query) -> list[Key]:
        """The sorted keys to walk: the whole index, or the few returns an id filter names."""
        ids: set[str] | None = None
        if "return_ids" in q.filters:
            ids = set(q.filters["return_ids"])
        if "order_ids" in q.filters:
            by_order = {i for o in q.filters["order_ids"] for i in self.by_order.get(o, ())}
            ids = by_order if ids is None else ids & by_order
        if ids is None:
            return self.keys[q.sort_field]
        mine = (returns[i] for i in ids if i in returns and returns[i].shop == self.shop)
        return sorted((getattr(r, q.sort_field), r.return_id) for r in mine)

    def _total(self, returns: dict[str, Return], q: Query, keys: list[Key], lo: int,
               hi: int) -> int:
        if not _needs_walk(q.filters, q.sort_field):
            return hi - lo
        cache_key = (q.fingerprint(), self.version)
        if cache_key not in self._counts:
            match = _matcher(q.filters, q.sort_field)
            self._counts = {cache_key: sum(1 for pos in range(lo, hi)
                                           if match(returns[keys[pos][1]]))}
        return self._counts[cache_key]


def _time_bounds(keys: list[Key], filters: dict, field: str) -> tuple[int, int]:
    ge, lt = filters.get(f"{field}_ge"), filters.get(f"{field}_lt")
    lo = 0 if ge is None else bisect_left(keys, (ge, ""))
    hi = len(keys) if lt is None else bisect_left(keys, (lt, ""))
    return lo, max(lo, hi)


def _needs_walk(filters: dict, sort_field: str) -> bool:
    """Whether any filter is more than the sort field's own time range."""
    return any(k not in (f"{sort_field}_ge", f"{sort_field}_lt") for k in filters)


def _matcher(filters: dict, sort_field: str):
    sets = [(name, set(filters[name])) for name in _SET_FILTERS if name in filters]
    times = [(name, filters[name]) for name in _TIME_FILTERS
             if name in filters and not name.startswith(sort_field)]
    attribute = {"return_ids": "return_id", "order_ids": "order_id",
                 "buyer_user_ids": "buyer_user_id", "return_types": "return_type",
                 "return_status": "return_status", "arbitration_status": "arbitration_status"}

    def match(ret: Return) -> bool:
        for name, allowed in sets:
            if getattr(ret, attribute[name]) not in allowed:
                return False
        for name, bound in times:
            value = getattr(ret, name[:-3])
            if (value < bound) if name.endswith("_ge") else (value >= bound):
                return False
        return True

    return match


def _write_token(last: Key, fingerprint: str) -> str:
    # Standard base64, so a token may hold "+", "/" and "=" as TikTok's do: a client that
    # signs or encodes them wrongly fails here as it would there.
    text = json.dumps({"k": list(last), "f": fingerprint}, separators=(",", ":"))
    return base64.b64encode(b"\xfb" + text.encode()).decode()


def _read_token(token: str, fingerprint: str) -> Key:
    try:
        raw = base64.b64decode(token, validate=True)
        doc = json.loads(raw[1:])
        value, return_id = doc["k"]
        if doc["f"] != fingerprint:
            raise PageTokenError("The page_token belongs to a search with other filters.")
        return int(value), str(return_id)
    except PageTokenError:
        raise
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise PageTokenError("The page_token is not valid.") from None
