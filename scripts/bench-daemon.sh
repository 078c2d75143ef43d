#!/usr/bin/env bash
# Daemon benchmark of the installed binary (scripts/install.sh into a temporary prefix): its size,
# `pylon start` to Pong, idle RSS and CPU after 30 s, Status round trip, and host mode: the daemon
# with 10 idle agents and each agent process's RSS.
#   scripts/bench-daemon.sh [--no-build] [STARTS] [IDLE_SECONDS] [AGENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-peers.sh
[ "${1:-}" = --no-build ] && shift || scripts/build-release.sh >&2
BUILT="$(scripts/build-release.sh --show-bin-path)/pylon"
PREFIX="$(mktemp -d "${TMPDIR:-/tmp}/pylon-bench-install.XXXXXX")"
trap 'rm -rf "$PREFIX"' EXIT
scripts/install.sh --no-build "$PREFIX" > /dev/null
BIN="$PREFIX/bin"
echo "installed binary: $(stat -c %s "$BIN/pylon" | awk '{ printf "%.1f MB", $1 / 1e6 }') (target < 45 MB; the build folder's, with its symbol tables: $(stat -c %s "$BUILT" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/python Tests/Peers/rust_relay.py --port "$PORT" < /dev/null > /tmp/pylon-bench-daemon-relay.log 2>&1 &
RELAY=$!
trap 'kill $RELAY 2>/dev/null || true; rm -rf "$PREFIX"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
.venv/bin/python scripts/bench_daemon.py "$BIN/pylon" --relay "ws://127.0.0.1:$PORT" --starts "${1:-20}" --idle "${2:-30}" --agents "${3:-10}"
