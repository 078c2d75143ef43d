"""Sends raw text frames to a relay, exactly as given (forged events included), and prints each
answer the relay sends within a short wait as one JSON line.

  raw_client.py URL < messages.txt   (one message per line)
"""
import asyncio
import sys

import websockets


async def main():
    url = sys.argv[1]
    wait = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    async with websockets.connect(url) as ws:
        for line in sys.stdin.read().splitlines():
            if line.strip():
                await ws.send(line)
        try:
            while True:
                answer = await asyncio.wait_for(ws.recv(), wait)
                print(answer, flush=True)
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass


asyncio.run(main())
