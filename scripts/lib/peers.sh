# shellcheck shell=bash
# Helpers for the scripts that start local peers (relays, the mock LLM) and read their output
# (scripts/bench-provider.sh, scripts/order/make-order-file.sh). Sourced, not run; needs $PY, the
# venv's Python.

# A free TCP port on 127.0.0.1.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# FIELD of the JSON object on stdin.
json_field() { $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# Waits up to SECS for the first line of FILE (written by a background process PID); prints it.
first_line() {
    local file=$1 pid=$2 secs=$3
    for _ in $(seq $((secs * 10))); do
        if [ -s "$file" ]; then head -n 1 "$file"; return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
