"""A small NIP-01 relay that is slow to accept events of chosen kinds, for the tests of what a client
does while a relay has not answered yet.

  slow_relay.py --port N --hold-kinds K[,K...] --hold-seconds S

It stores events in memory, answers REQ with the stored matches and EOSE and then forwards new
matches live (filters: ids, authors, kinds, #e, #p and other single-letter tags, since, until,
limit), honours CLOSE, and checks each event's id and signature (nostr-sdk). An event of a held
kind is accepted S seconds after it arrives: only then is it stored, forwarded and answered with
OK. Each message is handled in its own task, so a held event holds nothing else: not the same
connection's later messages, nor what the relay forwards to that connection meanwhile (rust-nostr's
relay and nostr-relay handle a connection's messages one after the other, so a held event would
hold everything behind it).

Prints its ws:// URL on the first line of stdout; runs until stdin closes or SIGTERM.
"""
import argparse
import asyncio
import json

from aiohttp import WSMsgType, web
from nostr_sdk import Event

from peer_life import serve_until_stopped, unblock_signals

events = []
subscriptions = {}  # (connection id, subscription id) -> (websocket, filters)
HOLD_KINDS = set()
HOLD_SECONDS = 0.0


def matches(event, f):
    if "ids" in f and event["id"] not in f["ids"]:
        return False
    if "authors" in f and event["pubkey"] not in f["authors"]:
        return False
    if "kinds" in f and event["kind"] not in f["kinds"]:
        return False
    if "since" in f and event["created_at"] < f["since"]:
        return False
    if "until" in f and event["created_at"] > f["until"]:
        return False
    for key, values in f.items():
        if key.startswith("#") and len(key) == 2:
            if not any(len(t) > 1 and t[0] == key[1] and t[1] in values for t in event["tags"]):
                return False
    return True


async def accept(ws, event):
    if event["kind"] in HOLD_KINDS:
        await asyncio.sleep(HOLD_SECONDS)
    events.append(event)
    for (_, sub), (other, filters) in list(subscriptions.items()):
        if any(matches(event, f) for f in filters) and not other.closed:
            await other.send_str(json.dumps(["EVENT", sub, event]))
    if not ws.closed:
        await ws.send_str(json.dumps(["OK", event["id"], True, ""]))


async def handle(ws, connection, text):
    try:
        message = json.loads(text)
    except ValueError:
        await ws.send_str(json.dumps(["NOTICE", "invalid: not JSON"]))
        return
    if message[0] == "EVENT" and len(message) == 2:
        try:
            ok = Event.from_json(json.dumps(message[1])).verify()
        except Exception:  # noqa: BLE001 - a malformed event is the client's error
            ok = False
        if not ok:
            await ws.send_str(json.dumps(["OK", message[1].get("id", ""), False, "invalid: bad id or signature"]))
            return
        await accept(ws, message[1])
    elif message[0] == "REQ" and len(message) >= 3:
        sub, filters = message[1], message[2:]
        subscriptions[(connection, sub)] = (ws, filters)
        for f in filters:
            found = [e for e in events if matches(e, f)]
            if "limit" in f:
                found = sorted(found, key=lambda e: e["created_at"], reverse=True)[:f["limit"]]
            for event in found:
                await ws.send_str(json.dumps(["EVENT", sub, event]))
        await ws.send_str(json.dumps(["EOSE", sub]))
    elif message[0] == "CLOSE" and len(message) == 2:
        subscriptions.pop((connection, message[1]), None)


async def handler(request):
    if request.headers.get("Accept") == "application/nostr+json":
        return web.json_response({"name": "slow", "supported_nips": [1, 11]}, content_type="application/nostr+json")
    ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    connection = id(ws)
    tasks = set()
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                task = asyncio.ensure_future(handle(ws, connection, msg.data))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for key in [k for k in subscriptions if k[0] == connection]:
            subscriptions.pop(key, None)
    return ws


async def main():
    unblock_signals()
    global HOLD_KINDS, HOLD_SECONDS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold-kinds", default="", help="comma-separated kinds accepted late")
    parser.add_argument("--hold-seconds", type=float, default=0.0)
    args = parser.parse_args()
    HOLD_KINDS = {int(k) for k in args.hold_kinds.split(",") if k}
    HOLD_SECONDS = args.hold_seconds
    app = web.Application()
    app.router.add_get("/", handler)
    await serve_until_stopped(app, args.port)


asyncio.run(main())
