#!/usr/bin/env bash
# Notification latency (cause to webhook delivery) and the door API's speed
# while slow receivers are subscribed. Usage: bench/notify.sh [events per phase] [slow receivers]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
slow=${2:-5}
cargo build --release -p openlatch --bin openlatch --example notify_latency -q
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT

OPENLATCH_LISTEN=127.0.0.1:18093 OPENLATCH_DATA_DIR=$dir RUST_LOG=error \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=admin-password-1 \
    OPENLATCH_NOTIFY_ALLOW_PRIVATE_TARGETS=true \
    target/release/openlatch serve 2>/dev/null &
server=$!
until curl -sf http://127.0.0.1:18093/api/v1/health >/dev/null; do sleep 0.05; done
OL_N=$n OL_SLOW=$slow target/release/examples/notify_latency
