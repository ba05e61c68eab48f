"""`returns-tui demo --marketplace`: the demo console beside a simulated TikTok Shop in-process,
synced both ways: returns arrive from the marketplace, the operator's decision goes out and the
marketplace's answer comes back, and nothing is written to the terminal."""

from __future__ import annotations

import tempfile
import threading
import time

from returns_tui import demo
from returns_tui import domain as d
from returns_tui.clock import utc_now
from returns_tui.store.queries import Sort
from returns_tui.sync.demo_market import SHOP


def wait(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {condition}")


def test_the_marketplace_demo_syncs_both_ways(tmp_path, monkeypatch, capsys):
    import returns_tui.app

    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv(demo.PACE_ENV, "0.05")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("returns_tui.identity.login_name", lambda: "tester")
    seen = {}

    def synced(service, actor):
        rows = service.page(actor, d.Tab.ALL, Sort.NEWEST, limit=500)
        return [row for row in rows if row.shop == SHOP]

    def console(service, actor, settings, **extras):
        seen["title"] = extras.get("title")
        seen["threads"] = [t.name for t in threading.enumerate()]
        def pending():
            return [r.id for r in synced(service, actor) if r.status == d.Status.PENDING]

        rid = wait(pending)[0]
        first = synced(service, actor)
        before = service.get(actor, rid)
        assert before.source == "marketplace"
        service.accept(actor, rid, utc_now())
        done = wait(lambda: service.get(actor, rid).status is not d.Status.PENDING
                    and service.get(actor, rid))
        seen["decided"] = done
        seen["records"] = [r.actor for r in service.records(actor, rid)]
        seen["more"] = wait(lambda: len(synced(service, actor)) > len(first))
        return 0

    monkeypatch.setattr(returns_tui.app, "run_console", console)
    assert demo.main("operator", marketplace=True) == 0
    assert "TikTok Shop" in seen["title"]
    assert "returns-tui-demo-marketplace" in seen["threads"]
    # Accepted by the marketplace; its simulated buyer may have shipped already by the time
    # the next round brings the return in.
    after_accept = (d.Status.COMPLETED, d.Status.AWAITING_BUYER_SHIP, d.Status.BUYER_SHIPPED)
    assert seen["decided"].status in after_accept
    assert "tester" in seen["records"] and "marketplace" in seen["records"]
    out = capsys.readouterr()
    assert out.err == ""
    assert "returns-tui-demo-marketplace" not in [t.name for t in threading.enumerate()]

