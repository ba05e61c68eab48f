"""The sync's configuration (DESIGN §8): one TOML table per local shop, holding secrets.

The file is RETURNS_TUI_SYNC_CONFIG, else `sync.toml` in the directory of the settings file
(settings.config_path). Because it holds app secrets and tokens, a file its group or others may
read is refused, as ssh refuses such a key. No message made here holds a value read from the
file: a bad value is named by its shop and key only, so no secret can leak through an error.

A token refresh spends the old refresh token, so the new tokens are written back before they
are used (write_tokens): the file is rewritten in a temporary file beside it, fsynced, and
renamed over it (mode 0600), under a lock file so that two syncs refreshing two shops at once do
not undo each other's change.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomlkit

from returns_tui.errors import ReturnsError
from returns_tui.marketplace import protocol as p
from returns_tui.settings import config_path as settings_path
from returns_tui.textsafe import safe

ENV = "RETURNS_TUI_SYNC_CONFIG"
DEFAULT_INTERVAL = 60.0
DEFAULT_PARALLEL = 8
MAX_PARALLEL = 64

_REQUIRED = ("marketplace", "base_url", "app_key", "app_secret", "shop_cipher", "access_token",
             "refresh_token")
_OPTIONAL_TEXT = ("auth_url", "shop_id")
_OPTIONAL_TIMES = ("access_token_expires_at", "refresh_token_expires_at")
_KNOWN = frozenset(_REQUIRED + _OPTIONAL_TEXT + _OPTIONAL_TIMES + ("interval", "parallel"))
_TOKEN_KEYS = ("access_token", "refresh_token") + _OPTIONAL_TIMES


class ConfigError(ReturnsError):
    """The sync's config file is missing, unsafe or holds a wrong value."""


@dataclass(frozen=True)
class ShopTable:
    """One `[shops.NAME]` table. Secrets are kept out of repr."""

    name: str
    marketplace: str
    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    shop_cipher: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    auth_url: str = p.DEFAULT_AUTH_URL
    shop_id: str | None = None
    interval: float = DEFAULT_INTERVAL
    parallel: int = DEFAULT_PARALLEL
    access_token_expires_at: int | None = None
    refresh_token_expires_at: int | None = None

    def secrets(self) -> tuple[str, ...]:
        return (self.app_secret, self.access_token, self.refresh_token, self.shop_cipher)


@dataclass(frozen=True)
class SyncConfig:
    path: Path
    shops: dict[str, ShopTable]


def config_path() -> Path:
    if path := os.environ.get(ENV):
        return Path(path)
    return settings_path().parent / "sync.toml"


def load(path: Path | None = None) -> SyncConfig:
    path = path or config_path()
    where = safe(str(path))
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & 0o077:
                raise ConfigError(
                    f"The sync config {where} may be read or written by its group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); it holds secrets: `chmod 600 {where}` first.")
            raw = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"There is no sync config at {where} (set {ENV} or create it; see "
                          "DESIGN §8).") from None
    except IsADirectoryError:
        raise ConfigError(f"The sync config {where} is a directory, not a TOML file.") from None
    except PermissionError:
        raise ConfigError(f"The sync config {where} cannot be read by this account.") from None
    return parse(raw, path)


def parse(raw: bytes, path: Path) -> SyncConfig:
    where = safe(str(path))
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"The sync config {where} is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages name a line and column, never the text there.
        raise ConfigError(f"The sync config {where} is not valid TOML: {exc}.") from None
    shops = data.get("shops")
    if not isinstance(shops, dict) or not shops:
        raise ConfigError(f"The sync config {where} has no [shops.NAME] table.")
    if extra := sorted(set(data) - {"shops"}):
        raise ConfigError(f"The sync config {where} has a table {safe(extra[0])!r} that is not "
                          "under [shops]; each shop is [shops.NAME].")
    tables = {name: _table(where, name, value) for name, value in shops.items()}
    _check_shared_apps(where, tables)
    return SyncConfig(path, tables)


def _table(where: str, name: str, value: Any) -> ShopTable:
    shown = safe(name)

    def fail(key: str, what: str) -> ConfigError:
        return ConfigError(f"{where}: shops.{shown}.{safe(key)} {what}.")

    if not isinstance(value, dict):
        raise ConfigError(f"{where}: shops.{shown} must be a table of keys.")
    if not name.strip() or len(name) > 64 or safe(name) != name:
        raise ConfigError(f"{where}: the shop name {shown!r} must be 1 to 64 printable "
                          "characters.")
    if unknown := sorted(set(value) - _KNOWN):
        raise fail(unknown[0], "is not a key of a shop's table")
    for key in _REQUIRED:
        if key not in value:
            raise fail(key, "is missing")
    for key in _REQUIRED + _OPTIONAL_TEXT:
        if key in value and not _text(value[key]):
            raise fail(key, "must be a non-empty string of printable characters")
    if value["marketplace"] != "tiktok":
        raise fail("marketplace", 'must be "tiktok"')
    for key in ("base_url", "auth_url"):
        if key in value and not value[key].startswith(("https://", "http://")):
            raise fail(key, "must be an http:// or https:// URL")
    for key in _OPTIONAL_TIMES:
        if key in value and not _whole(value[key], 0, 2**40):
            raise fail(key, "must be a Unix time in seconds")
    interval = value.get("interval", DEFAULT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not (
            1 <= interval <= 86_400):
        raise fail("interval", "must be a number of seconds from 1 to 86400")
    parallel = value.get("parallel", DEFAULT_PARALLEL)
    if not _whole(parallel, 1, MAX_PARALLEL):
        raise fail("parallel", f"must be a whole number from 1 to {MAX_PARALLEL}")
    return ShopTable(name=name, interval=float(interval), **{
        k: v for k, v in value.items() if k != "interval"})


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and safe(value) == value


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_shared_apps(where: str, tables: dict[str, ShopTable]) -> None:
    """Shops of one app are told apart in a webhook by shop_id only (DESIGN §8)."""
    by_app: dict[str, list[ShopTable]] = {}
    for table in tables.values():
        by_app.setdefault(table.app_key, []).append(table)
    for group in by_app.values():
        if len(group) < 2:
            continue
        for table in group:
            if table.shop_id is None:
                others = ", ".join(safe(t.name) for t in group if t is not table)
                raise ConfigError(
                    f"{where}: shops.{safe(table.name)}.shop_id is missing, and it is required "
                    f"because the shop shares its app with {others}.")
        if len({t.app_secret for t in group}) > 1:
            raise ConfigError(f"{where}: shops {', '.join(safe(t.name) for t in group)} share "
                              "an app_key but not its app_secret.")
    ids: dict[str, str] = {}
    for table in tables.values():
        if table.shop_id is not None and ids.setdefault(table.shop_id, table.name) != table.name:
            raise ConfigError(f"{where}: shops.{safe(table.name)}.shop_id is also the shop_id "
                              f"of shops.{safe(ids[table.shop_id])}.")


# ----- writing refreshed tokens back ---------------------------------------------------------

_write_lock = threading.Lock()


def write_tokens(path: Path, shop: str, tokens: dict[str, Any]) -> None:
    """Set the shop's token keys (access_token, refresh_token, *_expires_at) in the file,
    atomically; every other line (comments included) stays as it was."""
    if unknown := set(tokens) - set(_TOKEN_KEYS):
        raise ValueError(f"not token keys: {sorted(unknown)}")
    with _write_lock, _file_lock(path):
        raw = path.read_bytes()
        before = parse(raw, path)
        if shop not in before.shops:
            raise ConfigError(f"The sync config {safe(str(path))} no longer has shops.{shop}.")
        # tomlkit edits the document in place: comments, order and quoting stay as written.
        doc = tomlkit.parse(raw.decode("utf-8"))
        table = doc["shops"][shop]
        for name, value in tokens.items():
            table[name] = value
        edited = tomlkit.dumps(doc).encode("utf-8")
        if parse(edited, path).shops.get(shop) != replace(before.shops[shop], **tokens):
            raise ConfigError(f"The sync config {safe(str(path))} could not be updated.")
        _replace_atomically(path, edited)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
