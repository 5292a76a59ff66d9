#!/usr/bin/env bash
# The door poll's 304 path against a bare axum handler, in one run with wrk.
# Needs wrk (Debian package `wrk`). Usage: bench/poll.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
# One cargo call: building the example separately changes the features of
# shared dependencies and rebuilds the server.
cargo build --release -p openlatch --bin openlatch --example bare_handler -q
dir=$(mktemp -d)
trap 'kill $server $bare 2>/dev/null || true; rm -rf "$dir"' EXIT

OPENLATCH_LISTEN=127.0.0.1:18091 OPENLATCH_DATA_DIR=$dir RUST_LOG=warn \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=poll-bench-pw-1 \
    target/release/openlatch serve 2>/dev/null &
server=$!
target/release/examples/bare_handler 127.0.0.1:18092 &
bare=$!
until curl -sf http://127.0.0.1:18091/api/v1/health >/dev/null; do sleep 0.05; done

api=http://127.0.0.1:18091/api/v1
token=$(curl -sf -X POST $api/auth/login -H 'content-type: application/json' \
    -d '{"username":"admin","password":"poll-bench-pw-1"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
door=$(curl -sf -X POST $api/devices -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"bench-door"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
version=$(curl -s -o /dev/null -D - "$api/device/allowlist?current_version=0" -H "authorization: Bearer $door" |
    tr -d '\r' | awk -F'"' 'tolower($0) ~ /^etag/ {print $2}')
echo "door polls with current_version=$version (the newest), so every answer is 304"
code=$(curl -s -o /dev/null -w '%{http_code}' "$api/device/allowlist?current_version=$version" -H "authorization: Bearer $door")
[ "$code" = 304 ] || { echo "expected 304, got $code" >&2; exit 1; }

echo "== bare axum handler"
wrk -t2 -c"$conns" -d"${secs}s" "http://127.0.0.1:18092/api/v1/device/allowlist?current_version=$version"
echo "== openlatch /device/allowlist (304)"
wrk -t2 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $door" \
    "$api/device/allowlist?current_version=$version"
