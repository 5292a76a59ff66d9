#!/usr/bin/env bash
# Web UI: page weight and server time per page with 1,000 members, then
# screenshots of the main pages at phone and desktop width (docs/ui/).
# Needs wrk, curl, jq, python3, chromium and chromedriver (Debian packages).
# Usage: bench/web_pages.sh [debug|release] [--no-screenshots]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-debug}
# OPENLATCH_BIN names a binary that is already built (skips cargo).
if [ -n "${OPENLATCH_BIN:-}" ]; then
    :
elif [ "$profile" = release ]; then
    cargo build --release -p openlatch -q
else
    cargo build -p openlatch -q
fi
bin=${OPENLATCH_BIN:-target/$profile/openlatch}
dir=$(mktemp -d)
port=18131
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
OPENLATCH_LISTEN=127.0.0.1:$port OPENLATCH_DATA_DIR=$dir RUST_LOG=warn \
    OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=web-bench-pw-1 \
    "$bin" serve 2>/dev/null &
server=$!
base=http://127.0.0.1:$port
api=$base/api/v1
until curl -sf $api/health >/dev/null; do sleep 0.1; done

token=$(curl -sf -X POST $api/auth/login -H 'content-type: application/json' \
    -d '{"username":"admin","password":"web-bench-pw-1"}' | jq -r .access_token)
post() { curl -sf -X POST "$api$1" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }

echo "seeding 1,000 members (each password is hashed with argon2id: this takes a while)"
roles=(member member member member guest keyholder)
seq 1 1000 | xargs -P 4 -I{} curl -sf -o /dev/null -X POST $api/members \
    -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"username":"member{}","email":"member{}@example.org","password":"member-password-{}","display_name":"Member {}","role":"member"}'
anna=$(post /members '{"username":"anna","email":"anna@example.org","password":"anna-password-1","display_name":"Anna Keyholder","role":"keyholder"}' | jq -r .id)
guest=$(post /members '{"username":"gina","email":"gina@example.org","password":"gina-password-1","display_name":"Gina Guest","role":"member"}' | jq -r .id)
post /nfc-keys "{\"member_id\":\"$anna\",\"uid\":\"04A1B2C3D4E5F6\",\"label\":\"blue fob\"}" >/dev/null
post /nfc-keys "{\"member_id\":\"$guest\",\"uid\":\"AABBCCDD\",\"label\":\"backup card\",\"access_type\":\"conditional\"}" >/dev/null
post /access-rules '{"name":"Open evenings","rule_type":"time_window","parameters":{"days":["mon","tue","wed","thu","fri"],"start_hour":17,"start_minute":0,"end_hour":23,"end_minute":0,"timezone":"Europe/Berlin"},"priority":10}' >/dev/null
post /access-rules '{"name":"Members and up","rule_type":"role_minimum","parameters":{"min_role":"member"},"priority":5}' >/dev/null
for door in "Front door" "Workshop"; do
    dtoken=$(post /devices "{\"name\":\"$door\",\"location\":\"ground floor\"}" | jq -r .token)
    curl -sf -o /dev/null -X POST $api/device/heartbeat -H "authorization: Bearer $dtoken" \
        -H 'content-type: application/json' \
        -d '{"firmware_version":"0.1.0","allowlist_version":1,"uptime_seconds":86400,"free_heap":120000,"wifi_rssi":-55,"nuki_battery_percent":24,"nuki_battery_critical":false,"nuki_paired":true,"nuki_state":"locked"}'
done
echo "members: $(curl -sf $api/members -H "authorization: Bearer $token" | jq length)"

cookie=$(curl -s -o /dev/null -D - -X POST $base/login -d 'username=admin&password=web-bench-pw-1' |
    tr -d '\r' | awk 'tolower($1) == "set-cookie:" {split($2, c, ";"); print c[1]}')
member=$(curl -sf $api/members -H "authorization: Bearer $token" | jq -r '.[] | select(.username=="anna") | .id')
rule=$(curl -sf $api/access-rules -H "authorization: Bearer $token" | jq -r '.[0].id')
door=$(curl -sf $api/devices -H "authorization: Bearer $token" | jq -r '.[0].id')
css=$(curl -s -H "cookie: $cookie" $base/ | grep -o '/static/app.css?v=[0-9a-f]*')
js=$(curl -s -H "cookie: $cookie" $base/ | grep -o '/static/app.js?v=[0-9a-f]*')
asset_bytes=$(( $(curl -s $base$css | wc -c) + $(curl -s $base$js | wc -c) ))

printf '%-28s %10s %12s %12s %10s\n' page "html B" "with assets" "avg ms" "req/s"
for page in / /members "/members?q=member12" "/members/$member" /rules "/rules/$rule" "/rules/new?type=time_window" /approvals /overrides /doors "/doors/$door" /audit-log /settings /allowlist "/allowlist?uid=04A1B2C3D4E5F6" /me; do
    html=$(curl -s -H "cookie: $cookie" "$base$page" | wc -c)
    out=$(wrk -t1 -c1 -d5s -H "Cookie: $cookie" "$base$page")
    avg=$(echo "$out" | awk '/Latency/ {print $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    printf '%-28s %10s %12s %12s %10s\n' "$page" "$html" "$((html + asset_bytes))" "$avg" "$rps"
done

if [ "${2:-}" != --no-screenshots ]; then
    # A door waiting for a decision, so the approvals page has something to show.
    curl -s -o /dev/null -m 60 -X POST $api/device/approve -H "authorization: Bearer $dtoken" \
        -H 'content-type: application/json' -d "{\"uid\":\"AABBCCDD\",\"timestamp\":$(date +%s)}" &
    sleep 1
    python3 bench/ui_screenshots.py "$base" "$cookie" docs/ui "$member" "$rule" "$door"
fi
