"""rust-nostr's relay (LocalRelay from the nostr-sdk package) on 127.0.0.1, for pylon's tests.

Prints the relay URL on the first line of stdout once it accepts connections, then runs until
stdin closes or SIGTERM/SIGINT arrives.

  rust_relay.py --port N [--nip42 read|write|both] [--notes-per-minute N] [--max-reqs N] [--log warn|info|debug]

--log turns on the relay's own log (rust tracing, on stdout after the URL line), e.g. to see why it
dropped a connection.
"""
import argparse
import asyncio
import os

from nostr_sdk import LocalRelayBuilder, LocalRelayBuilderNip42, LocalRelayBuilderNip42Mode, LogLevel, RateLimit, init_logger

from peer_life import unblock_signals, until_stopped


async def main():
    unblock_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nip42", choices=["read", "write", "both"])
    parser.add_argument("--notes-per-minute", type=int, default=1_000_000)
    parser.add_argument("--max-reqs", type=int, default=10_000)
    parser.add_argument("--max-filter-limit", type=int)
    parser.add_argument("--log", choices=["warn", "info", "debug"])
    args = parser.parse_args()

    builder = LocalRelayBuilder().addr("127.0.0.1").port(args.port)
    builder = builder.rate_limit(RateLimit(max_reqs=args.max_reqs, notes_per_minute=args.notes_per_minute))
    if args.max_filter_limit:
        builder = builder.max_filter_limit(args.max_filter_limit).default_filter_limit(args.max_filter_limit)
    if args.nip42:
        mode = {"read": LocalRelayBuilderNip42Mode.READ, "write": LocalRelayBuilderNip42Mode.WRITE,
                "both": LocalRelayBuilderNip42Mode.BOTH}[args.nip42]
        builder = builder.nip42(LocalRelayBuilderNip42(mode=mode))
    relay = builder.build()
    await relay.run()
    print(str(await relay.url()), flush=True)
    if args.log:
        init_logger({"warn": LogLevel.WARN, "info": LogLevel.INFO, "debug": LogLevel.DEBUG}[args.log])

    await until_stopped()
    relay.shutdown()
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0)


asyncio.run(main())
