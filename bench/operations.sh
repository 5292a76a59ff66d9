#!/usr/bin/env bash
# Backup, restore and `db copy` on a space-sized database: a release server
# makes the schema, then sqlite3 adds MEMBERS members with two keys each and
# AUDIT audit rows (a few years of door events), and each command is timed.
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) for the copy.
# Usage: bench/operations.sh [members] [audit rows]
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${1:-1000}
AUDIT=${2:-500000}
if [ -z "${BIN:-}" ]; then
    cargo build --release -p openlatch -q
    BIN=$PWD/target/release/openlatch
fi
WORK=$(mktemp -d)
DB=openlatch_bench_$$
trap 'rm -rf "$WORK"; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
PORT=18095

OPENLATCH_DATA_DIR=$WORK/data OPENLATCH_LISTEN=127.0.0.1:$PORT RUST_LOG=warn "$BIN" serve 2>/dev/null &
pid=$!
until curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; do sleep 0.05; done
kill -TERM $pid; wait $pid || true

sqlite3 "$WORK/data/openlatch.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $MEMBERS)
INSERT INTO members SELECT printf('00000000-0000-4000-8000-%012d', i), 'member' || i,
    'member' || i || '@example.org', 'Member ' || i, 'member', 1,
    '\$argon2id\$v=19\$m=19456,t=2,p=1\$c2FsdHNhbHRzYWx0\$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA', i,
    1700000000, 1700000000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2 * $MEMBERS)
INSERT INTO nfc_keys SELECT printf('00000000-0000-4000-9000-%012d', i),
    printf('00000000-0000-4000-8000-%012d', (i + 1) / 2), printf('04%012X', i), 'tag', NULL, NULL,
    NULL, NULL, NULL, 1700000000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $AUDIT)
INSERT INTO audit_log (event_type, actor_id, target_id, details, created_at)
SELECT 'access_granted', 'door', printf('00000000-0000-4000-9000-%012d', 1 + i % (2 * $MEMBERS)),
    '{"uid":"04A1B2C3D4E5F6","door":"front-door","actor_kind":"device"}', 1700000000 + i FROM n;
SQL
echo "database: $MEMBERS members, $((2 * MEMBERS)) keys, $AUDIT audit rows," \
    "$(du -h "$WORK/data/openlatch.db" | cut -f1) on disk"

timed() { local s; s=$(date +%s%N); "$@" >/dev/null; echo "$(( ($(date +%s%N) - s) / 1000000 )) ms"; }

echo "backup:  $(OPENLATCH_DATA_DIR=$WORK/data timed "$BIN" backup --out "$WORK/backup.tar.gz")," \
    "archive $(du -h "$WORK/backup.tar.gz" | cut -f1)"
echo "restore: $(timed "$BIN" restore "$WORK/backup.tar.gz" --data-dir "$WORK/restored")"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
echo "db copy: $(RUST_LOG=warn OPENLATCH_DATA_DIR=$WORK/restored timed "$BIN" db copy --to "postgres://postgres@127.0.0.1:5432/$DB")"

# A backup while the server serves: its health answers stay fast.
OPENLATCH_DATA_DIR=$WORK/data OPENLATCH_LISTEN=127.0.0.1:$PORT RUST_LOG=warn "$BIN" serve 2>/dev/null &
pid=$!
until curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; do sleep 0.05; done
OPENLATCH_DATA_DIR=$WORK/data "$BIN" backup --out "$WORK/live.tar.gz" >/dev/null &
bpid=$!
worst=0
while kill -0 $bpid 2>/dev/null; do
    t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/api/v1/health")
    worst=$(echo "$t $worst" | awk '{ print ($1 > $2) ? $1 : $2 }')
done
wait $bpid
kill -TERM $pid; wait $pid || true
echo "slowest /health answer during a live backup: ${worst} s"
