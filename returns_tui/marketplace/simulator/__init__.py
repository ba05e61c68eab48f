"""A simulator of TikTok Shop's Return & Refund API, faithful to /work/shared/TIKTOK_API.md,
served over real HTTP (aiohttp) for tests, benchmarks and the demo.

    sim = Simulator([ShopConfig.make("acme", webhook_url="http://127.0.0.1:9000/hook")],
                    clock=MovableClock())
    rid = sim.create_return("acme", "RETURN_AND_REFUND", "40.00")
    async with sim.serve() as base_url:
        access, tokens = sim.access_for("acme")      # for returns_tui.marketplace.client
        ...
        sim.advance(hours=48)                         # the seller deadline passes: auto-approved
        sim.ship(rid); sim.appeal(...); sim.rule(rid, "SUPPORT_BUYER")
        sim.faults.add(Fault("rate_limit", endpoint="approve", retry_after=1))
        await sim.webhooks.idle()

    python -m returns_tui.marketplace.simulator --port 8765 --shops acme,globex --returns 1000

Modules: model (the returns and their rules), index (search and paging), views (the JSON),
server (endpoints and checks), faults, webhooks, seed, control (/_sim/), sim (this object).

Choices made where TIKTOK_API.md marks a fact unconfirmed or says nothing; each is one constant
or table, named here, to change when the truth is known:

- Error codes TikTok publishes no number for (protocol.CHOSEN_*): 46001001 a decision the
  return's state or flags do not allow, 46001002 a reject reason not offered for the stage,
  46001003 an idempotency key reused for another request, 46001004 an unknown return (or one of
  another shop), 46001005 a page token of other filters or not valid, 46001006 an invalid,
  spent or expired refresh token. Their messages are this simulator's sentences.
- HTTP statuses (server.HTTP_STATUS): 429 rate limit, 500 retryable, 401 credentials, 404
  unknown return, 400 anything else refused; 200 with code 0 on success. Clients must decide by
  the body's `code` (TikTok sets the status independently).
- Timestamps (server.TIMESTAMP_MAX_AGE/AHEAD): refused when more than 300 s off either way, as
  TIKTOK_API.md says; TikTok's common-errors messages allow only 30 s ahead (one constant).
- The expired token: 105002 with TikTok's published message. Tokens (sim.ACCESS_TOKEN_TTL,
  REFRESH_TOKEN_TTL): 7 days / 365 days. A refresh spends the old refresh token (refused
  afterwards); the old access token still works until it expires.
- The partial refund: the buyer agreeing makes the return RETURN_OR_REFUND_REQUEST_SUCCESS (the
  offer is refunded, the item kept); declining, or not answering within Windows.offer (48 h),
  makes it RETURN_OR_REFUND_REQUEST_PENDING again with a new 48 h seller deadline and
  `buyer_rejected_partial_refund` true (false after a lapse). One offer per return.
- Decisions per state and type (model._DECISIONS): APPROVE_REFUND on a RETURN_AND_REFUND needs
  `buyer_keep_item: true` (else APPROVE_RETURN) and `can_buyer_keep_item`; `buyer_keep_item` on a
  REFUND is refused. REPLACEMENT returns take APPROVE_REPLACEMENT, REJECT_RETURN and, once
  shipped, the received-package decisions. ISSUE_REPLACEMENT_REFUND and DIRECT_REFUND are
  refused as not simulated. No seller decision while arbitration is IN_PROGRESS.
- Deadlines (model.Windows): seller 48 h (SELLER_RESPOND_REFUND / _RETURN / _REPLACEMENT /
  _RECEIVE_PACKAGE; at the deadline a refund succeeds, a return is approved to
  AWAITING_BUYER_SHIP, a received package succeeds); buyer ships within 7 days or the return is
  cancelled; appeal within 48 h of a rejection, once per return; the refund is paid
  (SUCCESS -> COMPLETE) 1 h after success. A change the clock applies is recorded at its
  deadline and its update_time is the time it was applied, so an update_time cursor never
  misses it.
- Arbitration: SUPPORT_BUYER completes a refund (SUCCESS), sends a rejected return back to
  AWAITING_BUYER_SHIP, and completes a rejected received package (SUCCESS); SUPPORT_SELLER and
  CLOSED keep the status. `arbitration_status` is absent until an appeal.
- Reject reasons (model.REQUEST_REASONS / RECEIPT_REASONS): four for the request stage
  (PENDING), four for the receipt stage (BUYER_SHIPPED_ITEM), none at any other status;
  `comment` at most 500 characters.
- Records' `event` names (BUYER_REQUEST_REFUND, SELLER_APPROVE_RETURN, SYSTEM_AUTO_APPROVE,
  PLATFORM_SUPPORT_BUYER, ...; see model.py): TikTok's are not published.
- Search: `page_size` required (10-50); `sort_field`/`sort_order` default create_time / DESC;
  a page token is tied to the filters and sort it was served under (page_size may change);
  `total_count` counts every match; unknown body fields are ignored. The return object shows no
  buyer id (views.SHOW_BUYER_USER_ID), as TikTok's SDK model has none.
- Idempotency keys are optional (the SDK marks them so), scoped per shop, kept for the
  simulator's life; a stored answer (success or refusal) is replayed byte for byte.
- Webhooks: sent on every change of a return (arbitration included), to the shop's
  `webhook_url` (or the address given by PUT /event/202309/webhooks); retried after 2 min,
  30 min, 3 h, 12 h unless a 2xx comes back (tests pass shorter delays); a forged one is sent
  once and never retried.
- Rejected requests are spelled REFUND_OR_RETURN_REQUEST_REJECT (model.REJECTED); force_status
  sets any other spelling, or a status nobody knows.
"""

from returns_tui.marketplace.simulator.faults import Fault
from returns_tui.marketplace.simulator.model import MoveRefused, Windows
from returns_tui.marketplace.simulator.sim import MovableClock, ShopConfig, Simulator

__all__ = ["Fault", "MovableClock", "MoveRefused", "ShopConfig", "Simulator", "Windows"]
