"""The wire facts of TikTok Shop's Return & Refund API that the client and the simulator share.

Each fact names where it was read (see also /work/shared/TIKTOK_API.md):

- Paths, query parameters and body fields: TikTok's generated Node SDK (7.15.0, as vendored in
  phamconganh/tiktok-shop-sdk: `api/returnRefundV202309Api.ts`,
  `dist/model/returnRefund/V202309/*.js`).
- The envelope `{code, message, request_id, data}`, code 0 = success, the HTTP status set
  independently: the same SDK's `*Response` models (`code`, `data`, `message`, `request_id`),
  EcomPHP/tiktokshop-php `src/Resource.php` (`$json['code'] !== 0` raises with
  `$json['message']`, returns `$json['data']`), rymndcs/tiktok_shop_rb_api
  `lib/tiktok_shop_rb_api/response.rb` (citing partner.tiktokshop.com/docv2/page/common-errors).
- Error codes and their messages (105002, 106001, 106013, 36009002, 36009003, 36009004): TikTok's
  common-errors page as recorded in rymndcs/tiktok_shop_rb_api `test/fixtures/error_list.json`.
- Webhooks: type 12 is RETURN_STATUS_CHANGE (laraditz/tiktok `src/Enums/EventType.php`, 11 being
  CANCELLATION_STATUS_CHANGE); its data {order_id, return_id, return_role, return_type,
  return_status, create_time, update_time} (phamkhanhminhman97/shopee-tiktok-lazada-api
  `src/module/tiktokshops/dto/response/webhook.response.ts`); the signature is HMAC-SHA256 of
  app_key + raw body (EcomPHP `src/Webhook.php`, rymndcs `signer.rb`, with TikTok's official
  vector in rymndcs `test/unit/webhook_test.rb`).
- Token refresh: GET `{auth}/api/v2/token/refresh` with `app_key`, `app_secret`, `refresh_token`,
  `grant_type=refresh_token`, unsigned; `access_token_expire_in`/`refresh_token_expire_in` are
  absolute Unix times despite their names: EcomPHP `src/Auth.php`, rymndcs `auth.rb` and
  `test/fixtures/api_v2_token_refresh.json` (the official response sample).

Codes TikTok publishes no number for (a decision the state refuses, an unknown return...) are
this project's choice; they are the `CHOSEN_*` constants below, one place to change them.
"""

from __future__ import annotations

API_VERSION = "202309"
DEFAULT_BASE_URL = "https://open-api.tiktokglobalshop.com"
DEFAULT_AUTH_URL = "https://auth.tiktok-shops.com"

PATH_SEARCH = f"/return_refund/{API_VERSION}/returns/search"
PATH_RECORDS = f"/return_refund/{API_VERSION}/returns/{{return_id}}/records"
PATH_APPROVE = f"/return_refund/{API_VERSION}/returns/{{return_id}}/approve"
PATH_REJECT = f"/return_refund/{API_VERSION}/returns/{{return_id}}/reject"
PATH_REJECT_REASONS = f"/return_refund/{API_VERSION}/reject_reasons"
PATH_SHOPS = f"/authorization/{API_VERSION}/shops"
PATH_WEBHOOKS = f"/event/{API_VERSION}/webhooks"
PATH_TOKEN_REFRESH = "/api/v2/token/refresh"

ACCESS_TOKEN_HEADER = "x-tts-access-token"
WEBHOOK_SIGNATURE_HEADER = "Authorization"
WEBHOOK_EVENT_RETURN_STATUS_CHANGE = "RETURN_STATUS_CHANGE"
WEBHOOK_TYPE_RETURN_STATUS_CHANGE = 12

PAGE_SIZE_MIN = 10
PAGE_SIZE_MAX = 50
IDEMPOTENCY_KEY_MAX = 255
SORT_FIELDS = ("create_time", "update_time")
SORT_ORDERS = ("ASC", "DESC")
# The search body's filters (SearchReturnsRequestBody in the SDK).
SEARCH_FILTERS = (
    "return_ids", "order_ids", "buyer_user_ids", "return_types", "return_status",
    "arbitration_status", "create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt",
    "locale",
)

# Codes TikTok publishes (common-errors).
OK = 0
TOO_MANY_REQUESTS = 36009002
INTERNAL_RETRYABLE = 36009003
# TikTok reuses 36009004 for bad credentials, a bad timestamp and an invalid parameter alike;
# only the message tells them apart.
INVALID_REQUEST = 36009004
INVALID_FORMAT = 36009022  # the body is not JSON
EXPIRED_TOKEN = 105002
INVALID_SIGN = 106001
MISSING_SHOP_CIPHER = 106013

# Chosen here: TikTok publishes no number for these.
CHOSEN_DECISION_NOT_ALLOWED = 46001001   # the return's state (or its flags) does not allow it
CHOSEN_REJECT_REASON_INVALID = 46001002  # not a reason offered for this return's stage
CHOSEN_IDEMPOTENCY_CONFLICT = 46001003   # the key was used for a different request
CHOSEN_RETURN_NOT_FOUND = 46001004       # no such return in this shop
CHOSEN_PAGE_TOKEN_INVALID = 46001005     # not a token of this search (filters changed)
CHOSEN_REFRESH_TOKEN_INVALID = 46001006  # unknown, used or expired refresh token

# Which codes a client should wait and try again on; every other code is final.
RETRYABLE_CODES = frozenset({TOO_MANY_REQUESTS, INTERNAL_RETRYABLE})

# The `decision` of approve and reject (ApproveReturnRequestBody / RejectReturnRequestBody).
APPROVE_DECISIONS = frozenset({
    "APPROVE_REFUND", "APPROVE_RETURN", "APPROVE_RECEIVED_PACKAGE", "OFFER_PARTIAL_REFUND",
    "APPROVE_REPLACEMENT", "ISSUE_REPLACEMENT_REFUND", "DIRECT_REFUND",
})
REJECT_DECISIONS = frozenset({"REJECT_REFUND", "REJECT_RETURN", "REJECT_RECEIVED_PACKAGE"})
