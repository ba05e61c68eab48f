#!/usr/bin/env bash
# Apply and sweep figures of two revisions, measured alternately in one run on this machine
# (a noisy 2-core box: compare the medians of the same run, never figures of two runs).
#
#   bash bench/compare_revisions.sh BEFORE AFTER [ROUNDS] [SWEEP_COUNT]
#
# Each revision is exported with `git archive` and installed in its own virtualenv under
# ${TMPDIR:-/tmp}/rt-compare-<rev>, then bench/cli_figures.py's apply (4 000 lines) and sweep
# (SWEEP_COUNT due requests, default 20 000) run with that revision's own script and command.
set -euo pipefail
before=${1:?before revision}; after=${2:?after revision}
rounds=${3:-3}; sweep_count=${4:-20000}
root=$(git rev-parse --show-toplevel)
work=${TMPDIR:-/tmp}
for rev in "$before" "$after"; do
    dir="$work/rt-compare-$rev"
    if [[ ! -x "$dir/venv/bin/returns-tui" ]]; then
        rm -rf "$dir" && mkdir -p "$dir/tree"
        git -C "$root" archive "$rev" | tar -x -C "$dir/tree"
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/pip" install -q "$dir/tree" >/dev/null
    fi
done
for round in $(seq "$rounds"); do
    for rev in "$before" "$after"; do
        dir="$work/rt-compare-$rev"
        echo "== $rev, round $round"
        # From the revision's own folder: Python puts the working directory first on the path
        # of a script read from standard input, and this checkout's returns_tui must not win.
        (cd "$dir" && "$dir/venv/bin/python" - "$dir/tree/bench" "$sweep_count") <<'PY'
import os, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import cli_figures as cf
from returns_tui.store.chain import KEY_ENV, create_key
with tempfile.TemporaryDirectory(prefix="rt-compare-") as tmp:
    os.environ[KEY_ENV] = str(create_key(Path(tmp) / "chain.key")[0].path)
    print(cf.table([cf.apply(Path(tmp), 4000, 5), cf.sweep(Path(tmp), int(sys.argv[2]), 3)]))
PY
    done
done
