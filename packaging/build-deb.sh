#!/usr/bin/env bash
# Builds target/debian/openlatch_<version>-1_<arch>.deb: the release binaries
# (server and door controller),
# every command's --help as the command reference, the configuration, the
# hardened systemd unit and the docs. Extra arguments go to `cargo deb`.
#
# OPENLATCH_DEB_PROFILE=dev packages the debug binary the test suite builds
# (CI uses it to test the packaging without a second, release build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
PROFILE=${OPENLATCH_DEB_PROFILE:-release}
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "cargo-deb is missing: installing it from crates.io"
    cargo install cargo-deb --locked --quiet
fi
case $PROFILE in
    # The binary as `cargo test` builds it (dev-dependency features
    # included), so no second set of dependencies is compiled.
    dev) cargo test -p openlatch -p openlatch-door --no-run --quiet && BIN=target/debug/openlatch ;;
    *) cargo build --profile "$PROFILE" -p openlatch -p openlatch-door && BIN=target/$PROFILE/openlatch ;;
esac
mkdir -p target/package
for cmd in "" serve backup restore "db copy" "admin create" keys allowlist; do
    echo "==== openlatch $cmd --help"
    # shellcheck disable=SC2086 # a command is several words
    "$BIN" $cmd --help
    echo
done >target/package/openlatch-commands.txt
cargo deb -p openlatch --no-build --profile "$PROFILE" --strip --no-separate-debug-symbols "$@"
