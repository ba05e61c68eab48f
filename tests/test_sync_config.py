"""The sync's configuration (DESIGN §8): where it is, the refusal of a file others may read, each
table checked with a sentence naming the shop and key (never a value), shop_id required for
shops of one app, and refreshed tokens written back atomically with mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from returns_tui.sync import config as cfg

SECRETS = {"app_secret": "S3CRET-app-9d1f0c", "access_token": "TOK-access-77ab1e",
           "refresh_token": "TOK-refresh-e0c4aa", "shop_cipher": "CIPHER-3b7d91"}


def table(**over) -> dict:
    base = {"marketplace": "tiktok", "base_url": "http://127.0.0.1:9", "app_key": "6akey1",
            **SECRETS}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def toml(shops: dict[str, dict], header: str = "") -> str:
    out = [header]
    for name, values in shops.items():
        out.append(f'[shops."{name}"]' if not name.isidentifier() else f"[shops.{name}]")
        for key, value in values.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
            out.append(f"{key} = {shown}")
        out.append("")
    return "\n".join(out)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.load(path)
    message = caught.value.message
    assert "\n" not in message
    for secret in SECRETS.values():
        assert secret not in message
    return message


def test_the_file_is_the_variable_else_sync_toml_beside_the_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "conf" / "config.toml"))
    monkeypatch.delenv(cfg.ENV, raising=False)
    assert cfg.config_path() == tmp_path / "conf" / "sync.toml"
    monkeypatch.setenv(cfg.ENV, str(tmp_path / "elsewhere.toml"))
    assert cfg.config_path() == tmp_path / "elsewhere.toml"


def test_a_good_file_is_read_with_defaults(tmp_path):
    path = write(tmp_path / "sync.toml", toml({"acme": table(interval=5, shop_id="7494")}))
    got = cfg.load(path).shops["acme"]
    assert got.app_secret == SECRETS["app_secret"] and got.interval == 5.0
    assert got.auth_url == "https://auth.tiktok-shops.com" and got.parallel == 8
    assert all(secret not in repr(got) for secret in SECRETS.values())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_a_file_its_group_or_others_may_read_is_refused(tmp_path, mode):
    path = write(tmp_path / "sync.toml", toml({"acme": table()}), mode)
    message = refusal(path)
    assert "may be read or written by its group or others" in message and "chmod 600" in message


def test_a_missing_file_says_where_it_was_looked_for(tmp_path):
    assert "no sync config at" in refusal(tmp_path / "none.toml")


@pytest.mark.parametrize(("values", "key", "what"), [
    (table(app_secret=None), "app_secret", "is missing"),
    (table(access_token=None), "access_token", "is missing"),
    (table(marketplace="amazon"), "marketplace", "tiktok"),
    (table(base_url="ftp://x"), "base_url", "http"),
    (table(auth_url="file:///etc"), "auth_url", "http"),
    (table(app_secret=""), "app_secret", "non-empty"),
    (table(app_secret=7), "app_secret", "non-empty"),
    (table(interval=0), "interval", "seconds"),
    (table(interval=True), "interval", "seconds"),
    (table(parallel=0), "parallel", "whole number"),
    (table(parallel=1000), "parallel", "whole number"),
    (table(access_token_expires_at="soon"), "access_token_expires_at", "Unix time"),
    (table(app_sekret="x"), "app_sekret", "not a key"),
])
def test_each_wrong_key_is_one_sentence_naming_shop_and_key(tmp_path, values, key, what):
    path = write(tmp_path / "sync.toml", toml({"acme": table(), "globex": values}))
    message = refusal(path)
    assert f"shops.globex.{key}" in message and what in message


def test_not_toml_and_no_shops(tmp_path):
    assert "not valid TOML" in refusal(write(tmp_path / "a.toml", "[shops.acme\nx=1"))
    assert "no [shops.NAME]" in refusal(write(tmp_path / "b.toml", "x = 1\n"))
    bad = write(tmp_path / "c.toml", f'x = "{SECRETS["app_secret"]}"\n' + toml({"a": table()}))
    assert "not under [shops]" in refusal(bad)


def test_shops_sharing_an_app_need_shop_id(tmp_path):
    shared = {"a": table(shop_id="1"), "b": table()}
    message = refusal(write(tmp_path / "sync.toml", toml(shared)))
    assert "shops.b.shop_id is missing" in message and "shares its app with a" in message
    same = {"a": table(shop_id="1"), "b": table(shop_id="1")}
    assert "also the shop_id" in refusal(write(tmp_path / "s.toml", toml(same)))
    apart = {"a": table(), "b": table(app_key="6akey2")}
    assert set(cfg.load(write(tmp_path / "ok.toml", toml(apart))).shops) == {"a", "b"}


def test_tokens_are_written_back_in_place_atomically_mode_0600(tmp_path):
    text = toml({"acme": table(), "globex": table(app_key="6akey2")},
                header="# my notes: keep this\n")
    path = write(tmp_path / "sync.toml", text)
    inode = path.stat().st_ino
    cfg.write_tokens(path, "globex", {"access_token": "NEW-a", "refresh_token": "NEW-r",
                                      "access_token_expires_at": 1900000000})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    new = path.read_text()
    assert new.startswith("# my notes: keep this\n")
    shops = cfg.load(path).shops
    assert shops["globex"].access_token == "NEW-a" and shops["globex"].refresh_token == "NEW-r"
    assert shops["globex"].access_token_expires_at == 1900000000
    assert shops["acme"] == cfg.parse(text.encode(), path).shops["acme"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("sync.toml",
                                                                       "sync.toml.lock")]
    assert leftovers == []


@pytest.mark.parametrize(
    "form",
    [
        "[shops.acme]  # the main shop\n{keys}",
        '[shops."acme"]\n{keys}',
        "shops.acme = {{ {inline} }}  # inline\n",
    ],
)
def test_a_refresh_keeps_every_comment_and_form_of_the_file(tmp_path, form):
    keys = "".join(f'{k} = "{v}"  # {k} here\n' for k, v in table().items())
    inline = ", ".join(f'{k} = "{v}"' for k, v in table().items())
    text = "# written by hand\n" + form.format(keys=keys, inline=inline) + "# the end\n"
    path = write(tmp_path / "sync.toml", text)
    cfg.write_tokens(path, "acme", {"access_token": "NEW-a", "refresh_token": "NEW-r"})
    got = cfg.load(path).shops["acme"]
    assert (got.access_token, got.refresh_token, got.app_secret) == (
        "NEW-a", "NEW-r", SECRETS["app_secret"])
    new = path.read_text()
    assert new.startswith("# written by hand\n") and new.endswith("# the end\n")
    assert "# app_key here" in new or "# inline" in new
    assert SECRETS["access_token"] not in new and SECRETS["refresh_token"] not in new
