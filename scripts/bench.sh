#!/usr/bin/env bash
# Ingestion benchmark: builds the server (release) and the load generator, then runs the
# matrix and prints one table per configuration with the median of the runs.
#
#   scripts/bench.sh                      # medium, gzip, envelope, 200 signatures, c=8 and c=32, 3 runs
#   scripts/bench.sh --payload small      # or large
#   scripts/bench.sh --encoding br        # or none
#   scripts/bench.sh --endpoint store
#   scripts/bench.sh --distinct 5000
#   scripts/bench.sh --duration 60        # a time-bounded run (RSS flatness)
#   scripts/bench.sh --events 50000 --runs 5 --concurrency 32 --json runs.jsonl
#   scripts/bench.sh --database-url postgres://me@%2Ftmp/postgres --nodes 2   # PostgreSQL, two nodes
#                                         # (a fresh database per run; needs psql)
#
# Every run starts a fresh server on a free 127.0.0.1 port with a temporary data directory
# and default settings, and stops it afterwards. Nothing is sent anywhere but loopback.
# Needs: cargo, python3 (standard library only); psql for --database-url.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    echo "building the server (release)…" >&2
    cargo build --release --quiet
    echo "building the load generator (release)…" >&2
    (cd bench/loadgen && cargo build --release --quiet)
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec python3 "$root/scripts/bench.py" \
    --server "$target_dir/release/errata" \
    --loadgen "$root/bench/loadgen/target/release/loadgen" \
    "$@"
