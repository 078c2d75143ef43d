#!/usr/bin/env bash
# Installs what pylon's build and tests need on a fresh Debian machine, once:
#   - libsecp256k1-dev (BIP-340 signatures, ECDH) from Debian;
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

if ! pkg-config --exists libsecp256k1 2>/dev/null; then
    echo "==> installing libsecp256k1-dev" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y libsecp256k1-dev
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
echo "==> peers ready: libsecp256k1 $(pkg-config --modversion libsecp256k1), $(.venv/bin/python -c 'from importlib.metadata import version as v; print("nostr-sdk", v("nostr-sdk"), "nostr-relay", v("nostr-relay"), "bolt11", v("bolt11"))')" >&2
