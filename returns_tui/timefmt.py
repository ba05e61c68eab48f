"""Times for people: UTC inside, the viewer's time zone only here, at the edge."""

from __future__ import annotations

import pendulum
from pendulum import DateTime


def utc_text(at: DateTime) -> str:
    return at.in_timezone("UTC").format("YYYY-MM-DD HH:mm [UTC]")


def iso_utc(at: DateTime) -> str:
    """ISO 8601 in UTC with a Z, as export writes it."""
    text = at.in_timezone("UTC").isoformat()
    return text.replace("+00:00", "Z")


def local_text(at: DateTime, tz: str | None = None) -> str:
    """The viewer's local time: "2026-11-27 11:02 CET"."""
    zone = pendulum.timezone(tz) if tz else pendulum.local_timezone()
    return at.in_timezone(zone).format("YYYY-MM-DD HH:mm zz")


def countdown(seconds: float) -> str:
    """A deadline's time left: "47h 12m", "12m 05s" in the last hour, "due" when past."""
    if seconds <= 0:
        return "due"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
