#!/usr/bin/env bash
# Runs every test: installs the peers if needed, builds the package and its tests, runs them all.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-peers.sh
swift build --build-tests
# Serially: several suites start real relays, servers and daemons, and on a 2-core machine their
# timeouts are only meaningful when they do not compete with each other.
swift test --skip-build --no-parallel "$@"
