"""A NIP-90 provider on rust-nostr (the nostr-sdk package) that only ever asks to be paid, for
tests of pylon's buyer side (`pylon job submit --wait` against a priced provider).

  payment_provider.py --relay URL [--relay URL ...] [--amount MSATS] [--secret HEX]

It connects, subscribes to job requests (kinds 5000-5999) addressed to it (#p = its pubkey, since
now-5), prints {"pubkey": HEX} on the first line of stdout, and answers every request with one
kind 7000 feedback and nothing else (it never runs the job):

  ["status", "payment-required", "pay to run this job"]
  ["amount", MSATS, "lnbc210n1pfakeinvoice"]
  ["e", request id]
  ["p", customer]

Each answer is also reported on stdout: {"type":"asked","request":HEX,"customer":HEX,
"accepted":[URL...]}. Runs until SIGTERM/SIGINT or until stdin closes (when stdin is a pipe or a
terminal).
"""
import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta

from nostr_sdk import (
    Client, EventBuilder, Filter, Keys, Kind, RelayStatus, RelayUrl, ReqTarget, SecretKey, Tag, Timestamp,
)

from peer_life import unblock_signals, until_stopped

INVOICE = "lnbc210n1pfakeinvoice"


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def main():
    unblock_signals()
    parser = argparse.ArgumentParser(description="A NIP-90 provider that answers every request with payment-required.")
    parser.add_argument("--relay", action="append", required=True, help="relay URL (repeatable)")
    parser.add_argument("--amount", type=int, default=21000, help="msats asked for (default 21000)")
    parser.add_argument("--secret", help="the provider's secret key, hex (random by default)")
    args = parser.parse_args()
    if args.amount < 0:
        parser.error("--amount must not be negative")
    try:
        keys = Keys(SecretKey.parse(args.secret)) if args.secret else Keys.generate()
    except Exception as exc:  # noqa: BLE001 - a user error, not a crash
        parser.error(f"--secret: {exc}")
    urls = []
    for url in args.relay:
        try:
            urls.append(RelayUrl.parse(url))
        except Exception as exc:  # noqa: BLE001
            parser.error(f"--relay {url}: {exc}")

    client = Client()
    for url in urls:
        await client.add_relay(url)
    await client.connect(timedelta(seconds=10))
    relays = await client.relays()
    if not any(r.status() == RelayStatus.CONNECTED for r in relays.values()):
        print(f"payment_provider.py: could not connect to {', '.join(args.relay)} within 10 s", file=sys.stderr)
        os._exit(1)

    me = keys.public_key()
    since = Timestamp.from_secs(int(time.time()) - 5)
    kinds = [Kind(k) for k in range(5000, 6000)]
    await client.subscribe(ReqTarget.auto([Filter().kinds(kinds).pubkey(me).since(since)]))

    async def answer(request):
        tags = [
            ["status", "payment-required", "pay to run this job"],
            ["amount", str(args.amount), INVOICE],
            ["e", request.id().to_hex()],
            ["p", request.author().to_hex()],
        ]
        feedback = EventBuilder(Kind(7000), "").tags([Tag.parse(t) for t in tags]).finalize(keys)
        out = await client.send_event(feedback)
        emit({"type": "asked", "request": request.id().to_hex(), "customer": request.author().to_hex(),
              "accepted": sorted(str(u) for u in out.success)})

    async def listen():
        stream = client.notifications()
        seen = set()
        while True:
            note = await stream.next()
            if note is None:
                return
            if not note.is_new_event():
                continue
            event = note.event
            kind = event.kind().as_u16()
            if not 5000 <= kind <= 5999 or event.id().to_hex() in seen:
                continue
            seen.add(event.id().to_hex())
            try:
                await answer(event)
            except Exception as exc:  # noqa: BLE001 - reported, the provider goes on
                print(f"payment_provider.py: cannot answer {event.id().to_hex()}: {exc}", file=sys.stderr, flush=True)

    listener = asyncio.create_task(listen())
    emit({"pubkey": me.to_hex()})
    await until_stopped()
    listener.cancel()
    sys.stdout.flush()
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0)


asyncio.run(main())
