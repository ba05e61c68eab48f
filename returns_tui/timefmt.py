"""Every time format and conversion, once: for people (UTC inside, the viewer's time zone
only here, at the edge) and for the machine (stored microseconds, ISO 8601 with a Z)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

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
    """The viewer's local time with its offset: "2026-11-27 11:02 +01", "… 15:32 +05:30";
    in UTC itself "2026-11-27 10:02 UTC"."""
    local = _in_zone(at, tz)
    return f"{local.format('YYYY-MM-DD HH:mm')} {offset_text(local)}"


def local_format(at: DateTime, tz: str | None, fmt: str) -> str:
    """`at` in the viewer's zone, in pendulum's `fmt` (no offset: for a time beside one)."""
    return _in_zone(at, tz).format(fmt)


def offset_text(local: dt.datetime) -> str:
    """The UTC offset of a local time: "+07", "-03:30", "+00"; "UTC" in UTC itself. Whole
    hours without minutes, as people write them."""
    if getattr(local.tzinfo, "name", None) in ("UTC", "Etc/UTC"):
        return "UTC"
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}" + (f":{mins:02d}" if mins else "")


def _in_zone(at: DateTime, tz: str | None) -> DateTime:
    zone = pendulum.timezone(tz) if tz else pendulum.local_timezone()
    return pendulum.instance(at).in_timezone(zone)


def viewer_zone(name: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The viewer's time zone (the setting `timezone`, else the host's: TZ, else the
    system's) as an IANA name, and "" or the one sentence that says why it is UTC instead."""
    given = name
    if given is None:
        env = os.environ if environ is None else environ
        given = env.get("TZ", "").removeprefix(":") or None
    if given is None:
        try:
            return pendulum.local_timezone().name, ""
        except Exception:  # noqa: BLE001 - any failure to read the host's zone means UTC
            return "UTC", "The host's time zone cannot be read; times are shown in UTC."
    try:
        return pendulum.timezone(given).name, ""
    except Exception:  # noqa: BLE001 - zoneinfo raises several kinds for a bad name
        shown = given.encode("ascii", "backslashreplace").decode()[:60]
        return "UTC", f"The time zone {shown!r} is not one; times are shown in UTC."


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


# ---------------------------------------------------------------------------------------------
# Times as the machine keeps them: integer microseconds since the epoch (UTC) in the database,
# ISO 8601 with a Z in exports, verdicts and the checker's messages.

_EPOCH = pendulum.datetime(1970, 1, 1, tz="UTC")
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_MICRO = dt.timedelta(microseconds=1)


# The plain datetime arithmetic is used on purpose: pendulum's own operators are ten times
# slower, and these run for every time of every row read or written.
def to_micros(value: DateTime) -> int:
    return dt.datetime.__sub__(value, _EPOCH) // _MICRO


def from_micros(us: int) -> DateTime:
    return dt.datetime.__add__(_EPOCH, dt.timedelta(microseconds=us))


def span_micros(span: dt.timedelta) -> int:
    """A window (a pendulum Duration or a timedelta) as integer microseconds. Only an exact
    span has one: a Duration with calendar months or years (which pendulum adds by the
    calendar) raises ValueError; settings never build one."""
    if getattr(span, "years", 0) or getattr(span, "months", 0):
        raise ValueError(f"{span!r} is not an exact duration")
    # Through timedelta's own division: pendulum's Duration cannot divide by a timedelta.
    return dt.timedelta.__floordiv__(span, _MICRO)


def seconds_between(later: dt.datetime, earlier: dt.datetime) -> float:
    # datetime's own subtraction: pendulum's builds an Interval, ten times slower, and the
    # console runs this for every countdown on screen every second.
    return dt.datetime.__sub__(later, earlier).total_seconds()


def iso_stored(at: dt.datetime | None) -> str | None:
    """iso_utc of a time the store handed back (None stays None). Those are UTC, for which
    the plain isoformat already is that text but for the Z: the export's hot path."""
    if at is None:
        return None
    text = dt.datetime.isoformat(at)
    return text[:-6] + "Z" if text.endswith("+00:00") else iso_utc(at)


def iso_micros(micros: int | None) -> str | None:
    """iso_utc of a stored time in integer microseconds (None stays None): the naive
    datetime's isoformat is the aware one's without its +00:00."""
    if micros is None:
        return None
    return (_NAIVE_EPOCH + dt.timedelta(microseconds=micros)).isoformat() + "Z"


def iso_or_none(at: dt.datetime | None) -> str:
    """A time in a message: iso_utc, or "None" where there is no time."""
    return "None" if at is None else iso_stored(at)  # type: ignore[return-value]


def utc_seconds_text(at: DateTime) -> str:
    """utc_text to the second, for refusals that compare two times of the same minute."""
    return at.in_timezone("UTC").format("YYYY-MM-DD HH:mm:ss [UTC]")
