"""TikTok Shop's request and webhook signatures (TIKTOK_API.md, "Signing" and "Webhooks").

Request: every query parameter except `sign` and `access_token`, sorted by key, joined as
key+value with no separators; the request path in front; the raw body behind, unless the method
is GET or the body is multipart; the whole wrapped in the app secret on both sides; `sign` is the
lowercase hex HMAC-SHA256 of that, keyed with the app secret. Values are signed as sent after
percent-decoding (a page token holding `+` or `/` is signed as it reads, and sent encoded).

Webhook: the `Authorization` header is the hex HMAC-SHA256, keyed with the app secret, of the
app key followed by the raw body (no wrapping, no path). The raw bytes are what is signed: a body
parsed and serialized again no longer verifies.

Both are checked against vectors published independently of this code (tests/test_marketplace_
signing.py cites them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

UNSIGNED_PARAMS = frozenset({"sign", "access_token"})


def is_multipart(content_type: str | None) -> bool:
    """Compare the media type only: the header reads `multipart/form-data; boundary=...`."""
    media_type = (content_type or "").split(";", 1)[0].strip()
    return media_type.lower() == "multipart/form-data"


def string_to_sign(
    path: str,
    query: Mapping[str, str],
    body: bytes = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
) -> bytes:
    """The bytes between the two copies of the secret: path + sorted key+value pairs + body."""
    pairs = sorted((k, v) for k, v in query.items() if k not in UNSIGNED_PARAMS)
    text = path + "".join(f"{k}{v}" for k, v in pairs)
    signed_body = method.upper() != "GET" and not is_multipart(content_type)
    return text.encode("utf-8") + (body if signed_body else b"")


def sign(
    app_secret: str,
    path: str,
    query: Mapping[str, str],
    body: bytes = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
) -> str:
    """The `sign` query parameter of a request."""
    secret = app_secret.encode("utf-8")
    base = string_to_sign(path, query, body, method=method, content_type=content_type)
    return hmac.new(secret, secret + base + secret, hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so a forger learns nothing from how long a refusal took."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8", "replace"))


def webhook_signature(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """The `Authorization` header of a webhook notification."""
    message = app_key.encode("utf-8") + raw_body
    return hmac.new(app_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_webhook(app_key: str, app_secret: str, raw_body: bytes,
                   authorization: str | None) -> bool:
    """Whether a notification's `Authorization` header is the app's signature of this raw body."""
    return signature_matches(webhook_signature(app_key, app_secret, raw_body), authorization)
