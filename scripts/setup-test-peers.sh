#!/usr/bin/env bash
# Installs what pylon's build and tests need on a fresh Debian machine, once:
#   - libsecp256k1-dev (BIP-340 signatures, ECDH) from Debian;
#   - prometheus from Debian (the server and promtool: the tests scrape a provider with it and
#     check /metrics, the Grafana dashboard's queries and the example alert rules);
#   - chromium from Debian (the status page's browser test);
#   - a Python venv in .venv with the real peers the tests talk to: nostr-sdk (rust-nostr's
#     client and in-process relay), nostr-relay (a second, independent relay) and bolt11 (a
#     second BOLT #11 implementation; it needs bitstring below 5).
# Safe to run again: it only installs what is missing or at the wrong version.
set -euo pipefail
cd "$(dirname "$0")/.."

NOSTR_SDK_VERSION=0.45.1
NOSTR_RELAY_VERSION=1.14
BOLT11_VERSION=2.2.0
BITSTRING_VERSION=4.4.0

apt_packages=()
pkg-config --exists libsecp256k1 2>/dev/null || apt_packages+=(libsecp256k1-dev)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || apt_packages+=(prometheus)
# The status page's browser test (Tests/CLITests/StatusPageTests.swift) loads it in headless
# Chromium; outside CI the test is skipped, with the reason, when no chromium is installed.
browser=()
command -v chromium >/dev/null 2>&1 || [ -n "${PYLON_CHROMIUM:-}" ] || browser+=(chromium)
if [ "${#apt_packages[@]}" -gt 0 ] || [ "${#browser[@]}" -gt 0 ]; then
    echo "==> installing from apt: ${apt_packages[*]} ${browser[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update
    # Without recommends: prometheus would bring node-exporter and its collectors, which the tests
    # do not use. No service is started: the tests run their own server.
    if [ "${#apt_packages[@]}" -gt 0 ]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt_packages[@]}"
    fi
    if [ "${#browser[@]}" -gt 0 ]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${browser[@]}"
    fi
fi

want="nostr-sdk==${NOSTR_SDK_VERSION} nostr-relay==${NOSTR_RELAY_VERSION} bolt11==${BOLT11_VERSION} bitstring==${BITSTRING_VERSION}"
have() {
    [ -x .venv/bin/python ] && .venv/bin/python - "$NOSTR_SDK_VERSION" "$NOSTR_RELAY_VERSION" "$BOLT11_VERSION" "$BITSTRING_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
have = tuple(version(name) for name in ("nostr-sdk", "nostr-relay", "bolt11", "bitstring"))
sys.exit(0 if have == tuple(sys.argv[1:5]) else 1)
PY
}
if ! have; then
    echo "==> installing into .venv: ${want}" >&2
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check --only-binary=:all: $want
fi
echo "==> peers ready: libsecp256k1 $(pkg-config --modversion libsecp256k1), $(promtool --version 2>&1 | head -1), $(chromium --version 2>/dev/null || echo "no chromium"), $(.venv/bin/python -c 'from importlib.metadata import version as v; print("nostr-sdk", v("nostr-sdk"), "nostr-relay", v("nostr-relay"), "bolt11", v("bolt11"))')" >&2
