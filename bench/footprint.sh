#!/usr/bin/env bash
# Start-up time and idle memory of a release `openlatch serve` on SQLite.
# Usage: bench/footprint.sh [runs]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -p openlatch -q
bin=target/release/openlatch
port=18090

for run in $(seq 1 "$runs"); do
    dir=$(mktemp -d)
    start=$(date +%s%N)
    OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir RUST_LOG=warn \
        OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=footprint-pw-1 \
        "$bin" serve 2>/dev/null &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null; do sleep 0.005; done
    ready=$(( ($(date +%s%N) - start) / 1000000 ))
    sleep 1
    idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"admin","password":"footprint-pw-1"}' >/dev/null
    sleep 1
    after_login=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    echo "run $run: healthy after ${ready} ms (first start: migrations, keys, admin); RSS idle ${idle} KiB, after a login ${after_login} KiB"
    kill -TERM $pid; wait $pid || true

    # A second start on the same data: what a restart costs.
    start=$(date +%s%N)
    OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir RUST_LOG=warn "$bin" serve 2>/dev/null &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null; do sleep 0.005; done
    ready=$(( ($(date +%s%N) - start) / 1000000 ))
    sleep 1
    idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    echo "run $run: restart healthy after ${ready} ms; RSS idle ${idle} KiB"
    kill -TERM $pid; wait $pid || true
    rm -rf "$dir"
done
