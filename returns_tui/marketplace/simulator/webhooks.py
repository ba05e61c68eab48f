"""Signed notifications POSTed to each shop's webhook address, with TikTok's retries.

Every change of a return sends `{type: 12, tts_notification_id, shop_id, timestamp, data}`
with `Authorization` = hex HMAC-SHA256 (key app_secret) of app_key + the raw body. An answer
other than 2xx, or none, is delivered again after each of `retry_delays` in turn (TikTok: about
2 min, 30 min, 3 h, 12 h; tests pass fractions of a second). `repeat(id)` sends a notification
again under the same id, as TikTok's retries do; `forge(...)` sends one signed with the wrong
secret. `log` holds every attempt; `idle()` waits until nothing is queued or waiting to retry.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from returns_tui.marketplace import protocol as p
from returns_tui.marketplace.signing import webhook_signature

TIKTOK_RETRY_DELAYS = (120.0, 1800.0, 10800.0, 43200.0)


@dataclass(frozen=True)
class Notification:
    notification_id: str
    shop: str
    address: str
    body: bytes
    authorization: str
    forged: bool = False


@dataclass(frozen=True)
class Attempt:
    notification_id: str
    number: int          # 1 for the first delivery
    status: int | None   # the HTTP status answered, None when no answer
    error: str = ""
    forged: bool = False


class Webhooks:
    def __init__(self, shops: Callable[[str], Any], clock_now: Callable[[], int],
                 retry_delays: tuple[float, ...] = TIKTOK_RETRY_DELAYS,
                 timeout: float = 5.0) -> None:
        self._shops = shops          # shop name -> its ShopConfig
        self._now = clock_now
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.sent: dict[str, Notification] = {}
        self.log: list[Attempt] = []
        self._queue: deque[tuple[Notification, int]] = deque()
        self._pending = 0
        self._counter = 0
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()

    # ----- what to send --------------------------------------------------------------------

    def notify(self, shop: str, data: dict[str, Any]) -> Notification | None:
        """Queue a return status change; None when the shop has no webhook address."""
        config = self._shops(shop)
        if not config.webhook_url:
            return None
        note = self._build(config, data, config.app_secret, forged=False)
        self.sent[note.notification_id] = note
        self._enqueue(note, 1)
        return note

    def repeat(self, notification_id: str) -> Notification:
        """Deliver a notification again, same id and body (what TikTok's retries look like)."""
        note = self.sent[notification_id]
        self._enqueue(note, 1)
        return note

    def forge(self, shop: str, data: dict[str, Any]) -> Notification:
        """A notification signed with a secret that is not the app's: it must not verify."""
        config = self._shops(shop)
        if not config.webhook_url:
            raise ValueError(f"shop {shop} has no webhook address")
        note = self._build(config, data, "forged-" + config.app_secret, forged=True)
        self._enqueue(note, 1)
        return note

    def _build(self, config: Any, data: dict[str, Any], secret: str, forged: bool) -> Notification:
        self._counter += 1
        notification_id = str(7380066284010030000 + self._counter)
        payload = {
            "type": p.WEBHOOK_TYPE_RETURN_STATUS_CHANGE,
            "tts_notification_id": notification_id,
            "shop_id": config.shop_id,
            "timestamp": self._now(),
            "data": data,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = webhook_signature(config.app_key, secret, body)
        return Notification(notification_id, config.name, config.webhook_url, body, signature,
                            forged)

    # ----- delivery ------------------------------------------------------------------------

    def _enqueue(self, note: Notification, number: int) -> None:
        self._queue.append((note, number))
        self._pending += 1
        self._signal()

    def _signal(self) -> None:
        if self._wake is not None:
            self._wake.set()
        if self._idle is None:
            return
        if self._pending:
            self._idle.clear()
        else:
            self._idle.set()

    async def run(self) -> None:
        """Deliver until cancelled (started by Simulator.serve)."""
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._signal()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    while self._queue:
                        note, number = self._queue.popleft()
                        self._spawn(self._deliver(session, note, number))
                    self._wake.clear()
                    await self._wake.wait()
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, session: aiohttp.ClientSession, note: Notification,
                       number: int) -> None:
        status, error = None, ""
        headers = {p.WEBHOOK_SIGNATURE_HEADER: note.authorization,
                   "content-type": "application/json"}
        try:
            async with session.post(note.address, data=note.body, headers=headers) as answer:
                status = answer.status
                await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.log.append(Attempt(note.notification_id, number, status, error, note.forged))
        delivered = status is not None and 200 <= status < 300
        if not delivered and not note.forged and number <= len(self.retry_delays):
            await asyncio.sleep(self.retry_delays[number - 1])
            self._queue.append((note, number + 1))
            self._wake.set()
        else:
            self._pending -= 1
            self._signal()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every notification was delivered or ran out of retries."""
        if self._idle is None:
            raise RuntimeError("webhooks are delivered only while the simulator serves")
        await asyncio.wait_for(self._idle.wait(), timeout)
