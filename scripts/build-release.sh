#!/usr/bin/env bash
# The release build of pylon (what the benchmarks measure and what a user installs):
#   scripts/build-release.sh [--show-bin-path] [--product NAME] [swift build arguments...]
#
# Beyond `swift build -c release` it links the Swift runtime and Foundation statically
# (--static-swift-stdlib: one binary, no libswiftCore.so to find at run time) and compiles every
# function into its own section, so that the linker can lay out the code the daemon runs at
# start and at idle together, in the order of scripts/order/pylon.order (Package.swift passes it
# to lld on Linux). The kernel maps code 64 KiB around each page a process touches; with that
# code packed, an idle daemon maps about 7 MB of the binary's code instead of 15 of its 31 MB. A plain
# `swift build -c release` still works: the same code, laid out without the order.
# The scratch folder is .build-release (PYLON_RELEASE_SCRATCH overrides it); the binary is
# $SCRATCH/release/pylon.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${PYLON_RELEASE_SCRATCH:-.build-release}"
FLAGS=(-c release --scratch-path "$SCRATCH")
if [ "$(uname -s)" = Linux ]; then
    FLAGS+=(--static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections)
fi
if [ "${1:-}" = --show-bin-path ]; then
    exec swift build "${FLAGS[@]}" --show-bin-path
fi
# SwiftPM does not know that the layout files are inputs of the link: relink when they change.
BIN="$SCRATCH/release/pylon"
for input in scripts/order/pylon.order scripts/order/pylon-text.ld; do
    if [ -e "$BIN" ] && [ "$input" -nt "$BIN" ]; then rm -f "$BIN"; fi
done
case " $* " in
    *" --product "*) exec swift build "${FLAGS[@]}" "$@" ;;   # a benchmark from the same build folder
esac
swift build "${FLAGS[@]}" --product pylon "$@"
# Sources/EmptyICUData stands in for ICU's 34 MB of locale data under the symbol of ICU's major
# version. A toolchain with another ICU links its data in again: say so rather than ship it.
if [ "$(uname -s)" = Linux ] && command -v nm > /dev/null; then
    nm -S "$BIN" | while read -r _ size _ name; do
        case "$name" in
            icudt[0-9]*_dat) if (( 16#$size > 4096 )); then
                echo "warning: the release binary carries ICU's data ($name, $(( 16#$size / 1000000 )) MB): this toolchain's ICU is not the one Sources/EmptyICUData names" >&2
            fi ;;
        esac
    done
fi
