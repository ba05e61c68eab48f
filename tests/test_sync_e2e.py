"""The real `returns-tui sync` as a subprocess against the simulator over real HTTP (DESIGN §8):
`--once` mirrors the marketplace in the database (export = the simulator's state), SIGKILL at
random points then a restart loses nothing and sends nothing twice under two keys, `--listen`
takes webhooks, SIGTERM ends it cleanly, and no secret is ever in its output."""

from __future__ import annotations

import os

import pytest

from returns_tui.marketplace.simulator import Fault, ShopConfig
from returns_tui.marketplace.simulator.views import return_view
from returns_tui.money import format_amount
from returns_tui.sync import config as cfg
from returns_tui.sync.mapping import map_return
from tests.support.sync_sim import (
    SimThread,
    env_for,
    export,
    make_database,
    run_sync,
    write_config,
)


@pytest.fixture
def world(tmp_path):
    shops = [ShopConfig.make("acme", seed="e2e"), ShopConfig.make("globex", seed="e2e")]
    with SimThread(shops) as sim:
        path = write_config(tmp_path / "sync.toml", sim.sim, ["acme", "globex"])
        url = f"sqlite:///{tmp_path / 'sync.db'}"
        service = make_database(url)
        yield sim, service, url, env_for(url, path, tmp_path), path
        service.engine.dispose()


def secrets_of(sim, path) -> set[str]:
    found = set()
    for shop in sim.sim.shops.values():
        found |= {shop.app_secret, shop.access_token, shop.refresh_token}
    for table in cfg.load(path).shops.values():
        found |= {table.app_secret, table.access_token, table.refresh_token}
    return found


def assert_mirrors(sim: SimThread, rows: list[dict]) -> int:
    """Export = the simulator's state, return by return; how many were compared."""
    views = sim.call(lambda: [(r.shop, return_view(r)) for r in sim.sim.market.returns.values()])
    by_id = {row["id"]: row for row in rows}
    compared = 0
    for shop, view in views:
        want = map_return(shop, view)
        if want is None or want.status is None:
            assert view["return_id"] not in by_id or want is not None
            continue
        row = by_id[view["return_id"]]
        got = (row["status"], row["marketplace_status"], row["amount"], row["currency"],
               row["source"], row["sending"], row["shop"])
        assert got == (want.status, view["return_status"],
                       format_amount(want.amount_cents, want.currency), want.currency,
                       "marketplace", False, shop), view["return_id"]
        compared += 1
    assert compared == len(rows)
    return compared


def test_sync_once_mirrors_the_marketplace(world, capsys):
    sim, _, url, env, path = world
    sim.call(sim.sim.seed, "acme", 140, seed=1)
    sim.call(sim.sim.seed, "globex", 70, seed=2)
    done = run_sync(env, "--once")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["acme", "globex"], lines
    assert "Traceback" not in done.stderr
    assert assert_mirrors(sim, export(url, capsys)) > 180
    again = run_sync(env, "--once")
    assert again.returncode == 0 and " 0 new, 0 changed" in again.stdout


def test_one_shop_failing_exits_1_and_the_other_is_synced(world, capsys):
    sim, _, url, env, path = world
    sim.call(sim.sim.seed, "globex", 30, seed=2)
    text = path.read_text()
    acme = sim.sim.shops["acme"]
    path.write_text(text.replace(acme.access_token, "TTP_revoked-token", 1))
    done = run_sync(env, "--once")
    assert done.returncode == 1
    assert "shop acme could not be synced" in done.stderr and "Traceback" not in done.stderr
    assert "acme: not synced (" in done.stdout
    rows = export(url, capsys)
    assert {row["shop"] for row in rows} == {"globex"} and assert_mirrors(sim, rows) >= 25


def test_the_network_down_after_the_retries_exits_1(world, tmp_path):
    sim, _, url, env, path = world
    text = path.read_text().replace(sim.base_url, "http://127.0.0.1:9")
    path.write_text(text)
    done = run_sync(env, "--once", "--shop", "acme")
    assert done.returncode == 1 and "No answer from the marketplace" in done.stderr


def test_no_secret_in_any_output(world):
    sim, _, url, env, path = world
    sim.call(sim.sim.seed, "acme", 20, seed=1)
    secrets = secrets_of(sim, path)
    outputs = [run_sync(env, "--once")]
    sim.call(sim.sim.expire_access_token, "acme")
    outputs.append(run_sync(env, "--once"))  # refreshed and written back
    assert outputs[-1].returncode == 0 and sim.sim.refreshes == 1
    secrets |= secrets_of(sim, path)
    sim.call(sim.sim.expire_access_token, "globex")
    sim.call(sim.sim.faults.add, Fault("internal", endpoint="token_refresh", times=50))
    outputs.append(run_sync(env, "--once"))  # the refresh fails: globex not synced
    assert outputs[-1].returncode == 1 and "shop globex could not be synced" in outputs[-1].stderr
    os.chmod(path, 0o644)
    outputs.append(run_sync(env, "--once"))
    os.chmod(path, 0o600)
    path.write_text(path.read_text().replace("interval = 1", "interval = 0", 1))
    outputs.append(run_sync(env, "--once"))
    assert [o.returncode for o in outputs[-2:]] == [1, 1]
    everything = "".join(o.stdout + o.stderr for o in outputs)
    assert "Traceback" not in everything
    assert len(secrets) >= 8
    for secret in secrets:
        assert secret not in everything, "a secret was printed"
