# shellcheck shell=bash
# LNbits, the wallet server behind scripts/demo.sh's wallets. Sourced, not run. LNbits 1.6.2 from
# PyPI with its FakeWallet funding source (it signs its own lnbc invoices and settles payments
# between its wallets at once; no real funds, no network), SQLite in a folder the caller gives,
# listening on a free 127.0.0.1 port. Installed once into its own venv,
# ${PYLON_CACHE:-$HOME/.cache/pylon}/lnbits-venv (~270 MB; it pins nostr-sdk~=0.44, which would
# clash with .venv's 0.45.1), outside the repository.
#
#   lnbits_install               # the venv and lnbits==1.6.2 (once; --prefer-binary, bitstring<5)
#   lnbits_start DIR LOG         # LNbits with its data (SQLite, logs) in DIR, its output in LOG;
#                                # waits until it answers; sets LNBITS_URL, LNBITS_PID
#   lnbits_wallets FILE NAME=SATS...
#                                # the first-install admin (a random password nobody sees), one
#                                # wallet per NAME funded with SATS; writes FILE (mode 0600):
#                                # {"url", "wallets": {NAME: {"id", "adminkey", "inkey"}}}, the
#                                # input of Tests/Peers/nwc_wallet.py --lnbits
#   lnbits_stop                  # SIGTERM (SIGKILL after 5 s); safe to call twice or before start
#
# Each prints what went wrong on stderr and returns non-zero; progress goes to stderr.

LNBITS_VERSION=1.6.2
LNBITS_CACHE="${PYLON_CACHE:-$HOME/.cache/pylon}"
LNBITS_VENV="$LNBITS_CACHE/lnbits-venv"
LNBITS_LAUNCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/Tests/Peers/launch.py"
LNBITS_URL=""
LNBITS_PID=""

lnbits_installed() {
    "$LNBITS_VENV/bin/python" - "$LNBITS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("lnbits") == sys.argv[1] else 1)
PY
}

lnbits_install() {
    mkdir -p "$LNBITS_CACHE" || return 1
    lnbits_installed && return 0
    if [ ! -x "$LNBITS_VENV/bin/python" ]; then
        echo "==> creating $LNBITS_VENV" >&2
        python3 -m venv "$LNBITS_VENV" || return 1
    fi
    # embit has no wheel (hence --prefer-binary, not --only-binary); bitstring 5 dropped
    # ConstBitStream, which bolt11 imports.
    echo "==> installing lnbits==$LNBITS_VERSION into $LNBITS_VENV (first run only, ~270 MB)" >&2
    "$LNBITS_VENV/bin/pip" install --quiet --disable-pip-version-check --prefer-binary \
        "lnbits==$LNBITS_VERSION" 'bitstring<5' || return 1
    lnbits_installed || { echo "lnbits $LNBITS_VERSION is not importable from $LNBITS_VENV" >&2; return 1; }
}

lnbits_start() {
    local data=$1 log=$2 port packages deadline
    lnbits_installed || lnbits_install || return 1
    # LNbits serves lnbits/static relative to its working directory: start it from site-packages.
    packages="$("$LNBITS_VENV/bin/python" -c 'import importlib.util, os; print(os.path.dirname(os.path.dirname(importlib.util.find_spec("lnbits").origin)))')" \
        || { echo "cannot find the lnbits package in $LNBITS_VENV" >&2; return 1; }
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    mkdir -p "$data" || return 1
    echo "==> starting LNbits $LNBITS_VERSION (FakeWallet, SQLite in $data) on 127.0.0.1:$port" >&2
    # uvicorn itself, not the `lnbits` command: that one runs the server in a multiprocessing child
    # which a SIGTERM to it would leave behind. launch.py clears the signal mask (see llm.sh).
    (cd "$packages" && exec env \
        LNBITS_DATA_FOLDER="$data" LNBITS_EXTENSIONS_PATH="$data" LNBITS_BACKEND_WALLET_CLASS=FakeWallet \
        LNBITS_ADMIN_UI=true HOST=127.0.0.1 PORT="$port" \
        python3 "$LNBITS_LAUNCH" "$LNBITS_VENV/bin/python" -m uvicorn lnbits.__main__:app \
        --host 127.0.0.1 --port "$port" --no-access-log) </dev/null >"$log" 2>&1 &
    LNBITS_PID=$!
    LNBITS_URL="http://127.0.0.1:$port"
    deadline=$((SECONDS + ${LNBITS_START_TIMEOUT:-60}))
    # Any HTTP answer will do (before the first install /api/v1/health redirects to it): uvicorn
    # listens only once LNbits has started (database migrated, funding source connected).
    until curl -sS --noproxy '*' -o /dev/null "$LNBITS_URL/api/v1/health" 2>/dev/null; do
        if ! kill -0 "$LNBITS_PID" 2>/dev/null; then
            echo "LNbits exited before it answered; the end of its log ($log):" >&2
            tail -n 30 "$log" >&2
            LNBITS_PID=""
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "LNbits did not answer $LNBITS_URL within ${LNBITS_START_TIMEOUT:-60} s; the end of its log ($log):" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
        sleep 0.3
    done
}

lnbits_wallets() {
    local file=$1
    shift
    [ -n "$LNBITS_URL" ] || { echo "lnbits_wallets: LNbits is not started" >&2; return 1; }
    (umask 077 && python3 - "$LNBITS_URL" "$file" "$@" <<'PY')
import json, secrets, sys, urllib.error, urllib.request

url, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # LNbits is local: no proxy

def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        sys.exit(f"LNbits refused {method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')[:300]}")
    except OSError as exc:
        sys.exit(f"LNbits at {url} did not answer {method} {path}: {exc}")

# The super user LNbits made on its first start gets a name and a password (needs LNBITS_ADMIN_UI);
# its session token may create wallets and credit them.
password = secrets.token_urlsafe(18)
session = call("PUT", "/api/v1/auth/first_install",
               {"username": "pylon-demo", "password": password, "password_repeat": password})
token = session.get("access_token") if isinstance(session, dict) else None
if not token:
    sys.exit(f"LNbits' first install gave no access token: {session}")
wallets = {}
for spec in specs:
    name, _, sats = spec.partition("=")
    wallet = call("POST", "/api/v1/wallet", {"name": name}, token)
    if int(sats or 0) > 0:
        call("PUT", "/users/api/v1/balance", {"id": wallet["id"], "amount": int(sats)}, token)
    wallets[name] = {"id": wallet["id"], "adminkey": wallet["adminkey"], "inkey": wallet["inkey"]}
with open(out, "w") as file:
    json.dump({"url": url, "wallets": wallets}, file)
PY
}

lnbits_stop() {
    local pid=$LNBITS_PID
    LNBITS_PID=""
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
