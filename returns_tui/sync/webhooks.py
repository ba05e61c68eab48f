"""`sync --listen HOST:PORT`: the marketplace's return-status notifications (DESIGN §8).

POST on any path. The `Authorization` header must be the hex HMAC-SHA256, keyed with the app
secret, of app_key + the raw body (signing.verify_webhook). The shop is the one whose table
names the notification's shop_id; when no table names it, any shop whose secret verifies the
signature. A notification that does not verify is answered 401 and read no further. One that
verifies is answered 200 at once; a repeat of its tts_notification_id (the marketplace retries)
does nothing more; a new one makes the engine fetch that return, records included, and bring it
in. The notification is only a signal: its data is never taken as the return's state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from returns_tui.errors import ReturnsError
from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.errors import MarketplaceError
from returns_tui.marketplace.signing import verify_webhook
from returns_tui.sync.engine import Engine, ShopSync, _db
from returns_tui.sync.mapping import Unreadable

MAX_BODY = 64 * 1024


@dataclass
class Timing:
    """When a notification arrived and when its return was in the database (perf_counter)."""

    notification_id: str
    return_id: str
    received: float
    stored: float | None = None


@dataclass
class Listener:
    engine: Engine
    timings: list[Timing] = field(default_factory=list)
    on_stored: Callable[[Timing], None] | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        received = time.perf_counter()
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        signature = request.headers.get(p.WEBHOOK_SIGNATURE_HEADER)
        payload = _json(raw)
        shop = self._verified_shop(payload, raw, signature)
        if shop is None:
            return web.Response(status=401, text="signature does not verify")
        if payload is None:
            return web.Response(status=400, text="not a JSON object")
        note_id = str(payload.get("tts_notification_id") or "")
        if not note_id or len(note_id) > 128:
            return web.Response(status=400, text="no tts_notification_id")
        try:
            first = await _db(self.engine.ledger.first_seen, note_id)
        except ReturnsError:  # an id the ledger cannot store: not one of TikTok's
            return web.Response(status=400, text="tts_notification_id is not valid")
        if not first:
            return web.Response(status=200, text="repeat")
        data = payload.get("data")
        return_id = data.get("return_id") if isinstance(data, dict) else None
        if payload.get("type") == p.WEBHOOK_TYPE_RETURN_STATUS_CHANGE and isinstance(
                return_id, str) and return_id.isascii() and return_id.isalnum():
            timing = Timing(note_id, return_id, received)
            task = asyncio.create_task(self._fetch(shop, timing))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(status=200, text="ok")

    def _verified_shop(self, payload: dict | None, raw: bytes,
                       signature: str | None) -> ShopSync | None:
        shops = list(self.engine.shops.values())
        shop_id = str(payload.get("shop_id")) if payload else None
        named = [s for s in shops if s.table.shop_id is not None and s.table.shop_id == shop_id]
        for shop in named or shops:
            if verify_webhook(shop.table.app_key, shop.table.app_secret, raw, signature):
                return shop
        return None

    async def _fetch(self, shop: ShopSync, timing: Timing) -> None:
        try:
            await shop.bring_in_one(timing.return_id)
        except (MarketplaceError, Unreadable) as exc:
            # The round will see the change by update_time; only the speed is lost.
            shop.teller.say(f"shop {shop.name}: a notification's return {timing.return_id} "
                            f"could not be fetched now ({getattr(exc, 'message', exc)}); the "
                            "next round brings it.")
            return
        timing.stored = time.perf_counter()
        self.timings.append(timing)
        if self.on_stored is not None:
            self.on_stored(timing)

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _json(raw: bytes) -> dict | None:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


async def serve(listener: Listener, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(listener.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
