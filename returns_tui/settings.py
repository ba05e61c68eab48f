"""The settings a market or a team may change, read from one TOML file.

The file is RETURNS_TUI_CONFIG, else `config.toml` in the user's config directory; every
key is optional:

    [windows]              # exact durations, in hours
    respond_hours = 48
    ship_hours = 120
    receive_hours = 192
    after_rejection_hours = 48
    offer_hours = 48       # the buyer's time to answer a partial refund (DESIGN §7)

    [reasons]              # reject reason codes and their labels; `other` needs a note
    no_proof = "No proof provided"

    [console]
    sweep_seconds = 5      # how often the console applies deadlines
    poll_seconds = 1       # how often it looks for others' changes
    timezone = "Asia/Jakarta"  # times on screen (IANA name); default the host's (TZ)
    buyer_mark_threshold = 5   # mark a buyer with more requests than this in 90 days

Saved views are each user's own: `views/<login>.toml` beside this file (saved_views.py).

    [keys]                 # action = "key" (Textual key names), e.g. accept = "y"
    accept = "a"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from math import inf
from pathlib import Path
from typing import Any

import pendulum
from platformdirs import user_config_dir

from returns_tui.clock import MAX_WINDOW
from returns_tui.domain import DEFAULT_REASONS, Rules
from returns_tui.errors import ReturnsError


class SettingsError(ReturnsError):
    """The config file cannot be read or holds a wrong value."""


# The console's actions that [keys] may give another key: the ids of its bindings
# (screens/main.py, app.py; tests/test_settings.py keeps the two lists the same).
KEY_ACTIONS = (
    "accept", "accept_next", "reject", "offer", "reject_receipt", "records", "receive", "note",
    "mediate", "search", "sort", "export", "mark", "accept_marked", "insights", "rules", "help",
    "quit",
    "tab_all", "tab_to_proceed", "tab_in_process", "tab_completed", "tab_closed", "tab_appeals",
    "filter", "clear_filters", "save_view",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    rules: Rules = field(default_factory=Rules)
    sweep_seconds: float = 5.0
    poll_seconds: float = 1.0
    keys: dict[str, str] = field(default_factory=dict)
    # The viewer's time zone (IANA); None: the host's. A bad name is told at start (UTC then).
    timezone: str | None = None
    buyer_mark_threshold: int = 5
    # Where each user's saved views are kept; None: `views/` beside the config file.
    views_dir: Path | None = None


def config_path() -> Path:
    if path := os.environ.get("RETURNS_TUI_CONFIG"):
        return Path(path)
    return Path(user_config_dir("returns-tui", appauthor=False)) / "config.toml"


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"The config file {path} cannot be read: {exc}.") from None
    return _parse(data, path)


def _parse(data: dict[str, Any], path: Path) -> Settings:
    windows = data.get("windows", {})
    reasons = data.get("reasons", DEFAULT_REASONS)
    console = data.get("console", {})
    keys = data.get("keys", {})

    def hours(name: str, default: float) -> pendulum.Duration:
        value = windows.get(name, default)
        # At most clock.MAX_WINDOW, which the times the program takes leave room for (TOML
        # also has inf and nan, which this refuses too).
        longest = MAX_WINDOW.total_seconds() / 3600
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0 < value <= longest:
            raise SettingsError(
                f"{path}: windows.{name} must be a positive number of hours, at most {longest:.0f}."
            )
        return pendulum.duration(seconds=round(value * 3600))

    def seconds(name: str, default: float) -> float:
        value = console.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < inf:
            raise SettingsError(f"{path}: console.{name} must be a positive number of seconds.")
        return float(value)

    if not isinstance(reasons, dict) or not reasons or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in reasons.items()
    ):
        raise SettingsError(f"{path}: [reasons] must map reason codes to labels.")
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise SettingsError(f"{path}: [keys] must map action names to key names.")
    if unknown := sorted(set(keys) - set(KEY_ACTIONS)):
        # Textual would ignore it, and the key the person meant would do nothing.
        names = ", ".join(repr(name) for name in unknown)
        raise SettingsError(
            f"{path}: [keys] has no action {names}; the actions are {', '.join(KEY_ACTIONS)}."
        )
    rules = Rules(
        respond_window=hours("respond_hours", 48),
        ship_window=hours("ship_hours", 120),
        receive_window=hours("receive_hours", 192),
        after_rejection_window=hours("after_rejection_hours", 48),
        offer_window=hours("offer_hours", 48),
        reasons=dict(reasons),
    )
    timezone = console.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise SettingsError(f"{path}: console.timezone must be a time zone name in quotes.")
    threshold = console.get("buyer_mark_threshold", 5)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 < threshold < 10**9:
        raise SettingsError(f"{path}: console.buyer_mark_threshold must be a whole number above 0.")
    return Settings(
        rules=rules,
        sweep_seconds=seconds("sweep_seconds", 5),
        poll_seconds=seconds("poll_seconds", 1),
        keys=dict(keys),
        timezone=timezone,
        buyer_mark_threshold=threshold,
        views_dir=path.parent / "views",
    )


def views_dir(settings: Settings) -> Path:
    """Where the users' saved views are: the setting, else `views/` beside the config file."""
    return settings.views_dir or config_path().parent / "views"
