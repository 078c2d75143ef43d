#!/usr/bin/env bash
# A packet trace of NIP-90 jobs through one local relay, read message by message: what each
# message waited for on its way (scripts/trace_jobs.py reads the capture). The kernel is left as it
# is; tcpdump (Debian's package) captures on lo, which needs root or CAP_NET_RAW.
#
#   scripts/trace-jobs.sh [--provider pylon|dvm] [--relay rust|nostr-relay] [--jobs N] [--customers K]
#                         [--concurrency C] [--pylon BIN] [--keep FILE.pcap] [--shown J] [--no-build]
#
# Default: 20 back-to-back jobs from one customer to a pylon provider (release build) through
# rust-nostr's relay, with the zero-delay mock LLM. It prints the median time of each step from the
# customer's publish, the messages the relay held until an ACK (and how long), and the first J jobs
# (default 3) in full. --keep saves the capture.
set -euo pipefail
cd "$(dirname "$0")/.."

PROVIDER=pylon
RELAY=rust
JOBS=20
CUSTOMERS=1
CONCURRENCY=1
KEEP=""
SHOWN=3
BUILD=1
PYLON=""
while [ $# -gt 0 ]; do
    case "$1" in
        --provider) PROVIDER="${2:?--provider needs pylon or dvm}"; shift 2 ;;
        --relay) RELAY="${2:?--relay needs rust or nostr-relay}"; shift 2 ;;
        --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
        --customers) CUSTOMERS="${2:?--customers needs a number}"; shift 2 ;;
        --concurrency) CONCURRENCY="${2:?--concurrency needs a number}"; shift 2 ;;
        --pylon) PYLON="${2:?--pylon needs a path}"; BUILD=0; shift 2 ;;
        --keep) KEEP="${2:?--keep needs a file}"; shift 2 ;;
        --shown) SHOWN="${2:?--shown needs a number}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "trace-jobs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$PROVIDER" in pylon|dvm) ;; *) echo "trace-jobs.sh: --provider takes pylon or dvm" >&2; exit 2 ;; esac
case "$RELAY" in rust|nostr-relay) ;; *) echo "trace-jobs.sh: --relay takes rust or nostr-relay" >&2; exit 2 ;; esac
command -v tcpdump > /dev/null || { echo "trace-jobs.sh: needs tcpdump (apt-get install tcpdump)" >&2; exit 2; }

scripts/setup-test-peers.sh
PY=.venv/bin/python
TMP=$(mktemp -d /tmp/pylon-trace.XXXXXX)
PIDS=()
HOME_DIR=""
cleanup() {
    [ -n "$HOME_DIR" ] && stop_pylon "$PYLON" "$HOME_DIR"
    for pid in "${PIDS[@]}"; do stop_process "$pid"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "trace-jobs.sh: $1" >&2; [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2; exit 1; }
# shellcheck source=scripts/lib/peers.sh
. scripts/lib/peers.sh

if [ "$PROVIDER" = pylon ] && [ -z "$PYLON" ]; then
    [ "$BUILD" = 1 ] && scripts/build-release.sh >&2
    PYLON="$(scripts/build-release.sh --show-bin-path)/pylon"
fi
[ "$PROVIDER" = dvm ] && ensure_dvm_venv

start_relay "$RELAY" "$TMP" || die "the relay did not start" "$TMP/relay.log"
PIDS+=("$RELAY_PID")
start_mock "$TMP" || die "the mock LLM did not start" "$TMP/mock.log"
PIDS+=("$MOCK_PID")
case "$PROVIDER" in
    pylon)
        HOME_DIR="$TMP/home"
        start_pylon "$PYLON" "$HOME_DIR" "$RELAY_URL" "$MOCK_URL" || die "pylon did not start" "$HOME_DIR/logs/pylon.log"
        PUBKEY=$PYLON_PUBKEY ;;
    dvm)
        start_dvm "$TMP" "$RELAY_URL" "$MOCK_URL" || die "nostr-dvm did not start" "$TMP/dvm.log"
        PIDS+=("$DVM_PID")
        PUBKEY=$DVM_PUBKEY ;;
esac

tcpdump -i lo -s 0 -U --immediate-mode -n --time-stamp-precision=nano -w "$TMP/jobs.pcap" "tcp port $RELAY_PORT" 2> "$TMP/tcpdump.log" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for _ in $(seq 100); do grep -q "listening on" "$TMP/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$TMP/tcpdump.log" || die "tcpdump did not start" "$TMP/tcpdump.log"

OUT=$($PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$PUBKEY" --jobs "$JOBS" \
    --customers "$CUSTOMERS" --concurrency "$CONCURRENCY") || die "the customers failed"
sleep 0.3   # the last ACKs
kill -INT "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true
[ -n "$KEEP" ] && cp "$TMP/jobs.pcap" "$KEEP"

echo "== $JOBS jobs, $CUSTOMERS customer(s), concurrency $CONCURRENCY: $PROVIDER through the $RELAY relay on the kernel as it is ($(uname -r))"
echo "   customers: $OUT"
# The customers' connections open before the capture starts; each one's first job is left out.
$PY scripts/trace_jobs.py "$TMP/jobs.pcap" --relay-port "$RELAY_PORT" --jobs-shown "$SHOWN" --skip 0
