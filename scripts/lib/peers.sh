# shellcheck shell=bash
# Helpers for the scripts that start local peers (relays, the mock LLM, a pylon provider,
# nostr-dvm) and read their output (scripts/bench-provider.sh, scripts/trace-jobs.sh,
# scripts/order/make-order-file.sh). Sourced, not run; needs $PY, the venv's Python. The start_*
# functions run their process in the background and set globals (a command substitution would
# lose them); the caller adds the PIDs to its own cleanup.

# shellcheck source=scripts/lib/nostr-relay.sh
. "$(dirname "${BASH_SOURCE[0]}")/nostr-relay.sh"

# A free TCP port on 127.0.0.1.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# FIELD of the JSON object on stdin.
json_field() { $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# Waits up to SECS for the first line of FILE (written by a background process PID); prints it.
first_line() {
    local file=$1 pid=$2 secs=$3
    for _ in $(seq $((secs * 10))); do
        if [ -s "$file" ]; then head -n 1 "$file"; return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# Waits up to SECS for something to accept connections on 127.0.0.1:PORT (while PID lives).
await_port() {
    local port=$1 pid=$2 secs=$3
    for _ in $(seq $((secs * 10))); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_relay rust|nostr-relay DIR: a relay on a free port, no rate limits (a benchmark's load is
# not abuse). Sets RELAY_PID, RELAY_PORT, RELAY_URL; logs in DIR/relay.log.
#   rust         rust-nostr's LocalRelay (nostr-sdk), which writes without TCP_NODELAY
#   nostr-relay  nostr-relay (PyPI) on uvicorn: Python asyncio, which sets TCP_NODELAY
start_relay() {
    local impl=$1 dir=$2
    RELAY_PORT=$(free_port)
    case "$impl" in
        rust)
            $PY Tests/Peers/rust_relay.py --port "$RELAY_PORT" --notes-per-minute 100000000 --max-reqs 100000 \
                ${RELAY_LOG:+--log "$RELAY_LOG"} < /dev/null > "$dir/relay.out" 2> "$dir/relay.log" &
            RELAY_PID=$!
            RELAY_URL=$(first_line "$dir/relay.out" "$RELAY_PID" 30) || return 1
            ;;
        nostr-relay)
            nostr_relay_config "$dir" "$RELAY_PORT" "pylon benchmark relay"
            local program="$PWD/.venv/bin/nostr-relay"
            (cd "$dir" && exec "$program" -c "$dir/config.yaml" serve --use-uvicorn) < /dev/null > "$dir/relay.log" 2>&1 &
            RELAY_PID=$!
            await_port "$RELAY_PORT" "$RELAY_PID" 30 || return 1
            RELAY_URL="ws://127.0.0.1:$RELAY_PORT"
            ;;
        *) echo "start_relay: unknown relay $impl (rust or nostr-relay)" >&2; return 2 ;;
    esac
}

# start_wallet DIR RELAY_URL: the NIP-47 wallet service of the tests (Tests/Peers/nwc_wallet.py,
# an in-memory ledger, notifications) on RELAY_URL. Its stdin is a FIFO that the caller holds open
# (fd WALLET_FD), so it also ends when the caller does. Sets WALLET_PID, WALLET_FD,
# WALLET_PROVIDER_URI and WALLET_BUYER_URI (the buyer's wallet holds 1,000,000 sats).
start_wallet() {
    local dir=$1 relay=$2 line
    mkfifo "$dir/wallet.in"
    $PY Tests/Peers/nwc_wallet.py --relay "$relay" < "$dir/wallet.in" > "$dir/wallet.out" 2> "$dir/wallet.log" &
    WALLET_PID=$!
    exec {WALLET_FD}> "$dir/wallet.in"
    line=$(first_line "$dir/wallet.out" "$WALLET_PID" 30) || return 1
    WALLET_PROVIDER_URI=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["wallets"]["provider"]["uri"])')
    WALLET_BUYER_URI=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["wallets"]["buyer"]["uri"])')
}

# start_mock DIR: the mock LLM (Tests/Peers/mock_llm.py, zero delay). Sets MOCK_PID, MOCK_URL.
start_mock() {
    local dir=$1 port
    $PY Tests/Peers/mock_llm.py --port 0 < /dev/null > "$dir/mock.out" 2> "$dir/mock.log" &
    MOCK_PID=$!
    port=$(first_line "$dir/mock.out" "$MOCK_PID" 30 | json_field port) || return 1
    MOCK_URL="http://127.0.0.1:$port"
}

# start_pylon BIN HOME RELAY_URL MOCK_URL [PRICE_MSATS NWC_URI]: a pylon provider in HOME (a new
# identity), free jobs (or at PRICE_MSATS, paid into the wallet of NWC_URI), up to 16 at once, no
# per-customer limit, no announcements, no HTTP; returns once it runs with its relay connected and
# its backend ready (up to 30 s). Sets PYLON_PID and PYLON_PUBKEY.
start_pylon() {
    local bin=$1 home=$2 relay=$3 mock=$4 price=${5:-0} nwc=${6:-} status=""
    mkdir -p "$home"
    PYLON_HOME="$home" "$bin" init > "$home/init.log" 2>&1 || return 1
    PYLON_PUBKEY=$(PYLON_HOME="$home" "$bin" identity --json | json_field pubkey) || return 1
    cat > "$home/config.toml" <<EOF
relays = ["$relay"]
[provider]
kinds = [5050]
max_concurrent_jobs = 16
max_queue = 1024
rate_limit_per_minute = 0
announce = false
price_msats = $price
[backends]
preference = ["llamacpp"]
llamacpp_url = "$mock"
[http]
listen = ""
[log]
level = "warning"
EOF
    if [ -n "$nwc" ]; then printf '[wallet]\nnwc = "%s"\n' "$nwc" >> "$home/config.toml"; fi
    PYLON_HOME="$home" "$bin" start > "$home/start.log" 2>&1 || return 1
    PYLON_PID=""
    for _ in $(seq 300); do
        status=$(PYLON_HOME="$home" "$bin" status --json 2>/dev/null || true)
        PYLON_PID=$(echo "$status" | $PY -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit()
ok = s.get("running") and any(r.get("state") == "connected" for r in s.get("relays", [])) \
    and any(b.get("state") == "ready" for b in s.get("backends", []))
print(s["pid"] if ok else "")')
        [ -n "$PYLON_PID" ] && return 0
        sleep 0.1
    done
    echo "pylon did not become ready (relay connected, backend ready) in 30 s: $status" >&2
    return 1
}

# stop_pylon BIN HOME
stop_pylon() { PYLON_HOME="$2" "$1" stop > /dev/null 2>&1 || true; }

# nostr-dvm 1.1.8 in its own venv, made once (wheels only, about 2 minutes). Sets DVM_VENV.
ensure_dvm_venv() {
    DVM_VENV="${PYLON_CACHE:-$HOME/.cache/pylon}/venv-nostr-dvm"
    if ! "$DVM_VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("nostr-dvm") != "1.1.8")' 2>/dev/null; then
        echo "==> creating $DVM_VENV with nostr-dvm 1.1.8 (wheels only; about 2 minutes)" >&2
        rm -rf "$DVM_VENV"
        mkdir -p "$(dirname "$DVM_VENV")"
        python3 -m venv "$DVM_VENV"
        "$DVM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: nostr-dvm==1.1.8
    fi
}

# start_dvm DIR RELAY_URL MOCK_URL: nostr-dvm serving kind 5050 (Tests/Peers/nostr_dvm_provider.py);
# returns once it answered a ping. Sets DVM_PID, DVM_PUBKEY and DVM_READY_MS (launch -> first pong).
start_dvm() {
    local dir=$1 relay=$2 mock=$3 started
    started=$(date +%s%N)
    "$DVM_VENV/bin/python" Tests/Peers/nostr_dvm_provider.py --relay "$relay" --llm "$mock" \
        --workdir "$dir/nostr-dvm" < /dev/null > "$dir/dvm.out" 2> "$dir/dvm.log" &
    DVM_PID=$!
    DVM_PUBKEY=$(first_line "$dir/dvm.out" "$DVM_PID" 300 | json_field pubkey) || return 1
    DVM_READY_MS=$(( ($(date +%s%N) - started) / 1000000 ))
}

# Stops PID with SIGTERM, then SIGKILL after 5 s.
stop_process() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
