"""The one place that reads the real clock. Everything else is handed `now`.

It also fixes which times the program takes at all. Python's datetime ends at the years 1 and
9999, and a time near either end breaks as soon as something is added to it (a deadline is a
time plus a window) or it is shown in a time zone west or east of UTC. So a time from outside
(an `apply` line, `--now`, `--until`) is taken only between EARLIEST and LATEST: a day after
the first moment datetime holds, so that any time zone can show it, and, at the other end,
room for the longest window (MAX_WINDOW) and that day again. Every deadline is set from a
moment already taken (an action's time, or a deadline that passed) plus one window, so it
stays inside what datetime, and the store's 64-bit microseconds, hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pendulum
from pendulum import DateTime

Clock = Callable[[], DateTime]

# How far a time may lie ahead of our clock: another host's clock, which wrote the time, may
# run a little ahead. Further, and a deadline would pass early (DESIGN §4). `apply` lines,
# `sweep --now` and `apply --until` all take this one slack.
CLOCK_SLACK = pendulum.duration(seconds=5)
# The longest window (DESIGN §1) the settings may give: ten years, far beyond any market's.
MAX_WINDOW = dt.timedelta(days=3650)
EARLIEST = pendulum.datetime(1, 1, 2, tz="UTC")
LATEST = pendulum.datetime(9989, 12, 31, 23, 59, 59, 999999, tz="UTC")
_RANGE = "from 0001-01-02 to 9989-12-31, UTC"


def utc_now() -> DateTime:
    return pendulum.now("UTC")


def parse_time(text: str) -> DateTime:
    """ISO 8601 with an offset (or Z), to UTC, between EARLIEST and LATEST. Raises ValueError
    with one sentence."""
    not_a_time = f"{text!r} is not an ISO 8601 time with an offset."
    if not isinstance(text, str) or len(text) < 20:
        raise ValueError(not_a_time)
    try:
        parsed = pendulum.parse(text, strict=True)
    except Exception:  # pendulum raises several types for bad input
        raise ValueError(not_a_time) from None
    if not isinstance(parsed, pendulum.DateTime) or parsed.tzinfo is None:
        raise ValueError(not_a_time)
    if not (text.endswith("Z") or text[-6] in "+-"):
        raise ValueError(f"{text!r} has no UTC offset; add one, such as +00:00 or Z.")
    try:
        utc = parsed.in_timezone("UTC")
    except OverflowError:  # its UTC form lies before the year 1 or after 9999
        utc = None
    except ValueError:  # pendulum reads "+24:00", which no time zone has
        raise ValueError(f"{text!r} has an offset beyond 23:59 hours.") from None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"{text!r} is outside the times returns-tui takes ({_RANGE}).")
    return utc
