#!/usr/bin/env bash
# The door with a 10,000-entry list the server built: tap-to-unlock decision
# time and the door process's memory. Needs curl, python3, sqlite3.
# Usage: bench/door.sh [entries] [taps]
#
# The server runs from target/release/openlatch if built, else target/debug
# (the list's bytes do not depend on the server's build). 10,000 keys are
# written straight into the server's SQLite file (registering them over HTTP
# rebuilds the list per key and takes minutes), then the server builds and
# signs the list itself (POST /allowlist/regenerate) and the release-built
# door downloads it.
set -euo pipefail
cd "$(dirname "$0")/.."
entries=${1:-10000}
taps=${2:-200}
cargo build --release -p openlatch-door -q
server_bin=target/release/openlatch
[ -x "$server_bin" ] || server_bin=target/debug/openlatch
[ -x "$server_bin" ] || { echo "build the server first: cargo build -p openlatch" >&2; exit 1; }
dir=$(mktemp -d)
port=18111
trap 'kill $server $door 2>/dev/null || true; rm -rf "$dir"' EXIT

OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir/server RUST_LOG=warn \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=door-bench-pw-1 \
    "$server_bin" serve 2>"$dir/server.log" &
server=$!
api=http://127.0.0.1:$port/api/v1
until curl -sf $api/health >/dev/null; do sleep 0.05; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -sf -X POST $api/auth/login -H 'content-type: application/json' \
    -d '{"username":"admin","password":"door-bench-pw-1"}' | json "['access_token']")
auth="authorization: Bearer $token"
member=$(curl -sf -X POST $api/members -H "$auth" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"initial-password","display_name":"Bench","role":"member"}' |
    json "['id']")
curl -sf -X POST $api/nfc-keys -H "$auth" -H 'content-type: application/json' \
    -d "{\"member_id\":\"$member\",\"uid\":\"04A1B2C3\"}" >/dev/null
python3 - "$dir/server/openlatch.db" "$member" "$entries" <<'EOF'
import random, sqlite3, sys, uuid
db, member, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db, timeout=30)
uid_fmt, created = con.execute("SELECT uid, created_at FROM nfc_keys LIMIT 1").fetchone()
random.seed(7)
rows, seen = [], {uid_fmt}
while len(rows) < n - 1:
    # Three in four 7-byte UIDs, like a space with DESFire and Ultralight cards.
    uid = random.randbytes(7 if random.random() < 0.75 else 4).hex().upper()
    if uid not in seen:
        seen.add(uid)
        rows.append((str(uuid.uuid4()), member, uid, "bench", created))
con.executemany("INSERT INTO nfc_keys (id, member_id, uid, label, created_at) VALUES (?, ?, ?, ?, ?)", rows)
con.commit()
EOF
curl -sf -X POST $api/allowlist/regenerate -H "$auth" >/dev/null
master=$(curl -sf $api/allowlist -H "$auth" | json "['master_public_key']")
version=$(curl -sf $api/allowlist -H "$auth" | json "['signed_version']")
door_token=$(curl -sf -X POST $api/devices -H "$auth" -H 'content-type: application/json' \
    -d '{"name":"bench-door"}' | json "['token']")
size=$(curl -sf "$api/device/allowlist?current_version=0" -H "authorization: Bearer $door_token" | wc -c)
echo "server list version $version: $size bytes for $entries entries"

cat >"$dir/door.toml" <<EOF
server_url = "http://127.0.0.1:$port"
token = "$door_token"
master_public_key = "$master"
state_dir = "$dir/door"
poll_seconds = 1
unlock_seconds = 1
[reader]
kind = "stdin"
[lock]
kind = "command"
command = ["true"]
EOF
mkfifo "$dir/taps"
RUST_LOG=info target/release/openlatch-door run --config "$dir/door.toml" <"$dir/taps" 2>"$dir/door.log" &
door=$!
exec 3>"$dir/taps"
until grep -q "list version $version accepted" "$dir/door.log"; do sleep 0.05; done
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %s kB  ", $1, $2} END {print ""}' /proc/$door/status; }
echo "door after accepting the list: $(rss)"
known=04A1B2C3
for i in $(seq 1 "$taps"); do
    # Alternate a listed card (with the durable write before the lock) and
    # an unknown one; 1.1 s apart would be realistic, 50 ms keeps it short
    # (a tap within the unlock wait only restarts it).
    if [ $((i % 2)) = 0 ]; then echo $known >&3; else printf '%08X\n' $((RANDOM * 65536 + RANDOM)) >&3; fi
    sleep 0.05
done
sleep 1
echo "door after $taps taps: $(rss)"
python3 - "$dir/door.log" <<'EOF'
import re, statistics, sys
d, r = {}, {}
for line in open(sys.argv[1]):
    m = re.search(r"decision (\w+) uid=\S+ decide_us=(\d+) record_us=(\d+)", line)
    if m:
        d.setdefault(m[1], []).append(int(m[2]))
        r.setdefault(m[1], []).append(int(m[3]))
for k in d:
    q = lambda v, p: sorted(v)[min(len(v) - 1, int(len(v) * p))]
    print(f"{k:16} n={len(d[k]):4}  decide median {statistics.median(d[k]):.0f} us  p99 {q(d[k], .99)} us"
          f"  | durable record median {statistics.median(r[k]):.0f} us  p99 {q(r[k], .99)} us")
EOF
