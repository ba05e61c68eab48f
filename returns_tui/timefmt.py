"""Times for people: UTC inside, the viewer's time zone only here, at the edge."""

from __future__ import annotations

import pendulum
from pendulum import DateTime


def utc_text(at: DateTime) -> str:
    return at.in_timezone("UTC").format("YYYY-MM-DD HH:mm [UTC]")


def iso_utc(at: DateTime) -> str:
    """ISO 8601 in UTC with a Z, as export writes it (to the microsecond, when it has any)."""
    text = at.in_timezone("UTC").isoformat()
    return text.replace("+00:00", "Z")


def iso_utc_seconds(at: DateTime) -> str:
    """iso_utc to the second, for sentences people read: `2026-11-27T10:00:00Z`. The
    fraction is cut, not rounded, so a time never reads as later than it was."""
    return iso_utc(at.in_timezone("UTC").replace(microsecond=0))


def local_text(at: DateTime, tz: str | None = None) -> str:
    """The viewer's local time: "2026-11-27 11:02 CET"."""
    zone = pendulum.timezone(tz) if tz else pendulum.local_timezone()
    return at.in_timezone(zone).format("YYYY-MM-DD HH:mm zz")


# From this many hours on a countdown counts days: "7d 22h" rather than "190h 00m". Below it
# the hours read as they are meant, the 48-hour windows ("47h 12m").
DAYS_FROM_HOURS = 48


def countdown(seconds: float) -> str:
    """A deadline's time left: "7d 22h" from 48 hours, "47h 12m" below, "12m 05s" in the
    last hour, "due" when past. Every form is cut, not rounded: never more than is left."""
    if seconds <= 0:
        return "due"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= DAYS_FROM_HOURS:
        days, hours = divmod(hours, 24)
        return f"{days}d {hours:02d}h"
    if hours >= 1:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
