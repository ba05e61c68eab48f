"""The benchmark suite runs, small (2 000 requests, --quick: 63 s here, 80 with 10 000), and
produces every figure with its baselines: so that it cannot rot. No timing is asserted here;
docs/PERFORMANCE.md has the figures of a full run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FIGURES = {
    "launch", "launch_floor", "naive_launch", "rss", "tick", "idle_cpu", "tab_switch",
    "page_down", "page_down_read", "jump_end", "page_all", "page_to_proceed", "search_id",
    "search_id_tab", "search_id_floor", "search_name", "search_name_tab", "search_name_floor",
    "search_short", "seed", "sweep", "apply", "export",
}  # fmt: skip
WITH_BASELINE = {"launch", "idle_cpu", "page_all", "page_to_proceed", "search_id", "search_name"}
WITH_RATIO = WITH_BASELINE - {"idle_cpu"}  # a 2 s idle window may count no 10 ms tick at all


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_quick_suite_produces_every_figure(tmp_path):
    doc = tmp_path / "PERFORMANCE.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--sizes", "2000",
         "--data", str(tmp_path), "--doc", str(doc)],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "results-sqlite.json").read_text())
    figures = results["figures"]
    assert {f["key"] for f in figures} == FIGURES
    for figure in figures:
        assert figure["samples"], figure["key"]
        assert all(isinstance(x, int | float) for x in figure["samples"]), figure["key"]
        if figure["key"] in WITH_BASELINE:
            assert figure["baseline_samples"], figure["key"]
        if figure["key"] in WITH_RATIO:
            assert figure["ratio"] is not None, figure["key"]
        if figure["limit"] is not None:
            assert figure["verdict"] in ("pass", "**miss**"), figure["key"]
    assert sorted(f["size"] for f in figures if f["key"] == "sweep") == [2_000, 5_000]
    for key in ("nproc", "cpu", "ram", "date", "command"):
        assert results["machine"][key], key
    assert "| requests | figure | median | p95 |" in result.stdout
    assert not doc.exists()  # --quick leaves the doc alone
    # The paint on screen (bench/filter_terminal.py) and the scrolling figures
    # (bench/scroll_figures.py) on the same database, one filter, one round: they cannot rot
    # either.
    def bench(script: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), "--url",
             f"sqlite:///{tmp_path / 'requests-2000.db'}", "--only", "shop acme", *args],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "RETURNS_TUI_CHAIN_KEY": str(tmp_path / "chain.key")},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    shown = bench("filter_terminal.py", "--rounds", "1")
    assert re.search(r"bench-agent +All, shop acme +\d+ +\d+", shown), shown
    scrolled = bench("scroll_figures.py", "--runs", "1")
    assert re.search(r"All, shop acme +[\d.]+ +[\d.]+ +[\d.]+", scrolled), scrolled
