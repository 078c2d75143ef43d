#!/usr/bin/env bash
# Provider benchmark (SPEC §11): kind 5050 jobs through one local relay (rust-nostr's, from the
# nostr-sdk package, rate limit raised) with a zero-delay mock LLM (Tests/Peers/mock_llm.py),
# served by pylon (release build, llamacpp backend) and then, in the same run, by nostr-dvm 1.1.8
# (Tests/Peers/nostr_dvm_provider.py, its own venv, loopback only), each at concurrency 1, 4
# and 16. The customers are Tests/Peers/bench_customers.py (rust-nostr clients).
#
# For each provider and concurrency it prints: p50/p99 request-publish -> result, jobs/s, the
# provider's CPU ms per job (utime+stime from /proc), the relay's and the customers' CPU seconds
# (so a reader sees which part is the bottleneck on 2 cores), and the provider's RSS: idle before
# the round, its peak so far (VmHWM), and its anonymous part after the round (RssAnon: the heap,
# without the code pages shared with the page cache). Providers run one after the other, never
# side by side. Repeated rounds (--concurrency "1 1 1 1 1") show whether memory grows with jobs.
#
#   scripts/bench-provider.sh [--jobs N] [--customers K] [--concurrency "1 4 16"] [--only pylon|dvm]
#                             [--max-tokens T] [--no-build] [--no-quickack]
#
# Each job asks for T tokens (default 16); the mock streams them as one server-sent event each.
#
# Delayed ACKs: rust-nostr's relay writes without TCP_NODELAY, so an answer that reaches it less
# than ~40 ms after it sent the customer the OK for its request waits (Nagle) for the customer's
# delayed ACK: every fast provider then looks 20-40 ms slow, and a slow one does not. Run as root,
# the script turns delayed ACKs off on the loopback route for the run (`ip route ... quickack 1`,
# put back on exit), for both providers alike; --no-quickack keeps the kernel's default.
#
# The nostr-dvm venv is made once in ${PYLON_CACHE:-$HOME/.cache/pylon}/venv-nostr-dvm (wheels
# only, about 2 minutes). pylon is built with scripts/build-release.sh (in
# .build-release; PYLON_RELEASE_SCRATCH overrides the folder) unless --no-build.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=200
CUSTOMERS=4
ONLY=""
BUILD=1
QUICKACK=1
CONCURRENCY="1 4 16"
MAX_TOKENS=16
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
        --customers) CUSTOMERS="${2:?--customers needs a number}"; shift 2 ;;
        --concurrency) CONCURRENCY="${2:?--concurrency needs numbers, e.g. \"1 4 16\"}"; shift 2 ;;
        --only) ONLY="${2:?--only needs pylon or dvm}"; shift 2 ;;
        --max-tokens) MAX_TOKENS="${2:?--max-tokens needs a number}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-quickack) QUICKACK=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-provider.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$ONLY" in ""|pylon|dvm) ;; *) echo "bench-provider.sh: --only takes pylon or dvm" >&2; exit 2 ;; esac
[[ "$JOBS" =~ ^[1-9][0-9]*$ && "$CUSTOMERS" =~ ^[1-9][0-9]*$ && "$CONCURRENCY" =~ ^[1-9][0-9]*( [1-9][0-9]*)*$
    && "$MAX_TOKENS" =~ ^[1-9][0-9]*$ ]] \
    || { echo "bench-provider.sh: --jobs, --customers, --concurrency and --max-tokens take positive numbers" >&2; exit 2; }
RUN_PYLON=1; RUN_DVM=1
[ "$ONLY" = dvm ] && RUN_PYLON=0
[ "$ONLY" = pylon ] && RUN_DVM=0

scripts/setup-test-peers.sh
PY=.venv/bin/python
CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/pylon-bench-provider.XXXXXX)
PIDS=()
PYLON_HOME_DIR=""
LOOPBACK_ROUTE=""

cleanup() {
    if [ -n "$LOOPBACK_ROUTE" ]; then ip route change $LOOPBACK_ROUTE table local 2>/dev/null || true; fi
    if [ -n "$PYLON_HOME_DIR" ]; then PYLON_HOME="$PYLON_HOME_DIR" "$PYLON" stop >/dev/null 2>&1 || true; fi
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

die() { echo "bench-provider.sh: $1" >&2; [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2; exit 1; }
# shellcheck source=scripts/lib/peers.sh
. scripts/lib/peers.sh
# utime+stime of a process (all its threads), in clock ticks; fields 14 and 15 of /proc/PID/stat.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# nostr-dvm's venv, once.
DVM_VENV="${PYLON_CACHE:-$HOME/.cache/pylon}/venv-nostr-dvm"
if [ "$RUN_DVM" = 1 ] && ! "$DVM_VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("nostr-dvm") != "1.1.8")' 2>/dev/null; then
    echo "==> creating $DVM_VENV with nostr-dvm 1.1.8 (wheels only; about 2 minutes)" >&2
    rm -rf "$DVM_VENV"
    mkdir -p "$(dirname "$DVM_VENV")"
    python3 -m venv "$DVM_VENV"
    "$DVM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: nostr-dvm==1.1.8
fi

# pylon, release build.
PYLON="${PYLON_RELEASE_SCRATCH:-.build-release}/release/pylon"
if [ "$RUN_PYLON" = 1 ]; then
    if [ "$BUILD" = 1 ]; then
        scripts/build-release.sh >&2
        PYLON="$(scripts/build-release.sh --show-bin-path)/pylon"
    fi
    [ -x "$PYLON" ] || die "no pylon binary at $PYLON (drop --no-build)"
fi

# Delayed ACKs off on the loopback route for the run (see the top of this file).
ACKS="kernel default (delayed ACKs; --no-quickack or not root)"
if [ "$QUICKACK" = 1 ] && [ "$(id -u)" = 0 ] && command -v ip > /dev/null; then
    ROUTE=$(ip route show table local 127.0.0.1 | grep '^local 127.0.0.1 ' | head -n 1 | sed 's/ *$//')
    if [ -n "$ROUTE" ] && ! echo "$ROUTE" | grep -q quickack && ip route change $ROUTE table local quickack 1 2>/dev/null; then
        LOOPBACK_ROUTE="$ROUTE"
        ACKS="delayed ACKs off on the loopback route for this run (ip route quickack 1; restored on exit)"
    fi
fi

# One relay, one mock LLM, shared by both providers.
RELAY_PORT=$(free_port)
$PY Tests/Peers/rust_relay.py --port "$RELAY_PORT" --notes-per-minute 100000000 --max-reqs 100000 ${RELAY_LOG:+--log "$RELAY_LOG"} \
    < /dev/null > "$TMP/relay.out" 2> "$TMP/relay.log" &
RELAY_PID=$!; PIDS+=("$RELAY_PID")
RELAY_URL=$(first_line "$TMP/relay.out" "$RELAY_PID" 30) || die "the relay did not start" "$TMP/relay.log"
$PY Tests/Peers/mock_llm.py --port 0 < /dev/null > "$TMP/mock.out" 2> "$TMP/mock.log" &
MOCK_PID=$!; PIDS+=("$MOCK_PID")
MOCK_PORT=$(first_line "$TMP/mock.out" "$MOCK_PID" 30 | json_field port) || die "the mock LLM did not start" "$TMP/mock.log"
MOCK_URL="http://127.0.0.1:$MOCK_PORT"

echo "== provider benchmark: $JOBS kind 5050 jobs per round ($MAX_TOKENS tokens each), $CUSTOMERS customers, relay $RELAY_URL (rust-nostr LocalRelay), mock LLM $MOCK_URL (zero delay)"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; TCP: $ACKS"
RESULTS="$TMP/results.tsv"
: > "$RESULTS"
ROW='%-9s %4s %7s %8s %8s %7s %11s %11s %10s %9s %9s %9s\n'
# shellcheck disable=SC2059
printf "$ROW" provider conc ok p50_ms p99_ms jobs/s cpu_ms/job relay_cpu_s cust_cpu_s rss_idle rss_peak rss_anon

# Runs the rounds against one provider process: NAME PID PUBKEY.
rounds() {
    local name=$1 pid=$2 pubkey=$3 c probe out
    # One probe job (not counted): warms the provider and proves that it answers.
    probe=$($PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$pubkey" --jobs 1 --customers 1 --timeout 15) || true
    if [ "$(echo "$probe" | json_field ok 2>/dev/null)" != 1 ]; then
        echo "$name: no result for a probe job within 15 s; skipping its rounds ($probe)" >&2
        return 0
    fi
    for c in $CONCURRENCY; do
        local idle p0 r0 p1 r1 peak anon
        idle=$(rss_mb "$pid" VmRSS)
        p0=$(cpu_ticks "$pid"); r0=$(cpu_ticks "$RELAY_PID")
        out=$($PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$pubkey" --jobs "$JOBS" \
            --concurrency "$c" --customers "$CUSTOMERS" --max-tokens "$MAX_TOKENS") || die "bench_customers.py failed for $name at concurrency $c"
        p1=$(cpu_ticks "$pid"); r1=$(cpu_ticks "$RELAY_PID")
        peak=$(rss_mb "$pid" VmHWM)
        anon=$(rss_mb "$pid" RssAnon)
        echo "$out" >> "$TMP/rounds.jsonl"
        $PY - "$name" "$c" "$idle" "$peak" "$((p1 - p0))" "$((r1 - r0))" "$CLK_TCK" "$out" "$anon" >> "$RESULTS" <<'PYEOF'
import json, sys
name, c, idle, peak, pticks, rticks, tck, out, anon = sys.argv[1:]
r = json.loads(out)
tck = int(tck)
per_job = int(pticks) * 1000.0 / tck / max(r["ok"], 1)
fmt = lambda v: "-" if v is None else f"{v:.1f}"
print("\t".join([name, c, f'{r["ok"]}/{r["jobs"]}', fmt(r["p50_ms"]), fmt(r["p99_ms"]), f'{r["jobs_per_s"]:.1f}',
                 f"{per_job:.2f}", f"{int(rticks) / tck:.2f}", f'{r["cpu_s"]:.2f}', idle + " MB", peak + " MB", anon + " MB"]))
PYEOF
        tail -n 1 "$RESULTS" | awk -F'\t' -v row="$ROW" '{printf row, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}'
    done
}

if [ "$RUN_PYLON" = 1 ]; then
    PYLON_HOME_DIR="$TMP/pylon-home"
    mkdir -p "$PYLON_HOME_DIR"
    export PYLON_HOME="$PYLON_HOME_DIR"
    "$PYLON" init > "$TMP/pylon-init.log" 2>&1 || die "pylon init failed" "$TMP/pylon-init.log"
    IDENTITY=$("$PYLON" identity --json) || die "pylon identity --json failed"
    PYLON_PUBKEY=$(echo "$IDENTITY" | json_field pubkey)
    CONFIG=$(echo "$IDENTITY" | json_field config_file)
    cat > "$CONFIG" <<EOF
relays = ["$RELAY_URL"]
[provider]
kinds = [5050]
max_concurrent_jobs = 16
max_queue = 1024
rate_limit_per_minute = 0
announce = false
[backends]
preference = ["llamacpp"]
llamacpp_url = "$MOCK_URL"
[http]
listen = ""
[log]
level = "warning"
EOF
    "$PYLON" start > "$TMP/pylon-start.log" 2>&1 || die "pylon start failed" "$TMP/pylon-start.log"
    PYLON_PID=""
    for _ in $(seq 300); do   # up to 30 s: running, a relay connected, a backend ready
        STATUS=$("$PYLON" status --json 2>/dev/null || true)
        PYLON_PID=$(echo "$STATUS" | $PY -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit()
ok = s.get("running") and any(r.get("state") == "connected" for r in s.get("relays", [])) \
    and any(b.get("state") == "ready" for b in s.get("backends", []))
print(s["pid"] if ok else "")')
        [ -n "$PYLON_PID" ] && break
        sleep 0.1
    done
    [ -n "$PYLON_PID" ] || die "pylon did not become ready (relay connected, backend ready) in 30 s: $STATUS"
    unset PYLON_HOME
    rounds pylon "$PYLON_PID" "$PYLON_PUBKEY"
    # pylon's own share of each job, from its journal: the request received -> the result
    # accepted by the relay (job.completed is written after the relay's OK). The rest of the
    # customer's figure is the relay and the customer.
    PYLON_HOME="$PYLON_HOME_DIR" "$PYLON" events --json | $PY -c '
import json, sys
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
received, spans = {}, []
for e in json.load(sys.stdin):
    i = e["data"].get("id")
    if e["kind"] == "job.received": received[i] = t(e["time"])
    elif e["kind"] == "job.completed" and i in received: spans.append((t(e["time"]) - received[i]) * 1000)
spans.sort()
if spans:
    pick = lambda q: spans[min(len(spans) - 1, int(q * len(spans)))]
    print(f"   pylon inside (journal: request received -> result accepted by the relay), all rounds: "
          f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms over {len(spans)} jobs")'
    PYLON_HOME="$PYLON_HOME_DIR" "$PYLON" stop > /dev/null 2>&1 || true
    PYLON_HOME_DIR=""
fi

if [ "$RUN_DVM" = 1 ]; then
    STARTED=$(date +%s%N)
    "$DVM_VENV/bin/python" Tests/Peers/nostr_dvm_provider.py --relay "$RELAY_URL" --llm "$MOCK_URL" \
        --workdir "$TMP/nostr-dvm" < /dev/null > "$TMP/dvm.out" 2> "$TMP/dvm.log" &
    DVM_PID=$!; PIDS+=("$DVM_PID")
    DVM_PUBKEY=$(first_line "$TMP/dvm.out" "$DVM_PID" 300 | json_field pubkey) || die "nostr-dvm did not start" "$TMP/dvm.log"
    echo "   nostr-dvm $("$DVM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nostr-dvm"))') answered its first ping $(( ($(date +%s%N) - STARTED) / 1000000 )) ms after launch"
    rounds nostr-dvm "$DVM_PID" "$DVM_PUBKEY"
    kill -TERM "$DVM_PID" 2>/dev/null || true
fi

$PY - "$RESULTS" <<'PYEOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {(r[0], r[1]): r for r in rows}
pairs = [(c, by[("pylon", c)], by[("nostr-dvm", c)]) for c in sorted({r[1] for r in rows}, key=int)
         if ("pylon", c) in by and ("nostr-dvm", c) in by]
if pairs:
    print("== pylon against nostr-dvm (SPEC §11: CPU per job <= 1/10; p50 < 10 ms sequential; jobs/s at 16 as many as the relay and customers allow)")
    for c, p, d in pairs:
        print(f"   concurrency {c:>2}: jobs/s x{float(p[5]) / max(float(d[5]), 1e-9):.1f}, "
              f"CPU per job 1/{float(d[6]) / max(float(p[6]), 1e-9):.1f}, p50 {p[3]} ms against {d[3]} ms")
PYEOF
echo "   load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; compare ratios, not absolute times"
