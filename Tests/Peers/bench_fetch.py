"""The peer side of the relay benchmark: rust-nostr's client (nostr-sdk) fetching the same stored
events from the same relay. Prints events/s (median of the rounds).

  bench_fetch.py URL AUTHOR_HEX COUNT ROUNDS
"""
import asyncio
import statistics
import sys
import time
from datetime import timedelta

from nostr_sdk import Client, Filter, PublicKey, RelayUrl, ReqTarget


async def main():
    url, author, count, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = Client()
    await client.add_relay(RelayUrl.parse(url))
    await client.connect()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        events = await client.fetch_events(
            ReqTarget.auto([Filter().author(PublicKey.parse(author)).limit(count)]), timedelta(seconds=120), max_events=count + 1)
        n = len(events.to_vec()) if hasattr(events, "to_vec") else len(events)
        rates.append(n / (time.perf_counter() - start))
        print(f"  round: {n} events, {rates[-1]:.0f} events/s", flush=True)
    print(f"nostr-sdk (rust-nostr) client: {statistics.median(rates):.0f} events/s fetched and verified (median of {rounds})")
    await client.shutdown()


asyncio.run(main())
