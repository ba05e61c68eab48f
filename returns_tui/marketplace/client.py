"""An async client of TikTok Shop's Return & Refund API for one shop, on aiohttp.

Every call carries `app_key`, `timestamp` (stamped at each attempt), `shop_cipher` and `sign`
in the query and the access token in `x-tts-access-token`; the JSON body is serialized once, and
those exact bytes are signed and sent. The answer's envelope `{code, message, request_id, data}`
is opened here: code 0 gives `data`, any other code raises (errors.py).

Retries: a 429 / 36009002 waits the server's `retry-after` (backoff when it gave none), 36009003
and network failures (refused or dropped connection, timeout) back off exponentially with
jitter; after `RetryPolicy.max_attempts` attempts in all the call raises RetriesExhausted. A
write keeps its `idempotency_key` identical on every attempt, so a retried approve whose first
answer was lost is not applied twice. An expired access token (105002) is refreshed once and the
call tried again; a token due to expire within `refresh_margin` seconds is refreshed before the
call. `on_tokens` is awaited with the new tokens before they are used, so the caller can write
them back first (a refresh spends the old refresh token).

Calls in flight are bounded by `limiter` (a number, or a semaphore shared by several clients);
a retry's wait does not hold a place.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from returns_tui.clock import Clock, utc_now
from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.errors import (
    ApiError,
    MarketplaceError,
    NetworkError,
    RateLimited,
    RetriesExhausted,
    classify,
)
from returns_tui.marketplace.signing import sign

_NETWORK_FAILURES = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


@dataclass(frozen=True)
class ShopAccess:
    """Where one shop's calls go and what signs them."""

    app_key: str
    app_secret: str = field(repr=False)
    shop_cipher: str
    base_url: str = p.DEFAULT_BASE_URL
    auth_url: str = p.DEFAULT_AUTH_URL


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_token_expires_at: int | None = None  # Unix seconds; None: unknown
    refresh_token_expires_at: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5          # attempts in all, the first included
    backoff_base: float = 0.5      # seconds before the first retry; doubles each time
    backoff_cap: float = 30.0
    jitter: float = 0.25           # up to this fraction added at random
    max_retry_after: float = 300.0  # a longer retry-after gives up at once
    timeout: float = 30.0          # seconds for one attempt, connection to last byte


@dataclass(frozen=True)
class SearchPage:
    return_orders: list[dict[str, Any]]
    next_page_token: str | None
    total_count: int | None


TokensCallback = Callable[[Tokens], Awaitable[None] | None]


class ReturnsClient:
    """One shop's calls. Use as `async with ReturnsClient(...) as client:`, or call close()."""

    def __init__(
        self,
        access: ShopAccess,
        tokens: Tokens,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: asyncio.Semaphore | int = 8,
        retry: RetryPolicy = RetryPolicy(),
        clock: Clock = utc_now,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_tokens: TokensCallback | None = None,
        refresh_margin: float = 600.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.access = access
        self.tokens = tokens
        self.retry = retry
        self._session = session
        self._own_session = session is None
        self._limiter = asyncio.Semaphore(limiter) if isinstance(limiter, int) else limiter
        self._clock = clock
        self._sleep = sleep
        self._on_tokens = on_tokens
        self._refresh_margin = refresh_margin
        self._rng = rng
        self._refresh_lock = asyncio.Lock()
        self._base = URL(access.base_url)
        self._auth = URL(access.auth_url)

    def __repr__(self) -> str:
        return f"ReturnsClient(app_key={self.access.app_key!r}, base_url={self.access.base_url!r})"

    async def __aenter__(self) -> ReturnsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ----- the endpoints -------------------------------------------------------------------

    async def search_returns(
        self,
        *,
        page_size: int = p.PAGE_SIZE_MAX,
        page_token: str | None = None,
        sort_field: str = "update_time",
        sort_order: str = "ASC",
        **filters: Any,
    ) -> SearchPage:
        """One page of returns. Filters are the search body's fields (protocol.SEARCH_FILTERS);
        pass the previous page's `next_page_token` with the same filters for the next one."""
        _check_search(page_size, sort_field, sort_order, filters)
        query = {"page_size": str(page_size), "sort_field": sort_field, "sort_order": sort_order}
        if page_token:
            query["page_token"] = page_token
        body = {k: v for k, v in filters.items() if v is not None}
        data = await self._call("search", "POST", p.PATH_SEARCH, query, body)
        return SearchPage(
            return_orders=list(data.get("return_orders") or []),
            next_page_token=data.get("next_page_token") or None,
            total_count=data.get("total_count"),
        )

    async def iter_returns(self, **search: Any) -> AsyncIterator[SearchPage]:
        """Every page of a search, in order, until the marketplace gives no next token."""
        token = search.pop("page_token", None)
        while True:
            page = await self.search_returns(page_token=token, **search)
            yield page
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def get_records(self, return_id: str, *, locale: str | None = None) -> list[dict]:
        query = {"locale": locale} if locale else {}
        path = p.PATH_RECORDS.format(return_id=_path_id(return_id))
        data = await self._call("records", "GET", path, query, None)
        return list(data.get("records") or [])

    async def reject_reasons(self, return_id: str, *, locale: str | None = None) -> list[dict]:
        """The reasons the marketplace accepts for rejecting this return at its current stage."""
        query = {"return_or_cancel_id": return_id}
        if locale:
            query["locale"] = locale
        data = await self._call("reject_reasons", "GET", p.PATH_REJECT_REASONS, query, None)
        return list(data.get("reasons") or [])

    async def approve(
        self,
        return_id: str,
        decision: str,
        *,
        idempotency_key: str,
        buyer_keep_item: bool | None = None,
        partial_refund: Mapping[str, str] | None = None,
    ) -> dict:
        if decision not in p.APPROVE_DECISIONS:
            raise ValueError(f"{decision!r} is not an approve decision")
        body: dict[str, Any] = {"decision": decision}
        if buyer_keep_item is not None:
            body["buyer_keep_item"] = buyer_keep_item
        if partial_refund is not None:
            body["partial_refund"] = dict(partial_refund)
        path = p.PATH_APPROVE.format(return_id=_path_id(return_id))
        return await self._write("approve", path, idempotency_key, body)

    async def reject(
        self,
        return_id: str,
        decision: str,
        *,
        idempotency_key: str,
        reject_reason: str,
        comment: str | None = None,
        images: list[Mapping[str, Any]] | None = None,
    ) -> dict:
        if decision not in p.REJECT_DECISIONS:
            raise ValueError(f"{decision!r} is not a reject decision")
        body: dict[str, Any] = {"decision": decision, "reject_reason": reject_reason}
        if comment is not None:
            body["comment"] = comment
        if images:
            body["images"] = [dict(i) for i in images]
        path = p.PATH_REJECT.format(return_id=_path_id(return_id))
        return await self._write("reject", path, idempotency_key, body)

    async def refresh_tokens(self, *, stale: Tokens | None = None) -> Tokens:
        """New tokens from the auth host; `on_tokens` is awaited before they are used. When
        `stale` is given and the tokens already moved past it, nothing is asked again."""
        async with self._refresh_lock:
            if stale is not None and self.tokens.access_token != stale.access_token:
                return self.tokens
            query = {
                "app_key": self.access.app_key,
                "app_secret": self.access.app_secret,
                "refresh_token": self.tokens.refresh_token,
                "grant_type": "refresh_token",
            }
            url = self._auth.with_path(_join(self._auth.path, p.PATH_TOKEN_REFRESH))
            data = await self._with_retries("token_refresh", lambda: self._send(
                "token_refresh", "GET", url, query, b"", {}))
            fresh = Tokens(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                access_token_expires_at=_int_or_none(data.get("access_token_expire_in")),
                refresh_token_expires_at=_int_or_none(data.get("refresh_token_expire_in")),
            )
            if self._on_tokens is not None:
                result = self._on_tokens(fresh)
                if inspect.isawaitable(result):
                    await result
            self.tokens = fresh
            return fresh

    # ----- the machinery -------------------------------------------------------------------

    async def _write(self, name: str, path: str, key: str, body: dict) -> dict:
        if not isinstance(key, str) or not 0 < len(key) <= p.IDEMPOTENCY_KEY_MAX:
            raise ValueError("idempotency_key must be 1 to 255 characters")
        return await self._call(name, "POST", path, {"idempotency_key": key}, body)

    async def _call(self, name: str, method: str, path: str, query: dict[str, str],
                    body: dict | None) -> dict:
        payload = b"" if body is None else _json_bytes(body)
        await self._refresh_if_due()
        refreshed = False
        while True:
            used = self.tokens
            try:
                return await self._with_retries(
                    name, lambda: self._signed(name, method, path, query, payload))
            except ApiError as exc:
                if exc.code != p.EXPIRED_TOKEN or refreshed or not used.refresh_token:
                    raise
                refreshed = True
                await self.refresh_tokens(stale=used)

    async def _refresh_if_due(self) -> None:
        expires = self.tokens.access_token_expires_at
        if expires is None or not self.tokens.refresh_token:
            return
        if self._now() >= expires - self._refresh_margin:
            await self.refresh_tokens(stale=self.tokens)

    async def _with_retries(self, name: str, attempt: Callable[[], Awaitable[dict]]) -> dict:
        for number in range(1, self.retry.max_attempts + 1):
            try:
                return await attempt()
            except ApiError as exc:
                if not exc.retryable:
                    raise
                failure: MarketplaceError = exc
            except _NETWORK_FAILURES as exc:
                failure = NetworkError(name, exc)
            if number == self.retry.max_attempts:
                raise RetriesExhausted(name, number, failure)
            delay = self._delay(failure, number)
            if delay > self.retry.max_retry_after:
                raise RetriesExhausted(name, number, failure,
                                       f"as told to wait {delay:g} s, more than allowed")
            await self._sleep(delay)
        raise AssertionError("unreachable: max_attempts must be at least 1")

    def _delay(self, failure: MarketplaceError, number: int) -> float:
        if isinstance(failure, RateLimited) and failure.retry_after is not None:
            return failure.retry_after
        backoff = min(self.retry.backoff_cap, self.retry.backoff_base * 2 ** (number - 1))
        return backoff * (1 + self.retry.jitter * self._rng())

    async def _signed(self, name: str, method: str, path: str, query: dict[str, str],
                      payload: bytes) -> dict:
        full_path = _join(self._base.path, path)
        stamped = {
            **query,
            "app_key": self.access.app_key,
            "timestamp": str(self._now()),
            "shop_cipher": self.access.shop_cipher,
        }
        stamped["sign"] = sign(self.access.app_secret, full_path, stamped, payload, method=method)
        headers = {p.ACCESS_TOKEN_HEADER: self.tokens.access_token,
                   "content-type": "application/json"}
        return await self._send(name, method, self._base.with_path(full_path), stamped,
                                payload, headers)

    async def _send(self, name: str, method: str, url: URL, query: dict[str, str],
                    payload: bytes, headers: dict[str, str]) -> dict:
        session = self._session_now()
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        async with self._limiter:
            async with session.request(method, url, params=query, data=payload or None,
                                       headers=headers, timeout=timeout) as response:
                raw = await response.read()
                return _open_envelope(name, response.status, response.headers, raw, self._now())

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    def _now(self) -> int:
        return int(self._clock().timestamp())


def _open_envelope(name: str, status: int, headers: Mapping[str, str], raw: bytes,
                   now: int) -> dict:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        doc = None
    retry_after = _retry_after(headers.get("Retry-After"), now)
    if isinstance(doc, dict) and "code" in doc:
        code = _int_or_none(doc.get("code"))
        if code == p.OK and status < 400:
            data = doc.get("data")
            return data if isinstance(data, dict) else {}
        message = str(doc.get("message") or "")
        request_id = doc.get("request_id")
        raise classify(name, code, message, request_id=request_id, http_status=status,
                       retry_after=retry_after)
    raise classify(name, None, f"HTTP {status} without an answer of the API", request_id=None,
                   http_status=status, retry_after=retry_after)


def _retry_after(value: str | None, now: int) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 allows both)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    return max(0.0, seconds)


def _check_search(page_size: int, sort_field: str, sort_order: str, filters: dict) -> None:
    if not p.PAGE_SIZE_MIN <= page_size <= p.PAGE_SIZE_MAX:
        raise ValueError(f"page_size must be {p.PAGE_SIZE_MIN} to {p.PAGE_SIZE_MAX}")
    if sort_field not in p.SORT_FIELDS or sort_order not in p.SORT_ORDERS:
        raise ValueError("sort_field is create_time or update_time; sort_order ASC or DESC")
    unknown = set(filters) - set(p.SEARCH_FILTERS)
    if unknown:
        raise ValueError(f"not a search filter: {', '.join(sorted(unknown))}")


def _path_id(return_id: str) -> str:
    # An id goes into the path as is: one that could change the path is a caller's bug.
    if not isinstance(return_id, str) or not return_id.isalnum():
        raise ValueError(f"{return_id!r} is not a return id")
    return return_id


def _join(prefix: str, path: str) -> str:
    return prefix.rstrip("/") + path


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

