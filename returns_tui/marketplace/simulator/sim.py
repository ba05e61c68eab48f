"""The simulator as one object: shops and their tokens, the marketplace, faults, webhooks, the
HTTP server, and Python methods for tests and the demo to act as buyers and the platform."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pendulum
from aiohttp import web
from pendulum import DateTime

from returns_tui.clock import Clock, utc_now
from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.client import ReturnsClient, ShopAccess, Tokens
from returns_tui.marketplace.simulator.control import Control
from returns_tui.marketplace.simulator.faults import FaultSchedule
from returns_tui.marketplace.simulator.model import (
    RETURN_TYPES,
    Marketplace,
    MoveRefused,
    Refusal,
    Windows,
)
from returns_tui.marketplace.simulator.seed import PRODUCTS, seed_shop
from returns_tui.marketplace.simulator.server import Api
from returns_tui.marketplace.simulator.views import return_view, webhook_data
from returns_tui.marketplace.simulator.webhooks import TIKTOK_RETRY_DELAYS, Webhooks

# TikTok's token answer: access tokens last seven days by default (Node SDK client/token.ts).
ACCESS_TOKEN_TTL = 7 * 24 * 3600
REFRESH_TOKEN_TTL = 365 * 24 * 3600  # chosen: the official sample shows about a year


class MovableClock:
    """A clock tests and the demo move by hand (a `returns_tui.clock.Clock`)."""

    def __init__(self, start: DateTime | None = None) -> None:
        self._now = (start or pendulum.datetime(2026, 11, 20, 9, 0, tz="UTC")).in_timezone("UTC")

    def __call__(self) -> DateTime:
        return self._now

    def advance(self, **delta: float) -> DateTime:
        self._now = self._now.add(**delta)
        return self._now


@dataclass
class ShopConfig:
    """One simulated shop: its app's credentials, cipher, id, tokens and webhook address."""

    name: str
    app_key: str
    app_secret: str = field(repr=False)
    shop_cipher: str = ""
    shop_id: str = ""
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    access_expires_at: int | None = None  # None: ACCESS_TOKEN_TTL from when the simulator starts
    refresh_expires_at: int | None = None
    currency: str = "USD"
    region: str = "US"
    webhook_url: str | None = None

    @classmethod
    def make(cls, name: str, *, seed: str = "sim", app: tuple[str, str] | None = None,
             **kwargs: Any) -> ShopConfig:
        """Credentials derived from the name and seed, so a run can be repeated; `app` =
        (app_key, app_secret) to let several shops share one app."""
        digest = hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()
        app_key, app_secret = app or ("6a" + digest[:10], digest[10:42])
        return cls(name, app_key, app_secret, shop_cipher=f"ROW_{digest[42:58]}",
                   shop_id=str(7494000000000000000 + int(digest[:12], 16) % 10**15),
                   access_token=f"TTP_{digest[:20]}a", refresh_token=f"TTP_{digest[20:40]}r",
                   **kwargs)


class Simulator:
    def __init__(
        self,
        shops: list[ShopConfig],
        *,
        clock: Clock | None = None,
        windows: Windows | None = None,
        webhook_retry_delays: tuple[float, ...] = TIKTOK_RETRY_DELAYS,
        webhook_timeout: float = 5.0,
        tick_interval: float = 0.5,
    ) -> None:
        self.clock = clock or utc_now
        self.market = Marketplace(self.clock, windows or Windows())
        self.shops = {s.name: s for s in shops}
        self.apps: dict[str, str] = {}
        for shop in shops:
            if self.apps.setdefault(shop.app_key, shop.app_secret) != shop.app_secret:
                raise ValueError(f"app {shop.app_key} is given two secrets")
        self.faults = FaultSchedule()
        self.webhooks = Webhooks(self.shops.__getitem__, self.market.now, webhook_retry_delays,
                                 webhook_timeout)
        self.market.listeners.append(self._changed)
        self.idempotency: dict[tuple[str, str], tuple[str, int, dict]] = {}
        self.calls: Counter[str] = Counter()
        self.in_flight = self.max_in_flight = 0  # API calls being handled; the most at once
        self.writes: list[tuple[str, str, str | None]] = []  # (endpoint, return id, key)
        self.refreshes = 0
        self.base_url: str | None = None
        self.tick_interval = tick_interval
        self.access_tokens: dict[str, tuple[str, int]] = {}
        self.refresh_tokens: dict[str, tuple[str, int]] = {}
        now = self.market.now()
        for shop in shops:
            shop.access_expires_at = shop.access_expires_at or now + ACCESS_TOKEN_TTL
            shop.refresh_expires_at = shop.refresh_expires_at or now + REFRESH_TOKEN_TTL
            self.access_tokens[shop.access_token] = (shop.name, shop.access_expires_at)
            self.refresh_tokens[shop.refresh_token] = (shop.name, shop.refresh_expires_at)

    # ----- serving -------------------------------------------------------------------------

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the API (and the /_sim control API) until the block ends; yields the base URL.
        Webhooks are delivered and deadlines applied by the clock meanwhile."""
        app = web.Application(client_max_size=1 << 20)
        Api(self).install(app)
        Control(self).install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        tasks = [asyncio.create_task(self.webhooks.run()), asyncio.create_task(self._ticker())]
        try:
            yield self.base_url
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            self.base_url = None

    async def _ticker(self) -> None:
        while True:
            self.market.tick()
            await asyncio.sleep(self.tick_interval)

    def access_for(self, shop: str) -> tuple[ShopAccess, Tokens]:
        """What a client of this shop needs, pointed at the running server."""
        if self.base_url is None:
            raise RuntimeError("the simulator is not serving")
        s = self.shops[shop]
        return (ShopAccess(s.app_key, s.app_secret, s.shop_cipher, self.base_url, self.base_url),
                Tokens(s.access_token, s.refresh_token, s.access_expires_at, s.refresh_expires_at))

    def client(self, shop: str, **options: Any) -> ReturnsClient:
        """A client of this shop on the running server, on the simulator's clock (the demo's
        and the tests' way in; options as ReturnsClient's)."""
        access, tokens = self.access_for(shop)
        options.setdefault("clock", self.clock)
        return ReturnsClient(access, tokens, **options)

    def sync_table(self, shop: str) -> dict[str, str]:
        """The shop's table for the sync's TOML configuration (DESIGN §8)."""
        access, tokens = self.access_for(shop)
        return {"marketplace": "tiktok", "base_url": access.base_url, "auth_url": access.auth_url,
                "app_key": access.app_key, "app_secret": access.app_secret,
                "shop_cipher": access.shop_cipher, "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token, "shop_id": self.shops[shop].shop_id}

    # ----- tokens --------------------------------------------------------------------------

    def refresh(self, app_key: str, refresh_token: str) -> dict[str, Any]:
        """The token refresh: new access and refresh tokens; the old refresh token is spent,
        the old access token lasts until it expires."""
        held = self.refresh_tokens.get(refresh_token)
        now = self.market.now()
        if held is None or now >= held[1] or self.shops[held[0]].app_key != app_key:
            raise Refusal(p.CHOSEN_REFRESH_TOKEN_INVALID, "Invalid refresh token.", 401)
        shop = self.shops[held[0]]
        del self.refresh_tokens[refresh_token]
        shop.access_token = "TTP_" + secrets.token_urlsafe(24)
        shop.refresh_token = "TTP_" + secrets.token_urlsafe(24)
        shop.access_expires_at = now + ACCESS_TOKEN_TTL
        shop.refresh_expires_at = now + REFRESH_TOKEN_TTL
        self.access_tokens[shop.access_token] = (shop.name, shop.access_expires_at)
        self.refresh_tokens[shop.refresh_token] = (shop.name, shop.refresh_expires_at)
        self.refreshes += 1
        return {"access_token": shop.access_token, "access_token_expire_in": shop.access_expires_at,
                "refresh_token": shop.refresh_token,
                "refresh_token_expire_in": shop.refresh_expires_at, "open_id": shop.shop_id,
                "seller_name": shop.name, "seller_base_region": shop.region, "user_type": 0,
                "granted_scopes": ["seller.return_refund.basic"]}

    def expire_access_token(self, shop: str, token: str | None = None) -> None:
        """The shop's access token (or an older `token` of it) expires now: a call with it
        gets 105002."""
        s = self.shops[shop]
        now = self.market.now()
        if token is None or token == s.access_token:
            token, s.access_expires_at = s.access_token, now
        self.access_tokens[token] = (shop, now)

    # ----- returns, and the buyers and the platform moving them ----------------------------

    def create_return(self, shop: str, return_type: str = "REFUND", amount: str = "25.00",
                      **options: Any) -> str:
        """A buyer's new request (one line of `amount`); options as Marketplace.create_return."""
        config = self.shops[shop]
        if return_type not in RETURN_TYPES:
            raise MoveRefused(f"{return_type!r} is not a return type")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise MoveRefused(f"{amount!r} is not an amount") from None
        name, sku, _ = PRODUCTS[len(self.market.returns) % len(PRODUCTS)]
        line = self.market.make_line(options.pop("product_name", name),
                                     options.pop("seller_sku", sku), value)
        options.setdefault("buyer_user_id", "7494000000000000001")
        ret = self.market.create_return(shop, return_type, (line,), currency=config.currency,
                                        **options)
        return ret.return_id

    def seed(self, shop: str, count: int, *, seed: int = 0, hostile_every: int = 0) -> list[str]:
        config = self.shops[shop]
        return seed_shop(self.market, shop, count, currency=config.currency, seed=seed,
                         hostile_every=hostile_every)

    def view(self, return_id: str) -> dict[str, Any]:
        return return_view(self.market.get(return_id))

    def ship(self, return_id: str, **kw: Any) -> None:
        self.market.buyer_ship(self.market.get(return_id), **kw)

    def agree(self, return_id: str) -> None:
        self.market.buyer_agree(self.market.get(return_id))

    def decline(self, return_id: str) -> None:
        self.market.buyer_decline(self.market.get(return_id))

    def cancel(self, return_id: str) -> None:
        self.market.buyer_cancel(self.market.get(return_id))

    def appeal(self, return_id: str, note: str = "", images: tuple[str, ...] = ()) -> None:
        self.market.buyer_appeal(self.market.get(return_id), note, images)

    def rule(self, return_id: str, ruling: str) -> None:
        self.market.platform_rule(self.market.get(return_id), ruling)

    def pay(self, return_id: str) -> None:
        self.market.pay_refund(self.market.get(return_id))

    def force_status(self, return_id: str, status: str) -> None:
        self.market.force_status(self.market.get(return_id), status)

    def advance(self, **delta: float) -> int:
        """Move a MovableClock on and apply the deadlines passed; how many changed a return."""
        if not isinstance(self.clock, MovableClock):
            raise TypeError("advance needs the simulator built with a MovableClock")
        self.clock.advance(**delta)
        return self.market.tick()

    def forge_webhook(self, return_id: str):
        ret = self.market.get(return_id)
        return self.webhooks.forge(ret.shop, webhook_data(ret))

    def _changed(self, ret) -> None:
        self.webhooks.notify(ret.shop, webhook_data(ret))
