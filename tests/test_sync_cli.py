"""`returns-tui sync`'s command line: admins only (as apply), a config others may read refused in
one sentence (status 1), a wrong --shop, --listen or --parallel refused in one sentence."""

from __future__ import annotations

import os

import pytest

from returns_tui import cli
from tests.support.sync_sim import ME, make_database, sync_toml

SECRET = "APP-SECRET-unique-5f1c2e9a"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_database(url).engine.dispose()
    path = tmp_path / "sync.toml"
    path.write_text(sync_toml({"acme": {
        "marketplace": "tiktok", "base_url": "http://127.0.0.1:9", "app_key": "6akey",
        "app_secret": SECRET, "shop_cipher": "C-unique-1", "access_token": "A-unique-2",
        "refresh_token": "R-unique-3"}}))
    os.chmod(path, 0o600)
    monkeypatch.setenv("RETURNS_TUI_SYNC_CONFIG", str(path))
    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "none.toml"))
    return url, path


def run(capsys, url, *args, login=ME):
    status = cli.main(["--db", url, "sync", *args], login=login)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and SECRET not in out + err
    return status, out, err


def one_line(err: str, *fragments: str) -> None:
    assert err.startswith("returns-tui: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_only_an_admin_runs_sync(setup, capsys):
    url, _ = setup
    status, _, err = run(capsys, url, "--once", login="olive")
    assert status == 1
    one_line(err, "Only an admin may run sync", "olive")


def test_a_config_others_may_read_is_refused_in_one_sentence(setup, capsys):
    url, path = setup
    os.chmod(path, 0o644)
    status, out, err = run(capsys, url, "--once")
    assert status == 1 and out == ""
    one_line(err, "may be read or written by its group or others", "chmod 600")


def test_a_config_with_a_wrong_key_names_shop_and_key(setup, capsys):
    url, path = setup
    path.write_text(path.read_text().replace('marketplace = "tiktok"', 'marketplace = "ebay"'))
    status, _, err = run(capsys, url, "--once")
    assert status == 1
    one_line(err, "shops.acme.marketplace")


def test_a_shop_not_in_the_config(setup, capsys):
    url, _ = setup
    status, _, err = run(capsys, url, "--once", "--shop", "globex")
    assert status == 1
    one_line(err, "no shop 'globex'", "acme")


@pytest.mark.parametrize("args", [["--listen", "nowhere"], ["--listen", "h:0"],
                                  ["--listen", "h:99999"], ["--parallel", "0"],
                                  ["--parallel", "x"], ["--parallel", "65"], ["--bogus"]])
def test_bad_arguments_are_usage_errors(setup, capsys, args):
    url, _ = setup
    status, _, err = run(capsys, url, "--once", *args)
    assert status == 2
    one_line(err)


def test_a_listen_address_that_cannot_be_bound(setup, capsys):
    url, _ = setup
    status, _, err = run(capsys, url, "--once", "--listen", "192.0.2.1:8080")
    assert status == 1
    one_line(err, "Cannot listen on 192.0.2.1:8080")
