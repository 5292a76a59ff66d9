#!/usr/bin/env bash
# A door's page with a full 30-day heartbeat history (8,640 rows) and the
# audit log with 5,000 entries. Needs wrk, curl, jq, python3.
# Usage: bench/door_page.sh [debug|release] (build it first)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/${1:-debug}/openlatch
dir=$(mktemp -d); chmod 700 $dir
port=18177
OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir/data RUST_LOG=warn \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=web-bench-pw-1 \
    "$bin" serve 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port; api=$base/api/v1
until curl -sf $api/health >/dev/null; do sleep 0.1; done
token=$(curl -sf -X POST $api/auth/login -H 'content-type: application/json' \
    -d '{"username":"admin","password":"web-bench-pw-1"}' | jq -r .access_token)
door=$(curl -sf -X POST $api/devices -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"name":"Front door"}')
id=$(echo "$door" | jq -r .id); dtoken=$(echo "$door" | jq -r .token)
now=$(date +%s)
db=$(ls $dir/data/*.db | head -1)
python3 - "$db" "$id" "$now" <<'PY'
import sqlite3, sys, json
db, door, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db)
rows = []
for i in range(8640):
    t = now - 30*86400 + i*300
    b = max(5, 100 - i // 100)
    rows.append((door, t, json.dumps({"firmware_version":"0.1.0","allowlist_version":3,"uptime_seconds":i*300,"free_heap":120000,"wifi_rssi":-55,"nuki_battery_percent":b,"nuki_battery_critical":False,"nuki_paired":True,"nuki_state":"locked"})))
c.executemany("INSERT INTO device_status_history (device_id, received_at, body) VALUES (?,?,?)", rows)
ev = []
for i in range(5000):
    ev.append(("access_denied", door, None, json.dumps({"uid":"11223344","actor_kind":"device","received_at":now}), now - 5000 + i, "bench-%d" % i))
c.executemany("INSERT INTO audit_log (event_type, actor_id, target_id, details, created_at, dedup_key) VALUES (?,?,?,?,?,?)", ev)
c.commit()
PY
cookie=$(curl -s -o /dev/null -D - -X POST $base/login -d 'username=admin&password=web-bench-pw-1' |
    tr -d '\r' | awk 'tolower($1) == "set-cookie:" {split($2, c, ";"); print c[1]}')
printf '%-44s %10s %12s %10s\n' page "html B" "avg ms" "req/s"
for page in "/doors" "/doors/$id" "/doors/$id?page=100" "/audit-log" "/audit-log?event_type=access_denied&page=50" "/audit-log?target=admin" ; do
    html=$(curl -s -H "cookie: $cookie" "$base$page" | wc -c)
    out=$(wrk -t1 -c1 -d5s -H "Cookie: $cookie" "$base$page")
    printf '%-44s %10s %12s %10s\n' "${page/$id/\{id\}}" "$html" "$(echo "$out" | awk '/Latency/ {print $2}')" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
done
csv=$(curl -s -H "cookie: $cookie" -o /dev/null -w '%{size_download} %{time_total}' "$base/audit-log.csv")
echo "/audit-log.csv (5,0xx rows): bytes, seconds: $csv"
