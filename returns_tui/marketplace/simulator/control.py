"""The control API under /_sim/: what tests and scripts do to a running simulator from outside
(another process, a benchmark). Unsigned, JSON in and out; bind the server to loopback.

    POST   /_sim/advance              {"seconds": N} (MovableClock only) -> {"now", "applied"}
    POST   /_sim/tick                                       -> {"applied"}
    POST   /_sim/seed                 {"shop", "count", "seed"?} -> {"created"}
    POST   /_sim/returns              {"shop", "return_type"?, "amount"?} -> {"return_id"}
    GET    /_sim/returns/{id}                               -> the return as search shows it
    POST   /_sim/returns/{id}/{move}  move: ship, agree, decline, cancel, appeal, pay,
                                      rule {"ruling"}, status {"status"}
    POST   /_sim/faults               a Fault's fields      ; DELETE /_sim/faults clears them
    POST   /_sim/webhooks/{id}/repeat ; POST /_sim/webhooks/forge {"return_id"}
    POST   /_sim/shops/{name}/expire_token
    GET    /_sim/stats                                      -> counts per shop and status
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from returns_tui.marketplace.simulator.faults import Fault
from returns_tui.marketplace.simulator.model import MoveRefused

if TYPE_CHECKING:
    from returns_tui.marketplace.simulator.sim import Simulator

_MOVES = {
    "ship": lambda sim, rid, body: sim.ship(rid, **_pick(body, "tracking_number",
                                                          "provider_name")),
    "agree": lambda sim, rid, body: sim.agree(rid),
    "decline": lambda sim, rid, body: sim.decline(rid),
    "cancel": lambda sim, rid, body: sim.cancel(rid),
    "appeal": lambda sim, rid, body: sim.appeal(rid, str(body.get("note", ""))),
    "pay": lambda sim, rid, body: sim.pay(rid),
    "rule": lambda sim, rid, body: sim.rule(rid, str(body.get("ruling", ""))),
    "status": lambda sim, rid, body: sim.force_status(rid, str(body.get("status", ""))),
}


def _pick(body: dict, *names: str) -> dict:
    return {n: str(body[n]) for n in names if n in body}


class Control:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def install(self, app: web.Application) -> None:
        routes = [
            ("POST", "/_sim/advance", self.advance), ("POST", "/_sim/tick", self.tick),
            ("POST", "/_sim/seed", self.seed), ("POST", "/_sim/returns", self.create),
            ("GET", "/_sim/returns/{return_id}", self.view),
            ("POST", "/_sim/returns/{return_id}/{move}", self.move),
            ("POST", "/_sim/faults", self.add_fault), ("DELETE", "/_sim/faults", self.clear),
            ("POST", "/_sim/webhooks/forge", self.forge),
            ("POST", "/_sim/webhooks/{notification_id}/repeat", self.repeat),
            ("POST", "/_sim/shops/{shop}/expire_token", self.expire),
            ("GET", "/_sim/stats", self.stats),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, _guarded(handler))

    async def advance(self, request: web.Request, body: dict) -> dict:
        applied = self.sim.advance(seconds=float(body.get("seconds", 0)))
        return {"now": self.sim.market.now(), "applied": applied}

    async def tick(self, request: web.Request, body: dict) -> dict:
        return {"applied": self.sim.market.tick()}

    async def seed(self, request: web.Request, body: dict) -> dict:
        ids = self.sim.seed(str(body["shop"]), int(body["count"]), seed=int(body.get("seed", 0)))
        return {"created": len(ids)}

    async def create(self, request: web.Request, body: dict) -> dict:
        return_id = self.sim.create_return(str(body["shop"]),
                                           str(body.get("return_type", "REFUND")),
                                           str(body.get("amount", "25.00")))
        return {"return_id": return_id}

    async def view(self, request: web.Request, body: dict) -> dict:
        return self.sim.view(request.match_info["return_id"])

    async def move(self, request: web.Request, body: dict) -> dict:
        move = _MOVES.get(request.match_info["move"])
        if move is None:
            raise MoveRefused(f"no move {request.match_info['move']!r} ({', '.join(_MOVES)})")
        return_id = request.match_info["return_id"]
        move(self.sim, return_id, body)
        return self.sim.view(return_id)

    async def add_fault(self, request: web.Request, body: dict) -> dict:
        self.sim.faults.add(Fault(**body))
        return {"faults": len(self.sim.faults.faults)}

    async def clear(self, request: web.Request, body: dict) -> dict:
        self.sim.faults.clear()
        return {"faults": 0}

    async def forge(self, request: web.Request, body: dict) -> dict:
        note = self.sim.forge_webhook(str(body["return_id"]))
        return {"notification_id": note.notification_id}

    async def repeat(self, request: web.Request, body: dict) -> dict:
        note = self.sim.webhooks.repeat(request.match_info["notification_id"])
        return {"notification_id": note.notification_id}

    async def expire(self, request: web.Request, body: dict) -> dict:
        self.sim.expire_access_token(request.match_info["shop"])
        return {}

    async def stats(self, request: web.Request, body: dict) -> dict:
        counts: dict[str, Counter[str]] = {}
        for ret in self.sim.market.returns.values():
            counts.setdefault(ret.shop, Counter())[ret.return_status] += 1
        return {"returns": {shop: dict(c) for shop, c in counts.items()},
                "calls": dict(self.sim.calls), "webhook_attempts": len(self.sim.webhooks.log)}


def _guarded(handler):
    """JSON body in; the handler's dict out; a refused move or bad input as a 4xx sentence."""
    async def handle(request: web.Request) -> web.Response:
        try:
            raw = await request.read()
            body: Any = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return web.json_response(await handler(request, body))
        except MoveRefused as exc:
            return web.json_response({"error": str(exc)}, status=409)
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
    return handle
