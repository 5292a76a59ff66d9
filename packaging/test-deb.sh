#!/usr/bin/env bash
# Installs the .deb on this machine (root needed), checks the systemd unit
# with `systemd-analyze verify`, starts the server the way the unit does --
# its user, umask, working and state directory, environment file and
# command line, all read from the installed unit -- and asks
# /api/v1/health. A backup as the service user and a clean SIGTERM stop
# follow. Everything the package installed is removed again at the end.
#
# systemd itself need not run: this is the unit's start done by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=${1:-$(ls -t target/debian/openlatch_*.deb | head -n 1)}
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
fail() { echo "test-deb: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i)"
getent passwd openlatch >/dev/null && fail "an openlatch user exists already; not touching this machine"

SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    dpkg --purge openlatch >/dev/null 2>&1 || true
    rm -rf /var/lib/openlatch /etc/openlatch
    if getent passwd openlatch >/dev/null; then deluser --system openlatch >/dev/null 2>&1 || true; fi
    if getent group openlatch >/dev/null; then delgroup --system openlatch >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== dpkg -i $DEB"
dpkg -i "$DEB"

UNIT=$(dpkg -L openlatch | grep -E '/systemd/system/openlatch\.service$') || fail "no unit installed"
echo "== systemd-analyze verify $UNIT"
systemd-analyze verify "$UNIT" 2>&1 | tee /tmp/openlatch-verify.log
[ "${PIPESTATUS[0]}" = 0 ] || fail "systemd-analyze verify failed"
grep -q "openlatch.service" /tmp/openlatch-verify.log && fail "systemd-analyze has remarks on the unit"

unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
USER_NAME=$(unit_value User)
GROUP_NAME=$(unit_value Group)
WORKDIR=$(unit_value WorkingDirectory)
STATE=/var/lib/$(unit_value StateDirectory)
UMASK_VALUE=$(unit_value UMask)
EXEC=$(unit_value ExecStart)
ENV_FILE=$(unit_value EnvironmentFile | sed 's/^-//')

echo "== installed files"
getent passwd "$USER_NAME" | grep -q ':/usr/sbin/nologin$' || fail "$USER_NAME is not a system user without a shell"
[ "$(stat -c '%U %a' "$STATE")" = "$USER_NAME 700" ] || fail "$STATE is $(stat -c '%U %a' "$STATE")"
[ "$(stat -c '%a' "$ENV_FILE")" = 600 ] || fail "$ENV_FILE is not 0600"
[ -f /etc/openlatch/openlatch.toml ] || fail "no configuration file"
[ -f /usr/share/doc/openlatch/openlatch-commands.txt ] || fail "no command reference"
/usr/bin/openlatch --version

echo "== start as the unit: $USER_NAME, umask $UMASK_VALUE, in $WORKDIR: $EXEC"
# systemd reads the environment file as root, then drops to the user.
mapfile -t UNIT_ENV < <(grep -E '^[A-Z_]+=' "$ENV_FILE" || true)
(
    cd "$WORKDIR"
    umask "$UMASK_VALUE"
    # shellcheck disable=SC2086 # ExecStart is a command line
    exec setpriv --reuid="$USER_NAME" --regid="$GROUP_NAME" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all \
        env -i PATH=/usr/bin:/bin "${UNIT_ENV[@]}" OPENLATCH_LISTEN="127.0.0.1:$PORT" $EXEC
) 2>/tmp/openlatch-service.log &
SERVER_PID=$!

HEALTH=
for _ in $(seq 1 100); do
    HEALTH=$(curl -sf "http://127.0.0.1:$PORT/api/v1/health") && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat /tmp/openlatch-service.log; fail "the server exited"; }
    sleep 0.2
done
echo "health: $HEALTH"
echo "$HEALTH" | grep -q '"status":"ok"' || { cat /tmp/openlatch-service.log; fail "no healthy answer"; }
grep -q $'\e\[' /tmp/openlatch-service.log && fail "colour codes in the service log"

echo "== the state directory"
ls -la "$STATE" "$STATE/keys"
[ "$(stat -c '%U %a' "$STATE/openlatch.db")" = "$USER_NAME 600" ] || fail "database file is $(stat -c '%U %a' "$STATE/openlatch.db")"
[ "$(stat -c '%U %a' "$STATE/keys/master.key")" = "$USER_NAME 600" ] || fail "master key is $(stat -c '%U %a' "$STATE/keys/master.key")"

echo "== a backup while it runs, as the service user"
runuser -u "$USER_NAME" -- /usr/bin/openlatch --config /etc/openlatch/openlatch.toml \
    backup --out "$STATE/backup.tar.gz"
[ "$(stat -c '%U %a' "$STATE/backup.tar.gz")" = "$USER_NAME 600" ] || fail "backup is not private"

echo "== SIGTERM"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "the server did not stop cleanly"
SERVER_PID=
echo "test-deb: the package installs, starts as its unit and answers /api/v1/health"
