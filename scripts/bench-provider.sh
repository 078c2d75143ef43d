#!/usr/bin/env bash
# Provider benchmark (SPEC §11): kind 5050 jobs through one local relay with a zero-delay mock LLM
# (Tests/Peers/mock_llm.py), served by pylon (release build, llamacpp backend) and by nostr-dvm
# 1.1.8 (Tests/Peers/nostr_dvm_provider.py, its own venv, loopback only), each at concurrency 1, 4
# and 16, on the machine as it is: this script changes no kernel, route or sysctl setting.
#
#   scripts/bench-provider.sh [--relay rust|nostr-relay|both] [--runs R] [--jobs N] [--customers K]
#                             [--concurrency "1 4 16"] [--only pylon|dvm] [--max-tokens T]
#                             [--no-build] [--no-priced] [--price MSATS] [--diagnostic-quickack]
#
# Relays: rust-nostr's (LocalRelay from the nostr-sdk package) and nostr-relay (PyPI), both by
# default, each with its rate limits off. For each relay the providers take turns, one at a time
# and never side by side, for R runs (default 2; the order alternates: pylon first in odd runs,
# nostr-dvm first in even ones), so that both meet the machine in the same state; the summary gives
# the median of the runs. Each provider starts afresh for each run.
#
# The customers are Tests/Peers/bench_customers.py (K rust-nostr clients, default 4, taking turns
# on N jobs, default 200, of T tokens each, default 16, one server-sent event a token). For each
# round it prints: p50/p99 request publish -> result, p50 publish -> the first feedback, p50
# publish -> the relay's OK to the request (the relay's own time for one message), jobs/s,
# the provider's CPU ms per job (utime+stime from /proc), the relay's and the customers' CPU seconds
# and their share of the round's wall time (a figure that the relay or the customers cap, at ~100 %
# of a core, is named as such), and the provider's RSS: idle before the round, its peak so far
# (VmHWM), its anonymous part after the round (RssAnon). Repeated rounds (--concurrency "1 1 1 1")
# show whether memory grows with jobs.
#
# Then a priced round (unless --no-priced or --only dvm), on each relay, one run: pylon sells
# at --price msats (default 1000) into the NIP-47 wallet service of the tests (Tests/Peers/
# nwc_wallet.py, an in-memory ledger, on a rust-nostr relay of its own, as a wallet is elsewhere),
# and the customers pay each payment-required invoice through rust-nostr's own NWC client. It
# prints pylon's CPU per paid job next to a free one of the same relay (SPEC target: at most 2x),
# request -> payment-required p50 (target < 20 ms, the relay's round trip included), and the CPU
# the wallet's relay and service took on the same cores meanwhile.
#
# --diagnostic-quickack (root only) adds one more pass with delayed ACKs off on the loopback route
# (`ip route ... quickack 1`, put back on exit). Its rows are printed apart and labelled: they show
# what the kernel's delayed ACKs cost, and are never the result.
#
# pylon is built with scripts/build-release.sh (in .build-release; PYLON_RELEASE_SCRATCH overrides
# the folder) unless --no-build.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=200
CUSTOMERS=4
ONLY=""
BUILD=1
RELAYS="rust nostr-relay"
RUNS=2
DIAGNOSTIC=0
PRICED=1
PRICE=1000
PAY_ARGS=()
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
        --relay) RELAYS="${2:?--relay needs rust, nostr-relay or both}"; shift 2 ;;
        --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-priced) PRICED=0; shift ;;
        --price) PRICE="${2:?--price needs msats}"; shift 2 ;;
        --diagnostic-quickack) DIAGNOSTIC=1; shift ;;
        --no-quickack) shift ;;  # the default now; kept so that older command lines still run
        -h|--help) usage; exit 0 ;;
        *) echo "bench-provider.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$ONLY" in ""|pylon|dvm) ;; *) echo "bench-provider.sh: --only takes pylon or dvm" >&2; exit 2 ;; esac
case "$RELAYS" in both) RELAYS="rust nostr-relay" ;; rust|nostr-relay|"rust nostr-relay") ;;
    *) echo "bench-provider.sh: --relay takes rust, nostr-relay or both" >&2; exit 2 ;; esac
[[ "$JOBS" =~ ^[1-9][0-9]*$ && "$CUSTOMERS" =~ ^[1-9][0-9]*$ && "$CONCURRENCY" =~ ^[1-9][0-9]*( [1-9][0-9]*)*$
    && "$MAX_TOKENS" =~ ^[1-9][0-9]*$ && "$RUNS" =~ ^[1-9][0-9]*$ && "$PRICE" =~ ^[1-9][0-9]*$ ]] \
    || { echo "bench-provider.sh: --jobs, --customers, --concurrency, --max-tokens, --runs and --price take positive numbers" >&2; exit 2; }
if [ "$DIAGNOSTIC" = 1 ] && { [ "$(id -u)" != 0 ] || ! command -v ip > /dev/null; }; then
    echo "bench-provider.sh: --diagnostic-quickack changes the loopback route: it needs root and iproute2" >&2; exit 2
fi
PROVIDERS="pylon dvm"
[ "$ONLY" = dvm ] && PROVIDERS="dvm" && PRICED=0
[ "$ONLY" = pylon ] && PROVIDERS="pylon"

scripts/setup-test-peers.sh
PY=.venv/bin/python
CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/pylon-bench-provider.XXXXXX)
PIDS=()
PYLON_HOMES=()
LOOPBACK_ROUTE=""

cleanup() {
    if [ -n "$LOOPBACK_ROUTE" ]; then ip route change $LOOPBACK_ROUTE table local 2>/dev/null || true; fi
    for home in "${PYLON_HOMES[@]}"; do stop_pylon "$PYLON" "$home"; done
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do stop_process "$pid"; done
    rm -rf "$TMP"
}
trap cleanup EXIT

die() { echo "bench-provider.sh: $1" >&2; [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2; exit 1; }
# shellcheck source=scripts/lib/peers.sh
. scripts/lib/peers.sh
# utime+stime of a process (all its threads), in clock ticks; fields 14 and 15 of /proc/PID/stat.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# The CPU ticks of several processes together (the priced round's wallet relay and wallet service).
cpu_ticks_of() { local pid sum=0; for pid in "$@"; do sum=$((sum + $(cpu_ticks "$pid"))); done; echo "$sum"; }
WALLET_SIDE_PIDS=()

case " $PROVIDERS " in *" dvm "*) ensure_dvm_venv ;; esac
PYLON="${PYLON_RELEASE_SCRATCH:-.build-release}/release/pylon"
case " $PROVIDERS " in *" pylon "*)
    if [ "$BUILD" = 1 ]; then
        scripts/build-release.sh >&2
        PYLON="$(scripts/build-release.sh --show-bin-path)/pylon"
    fi
    [ -x "$PYLON" ] || die "no pylon binary at $PYLON (drop --no-build)" ;;
esac

RESULTS="$TMP/results.tsv"
: > "$RESULTS"
ROW='%-9s %4s %7s %7s %7s %7s %7s %7s %10s %13s %13s %8s %8s %8s\n'
header() {
    # shellcheck disable=SC2059
    printf "$ROW" provider conc ok p50_ms p99_ms fb_p50 ok_p50 jobs/s cpu_ms/job relay_cpu_s cust_cpu_s rss_idle rss_peak rss_anon
}

# rounds PASS RELAY RUN NAME PID PUBKEY: the rounds against one provider process.
rounds() {
    local pass=$1 relay=$2 run=$3 name=$4 pid=$5 pubkey=$6 c probe out
    # One probe job (not counted): warms the provider and proves that it answers.
    probe=$($PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$pubkey" --jobs 1 --customers 1 --timeout 15 "${PAY_ARGS[@]}") || true
    if [ "$(echo "$probe" | json_field ok 2>/dev/null)" != 1 ]; then
        echo "$name: no result for a probe job within 15 s; skipping its rounds ($probe)" >&2
        return 0
    fi
    for c in $CONCURRENCY; do
        local idle p0 r0 w0 p1 r1 w1 peak anon
        idle=$(rss_mb "$pid" VmRSS)
        p0=$(cpu_ticks "$pid"); r0=$(cpu_ticks "$RELAY_PID"); w0=$(cpu_ticks_of "${WALLET_SIDE_PIDS[@]}")
        out=$($PY Tests/Peers/bench_customers.py --relay "$RELAY_URL" --provider "$pubkey" --jobs "$JOBS" \
            --concurrency "$c" --customers "$CUSTOMERS" --max-tokens "$MAX_TOKENS" "${PAY_ARGS[@]}") || die "bench_customers.py failed for $name at concurrency $c"
        p1=$(cpu_ticks "$pid"); r1=$(cpu_ticks "$RELAY_PID"); w1=$(cpu_ticks_of "${WALLET_SIDE_PIDS[@]}")
        peak=$(rss_mb "$pid" VmHWM)
        anon=$(rss_mb "$pid" RssAnon)
        $PY - "$RESULTS" "$ROW" "$pass" "$relay" "$run" "$name" "$c" "$idle" "$peak" "$((p1 - p0))" "$((r1 - r0))" "$CLK_TCK" "$out" "$anon" "$((w1 - w0))" <<'PYEOF'
import json, sys
results, row, pass_, relay, run, name, c, idle, peak, pticks, rticks, tck, out, anon, wticks = sys.argv[1:]
r = json.loads(out)
tck = int(tck)
f = dict(pass_=pass_, relay=relay, run=int(run), provider=name, c=int(c), ok=r["ok"], jobs=r["jobs"],
         p50=r["p50_ms"], p99=r["p99_ms"], fb50=r.get("feedback_p50_ms"), ok50=r.get("ok_p50_ms"), jps=r["jobs_per_s"],
         cpu=int(pticks) * 1000.0 / tck / max(r["ok"], 1), relay_cpu=int(rticks) / tck, cust_cpu=r["cpu_s"],
         wall=r["wall_s"], idle=float(idle), peak=float(peak), anon=float(anon),
         asked50=r.get("payment_required_p50_ms"), paid=r.get("paid"), pay50=r.get("pay_p50_ms"))
with open(results, "a") as out_file:
    out_file.write(json.dumps(f) + "\n")
fmt = lambda v: "-" if v is None else f"{v:.1f}"
share = lambda s: f"{s:.2f} ({100 * s / max(f['wall'], 1e-9):.0f}%)"
sys.stdout.write(row.replace("\\n", "\n") % (
    "nostr-dvm" if name == "dvm" else "pylon", c, f"{f['ok']}/{f['jobs']}", fmt(f["p50"]), fmt(f["p99"]), fmt(f["fb50"]), fmt(f["ok50"]),
    f"{f['jps']:.1f}", f"{f['cpu']:.2f}", share(f["relay_cpu"]), share(f["cust_cpu"]),
    f"{f['idle']:.1f}", f"{f['peak']:.1f}", f"{f['anon']:.1f}"))
if f["paid"] is not None:
    sys.stdout.write(f"          paid {f['paid']} invoices; request -> payment-required p50 {fmt(f['asked50'])} ms; "
                     f"pay_invoice -> the wallet's answer p50 {fmt(f['pay50'])} ms; the wallet's relay and service "
                     f"(same machine) {share(int(wticks) / tck)} of CPU\n")
PYEOF
    done
}

# provider_run PASS RELAY RUN pylon|dvm: one provider, started afresh, through all its rounds.
provider_run() {
    local pass=$1 relay=$2 run=$3 provider=$4 dir
    dir="$TMP/$pass-$relay-$run-$provider"
    mkdir -p "$dir"
    case "$provider" in
        pylon)
            PYLON_HOMES+=("$dir/home")
            start_pylon "$PYLON" "$dir/home" "$RELAY_URL" "$MOCK_URL" || die "pylon did not start" "$dir/home/logs/pylon.log"
            rounds "$pass" "$relay" "$run" pylon "$PYLON_PID" "$PYLON_PUBKEY"
            # pylon's own share of each job, from its journal: request received -> result accepted
            # by the relay (job.completed is written after the relay's OK).
            PYLON_HOME="$dir/home" "$PYLON" events --json | $PY -c '
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
    print(f"   pylon inside (its journal: request received -> result accepted by the relay): "
          f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms over {len(spans)} jobs")'
            stop_pylon "$PYLON" "$dir/home"
            ;;
        dvm)
            start_dvm "$dir" "$RELAY_URL" "$MOCK_URL" || die "nostr-dvm did not start" "$dir/dvm.log"
            PIDS+=("$DVM_PID")
            echo "   nostr-dvm answered its first ping $DVM_READY_MS ms after launch"
            rounds "$pass" "$relay" "$run" dvm "$DVM_PID" "$DVM_PUBKEY"
            stop_process "$DVM_PID"
            ;;
    esac
}

# relay_pass PASS RELAY RUNS: one relay and one mock LLM, the providers taking turns RUNS times.
relay_pass() {
    local pass=$1 relay=$2 runs=$3 dir run order
    dir="$TMP/$pass-$relay"
    mkdir -p "$dir"
    start_relay "$relay" "$dir" || die "the $relay relay did not start" "$dir/relay.log"
    PIDS+=("$RELAY_PID")
    start_mock "$dir" || die "the mock LLM did not start" "$dir/mock.log"
    PIDS+=("$MOCK_PID")
    echo "== relay $relay ($RELAY_URL), mock LLM $MOCK_URL; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for run in $(seq "$runs"); do
        order="$PROVIDERS"
        [ $((run % 2)) = 0 ] && order=$(echo "$PROVIDERS" | tr ' ' '\n' | tac | tr '\n' ' ')
        echo "-- run $run of $runs"
        header
        for provider in $order; do provider_run "$pass" "$relay" "$run" "$provider"; done
    done
    stop_process "$MOCK_PID"
    stop_process "$RELAY_PID"
}

# priced_pass RELAY: pylon at $PRICE msats a job, paid through the wallet service, one run.
priced_pass() {
    local relay=$1 dir="$TMP/priced-$relay"
    mkdir -p "$dir/wallet-relay"
    start_relay nostr-relay "$dir/wallet-relay" || die "the wallet's relay did not start" "$dir/wallet-relay/relay.log"
    PIDS+=("$RELAY_PID")
    local wallet_relay_pid=$RELAY_PID
    start_wallet "$dir" "$RELAY_URL" || die "the wallet service did not start" "$dir/wallet.log"
    PIDS+=("$WALLET_PID")
    start_relay "$relay" "$dir" || die "the $relay relay did not start" "$dir/relay.log"
    PIDS+=("$RELAY_PID")
    start_mock "$dir" || die "the mock LLM did not start" "$dir/mock.log"
    PIDS+=("$MOCK_PID")
    echo
    echo "== priced: pylon sells at $PRICE msats a job into an NWC wallet (nwc_wallet.py on its own relay); the customers pay each invoice"
    echo "   relay $relay ($RELAY_URL); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    header
    PYLON_HOMES+=("$dir/home")
    start_pylon "$PYLON" "$dir/home" "$RELAY_URL" "$MOCK_URL" "$PRICE" "$WALLET_PROVIDER_URI" || die "pylon did not start" "$dir/home/logs/pylon.log"
    PAY_ARGS=(--pay "$WALLET_BUYER_URI" --bid "$PRICE")
    WALLET_SIDE_PIDS=("$wallet_relay_pid" "$WALLET_PID")
    rounds priced "$relay" 1 pylon "$PYLON_PID" "$PYLON_PUBKEY"
    PAY_ARGS=()
    WALLET_SIDE_PIDS=()
    echo "   pylon earned $(PYLON_HOME="$dir/home" "$PYLON" earnings --json | json_field total_msats) msats"
    # Where a paid job's time goes, from pylon's journal: the wallet's make_invoice round trip
    # (request received -> invoice recorded) and the payment (invoice -> payment recorded).
    PYLON_HOME="$dir/home" "$PYLON" events --json | $PY -c '
import json, sys
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
received, invoiced, spans, paid = {}, {}, [], []
for e in json.load(sys.stdin):
    d = e["data"]
    if e["kind"] == "job.received": received[d.get("id")] = t(e["time"])
    elif e["kind"] == "invoice.created" and d.get("job_id") in received:
        invoiced[d["job_id"]] = t(e["time"]); spans.append((t(e["time"]) - received[d["job_id"]]) * 1000)
    elif e["kind"] == "payment.received" and d.get("job_id") in invoiced: paid.append((t(e["time"]) - invoiced[d["job_id"]]) * 1000)
p50 = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")
print(f"   pylon inside (its journal): request received -> invoice recorded (the wallet round trip) p50 {p50(spans):.1f} ms; "
      f"invoice -> payment recorded p50 {p50(paid):.1f} ms, over {len(spans)} jobs")'
    stop_pylon "$PYLON" "$dir/home"
    stop_process "$MOCK_PID"
    stop_process "$RELAY_PID"
    stop_process "$WALLET_PID"
    stop_process "$wallet_relay_pid"
}

echo "== provider benchmark: $JOBS kind 5050 jobs per round ($MAX_TOKENS tokens each), $CUSTOMERS customers taking turns, zero-delay mock LLM"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; kernel $(uname -r) as it is (no route or sysctl change)"
for relay in $RELAYS; do relay_pass default "$relay" "$RUNS"; done
if [ "$PRICED" = 1 ]; then for relay in $RELAYS; do priced_pass "$relay"; done; fi

$PY - "$RESULTS" default <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["pass_"] == sys.argv[2]]
med = lambda xs: statistics.median(xs) if xs else None
for relay in dict.fromkeys(r["relay"] for r in rows):
    cell = {}
    for r in rows:
        if r["relay"] == relay:
            cell.setdefault((r["provider"], r["c"]), []).append(r)
    runs = max(len(v) for v in cell.values())
    print(f"== summary, relay {relay}: median of {runs} run{'s' * (runs > 1)} on the default kernel")
    print(f"   {'conc':>4}  {'pylon jobs/s':>12} {'p50':>7} {'fb p50':>7} {'CPU/job':>8}   {'nostr-dvm jobs/s':>16} {'p50':>7} {'fb p50':>7} {'CPU/job':>8}")
    m = {}
    for (p, c), rs in cell.items():
        pick = lambda k: med([r[k] for r in rs if r[k] is not None])
        m[(p, c)] = {k: pick(k) for k in ("jps", "p50", "fb50", "ok50", "cpu", "relay_cpu", "cust_cpu", "wall")}
    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    for c in sorted({c for _, c in m}):
        p, d = m.get(("pylon", c), {}), m.get(("dvm", c), {})
        print(f"   {c:>4}  {f(p.get('jps')):>12} {f(p.get('p50')):>7} {f(p.get('fb50')):>7} {f(p.get('cpu'), 2):>8}   "
              f"{f(d.get('jps')):>16} {f(d.get('p50')):>7} {f(d.get('fb50')):>7} {f(d.get('cpu'), 2):>8}")
    cs = sorted(c for p, c in m if p == "pylon" and ("dvm", c) in m)
    if not cs:
        continue
    print("   SPEC §11 targets:")
    verdict = lambda ok: "met" if ok else "NOT met"
    for c in cs:
        p, d = m[("pylon", c)], m[("dvm", c)]
        ratio = d["cpu"] / max(p["cpu"], 1e-9)
        print(f"     CPU per job at {c:>2}: 1/{ratio:.1f} of nostr-dvm's (target 1/10): {verdict(ratio >= 10)}")
    def rig(p):
        """The rig's share in a round: what caps it when it is busier than the provider and near a core."""
        shares = [(who, p[k] / max(p["wall"], 1e-9)) for who, k in (("the relay", "relay_cpu"), ("the customers", "cust_cpu"))]
        own = p["cpu"] * p["jps"] / 1000
        return [f"{who} at {share * 100:.0f}% of a core (pylon at {own * 100:.0f}%)" for who, share in shares if share >= 0.7 and share > 2 * own]
    one = min(cs)
    if one == 1:
        p, d = m[("pylon", 1)], m[("dvm", 1)]
        for key, what in (("p50", "request -> result p50"), ("fb50", "request -> first feedback p50")):
            if p[key] is not None and d[key] is not None:
                met = p[key] < 10 and p[key] < d[key]
                line = (f"     sequential {what}: {p[key]:.1f} ms against {d[key]:.1f} ms (target < 10 ms and below nostr-dvm's): "
                        f"{verdict(met)}")
                if not met and p.get("ok50") and rig(p):
                    line += (f" -- the relay takes {p['ok50']:.1f} ms (p50) to answer one publish and a result crosses it three times; "
                             f"{rig(p)[0]}")
                print(line)
    top = max(cs)
    p, d = m[("pylon", top)], m[("dvm", top)]
    x = p["jps"] / max(d["jps"], 1e-9)
    line = f"     jobs/s at {top}: x{x:.1f} nostr-dvm's (target x4): {verdict(x >= 4)}"
    if x < 4 and rig(p):
        line += f" -- capped by the rig: {', '.join(rig(p))}"
    print(line)
PYEOF

if [ "$PRICED" = 1 ]; then
    $PY - "$RESULTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for priced in [r for r in rows if r["pass_"] == "priced"]:
    free = [r["cpu"] for r in rows if r["pass_"] == "default" and r["provider"] == "pylon" and r["relay"] == priced["relay"] and r["c"] == priced["c"]]
    if not free:
        continue
    ratio = priced["cpu"] / max(statistics.median(free), 1e-9)
    verdict = lambda ok: "met" if ok else "NOT met"
    print(f"== priced at {priced['c']:>2}: CPU per paid job {priced['cpu']:.2f} ms against {statistics.median(free):.2f} ms free: "
          f"x{ratio:.1f} (target at most x2): {verdict(ratio <= 2)}; request -> payment-required p50 "
          f"{priced['asked50'] if priced['asked50'] is not None else '-'} ms (target < 20 ms): "
          f"{verdict(priced['asked50'] is not None and priced['asked50'] < 20)}")
PYEOF
fi

if [ "$DIAGNOSTIC" = 1 ]; then
    ROUTE=$(ip route show table local 127.0.0.1 | grep '^local 127.0.0.1 ' | head -n 1 | sed 's/ *$//')
    if [ -z "$ROUTE" ] || echo "$ROUTE" | grep -q quickack || ! ip route change $ROUTE table local quickack 1 2>/dev/null; then
        die "could not turn delayed ACKs off on the loopback route ($ROUTE)"
    fi
    LOOPBACK_ROUTE="$ROUTE"
    echo
    echo "== DIAGNOSTIC, not a result: delayed ACKs off on the loopback route (ip route quickack 1), one run per relay"
    for relay in $RELAYS; do relay_pass diagnostic "$relay" 1; done
    ip route change $LOOPBACK_ROUTE table local 2>/dev/null || true
    LOOPBACK_ROUTE=""
    echo "== DIAGNOSTIC ends; the loopback route is as it was"
fi
echo "   load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; compare ratios, not absolute times"
