#!/usr/bin/env bash
# Relay pool benchmark: events/s received, parsed, verified (id + signature) and deduplicated from
# a local relay, through pylon's RelayPool (release build), next to rust-nostr's own client
# (nostr-sdk) reading the same events from the same relay in the same run.
#
# The relay is Tests/Peers/firehose_relay.py: it holds COUNT events signed by rust-nostr and
# streams them on every REQ as fast as the socket takes them, so the client is what is measured.
#   scripts/bench-relay.sh [COUNT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-20000}"
ROUNDS="${2:-5}"
scripts/setup-test-peers.sh
scripts/build-release.sh --product relay-bench >&2
BIN="$(scripts/build-release.sh --show-bin-path)"
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
exec 3< <(.venv/bin/python Tests/Peers/firehose_relay.py --port "$PORT" --count "$COUNT" < /dev/null 2>/tmp/pylon-bench-firehose.log)
read -r URL AUTHOR <&3
trap 'pkill -f "firehose_relay.py --port $PORT" 2>/dev/null || true' EXIT
echo "== pylon RelayPool (release)"
"$BIN/relay-bench" --relay "$URL" --count "$COUNT" --rounds "$ROUNDS" --author "$AUTHOR"
echo "== peer: nostr-sdk $(.venv/bin/python -c 'from importlib.metadata import version; print(version("nostr-sdk"))') client, same relay, same events"
.venv/bin/python Tests/Peers/bench_fetch.py "$URL" "$AUTHOR" "$COUNT" "$ROUNDS"
