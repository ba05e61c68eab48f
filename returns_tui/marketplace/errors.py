"""What a call to the marketplace can end in, besides its answer.

MarketplaceError
  ApiError            the marketplace answered with a code other than 0 (its message kept)
    RateLimited       36009002 or HTTP 429, with the server's retry-after when it gave one
    RetryableError    36009003, or an HTTP 5xx without an answer of the API
    AuthError         the credentials: expired or invalid token, bad signature, stale timestamp
    Refused           every other code: final, the marketplace said no (a decision its state
                      does not allow, an unknown return, a bad parameter...)
  NetworkError        no answer: the connection failed or dropped, or the call timed out
  RetriesExhausted    a retryable failure was still there after the last attempt allowed

None of their messages holds a secret: they name the endpoint, never the query or the headers.
"""

from __future__ import annotations

from returns_tui.errors import ReturnsError
from returns_tui.marketplace import protocol as p

# 36009004 covers credentials and plain bad parameters alike; these openings of TikTok's
# published messages are the credential ones.
_CREDENTIAL_MESSAGES = ("Invalid credentials", "Missing credentials", "Invalid timestamp",
                        "Expired credentials")


class MarketplaceError(ReturnsError):
    retryable = False


class ApiError(MarketplaceError):
    def __init__(self, endpoint: str, code: int | None, message: str, *,
                 request_id: str | None = None, http_status: int | None = None) -> None:
        told = message or (f"code {code}" if code is not None else f"HTTP {http_status}")
        super().__init__(f"The marketplace answered {endpoint} with: {told}")
        self.endpoint = endpoint
        self.code = code
        self.marketplace_message = message
        self.request_id = request_id
        self.http_status = http_status


class RateLimited(ApiError):
    retryable = True

    def __init__(self, *args, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class RetryableError(ApiError):
    retryable = True


class AuthError(ApiError):
    pass


class Refused(ApiError):
    pass


class NetworkError(MarketplaceError):
    retryable = True

    def __init__(self, endpoint: str, cause: BaseException) -> None:
        what = type(cause).__name__
        detail = str(cause) or "no detail"
        super().__init__(f"No answer from the marketplace to {endpoint} ({what}: {detail}).")
        self.endpoint = endpoint
        self.cause = cause


class RetriesExhausted(MarketplaceError):
    def __init__(self, endpoint: str, attempts: int, last: MarketplaceError, why: str = "") -> None:
        reason = why or f"after {attempts} attempts"
        super().__init__(f"Gave up on {endpoint} {reason}; the last failure: {last.message}")
        self.endpoint = endpoint
        self.attempts = attempts
        self.last = last


def classify(endpoint: str, code: int | None, message: str, *, request_id: str | None,
             http_status: int, retry_after: float | None) -> ApiError:
    """The exception for an answer with `code` (None: no envelope, the HTTP status decides)."""
    kwargs = {"request_id": request_id, "http_status": http_status}
    if code == p.TOO_MANY_REQUESTS or http_status == 429:
        return RateLimited(endpoint, code, message, retry_after=retry_after, **kwargs)
    if code == p.INTERNAL_RETRYABLE or (code is None and http_status >= 500):
        return RetryableError(endpoint, code, message, **kwargs)
    if code in (p.EXPIRED_TOKEN, p.INVALID_SIGN, p.CHOSEN_REFRESH_TOKEN_INVALID) or (
        code == p.INVALID_REQUEST and message.startswith(_CREDENTIAL_MESSAGES)
    ):
        return AuthError(endpoint, code, message, **kwargs)
    return Refused(endpoint, code, message, **kwargs)
