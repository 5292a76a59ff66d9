#!/usr/bin/env bash
# 1,000 concurrent logins against a release server; prints the answers
# (401 checked, 503 with Retry-After past the bounded queue) and the
# server's peak resident memory (VmHWM). Target: under 100 MB.
# Usage: bench/login_flood.sh [logins]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
cargo build --release -p openlatch -q
cargo build --release -p openlatch --example login_flood -q
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
ulimit -n 65536 2>/dev/null || true

OPENLATCH_LISTEN=127.0.0.1:18093 OPENLATCH_DATA_DIR=$dir/data RUST_LOG=warn \
    OPENLATCH_TRUSTED_PROXIES=127.0.0.1 \
    target/release/openlatch serve 2>/dev/null &
server=$!
until curl -sf http://127.0.0.1:18093/api/v1/health >/dev/null; do sleep 0.05; done
echo "password workers: $(nproc) (the default, one per core)"
OL_URL=http://127.0.0.1:18093 OL_N=$n OL_SERVER_PID=$server target/release/examples/login_flood
