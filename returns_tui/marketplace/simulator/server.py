"""The simulator's HTTP side on aiohttp: the API endpoints, their checks, and the faults.

Every API call goes: the fault schedule (a 429, a 36009003, a wait, a dropped connection), the
clock (deadlines that have passed are applied first), the checks of TIKTOK_API.md "Signing" in
the order below, then the endpoint. Writes carrying an `idempotency_key` store their answer under
(shop, key): the same key with the same request gets the same answer again, byte for byte and
with no second effect; with another request, an error.

The checks, each with the code and message TikTok's common-errors page gives (HTTP statuses are
this simulator's choice, `HTTP_STATUS`):
  app_key unknown         36009004 Invalid credentials. Invalid `app_key` query parameter.
  no sign                 36009004 Missing credentials. ...
  timestamp not a number, below 0, more than 5 minutes old or ahead (TIMESTAMP_MAX_*):
                          36009004 Invalid timestamp. ...
  sign wrong              106001   Invalid credentials. The `sign` query parameter is invalid.
  token unknown           36009004 Invalid credentials. The `x-tts-access-token` header ...
  token expired           105002   Expired credentials. ...
  shop_cipher missing     106013   Missing identifier. ...
  shop_cipher not the token's shop: 36009004 Invalid identifier. (chosen wording)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.signing import sign, signature_matches
from returns_tui.marketplace.simulator.faults import Fault
from returns_tui.marketplace.simulator.index import PageTokenError, Query
from returns_tui.marketplace.simulator.model import Refusal, Return, invalid
from returns_tui.marketplace.simulator.views import record_view, return_view

if TYPE_CHECKING:
    from returns_tui.marketplace.simulator.sim import ShopConfig, Simulator

# How far a timestamp may be from the simulator's clock: TIKTOK_API.md's "more than 5 minutes
# off is refused", both ways. TikTok's common-errors messages let a timestamp run ahead by 30 s
# at most; set TIMESTAMP_MAX_AHEAD = 30 once TIKTOK_API.md says so too.
TIMESTAMP_MAX_AGE = 300
TIMESTAMP_MAX_AHEAD = 300

HTTP_STATUS = {
    p.TOO_MANY_REQUESTS: 429, p.INTERNAL_RETRYABLE: 500, p.EXPIRED_TOKEN: 401,
    p.INVALID_SIGN: 401, p.CHOSEN_RETURN_NOT_FOUND: 404, p.CHOSEN_REFRESH_TOKEN_INVALID: 401,
}
CREDENTIALS_STATUS = 401  # 36009004 when it is about credentials; 400 when about a parameter

MSG_APP_KEY = "Invalid credentials. Invalid `app_key` query parameter."
MSG_NO_SIGN = "Missing credentials. The request does not include a required signature in the query."
MSG_TS_MISSING = "Invalid timestamp. The `timestamp` query parameter must be Unix seconds."
MSG_TS_NEGATIVE = ("Invalid timestamp. The value of the `timestamp` query parameter must not be "
                   "lesser than 0.")
MSG_TS_OLD = ("Invalid timestamp. The value of the `timestamp` query parameter must not be "
              "earlier than 5 minutes before the current time.")
MSG_TS_AHEAD = ("Invalid timestamp. The value of the `timestamp` query parameter must not exceed "
                f"the current time by more than {TIMESTAMP_MAX_AHEAD} seconds.")
MSG_SIGN = "Invalid credentials. The `sign` query parameter is invalid."
MSG_TOKEN = "Invalid credentials. The `x-tts-access-token` header is invalid."
MSG_EXPIRED = "Expired credentials. The `access_token` or `x-tts-access-token` header has expired."
MSG_NO_CIPHER = ("Missing identifier. The `shop_cipher` query parameter is required to identify "
                 "the target shop.")
MSG_CIPHER = "Invalid identifier. The `shop_cipher` query parameter is invalid."
MSG_CIPHER_UNEXPECTED = ("Unexpected identifier. The `shop_cipher` query parameter is not "
                         "required for this request.")
MSG_RATE = "Too many requests. You've made too many requests in a short period of time."
MSG_INTERNAL = ("Internal error. Please try again. If the issue persists after multiple "
                "attempts, please contact platform support.")
MSG_FORMAT = ("Invalid request format. The request body format must be `application/json` for "
              "structured data or `multipart/form-data` for binary files.")


def _credentials(message: str, code: int = p.INVALID_REQUEST) -> Refusal:
    return Refusal(code, message, HTTP_STATUS.get(code, CREDENTIALS_STATUS))


def _refusal(code: int, message: str) -> Refusal:
    return Refusal(code, message, HTTP_STATUS.get(code, 400))


class Api:
    """The endpoints, bound to one simulator."""

    ROUTES = (
        ("POST", p.PATH_SEARCH, "search"),
        ("GET", p.PATH_RECORDS, "records"),
        ("POST", p.PATH_APPROVE, "approve"),
        ("POST", p.PATH_REJECT, "reject"),
        ("GET", p.PATH_REJECT_REASONS, "reject_reasons"),
        ("GET", p.PATH_SHOPS, "shops"),
        ("PUT", p.PATH_WEBHOOKS, "webhooks"),
        ("GET", p.PATH_TOKEN_REFRESH, "token_refresh"),
    )

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def install(self, app: web.Application) -> None:
        for method, path, name in self.ROUTES:
            app.router.add_route(method, path, self._handler(name))

    def _handler(self, name: str):
        async def handle(request: web.Request) -> web.StreamResponse:
            self.sim.calls[name] += 1
            self.sim.in_flight += 1
            self.sim.max_in_flight = max(self.sim.max_in_flight, self.sim.in_flight)
            try:
                return await self._handle(name, request)
            finally:
                self.sim.in_flight -= 1
        return handle

    async def _handle(self, name: str, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        fault = self.sim.faults.take(name)
        if fault is not None and fault.when == "before":
            early = await self._fault(request, fault)
            if early is not None:
                return early
        self.sim.market.tick()
        status, doc = self.answer(name, request, raw)
        if fault is not None and fault.kind == "drop":  # when="after": done, answer lost
            return _drop(request)
        return web.json_response(doc, status=status)

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "rate_limit":
            return web.json_response(_envelope(p.TOO_MANY_REQUESTS, MSG_RATE), status=429,
                                     headers={"Retry-After": f"{fault.retry_after:g}"})
        if fault.kind == "internal":
            return web.json_response(_envelope(p.INTERNAL_RETRYABLE, MSG_INTERNAL), status=500)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        return _drop(request)

    def answer(self, name: str, request: web.Request, raw: bytes) -> tuple[int, dict]:
        """(HTTP status, envelope) for a call that got past the faults."""
        try:
            if name == "token_refresh":
                return 200, _envelope(p.OK, "success", self._token_refresh(request))
            shop = self._authenticate(request, raw, shop_scoped=name != "shops")
            body = _json_body(raw) if request.method != "GET" else {}
            if name in ("approve", "reject"):
                return self._write(name, shop, request, body)
            data = getattr(self, f"_{name}")(shop, request, body)
            return 200, _envelope(p.OK, "Success", data)
        except Refusal as refusal:
            return refusal.http_status, _envelope(refusal.code, refusal.message)

    # ----- the checks ----------------------------------------------------------------------

    def _authenticate(self, request: web.Request, raw: bytes, shop_scoped: bool) -> ShopConfig:
        query = _single_values(request)
        secret = self.sim.apps.get(query.get("app_key", ""))
        if secret is None:
            raise _credentials(MSG_APP_KEY)
        if "sign" not in query:
            raise _credentials(MSG_NO_SIGN)
        self._check_timestamp(query.get("timestamp"))
        expected = sign(secret, request.path, query, raw, method=request.method,
                        content_type=request.headers.get("content-type"))
        if not signature_matches(expected, query["sign"]):
            raise _credentials(MSG_SIGN, p.INVALID_SIGN)
        shop = self._shop_of_token(request.headers.get(p.ACCESS_TOKEN_HEADER), query["app_key"])
        cipher = query.get("shop_cipher")
        if not shop_scoped:
            if cipher is not None:
                raise _credentials(MSG_CIPHER_UNEXPECTED)
        elif cipher is None:
            raise _refusal(p.MISSING_SHOP_CIPHER, MSG_NO_CIPHER)
        elif cipher != shop.shop_cipher:
            raise _credentials(MSG_CIPHER)
        return shop

    def _check_timestamp(self, text: str | None) -> None:
        try:
            stamp = int(text or "")
        except ValueError:
            raise _credentials(MSG_TS_MISSING) from None
        now = self.sim.market.now()
        if stamp < 0:
            raise _credentials(MSG_TS_NEGATIVE)
        if stamp < now - TIMESTAMP_MAX_AGE:
            raise _credentials(MSG_TS_OLD)
        if stamp > now + TIMESTAMP_MAX_AHEAD:
            raise _credentials(MSG_TS_AHEAD)

    def _shop_of_token(self, token: str | None, app_key: str) -> ShopConfig:
        held = self.sim.access_tokens.get(token or "")
        if held is None:
            raise _credentials(MSG_TOKEN)
        shop_name, expires_at = held
        shop = self.sim.shops[shop_name]
        if shop.app_key != app_key:
            raise _credentials(MSG_TOKEN)
        if self.sim.market.now() >= expires_at:
            raise _credentials(MSG_EXPIRED, p.EXPIRED_TOKEN)
        return shop

    # ----- the endpoints -------------------------------------------------------------------

    def _search(self, shop: ShopConfig, request: web.Request, body: dict) -> dict:
        q = _search_query(_single_values(request), body)
        try:
            page = self.sim.market.index(shop.name).search(self.sim.market.returns, q)
        except PageTokenError as exc:
            raise _refusal(p.CHOSEN_PAGE_TOKEN_INVALID, str(exc)) from None
        return {"return_orders": [return_view(r) for r in page.returns],
                "next_page_token": page.next_page_token, "total_count": page.total_count}

    def _records(self, shop: ShopConfig, request: web.Request, body: dict) -> dict:
        ret = self._return_of(shop, request.match_info["return_id"])
        return {"records": [record_view(r) for r in ret.records]}

    def _reject_reasons(self, shop: ShopConfig, request: web.Request, body: dict) -> dict:
        return_id = request.query.get("return_or_cancel_id")
        if not return_id:
            raise invalid("return_or_cancel_id is required.")
        ret = self._return_of(shop, return_id)
        reasons = self.sim.market.reasons_for(ret)
        return {"reasons": [{"name": name, "text": text} for name, text in reasons]}

    def _shops(self, shop: ShopConfig, request: web.Request, body: dict) -> dict:
        code = f"{shop.region}LC{shop.shop_id[-6:]}"
        return {"shops": [{"cipher": shop.shop_cipher, "code": code, "id": shop.shop_id,
                           "name": shop.name, "region": shop.region, "seller_type": "LOCAL"}]}

    def _webhooks(self, shop: ShopConfig, request: web.Request, body: dict) -> dict:
        if body.get("event_type") != p.WEBHOOK_EVENT_RETURN_STATUS_CHANGE:
            raise invalid(f"event_type must be {p.WEBHOOK_EVENT_RETURN_STATUS_CHANGE} here.")
        address = body.get("address")
        if not isinstance(address, str) or not address.startswith(("http://", "https://")):
            raise invalid("address must be an http(s) URL.")
        shop.webhook_url = address
        return {}

    def _write(self, name: str, shop: ShopConfig, request: web.Request,
               body: dict) -> tuple[int, dict]:
        key = request.query.get("idempotency_key")
        return_id = request.match_info["return_id"]
        self.sim.writes.append((name, return_id, key))
        if key is not None and not 0 < len(key) <= p.IDEMPOTENCY_KEY_MAX:
            raise invalid(f"idempotency_key must be 1 to {p.IDEMPOTENCY_KEY_MAX} characters.")
        fingerprint = hashlib.sha256(json.dumps([name, return_id, body], sort_keys=True)
                                     .encode()).hexdigest()
        stored = self.sim.idempotency.get((shop.name, key)) if key else None
        if stored is not None:
            if stored[0] != fingerprint:
                raise _refusal(p.CHOSEN_IDEMPOTENCY_CONFLICT,
                               "This idempotency_key was used for another request.")
            return stored[1], stored[2]
        try:
            self._decide(name, shop, return_id, body)
            outcome = 200, _envelope(p.OK, "Success", {})
        except Refusal as refusal:
            outcome = refusal.http_status, _envelope(refusal.code, refusal.message)
        if key:
            self.sim.idempotency[(shop.name, key)] = (fingerprint, *outcome)
        return outcome

    def _decide(self, name: str, shop: ShopConfig, return_id: str, body: dict) -> None:
        decision = body.get("decision")
        allowed = p.APPROVE_DECISIONS if name == "approve" else p.REJECT_DECISIONS
        if decision not in allowed:
            raise invalid(f"decision must be one of {', '.join(sorted(allowed))}.")
        ret = self._return_of(shop, return_id)
        self.sim.market.decide(ret, decision, body)

    def _return_of(self, shop: ShopConfig, return_id: str) -> Return:
        ret = self.sim.market.returns.get(return_id)
        if ret is None or ret.shop != shop.name:
            raise _refusal(p.CHOSEN_RETURN_NOT_FOUND, f"The return {return_id} does not exist.")
        return ret

    def _token_refresh(self, request: web.Request) -> dict:
        query = _single_values(request)
        secret = self.sim.apps.get(query.get("app_key", ""))
        if secret is None:
            raise _credentials(MSG_APP_KEY)
        if not signature_matches(secret, query.get("app_secret")):
            raise _credentials("Invalid credentials. Invalid `app_secret` query parameter.")
        if query.get("grant_type") != "refresh_token":
            raise invalid("grant_type must be refresh_token.")
        return self.sim.refresh(query.get("app_key", ""), query.get("refresh_token", ""))


def _search_query(query: dict[str, str], body: dict) -> Query:
    try:
        page_size = int(query.get("page_size", ""))
    except ValueError:
        raise invalid("page_size is required.") from None
    if not p.PAGE_SIZE_MIN <= page_size <= p.PAGE_SIZE_MAX:
        raise invalid(f"page_size must be {p.PAGE_SIZE_MIN} to {p.PAGE_SIZE_MAX}.")
    sort_field = query.get("sort_field", "create_time")
    sort_order = query.get("sort_order", "DESC")
    if sort_field not in p.SORT_FIELDS or sort_order not in p.SORT_ORDERS:
        raise invalid("sort_field is create_time or update_time; sort_order ASC or DESC.")
    filters: dict[str, Any] = {}
    for name in p.SEARCH_FILTERS:
        value = body.get(name)
        if value is None or name == "locale":
            continue
        if name.endswith(("_ge", "_lt")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise invalid(f"{name} must be a Unix time in seconds.")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"{name} must be a list of strings.")
        filters[name] = value
    return Query(filters, sort_field, sort_order, page_size, query.get("page_token") or None)


def _single_values(request: web.Request) -> dict[str, str]:
    keys = list(request.query.keys())
    if len(keys) != len(set(keys)):
        raise invalid("A query parameter is repeated.")
    return dict(request.query)


def _json_body(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(p.INVALID_FORMAT, MSG_FORMAT) from None
    if not isinstance(body, dict):
        raise Refusal(p.INVALID_FORMAT, MSG_FORMAT)
    return body


def _envelope(code: int, message: str, data: Any = None) -> dict:
    return {"code": code, "message": message, "request_id": secrets.token_hex(16).upper(),
            "data": data}


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection with no answer (the client sees the server disconnect)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()
