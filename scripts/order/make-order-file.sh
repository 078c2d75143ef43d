#!/usr/bin/env bash
# Regenerates scripts/order/pylon.order: the functions a daemon runs at start, at idle and on
# its first jobs, in the order it first runs them. Package.swift hands the file to lld
# (--symbol-ordering-file) for the release build on Linux, which packs that code together.
#
#   scripts/order/make-order-file.sh [--no-build] [--seconds N]
#
# How: scripts/build-release.sh builds pylon; trace-first-calls.c (built here with the C
# compiler) starts `pylon __daemon` (what `pylon start` runs in the background) with a breakpoint
# on every function of the binary and records each function the first time a thread enters it.
# Meanwhile the daemon gets what a user gives it: a relay (rust-nostr's), a backend (the mock
# llama.cpp server) and one that is down (Ollama on a closed port), `pylon status`, a /metrics
# scrape, three jobs from a customer, then idles until N seconds (default 30) have passed. Then an
# agent's process (`pylon __agent NAME`, what the supervisor runs) is traced the same way for 20 s
# while an untraced daemon serves its tick: its functions come first, then the daemon's others, so
# that an agent maps less of the daemon's code, and the daemon, which runs most of the agent's code
# too, still finds its own together. (The toolchain's static libraries keep a whole object's code
# in one section, so their hot objects move whole: the agent's code still spans some 5 MB.)
# The order only moves code; a function missing from it (new since the file was made) still
# links, it just lands with the cold code. Regenerate after larger changes and compare scripts/bench-daemon.sh before and after.
# Linux x86-64 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=1
SECONDS_TRACED=30
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        --seconds) SECONDS_TRACED="${2:?--seconds needs a number}"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "make-order-file.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { echo "make-order-file.sh: Linux x86-64 only" >&2; exit 2; }

scripts/setup-test-peers.sh
PY=.venv/bin/python
[ "$BUILD" = 1 ] && scripts/build-release.sh >&2
PYLON="$(scripts/build-release.sh --show-bin-path)/pylon"
[ -x "$PYLON" ] || { echo "make-order-file.sh: no binary at $PYLON (drop --no-build)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/pylon-order.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "make-order-file.sh: $1" >&2; [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2; exit 1; }
# shellcheck source=scripts/lib/peers.sh
. scripts/lib/peers.sh

cc -O2 -Wall -o "$TMP/trace-first-calls" scripts/order/trace-first-calls.c
# Every function of the binary with a size: address, then the names at that address.
nm --defined-only -S "$PYLON" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ && $2 !~ /^0+$/ {print $1, $4}' > "$TMP/symbols"
cut -d' ' -f1 "$TMP/symbols" | sort -u > "$TMP/addresses"

$PY Tests/Peers/rust_relay.py --port "$(free_port)" < /dev/null > "$TMP/relay.out" 2> "$TMP/relay.log" &
PIDS+=($!)
RELAY_URL=$(first_line "$TMP/relay.out" $! 30) || die "the relay did not start" "$TMP/relay.log"
$PY Tests/Peers/mock_llm.py --port 0 < /dev/null > "$TMP/mock.out" 2> "$TMP/mock.log" &
PIDS+=($!)
MOCK_PORT=$(first_line "$TMP/mock.out" $! 30 | json_field port) || die "the mock LLM did not start" "$TMP/mock.log"

export PYLON_HOME="$TMP/home"
mkdir -p "$PYLON_HOME"
"$PYLON" init > "$TMP/init.log" 2>&1 || die "pylon init failed" "$TMP/init.log"
PUBKEY=$("$PYLON" identity --json | json_field pubkey)
HTTP_PORT=$(free_port)
cat > "$PYLON_HOME/config.toml" <<EOF
relays = ["$RELAY_URL"]
[backends]
preference = ["llamacpp", "ollama"]
llamacpp_url = "http://127.0.0.1:$MOCK_PORT"
ollama_url = "http://127.0.0.1:9"
[http]
listen = "127.0.0.1:$HTTP_PORT"
EOF

# A daemon usually starts with a database and a log from earlier runs: one untraced run makes them.
"$PYLON" start > "$TMP/start.log" 2>&1 || die "pylon start failed" "$TMP/start.log"
"$PYLON" stop > /dev/null || die "pylon stop failed"

"$TMP/trace-first-calls" "$TMP/addresses" "$TMP/entered" "$SECONDS_TRACED" -- \
    "$PYLON" __daemon --home "$PYLON_HOME" --mode both < /dev/null 2> "$TMP/trace.log" &
TRACER=$!
ready=""
for _ in $(seq 300); do
    if "$PYLON" status --json 2>/dev/null | $PY -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if any(r.get("state") == "connected" for r in s.get("relays", []))
         and any(b.get("state") == "ready" for b in s.get("backends", [])) else 1)' 2>/dev/null; then
        ready=1; break
    fi
    sleep 0.1
done
[ -n "$ready" ] || die "the traced daemon did not connect to its relay and backend" "$PYLON_HOME/logs/pylon.log"
"$PYLON" status > /dev/null
$PY -c 'import sys, urllib.request as u; [u.urlopen(f"http://127.0.0.1:{sys.argv[1]}{p}").read() for p in ("/metrics", "/readyz")]' "$HTTP_PORT" \
    || die "the traced daemon's HTTP endpoints did not answer"
$PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$PUBKEY" --jobs 3 --customers 1 --timeout 15 > "$TMP/jobs.json" \
    || die "the traced daemon did not serve its jobs" "$PYLON_HOME/logs/pylon.log"
wait "$TRACER" || die "trace-first-calls failed" "$TMP/trace.log"
cat "$TMP/trace.log" >&2

# An agent's process: one tick (mentions, a request served by the daemon, a note), then idle.
"$PYLON" agent spawn tracer --goal "say hello" --interval 86400 > /dev/null || die "pylon agent spawn failed"
"$PYLON" start --mode provider > "$TMP/start2.log" 2>&1 || die "pylon start failed" "$TMP/start2.log"
"$TMP/trace-first-calls" "$TMP/addresses" "$TMP/entered-agent" 20 -- \
    "$PYLON" __agent tracer --config-dir "$PYLON_HOME" --runtime-dir "$PYLON_HOME" < /dev/null > "$TMP/agent.log" 2>&1 \
    || die "trace-first-calls failed on the agent" "$TMP/agent.log"
"$PYLON" stop > /dev/null
grep -q '"outcome":"ok"' <("$PYLON" events --json | tr -d ' \n') || echo "make-order-file.sh: warning: the traced agent did not tick" >&2
# The agent's functions first, then the rest of the daemon's.
cat "$TMP/entered-agent" "$TMP/entered" > "$TMP/entered-all"

# Addresses in first-entry order -> every name at each address, once.
$PY - "$TMP/symbols" "$TMP/entered-all" > scripts/order/pylon.order <<'PY'
import sys
names = {}
for line in open(sys.argv[1]):
    address, name = line.split()
    names.setdefault(address, []).append(name)
seen = set()
for line in open(sys.argv[2]):
    for name in names.get(line.strip().zfill(16), []):
        if name not in seen:
            seen.add(name)
            print(name)
PY
echo "make-order-file.sh: scripts/order/pylon.order has $(wc -l < scripts/order/pylon.order) names ($(grep -c . "$TMP/entered-agent") functions entered by the agent, $(grep -c . "$TMP/entered") by the daemon; jobs: $(cat "$TMP/jobs.json"))"
