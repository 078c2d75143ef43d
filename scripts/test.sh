#!/usr/bin/env bash
# Runs every test: installs the peers if needed, builds the package and its tests, builds and
# installs the binary users install, and runs every test. Exits non-zero on any failure.
#   scripts/test.sh                  everything (CI runs this)
#   scripts/test.sh --filter X       `swift test` arguments: only those tests, against the debug build
#   PYLON_TEST_INSTALLED=0 scripts/test.sh   every test against the debug build (no release build)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-peers.sh
swift build --build-tests
# Serially: several suites start real relays, servers and daemons, and on a 2-core machine their
# timeouts are only meaningful when they do not compete with each other.
if [ $# -gt 0 ] || [ "${PYLON_TEST_INSTALLED:-1}" = 0 ]; then
    exec swift test --skip-build --no-parallel "$@"
fi
# The binary users install is another build than the debug one: statically linked, laid out by the
# order file, identical functions folded, and without ICU's data (Sources/EmptyICUData). So the
# tests that run the pylon binary (CLITests: the daemon, jobs, payments, agents, the demo) run
# against that binary, installed by scripts/install.sh into a temporary prefix; the others test the
# modules in process.
prefix="$(mktemp -d "${TMPDIR:-/tmp}/pylon-installed.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
scripts/install.sh "$prefix"
swift test --skip-build --no-parallel --skip CLITests
PYLON_BINARY="$prefix/bin/pylon" swift test --skip-build --no-parallel --filter CLITests
