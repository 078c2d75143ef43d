#!/usr/bin/env bash
# pylon's main job, end to end on this machine and offline: one pylon sells LLM inference as a
# NIP-90 provider at a price, a second pylon buys a job from it and pays in Lightning through
# Nostr Wallet Connect (NIP-47), all through a local relay.
#
#   1. installs the peers (scripts/setup-test-peers.sh) and builds pylon (skipped with PYLON_BIN);
#   2. starts a relay (nostr-relay from .venv) on a free 127.0.0.1 port, in a temporary folder;
#   3. starts the model: SmolLM2-135M served by llama.cpp through llama-cpp-python
#      (scripts/lib/llm.sh; installed once into ${PYLON_CACHE:-$HOME/.cache/pylon}/llm-venv, the
#      first build takes about 6.5 minutes), or with DEMO_FAST=1 the mock LLM
#      (Tests/Peers/mock_llm.py, which answers with the prompt's words);
#   4. starts the wallets: the NIP-47 wallet service Tests/Peers/nwc_wallet.py with two wallets,
#      provider (0) and buyer (100,000 sats). By default they are LNbits wallets: LNbits 1.6.2
#      with its FakeWallet funding source and SQLite in a temporary folder on 127.0.0.1
#      (scripts/lib/lnbits.sh; installed once into ${PYLON_CACHE:-$HOME/.cache/pylon}/lnbits-venv,
#      about 40 s from PyPI); the service turns NIP-47 requests into LNbits API calls. With
#      DEMO_FAST=1 (or DEMO_WALLET=memory) the service's own in-memory ledger instead;
#   5. `pylon wallet connect` and `pylon start --mode provider` in one temporary home, with
#      [provider] price_msats = 21000 (21 sats a job);
#   6. from a second temporary home: `pylon wallet connect`, then
#      `pylon job submit QUESTION --provider NPUB --wait --auto-pay --max-msats 30000`: the provider
#      asks for 21 sats with an invoice, the buyer's wallet pays it, the job runs;
#   7. the provider's `pylon status`, `pylon jobs`, `pylon earnings`, pylon_provider_* and payment
#      lines of its /metrics, and the buyer's `pylon wallet balance`; fails unless the provider
#      earned exactly the price for the one job;
#   8. stops everything it started and removes the temporary folders (also on failure or ^C).
#
#   scripts/demo.sh
#   DEMO_FAST=1 scripts/demo.sh                        # the mock model and the in-memory ledger: seconds
#   DEMO_FAST=1 DEMO_WALLET=lnbits scripts/demo.sh     # the mock model, LNbits behind the wallets
#   PYLON_BIN=.build/debug/pylon scripts/demo.sh       # an existing binary, no build
#   DEMO_QUESTION="Name three colors." scripts/demo.sh
#
# Nothing touches your own ~/.config/pylon or ~/.pylon. Exits non-zero when the job fails or is
# not paid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

QUESTION="${DEMO_QUESTION:-What is the capital of France?}"
MAX_TOKENS=48
PRICE_MSATS=21000          # what the provider asks per job
MAX_MSATS=30000            # the most the buyer pays for one
BUYER_SATS=100000          # the buyer's wallet at the start
FAST="${DEMO_FAST:-}"
[ "$FAST" = 0 ] && FAST=""
WALLET="${DEMO_WALLET:-}"
[ -n "$WALLET" ] || { if [ -n "$FAST" ]; then WALLET=memory; else WALLET=lnbits; fi; }
case "$WALLET" in
    lnbits | memory) ;;
    *) echo "demo.sh: DEMO_WALLET must be lnbits or memory, not $WALLET" >&2; exit 2 ;;
esac

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
WALLET_PID=""
PROVIDER_STARTED=""
# shellcheck source=lib/llm.sh
. scripts/lib/llm.sh
# shellcheck source=lib/lnbits.sh
. scripts/lib/lnbits.sh
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
    [ -z "$WALLET_PID" ] || stop_pid "$WALLET_PID"
    lnbits_stop
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

# -- 4. the wallets --------------------------------------------------------------------------------
# The connection URIs (they hold the clients' secrets) stay in files under $TMP (mode 0700) and
# reach pylon on its standard input; the demo never prints them.
mkdir -p "$TMP/wallet"
WALLET_ARGS=()
if [ "$WALLET" = lnbits ]; then
    step "starting LNbits (FakeWallet, SQLite) behind the wallets ($LNBITS_VENV)"
    lnbits_install || die "could not install LNbits into $LNBITS_VENV"
    lnbits_start "$TMP/lnbits" "$TMP/lnbits.log" || die "LNbits did not start" "$TMP/lnbits.log"
    lnbits_wallets "$TMP/wallet/lnbits.json" provider=0 "buyer=$BUYER_SATS" \
        || die "could not create and fund the LNbits wallets" "$TMP/lnbits.log"
    echo "LNbits ready at $LNBITS_URL: wallets provider (0 sats) and buyer ($BUYER_SATS sats)"
    WALLET_ARGS=(--lnbits "$TMP/wallet/lnbits.json")
    WALLET_WHAT="the NIP-47 wallet service (Tests/Peers/nwc_wallet.py --lnbits: LNbits keeps the ledger)"
else
    WALLET_ARGS=(--wallet provider=0 --wallet "buyer=$((BUYER_SATS * 1000))")
    WALLET_WHAT="the NIP-47 wallet service (Tests/Peers/nwc_wallet.py, its in-memory ledger)"
fi
step "starting $WALLET_WHAT"
"${LAUNCH[@]}" "$PY" Tests/Peers/nwc_wallet.py --relay "$RELAY_URL" "${WALLET_ARGS[@]}" \
    </dev/null >"$TMP/wallet/ready.json" 2>"$TMP/wallet/wallet.log" &
WALLET_PID=$!
wait_until 60 "the wallet service" "$WALLET_PID" "$TMP/wallet/wallet.log" test -s "$TMP/wallet/ready.json"
"$PY" - "$TMP/wallet/ready.json" "$TMP/wallet" <<'PY' || die "the wallet service's ready line is not as expected" "$TMP/wallet/wallet.log"
import json, os, sys
wallets = json.loads(open(sys.argv[1]).readline())["wallets"]
for name in ("provider", "buyer"):
    path = os.path.join(sys.argv[2], name + ".nwc")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(wallets[name]["uri"] + "\n")
PY
echo "wallet service ready on $RELAY_URL: wallets provider and buyer"

# -- 5. the provider -------------------------------------------------------------------------------
step "pylon init, pylon wallet connect, then pylon start --mode provider (home: $PROVIDER_HOME)"
HTTP_PORT="$(free_port)"
mkdir -p "$PROVIDER_HOME" "$BUYER_HOME"
export PYLON_HOME="$PROVIDER_HOME"
"$PYLON" init --json >"$TMP/provider.json" || die "pylon init failed for the provider"
PROVIDER_NPUB="$(json_field "$TMP/provider.json" npub)"
echo "\$ pylon wallet connect -   # the provider wallet's URI on stdin"
"$PYLON" wallet connect - <"$TMP/wallet/provider.nwc" || die "pylon wallet connect failed for the provider" "$TMP/wallet/wallet.log"
cat >"$(json_field "$TMP/provider.json" config_file)" <<TOML
relays = ["$RELAY_URL"]

[provider]
kinds = [5050]
rate_limit_per_minute = 0
name = "pylon demo"
price_msats = $PRICE_MSATS

[backends]
preference = ["$BACKEND"]
${BACKEND}_url = "$BACKEND_URL"

[http]
listen = "127.0.0.1:$HTTP_PORT"
TOML
echo "provider: $PROVIDER_NPUB, $((PRICE_MSATS / 1000)) sats a job, paid into the wallet connected above"
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

# -- 6. the buyer ----------------------------------------------------------------------------------
step "a second pylon buys a job from it and pays (home: $BUYER_HOME)"
export PYLON_HOME="$BUYER_HOME"
"$PYLON" init --json >"$TMP/buyer.json" || die "pylon init failed for the buyer"
printf 'relays = ["%s"]\n\n[http]\nlisten = ""\n' "$RELAY_URL" >"$(json_field "$TMP/buyer.json" config_file)"
echo "buyer: $(json_field "$TMP/buyer.json" npub)"
echo "\$ pylon wallet connect -   # the buyer wallet's URI on stdin"
"$PYLON" wallet connect - <"$TMP/wallet/buyer.nwc" || die "pylon wallet connect failed for the buyer" "$TMP/wallet/wallet.log"
echo "\$ pylon wallet balance"
"$PYLON" wallet balance || die "pylon wallet balance failed for the buyer" "$TMP/wallet/wallet.log"
echo "\$ pylon job submit \"$QUESTION\" --provider $PROVIDER_NPUB --wait --auto-pay --max-msats $MAX_MSATS --param max_tokens=$MAX_TOKENS"
# Live progress (feedback, the payment, streamed partial output) on stderr; the result on stdout.
rc=0
"$PYLON" job submit "$QUESTION" --provider "$PROVIDER_NPUB" --wait --auto-pay --max-msats "$MAX_MSATS" \
    --timeout 120 --param "max_tokens=$MAX_TOKENS" >"$TMP/answer.txt" || rc=$?
[ "$rc" -eq 0 ] || die "the job failed or was not paid (pylon job submit exited with $rc)" "$PROVIDER_LOG"
step "the answer (pylon job submit's stdout)"
cat "$TMP/answer.txt"
step "pylon wallet balance (buyer, after paying)"
"$PYLON" wallet balance || die "pylon wallet balance failed for the buyer" "$TMP/wallet/wallet.log"

# -- 7. what the provider saw ----------------------------------------------------------------------
export PYLON_HOME="$PROVIDER_HOME"
step "pylon status (provider)"
"$PYLON" status
step "pylon jobs (provider)"
"$PYLON" jobs
step "pylon earnings (provider)"
"$PYLON" earnings || die "pylon earnings failed" "$PROVIDER_LOG"
"$PYLON" earnings --json >"$TMP/earnings.json" || die "pylon earnings --json failed" "$PROVIDER_LOG"
"$PY" - "$TMP/earnings.json" "$PRICE_MSATS" <<'PY' || die "the provider did not earn the job's price" "$PROVIDER_LOG"
import json, sys
earnings, price = json.load(open(sys.argv[1])), int(sys.argv[2])
if earnings.get("total_msats") != price or earnings.get("count") != 1:
    sys.exit(f"demo.sh: expected one payment of {price} msats, the provider has "
             f"{earnings.get('count')} for {earnings.get('total_msats')} msats")
PY
step "pylon_provider_* and payment metrics, the non-zero ones (curl http://127.0.0.1:$HTTP_PORT/metrics)"
METRICS="$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics")" || die "cannot read http://127.0.0.1:$HTTP_PORT/metrics"
grep -q '^pylon_provider_' <<<"$METRICS" || die "no pylon_provider_* lines in /metrics"
awk '/^pylon_provider_/ && !/_bucket\{/ && $NF + 0 != 0 && shown++ < 15' <<<"$METRICS"
awk '/^pylon_(earnings|invoices|payments|wallet)_/ && !/_bucket\{/ && $NF + 0 != 0 && shown++ < 12' <<<"$METRICS"

if [ "$WALLET" = lnbits ]; then PAID_THROUGH="NIP-47 and LNbits"; else PAID_THROUGH="NIP-47"; fi
step "done: a job bought, paid ($((PRICE_MSATS / 1000)) sats through $PAID_THROUGH) and served by nothing but local processes"
