#!/usr/bin/env bash
# pylon's main job, end to end on this machine. For now: build pylon, create a node identity in a
# temporary home (nothing touches your real ~/.config or ~/.pylon) and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-peers.sh
swift build --product pylon
PYLON="$(swift build --show-bin-path)/pylon"
export PYLON_HOME="$(mktemp -d /tmp/pylon-demo-XXXXXX)"
trap 'rm -rf "$PYLON_HOME"' EXIT
echo "==> pylon init (home: $PYLON_HOME)"
"$PYLON" init
echo
echo "==> pylon identity --json"
"$PYLON" identity --json
