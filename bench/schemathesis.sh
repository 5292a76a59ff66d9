#!/usr/bin/env bash
# Schema-driven fuzzing of the served OpenAPI document with schemathesis
# (PyPI), all checks, once with an admin token and once with a door token,
# against a server on 127.0.0.1. Too slow for every CI run; the last result
# is in docs/benchmarks.md. Usage: bench/schemathesis.sh [max-examples]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
command -v schemathesis >/dev/null || pip install -q schemathesis
cargo build -p openlatch -q
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
port=18097
OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir/data RUST_LOG=error \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=schemathesis-pw-1 \
    target/debug/openlatch serve 2>"$dir/server.log" &
server=$!
base=http://127.0.0.1:$port
until curl -sf $base/api/v1/health >/dev/null; do sleep 0.1; done
token=$(curl -sf -X POST $base/api/v1/auth/login -H 'content-type: application/json' \
    -d '{"username":"admin","password":"schemathesis-pw-1"}' | jq -r .access_token)
door=$(curl -sf -X POST $base/api/v1/devices -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"fuzz-door"}' | jq -r .token)

status=0
# Logging out would end the session the run uses; login is rate limited by design.
echo "== admin token"
schemathesis run "$base/api/v1/openapi.json" --url "$base" -c all --max-examples "$examples" \
    -H "Authorization: Bearer $token" --exclude-path-regex 'logout' --workers 2 || status=1
echo "== door token (device API)"
schemathesis run "$base/api/v1/openapi.json" --url "$base" -c all --max-examples "$examples" \
    -H "Authorization: Bearer $door" --include-path-regex '/device/' --workers 2 || status=1
if grep -q "panicked" "$dir/server.log"; then
    echo "the server panicked:" >&2
    grep "panicked" "$dir/server.log" >&2
    status=1
fi
exit $status
