#!/usr/bin/env bash
# Relay pool benchmark: events/s received and verified from a local relay (rust-nostr's relay),
# pylon's RelayPool (release build) next to rust-nostr's own client fetching the same events.
#   scripts/bench-relay.sh [COUNT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-20000}"
ROUNDS="${2:-3}"
scripts/setup-test-peers.sh
swift build -c release --product relay-bench >&2
BIN="$(swift build -c release --show-bin-path)"
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/python Tests/Peers/rust_relay.py --port "$PORT" --max-filter-limit 1000000 --max-reqs 1000000 < /dev/null > /tmp/pylon-bench-relay.log 2>&1 &
RELAY=$!
trap 'kill $RELAY 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
KEY=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')
AUTHOR=$(.venv/bin/python -c "from nostr_sdk import Keys, SecretKey; print(Keys(SecretKey.parse('$KEY')).public_key().to_hex())")
echo "== pylon"
"$BIN/relay-bench" --relay "ws://127.0.0.1:$PORT" --count "$COUNT" --rounds "$ROUNDS" --author-key "$KEY"
echo "== peer, same relay, same events"
.venv/bin/python Tests/Peers/bench_fetch.py "ws://127.0.0.1:$PORT" "$AUTHOR" "$COUNT" "$ROUNDS"
