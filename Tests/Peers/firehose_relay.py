"""A firehose relay for the receive benchmark: it holds COUNT events signed by rust-nostr and, on
every REQ, sends all of them as fast as the socket takes them, then EOSE. It answers nothing
else. This keeps the relay from being the bottleneck when measuring a client's receive path
(parse, verify, dedupe).

Prints its URL and the author's hex key on the first line; runs until stdin closes or SIGTERM.

  firehose_relay.py --port N --count N
"""
import argparse
import asyncio
import json

import websockets
from nostr_sdk import EventBuilder, Keys, Kind, Tag, Timestamp

from peer_life import unblock_signals, until_stopped


async def main():
    unblock_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    keys = Keys.generate()
    base = int(Timestamp.now().as_secs()) - args.count
    events = []
    for i in range(args.count):
        ev = EventBuilder(Kind(1), f"benchmark event {i}: the quick brown fox jumps over the lazy dog").tags(
            [Tag.parse(["t", "bench"]), Tag.parse(["p", keys.public_key().to_hex()])]
        ).custom_created_at(Timestamp.from_secs(base + i)).finalize(keys)
        events.append(ev.as_json())

    async def serve(ws):
        async for message in ws:
            item = json.loads(message)
            if item[0] == "REQ":
                sub = json.dumps(item[1])
                for ev in events:
                    await ws.send('["EVENT",' + sub + "," + ev + "]")
                await ws.send('["EOSE",' + sub + "]")

    async with websockets.serve(serve, "127.0.0.1", args.port, max_size=None, compression=None):
        print(f"ws://127.0.0.1:{args.port} {keys.public_key().to_hex()}", flush=True)
        await until_stopped()


asyncio.run(main())
