#!/usr/bin/env bash
# Installs pylon: the release build (scripts/build-release.sh), stripped, and its shell completions.
#   scripts/install.sh [--no-build] [PREFIX]
#
# PREFIX defaults to /usr/local as root and ~/.local otherwise. It installs
#   PREFIX/bin/pylon                                          the binary, without its symbol tables
#   PREFIX/share/bash-completion/completions/pylon            bash
#   PREFIX/share/zsh/site-functions/_pylon                    zsh
#   PREFIX/share/fish/vendor_completions.d/pylon.fish         fish
# DESTDIR, when set, is put in front of every path (for packagers); the binary is the same.
# --no-build installs the binary the last release build left in .build-release.
# Nothing else is touched: run `pylon init` and `pylon service install` afterwards (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
prefix=""
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $arg (see --help)" >&2; exit 2 ;;
        *)
            if [ -n "$prefix" ]; then echo "error: one PREFIX only (got $prefix and $arg)" >&2; exit 2; fi
            prefix="$arg" ;;
    esac
done
if [ -z "$prefix" ]; then
    if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac

if [ "$build" = 1 ]; then
    echo "building the release binary (scripts/build-release.sh)" >&2
    scripts/build-release.sh >&2
fi
built="$(scripts/build-release.sh --show-bin-path)/pylon"
if [ ! -x "$built" ]; then
    echo "error: no release binary at $built: run without --no-build" >&2
    exit 1
fi

root="${DESTDIR:-}$prefix"
bin="$root/bin"
stripped="$(mktemp "${TMPDIR:-/tmp}/pylon-install.XXXXXX")"
trap 'rm -f "$stripped"' EXIT
# The symbol and debug tables are for debugging the build folder's binary; at run time nothing reads them.
strip -o "$stripped" "$built"
mkdir -p "$bin"
install -m 0755 "$stripped" "$bin/pylon"

# Completions, from the installed binary itself (swift-argument-parser writes them).
for shell in bash zsh fish; do
    case "$shell" in
        bash) file="$root/share/bash-completion/completions/pylon" ;;
        zsh) file="$root/share/zsh/site-functions/_pylon" ;;
        fish) file="$root/share/fish/vendor_completions.d/pylon.fish" ;;
    esac
    mkdir -p "$(dirname "$file")"
    "$bin/pylon" --generate-completion-script "$shell" > "$file"
done

size=$(stat -c %s "$bin/pylon" 2>/dev/null || stat -f %z "$bin/pylon")
echo "installed $prefix/bin/pylon (pylon $("$bin/pylon" --version), $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }')) and completions for bash, zsh and fish${DESTDIR:+ under DESTDIR=$DESTDIR}"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on your PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
if [ -z "${DESTDIR:-}" ]; then
    echo "next: pylon init, then pylon doctor, then pylon service install (starts it at login)"
fi
