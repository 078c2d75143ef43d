#!/usr/bin/env bash
# pylon's main job, end to end on this machine and offline: one pylon sells LLM inference as a
# NIP-90 provider, a second pylon buys a job from it, both through a local relay.
#
#   1. installs the peers (scripts/setup-test-peers.sh) and builds pylon (skipped with PYLON_BIN);
#   2. starts a relay (nostr-relay from .venv) on a free 127.0.0.1 port, in a temporary folder;
#   3. starts the model: SmolLM2-135M served by llama.cpp through llama-cpp-python
#      (scripts/lib/llm.sh; installed once into ${PYLON_CACHE:-$HOME/.cache/pylon}/llm-venv, the
#      first build takes about 6.5 minutes), or with DEMO_FAST=1 the mock LLM
#      (Tests/Peers/mock_llm.py, which answers with the prompt's words);
#   4. `pylon start --mode provider` in one temporary home;
#   5. from a second temporary home: `pylon job submit QUESTION --provider NPUB --wait`;
#   6. the provider's `pylon status`, `pylon jobs` and pylon_provider_* lines of its /metrics;
#   7. stops everything it started and removes the temporary folders (also on failure or ^C).
#
#   scripts/demo.sh
#   DEMO_FAST=1 scripts/demo.sh                        # the mock instead of the model: seconds
#   PYLON_BIN=.build/debug/pylon scripts/demo.sh       # an existing binary, no build
#   DEMO_QUESTION="Name three colors." scripts/demo.sh
#
# Nothing touches your own ~/.config/pylon or ~/.pylon. Exits non-zero when the job fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

QUESTION="${DEMO_QUESTION:-What is the capital of France?}"
MAX_TOKENS=48
FAST="${DEMO_FAST:-}"
[ "$FAST" = 0 ] && FAST=""

step() { printf '\n==> %s\n' "$*"; }
die() {
    echo "demo.sh: $1" >&2
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        echo "--- the end of $2:" >&2
        tail -n 30 "$2" >&2
    fi
    exit 1
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# wait_until SECS WHAT PID LOG COMMAND...: runs COMMAND until it succeeds; fails with the end of
# LOG when PID exits first or SECS pass.
wait_until() {
    local secs=$1 what=$2 pid=$3 log=$4 deadline
    shift 4
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "$what exited before it was ready" "$log"
        [ "$SECONDS" -lt "$deadline" ] || die "$what was not ready within $secs s" "$log"
        sleep 0.2
    done
}

# -- 1. the peers and pylon ------------------------------------------------------------------------
step "installing the peers (libsecp256k1-dev, .venv with nostr-relay and nostr-sdk)"
scripts/setup-test-peers.sh
PY="$ROOT/.venv/bin/python"
LAUNCH=("$PY" "$ROOT/Tests/Peers/launch.py")   # children get SIGTERM even when ours is blocked

if [ -n "${PYLON_BIN:-}" ]; then
    PYLON="$PYLON_BIN"
    step "using $PYLON (PYLON_BIN)"
else
    step "building pylon (swift build --product pylon)"
    swift build --product pylon
    PYLON="$(swift build --show-bin-path)/pylon"
fi
[ -x "$PYLON" ] || die "no pylon binary at $PYLON"
PYLON="$(cd "$(dirname "$PYLON")" && pwd)/$(basename "$PYLON")"

# Everything the demo starts, and how it is undone.
TMP="$(mktemp -d /tmp/pylon-demo.XXXXXX)"
PROVIDER_HOME="$TMP/provider"
BUYER_HOME="$TMP/buyer"
PROVIDER_LOG="$PROVIDER_HOME/logs/pylon.log"
RELAY_PID=""
MOCK_PID=""
PROVIDER_STARTED=""
# shellcheck source=lib/llm.sh
. scripts/lib/llm.sh
# shellcheck source=lib/nostr-relay.sh
. scripts/lib/nostr-relay.sh
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    step "stopping everything the demo started"
    if [ -n "$PROVIDER_STARTED" ]; then
        PYLON_HOME="$PROVIDER_HOME" "$PYLON" stop --timeout 10 \
            || PYLON_HOME="$PROVIDER_HOME" "$PYLON" stop --force || true
    fi
    [ -z "$MOCK_PID" ] || stop_pid "$MOCK_PID"
    llm_stop
    [ -z "$RELAY_PID" ] || stop_pid "$RELAY_PID"
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- 2. the relay ----------------------------------------------------------------------------------
RELAY_PORT="$(free_port)"
RELAY_URL="ws://127.0.0.1:$RELAY_PORT"
step "starting a local relay (nostr-relay) at $RELAY_URL"
mkdir -p "$TMP/relay"
nostr_relay_config "$TMP/relay" "$RELAY_PORT" "pylon demo relay"
(cd "$TMP/relay" && exec "${LAUNCH[@]}" "$ROOT/.venv/bin/nostr-relay" -c config.yaml serve --use-uvicorn) \
    </dev/null >"$TMP/relay/relay.log" 2>&1 &
RELAY_PID=$!
# A relay answers NIP-11 on its own URL over HTTP.
wait_until 30 "the relay" "$RELAY_PID" "$TMP/relay/relay.log" \
    curl -fsS -H 'Accept: application/nostr+json' "http://127.0.0.1:$RELAY_PORT/"
echo "relay ready"

# -- 3. the model ----------------------------------------------------------------------------------
if [ -n "$FAST" ]; then
    step "starting the mock LLM (DEMO_FAST=1: Tests/Peers/mock_llm.py answers with the prompt's words)"
    "${LAUNCH[@]}" "$PY" Tests/Peers/mock_llm.py --port 0 </dev/null >"$TMP/mock.out" 2>"$TMP/mock.log" &
    MOCK_PID=$!
    wait_until 30 "the mock LLM" "$MOCK_PID" "$TMP/mock.log" test -s "$TMP/mock.out"
    BACKEND=llamacpp
    BACKEND_URL="http://127.0.0.1:$("$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])' <"$TMP/mock.out")"
else
    step "starting the model: SmolLM2-135M on llama.cpp through llama-cpp-python ($LLM_VENV)"
    llm_install || die "could not install the model or llama-cpp-python into $LLM_VENV"
    llm_start "$TMP/llm.log" || die "the LLM server did not start"
    BACKEND="$LLM_FLAVOR"
    BACKEND_URL="$LLM_URL"
fi
echo "$BACKEND backend at $BACKEND_URL"

# -- 4. the provider -------------------------------------------------------------------------------
step "pylon init, then pylon start --mode provider (home: $PROVIDER_HOME)"
HTTP_PORT="$(free_port)"
mkdir -p "$PROVIDER_HOME" "$BUYER_HOME"
export PYLON_HOME="$PROVIDER_HOME"
"$PYLON" init --json >"$TMP/provider.json" || die "pylon init failed for the provider"
PROVIDER_NPUB="$(json_field "$TMP/provider.json" npub)"
cat >"$(json_field "$TMP/provider.json" config_file)" <<TOML
relays = ["$RELAY_URL"]

[provider]
kinds = [5050]
rate_limit_per_minute = 0
name = "pylon demo"

[backends]
preference = ["$BACKEND"]
${BACKEND}_url = "$BACKEND_URL"

[http]
listen = "127.0.0.1:$HTTP_PORT"
TOML
echo "provider: $PROVIDER_NPUB"
PROVIDER_STARTED=1
"$PYLON" start --mode provider || die "pylon start failed" "$PROVIDER_LOG"
PROVIDER_PID="$(cat "$PROVIDER_HOME/pylon.pid" 2>/dev/null || echo $$)"
# Ready to serve: the relay connected and the backend detected.
provider_ready() {
    "$PYLON" status --json | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s.get("running") and any(r.get("state") == "connected" for r in s.get("relays", []))
         and any(b.get("state") == "ready" for b in s.get("backends", [])) else 1)'
}
wait_until 30 "the provider (relay connected, backend ready)" "$PROVIDER_PID" "$PROVIDER_LOG" provider_ready
echo "provider ready: connected to $RELAY_URL, $BACKEND backend ready"

# -- 5. the buyer ----------------------------------------------------------------------------------
step "a second pylon buys a job from it (home: $BUYER_HOME)"
export PYLON_HOME="$BUYER_HOME"
"$PYLON" init --json >"$TMP/buyer.json" || die "pylon init failed for the buyer"
printf 'relays = ["%s"]\n\n[http]\nlisten = ""\n' "$RELAY_URL" >"$(json_field "$TMP/buyer.json" config_file)"
echo "buyer: $(json_field "$TMP/buyer.json" npub)"
echo "\$ pylon job submit \"$QUESTION\" --provider $PROVIDER_NPUB --wait --param max_tokens=$MAX_TOKENS"
# Live progress (feedback, streamed partial output) on stderr; the result on stdout.
rc=0
"$PYLON" job submit "$QUESTION" --provider "$PROVIDER_NPUB" --wait --timeout 120 \
    --param "max_tokens=$MAX_TOKENS" >"$TMP/answer.txt" || rc=$?
[ "$rc" -eq 0 ] || die "the job failed (pylon job submit exited with $rc)" "$PROVIDER_LOG"
step "the answer (pylon job submit's stdout)"
cat "$TMP/answer.txt"

# -- 6. what the provider saw ----------------------------------------------------------------------
export PYLON_HOME="$PROVIDER_HOME"
step "pylon status (provider)"
"$PYLON" status
step "pylon jobs (provider)"
"$PYLON" jobs
step "pylon_provider_* metrics, the non-zero ones (curl http://127.0.0.1:$HTTP_PORT/metrics)"
METRICS="$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics")" || die "cannot read http://127.0.0.1:$HTTP_PORT/metrics"
grep -q '^pylon_provider_' <<<"$METRICS" || die "no pylon_provider_* lines in /metrics"
awk '/^pylon_provider_/ && !/_bucket\{/ && $NF + 0 != 0 && shown++ < 15' <<<"$METRICS"

step "done: a job bought and served through nothing but local processes"
