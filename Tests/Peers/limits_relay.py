"""A minimal relay that announces strict NIP-11 limits, for pylon's tests of client-side limits.

Serves a NIP-11 document with `limitation` (max_message_length, max_event_tags, max_subscriptions)
and a websocket that answers every EVENT with OK true and every REQ with EOSE. GET /received lists
every message it got, so a test can check that an oversized message was never sent.
With --drop-after SECONDS it drops each websocket connection that long after it opened, without a
close frame (as a relay does when a connection's message budget runs out); GET /connections lists
the times, in seconds since the relay started, at which connections opened.

Prints its ws:// URL on the first line of stdout; runs until stdin closes or SIGTERM.
"""
import argparse
import asyncio
import json

from aiohttp import WSMsgType, web

from peer_life import serve_until_stopped, unblock_signals

received = []
opened = []
START = 0.0


async def handler(request):
    if request.headers.get("Accept") == "application/nostr+json":
        return web.json_response({"name": "limits", "supported_nips": [1, 11], "limitation": LIMITS},
                                 content_type="application/nostr+json")
    ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    opened.append(round(loop.time() - START, 3))
    if DROP_AFTER is not None:
        loop.call_later(DROP_AFTER, request.transport.abort)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        received.append(msg.data)
        try:
            item = json.loads(msg.data)
        except ValueError:
            continue
        if item[0] == "EVENT":
            await ws.send_str(json.dumps(["OK", item[1]["id"], True, ""]))
        elif item[0] == "REQ":
            await ws.send_str(json.dumps(["EOSE", item[1]]))
    return ws


async def listing(_request):
    return web.json_response(received)


async def connections(_request):
    return web.json_response(opened)


async def main():
    unblock_signals()
    global LIMITS, DROP_AFTER, START
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limits", default='{"max_message_length": 2000, "max_event_tags": 5, "max_subscriptions": 1}')
    parser.add_argument("--drop-after", type=float, default=None)
    args = parser.parse_args()
    LIMITS = json.loads(args.limits)
    DROP_AFTER = args.drop_after
    START = asyncio.get_running_loop().time()
    app = web.Application()
    app.router.add_get("/received", listing)
    app.router.add_get("/connections", connections)
    app.router.add_get("/", handler)
    await serve_until_stopped(app, args.port)


asyncio.run(main())
