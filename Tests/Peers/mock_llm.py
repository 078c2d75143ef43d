"""A zero-delay mock of llama.cpp's server (its OpenAI-compatible API) on 127.0.0.1, for the
provider benchmark: pylon's llamacpp backend and the nostr-dvm peer call the same one.

Prints {"port": N} on the first line of stdout once it listens, then serves until SIGTERM/SIGINT
or until stdin closes (when stdin is a pipe).

  GET  /health               {"status": "ok"}
  GET  /v1/models            one model, "mock-model"
  POST /v1/chat/completions  one JSON answer, or with "stream": true an SSE stream of OpenAI
                             chunks: role, one chunk per token, finish_reason, usage, [DONE]

The answer is deterministic: the words of the last user message, cycled, --tokens pieces (fewer
when "max_tokens" is smaller; finish_reason "length" then). Threaded, HTTP/1.1 keep-alive.

  mock_llm.py [--port N] [--tokens N] [--token-delay-ms MS]
"""
import argparse
import json
import os
import signal
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "mock-model"


def tokens_for(prompt, count):
    words = prompt.split() or ["token"]
    return [(w if i == 0 else " " + w) for i, w in ((i, words[i % len(words)]) for i in range(max(count, 0)))]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small writes (headers, then body; one SSE chunk per token) must not wait for the client's
    # delayed ACK: without TCP_NODELAY every answer costs ~40 ms on Linux.
    disable_nagle_algorithm = True
    server_version = "mock-llm"
    sys_version = ""

    def log_message(self, *args):  # quiet: a benchmark peer
        pass

    def send_body(self, status, obj, content_type="application/json"):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one write (http.server's own header buffer), one segment on the wire.
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def error(self, status, message):
        self.send_body(status, {"error": {"code": status, "message": message, "type": "invalid_request_error"}})

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self.send_body(200, {"status": "ok"})
        elif path == "/v1/models" or path == "/models":
            self.send_body(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "mock"}]})
        else:
            self.error(404, "File Not Found")

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self.error(404, "File Not Found")
            return
        try:
            req = json.loads(raw or b"null")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            self.error(400, "invalid JSON")
            return
        model = req.get("model") or MODEL
        if model != MODEL:
            self.send_body(404, {"error": {"code": 404, "message": f"The model `{model}` does not exist",
                                           "type": "invalid_request_error"}})
            return
        messages = req.get("messages") or []
        user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        prompt = user[-1].get("content", "") if user else ""
        if not isinstance(prompt, str):
            prompt = json.dumps(prompt)
        limit = req.get("max_tokens")
        count = self.server.tokens if not isinstance(limit, int) else min(self.server.tokens, max(limit, 0))
        finish = "length" if count < self.server.tokens else "stop"
        toks = tokens_for(prompt, count)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(toks),
                 "total_tokens": prompt_tokens + len(toks)}
        delay = self.server.token_delay
        base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": model}
        if not req.get("stream"):
            if delay:
                time.sleep(delay * len(toks))
            self.send_body(200, dict(base, object="chat.completion", choices=[
                {"index": 0, "message": {"role": "assistant", "content": "".join(toks)}, "finish_reason": finish}],
                usage=usage))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(choices, **extra):
            data = json.dumps(dict(base, object="chat.completion.chunk", choices=choices, **extra),
                              separators=(",", ":"))
            self.write_chunk(f"data: {data}\n\n")

        try:
            chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            for tok in toks:
                if delay:
                    time.sleep(delay)
                chunk([{"index": 0, "delta": {"content": tok}, "finish_reason": None}])
            chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
            chunk([], usage=usage)
            self.write_chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def write_chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    # Started by Foundation's Process, this process inherits a mask that blocks SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description="Zero-delay mock of llama.cpp's OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--tokens", type=int, default=8, help="tokens per answer (default 8)")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="delay before each token (default 0)")
    args = parser.parse_args()
    try:
        server = Server(("127.0.0.1", args.port), Handler)
    except OSError as exc:
        sys.exit(f"mock_llm.py: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    server.tokens = args.tokens
    server.token_delay = args.token_delay_ms / 1000.0
    print(json.dumps({"port": server.server_address[1]}), flush=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if stat.S_ISFIFO(os.fstat(0).st_mode):  # a pipe: serve until it closes
        def watch():
            while os.read(0, 4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
