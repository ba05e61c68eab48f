"""The one place that reads the real clock. Everything else is handed `now`."""

from __future__ import annotations

from collections.abc import Callable

import pendulum
from pendulum import DateTime

Clock = Callable[[], DateTime]


def utc_now() -> DateTime:
    return pendulum.now("UTC")


def parse_time(text: str) -> DateTime:
    """ISO 8601 with an offset (or Z), to UTC. Raises ValueError with one sentence."""
    if not isinstance(text, str) or len(text) < 20:
        raise ValueError(f"{text!r} is not an ISO 8601 time with an offset.")
    try:
        parsed = pendulum.parse(text, strict=True)
    except Exception:  # pendulum raises several types for bad input
        raise ValueError(f"{text!r} is not an ISO 8601 time with an offset.") from None
    if not isinstance(parsed, pendulum.DateTime) or parsed.tzinfo is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time with an offset.")
    if not (text.endswith("Z") or text[-6] in "+-"):
        raise ValueError(f"{text!r} has no UTC offset; add one, such as +00:00 or Z.")
    return parsed.in_timezone("UTC")
