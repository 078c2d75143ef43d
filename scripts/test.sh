#!/usr/bin/env bash
# Runs every test: installs the peers if needed, builds the package and its tests, runs them all.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-peers.sh
swift build --build-tests
swift test --skip-build "$@"
