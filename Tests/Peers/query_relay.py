"""Fetches stored events from one relay with rust-nostr's client and prints them as a JSON array;
or, with `--note TEXT`, publishes a kind 1 note signed by a fresh key (mentioning PUBKEY_HEX with a
p tag when given) and prints its id.

  query_relay.py URL FILTER_JSON [TIMEOUT_SECS]
  query_relay.py URL --note TEXT [PUBKEY_HEX]
"""
import asyncio
import json
import signal
import sys
from datetime import timedelta

from nostr_sdk import Client, EventBuilder, Filter, Keys, Kind, RelayUrl, ReqTarget, Tag


async def main():
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if len(sys.argv) < 3:
        sys.exit("usage: query_relay.py URL FILTER_JSON [TIMEOUT_SECS]")
    url = sys.argv[1]
    if sys.argv[2] == "--note":
        keys = Keys.generate()
        client = Client()
        await client.add_relay(RelayUrl.parse(url))
        await client.connect()
        builder = EventBuilder(Kind(1), sys.argv[3])
        if len(sys.argv) > 4:
            builder = builder.tags([Tag.parse(["p", sys.argv[4]])])
        output = await client.send_event(builder.finalize(keys))
        if not output.success:
            sys.exit(f"the relay did not take the note: {output.failed}")
        print(output.id.to_hex(), flush=True)
        await client.disconnect()
        return
    filter_json = sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    client = Client()
    await client.add_relay(RelayUrl.parse(url))
    await client.connect()
    events = await client.fetch_events(ReqTarget.auto([Filter.from_json(filter_json)]), timedelta(seconds=timeout))
    print(json.dumps([json.loads(e.as_json()) for e in events]), flush=True)
    await client.disconnect()


asyncio.run(main())
