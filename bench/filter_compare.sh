#!/usr/bin/env bash
# The filter figures (bench/filter_figures.py --quick) of an earlier revision and of this
# checkout, measured alternately in one run: on a noisy 2-core machine only figures of the
# same run compare.
#
#   bash bench/filter_compare.sh BEFORE_TREE BEFORE_DATA AFTER_DATA [ROUNDS] [PG_DATA]
#
# BEFORE_TREE is a checkout of the earlier revision (`git worktree add /tmp/before REV`);
# BEFORE_DATA and AFTER_DATA hold the same seeded database (requests-1000000.db, chain.key),
# the first at the earlier revision's schema (a copy, downgraded with Alembic), the second at
# this checkout's (the same folder when both revisions have one schema). With
# RETURNS_TUI_TEST_PG set, PostgreSQL too: the database rt_bench_before (the earlier schema)
# is swapped in for rt_bench_1000000 while the earlier revision runs, unless BEFORE_DATA is
# AFTER_DATA: then both read rt_bench_1000000 (a copy of it, however made, is laid out and
# planned differently: "All, at most 10.00" took 95 ms on one and 46 on the other with the
# same statements). PG_DATA is the folder of the chain key it was seeded with
# (bench/filter_figures.py --pg).
# Prints the `paint` lines (both) of each, prefixed `sqlite before`, `pg after`, ...
set -euo pipefail
before_tree=${1:?a checkout of the earlier revision}
before_data=${2:?the database at the earlier schema}
after_data=${3:?the database at this schema}
rounds=${4:-2}
pg_data=${5:-$after_data}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$here/.venv/bin/python

figures() { # TREE DATA LABEL [--pg]
    local tree=$1 data=$2 label=$3
    shift 3
    (cd "$tree" && RETURNS_TUI_CHAIN_KEY="$data/chain.key" PYTHONPATH="$tree" \
        "$python" bench/filter_figures.py --data "$data" --quick "$@" 2>&1 |
        grep -E ' paint[ ,]' | sed "s/^/$label /")
}

swap() { # FROM TO: rename a PostgreSQL database
    [[ $before_data != "$after_data" ]] || return 0
    psql -q "$(sed 's/+psycopg//; s#/[^/]*$#/postgres#' <<<"$RETURNS_TUI_TEST_PG")" \
        -c "ALTER DATABASE $1 RENAME TO $2"
}

for round in $(seq "$rounds"); do
    echo "== round $round, $(date -u +%H:%M), load $(cut -d' ' -f1 /proc/loadavg)"
    figures "$before_tree" "$before_data" "sqlite before"
    figures "$here" "$after_data" "sqlite after"
    if [[ -n "${RETURNS_TUI_TEST_PG:-}" ]]; then
        swap rt_bench_1000000 rt_bench_after && swap rt_bench_before rt_bench_1000000
        figures "$before_tree" "$pg_data" "pg before" --pg || true
        swap rt_bench_1000000 rt_bench_before && swap rt_bench_after rt_bench_1000000
        figures "$here" "$pg_data" "pg after" --pg
    fi
done
