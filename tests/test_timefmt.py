"""Times for people: countdowns that read at a glance, and times to the second in sentences."""

from __future__ import annotations

import pendulum
import pytest

from returns_tui import timefmt
from returns_tui.timefmt import countdown, iso_utc, iso_utc_seconds

H, M = 3600, 60


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (190 * H, "7d 22h"),  # issue 10: not "190h 00m"
        (120 * H - 1, "4d 23h"),  # the ship window, a second after it began: cut, not rounded
        (48 * H, "2d 00h"),
        (48 * H - 1, "47h 59m"),  # the 48-hour windows read in hours
        (3 * H + 48 * M, "3h 48m"),
        (H, "1h 00m"),
        (H - 1, "59m 59s"),
        (5, "0m 05s"),
        (0.5, "0m 00s"),
        (0, "due"),
        (-1, "due"),
    ],
)
def test_countdown_counts_days_from_48_hours_and_never_shows_more_than_is_left(seconds, text):
    assert countdown(seconds) == text


def test_sentences_show_seconds_and_files_keep_the_microseconds():
    at = pendulum.datetime(2026, 11, 27, 10, 0, 59, 999_999, tz="Europe/Paris")
    assert iso_utc_seconds(at) == "2026-11-27T09:00:59Z"  # cut: never later than it was
    assert iso_utc(at) == "2026-11-27T09:00:59.999999Z"
    assert iso_utc_seconds(pendulum.datetime(2026, 11, 27, 9, 0, 0)) == "2026-11-27T09:00:00Z"


def test_machine_forms_of_a_time():
    """The forms kept in one module: stored microseconds, the export's and the checker's ISO
    text, the refusals' time to the second, and the countdowns' seconds."""
    at = pendulum.datetime(2026, 11, 27, 10, 2, 3, 456789, tz="UTC")
    us = timefmt.to_micros(at)
    assert us == 1_795_773_723_456_789
    assert timefmt.from_micros(us) == at
    assert timefmt.iso_micros(us) == timefmt.iso_stored(at) == "2026-11-27T10:02:03.456789Z"
    assert timefmt.iso_or_none(at) == "2026-11-27T10:02:03.456789Z"
    assert timefmt.iso_or_none(None) == "None"
    assert timefmt.utc_seconds_text(at.in_timezone("Europe/Paris")) == "2026-11-27 10:02:03 UTC"
    assert timefmt.seconds_between(at.add(hours=1), at) == 3600.0
