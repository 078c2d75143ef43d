"""nostr-dvm 1.1.8 (the Python DVM framework) serving kind 5050 text generation from one local
relay and an OpenAI-compatible server (Tests/Peers/mock_llm.py): the peer of pylon's provider
benchmark. Runs in its own venv (scripts/bench-provider.sh makes it): nostr-dvm pins heavy
dependencies.

  nostr_dvm_provider.py --relay ws://127.0.0.1:PORT --llm http://127.0.0.1:PORT
                        [--secret HEX] [--workdir DIR] [--log-level error|warn|info|debug]

A GenericDVM whose process() POSTs the prompt to <llm>/v1/chat/completions (urllib, as the
framework's own examples do), with a DVMConfig built by hand so that nothing but the given relay
and LLM is contacted (no LNbits, no public relays, no NIP-89/NIP-65/profile rebroadcasts, free
jobs). Prints {"pubkey": HEX} on the first line of stdout once the DVM answers a NIP-90 ping
(kind 7007 -> "pong"), which proves its job subscription is live; everything nostr-dvm prints
goes to stderr. Stops on SIGTERM/SIGINT or when stdin (a pipe) closes; nostr-dvm itself ignores
SIGTERM (a non-daemon thread), so this exits the process directly.
"""
import argparse
import asyncio
import json
import os
import select
import signal
import socket
import stat
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta

# nostr-dvm prints freely (its private key included); keep stdout for our one line.
_real_stdout = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

try:
    from nostr_sdk import (
        Client, EventBuilder, Filter, Keys, Kind, LogLevel, RelayUrl, ReqTarget, Tag, Timestamp,
    )
    from nostr_dvm.tasks.generic_dvm import GenericDVM
    from nostr_dvm.utils.admin_utils import AdminConfig
    from nostr_dvm.utils.dvmconfig import DVMConfig
    from nostr_dvm.utils.nip89_utils import NIP89Config
except ImportError as exc:
    sys.exit(f"nostr_dvm_provider.py: {exc}; run it with the nostr-dvm venv (scripts/bench-provider.sh makes it)")


def build_dvm(relay, llm, keys, log_level):
    config = DVMConfig()
    config.PRIVATE_KEY = keys.secret_key().to_hex()
    config.PUBLIC_KEY = keys.public_key().to_hex()
    config.IDENTIFIER = "pylon_bench_generic"
    config.KIND = Kind(5050)
    config.FIX_COST = 0
    config.PER_UNIT_COST = 0
    # Loopback only: every relay list the framework reads points at the local relay.
    config.RELAY_LIST = [relay]
    config.SYNC_DB_RELAY_LIST = [relay]
    config.ANNOUNCE_RELAY_LIST = [relay]
    config.NUTZAP_RELAYS = [relay]
    config.AVOID_OUTBOX_RELAY_LIST = []
    config.LNBITS_INVOICE_KEY = ""
    config.LNBITS_ADMIN_KEY = ""
    config.LNBITS_URL = ""
    config.LN_ADDRESS = ""
    config.PROVIDE_INVOICE = False
    config.ENABLE_NUTZAP = False
    config.DELETE_ANNOUNCEMENT_ON_SHUTDOWN = False
    config.LOGLEVEL = log_level

    admin = AdminConfig()
    admin.REBROADCAST_NIP89 = False
    admin.REBROADCAST_NIP65_RELAY_LIST = False
    admin.UPDATE_PROFILE = False

    nip89 = NIP89Config()
    nip89.DTAG = "pylon-bench-nostr-dvm"
    nip89.KIND = Kind(5050)
    nip89.CONTENT = json.dumps({"name": "nostr-dvm bench", "about": "kind 5050 against a mock LLM",
                                "supportsEncryption": True, "nip90Params": {}})

    dvm = GenericDVM(name="nostr-dvm-bench", dvm_config=config, nip89config=nip89, admin_config=admin, options={})
    url = llm.rstrip("/") + "/v1/chat/completions"

    async def process(request_form):
        options = dvm.set_options(request_form)
        body = {"model": "mock-model", "messages": [{"role": "user", "content": options.get("input", "")}]}
        if "max_tokens" in options:
            body["max_tokens"] = int(options["max_tokens"])
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as answer:
            return json.loads(answer.read())["choices"][0]["message"]["content"]

    dvm.process = process  # the framework's documented way to customise GenericDVM
    return dvm


async def wait_until_serving(relay, dvm_pk, timeout):
    """Pings the DVM (kind 7007, p = DVM) every second until a "pong" feedback comes back."""
    keys = Keys.generate()
    client = Client()
    await client.add_relay(RelayUrl.parse(relay))
    await client.connect(timedelta(seconds=10))
    await client.subscribe(ReqTarget.auto([
        Filter().kinds([Kind(7000)]).pubkey(keys.public_key()).since(Timestamp.from_secs(int(time.time()) - 5))]))
    stream = client.notifications()
    deadline = time.monotonic() + timeout

    async def pong():
        while True:
            note = await stream.next()
            if note is not None and note.is_new_event():
                tags = [t.to_vec() for t in note.event.tags()]
                if any(t[:2] == ["status", "pong"] for t in tags):
                    return

    waiter = asyncio.ensure_future(pong())
    while time.monotonic() < deadline:
        ping = EventBuilder(Kind(7007), "ping").tags([Tag.parse(["p", dvm_pk.to_hex()])]).finalize(keys)
        await client.send_event(ping)
        done, _ = await asyncio.wait([waiter], timeout=1.0)
        if done:
            await client.shutdown()
            return True
    return False


def main():
    # Started by Foundation's Process, this process inherits a mask that blocks SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description="nostr-dvm 1.1.8 as a kind 5050 DVM on a local relay and LLM.")
    parser.add_argument("--relay", required=True, help="the one relay, ws://127.0.0.1:PORT")
    parser.add_argument("--llm", required=True, help="OpenAI-compatible base URL, http://127.0.0.1:PORT")
    parser.add_argument("--secret", help="the DVM's secret key, hex (random by default)")
    parser.add_argument("--workdir", help="where nostr-dvm keeps db/ (a new temporary folder by default)")
    parser.add_argument("--log-level", choices=["error", "warn", "info", "debug"], default="warn")
    parser.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for the first pong")
    args = parser.parse_args()
    for url, schemes in ((args.relay, ("ws://", "wss://")), (args.llm, ("http://",))):
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if not url.startswith(schemes) or host not in ("127.0.0.1", "localhost", "[::1]"):
            parser.error(f"{url}: only loopback URLs ({'/'.join(schemes)}127.0.0.1...) are allowed")
    try:
        keys = Keys.parse(args.secret) if args.secret else Keys.generate()
    except Exception as exc:  # noqa: BLE001 - a user error
        parser.error(f"--secret: {exc}")

    workdir = args.workdir or tempfile.mkdtemp(prefix="nostr-dvm-")
    os.makedirs(os.path.join(workdir, "db"), exist_ok=True)
    os.chdir(workdir)  # nostr-dvm writes db/<name>.db relative to the working directory

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    level = {"error": LogLevel.ERROR, "warn": LogLevel.WARN, "info": LogLevel.INFO, "debug": LogLevel.DEBUG}
    dvm = build_dvm(args.relay, args.llm, keys, level[args.log_level])
    dvm.run()  # its own (non-daemon) thread with its own event loop

    if not asyncio.run(wait_until_serving(args.relay, keys.public_key(), args.ready_timeout)):
        print(f"nostr_dvm_provider.py: no pong from the DVM within {args.ready_timeout:.0f} s", file=sys.stderr)
        os._exit(1)
    _real_stdout.write(json.dumps({"pubkey": keys.public_key().to_hex()}) + "\n")
    _real_stdout.flush()

    # A signal may land on any of nostr-dvm's threads; the wakeup fd wakes this one either way.
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    watch = [wake_r] + ([0] if stat.S_ISFIFO(os.fstat(0).st_mode) else [])  # a pipe: serve until it closes
    while True:
        ready, _, _ = select.select(watch, [], [])
        if 0 in ready and not os.read(0, 4096):
            os._exit(0)
        if wake_r in ready:
            wake_r.recv(64)  # the Python-level handler (stop) runs right after this


if __name__ == "__main__":
    main()
