"""A NIP-90 customer on rust-nostr (the nostr-sdk package), driven by JSON lines, for pylon's
provider tests. Long-lived: one process sends many requests and reports every response.

  dvm_customer.py --relay URL [--relay URL ...] [--secret HEX]

It connects, subscribes to kind 7000 and kinds 6000-6999 addressed to it (#p = its pubkey, since
now-5), prints {"type":"ready","pubkey":HEX}, then reads one command per line on stdin:

  {"cmd":"request","kind":5050,"inputs":[[value,type,relay?,marker?]...],"params":[[k,v]...],
   "provider":HEX|null,"encrypt":"nip04"|"nip44"|null,"created_at":N|null,"expiration":N|null,
   "relays":[URL...]|null,"bid":MSATS|null,"label":any}
      -> {"type":"sent","id":HEX,"label":...,"event":{signed event},"accepted":[URL...],
          "rejected":{URL: message}}
     With "encrypt", the i and param tags go, as a JSON array of tag arrays, encrypted (customer
     secret x provider pubkey) into content; the visible tags are p and encrypted (plus relays,
     bid, expiration). Everything but "cmd" is optional ("kind" defaults to 5050).
  {"cmd":"delete","id":HEX,"label":any,"kind":N?}
      -> {"type":"deleted","id":HEX,"label":...,"deletion":HEX,"accepted":[...],"rejected":{...}}
     A NIP-09 kind 5 with ["e",id] and ["k",kind]: the kind of a request this process sent, or
     "kind" from the command; no k tag when neither is known.
  {"cmd":"quit"}   (or end of input) -> exit 0

and prints, for each event received:

  {"type":"feedback","id","request","status","extra","amount","content","encrypted","tags",
   "pubkey","created_at"}                                       (kind 7000)
  {"type":"result","id","kind","request","content","encrypted","tags","pubkey","created_at"}
                                                                (kinds 6000-6999)

"request" is the first e tag; "content" is decrypted when the event has an encrypted tag and a
non-empty content (NIP-04 when it contains "?iv=", NIP-44 otherwise); a decryption failure gives
"content": null and "decrypt_error". A bad command prints {"type":"error","message":...} and the
customer goes on.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time
from datetime import timedelta

from nostr_sdk import (
    Client, EventBuilder, Filter, Keys, Kind, Nip44Version, PublicKey, RelayStatus, RelayUrl, ReqTarget,
    SecretKey,
    Tag, Timestamp, nip04_decrypt, nip04_encrypt, nip44_decrypt, nip44_encrypt,
)


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class CommandError(Exception):
    pass


def strings(value, what):
    if not isinstance(value, list) or not all(isinstance(x, (str, int, float)) for x in value):
        raise CommandError(f"{what} must be an array of strings")
    return [str(x) for x in value]


class Customer:
    def __init__(self, keys, client):
        self.keys = keys
        self.client = client
        self.kinds = {}  # request id -> kind, for the k tag of deletions

    # -- commands --

    async def request(self, cmd):
        kind = cmd.get("kind", 5050)
        if not isinstance(kind, int) or not 5000 <= kind <= 5999:
            raise CommandError("kind must be a job request kind (5000-5999)")
        inputs = [["i"] + strings(i, "each input") for i in cmd.get("inputs") or []]
        params = [["param"] + strings(p, "each param") for p in cmd.get("params") or []]
        provider = cmd.get("provider")
        if provider is not None:
            try:
                provider_pk = PublicKey.parse(provider)
            except Exception as exc:  # noqa: BLE001 - reported as the command's error
                raise CommandError(f"provider is not a public key: {exc}") from None
        scheme = cmd.get("encrypt")
        visible, content = [], ""
        if scheme is None:
            visible += inputs + params
        elif scheme in ("nip04", "nip44"):
            if provider is None:
                raise CommandError("encrypt needs a provider")
            plaintext = json.dumps(inputs + params)
            sk = self.keys.secret_key()
            content = (nip04_encrypt(sk, provider_pk, plaintext) if scheme == "nip04"
                       else nip44_encrypt(sk, provider_pk, plaintext, Nip44Version.V2))
        else:
            raise CommandError('encrypt must be "nip04", "nip44" or null')
        if provider is not None:
            visible.append(["p", provider_pk.to_hex()])
        if scheme is not None:
            visible.append(["encrypted"])
        if cmd.get("relays"):
            visible.append(["relays"] + strings(cmd["relays"], "relays"))
        if cmd.get("bid") is not None:
            visible.append(["bid", str(int(cmd["bid"]))])
        if cmd.get("expiration") is not None:
            visible.append(["expiration", str(int(cmd["expiration"]))])
        builder = EventBuilder(Kind(kind), content).tags([Tag.parse(t) for t in visible])
        if cmd.get("created_at") is not None:
            builder = builder.custom_created_at(Timestamp.from_secs(int(cmd["created_at"])))
        event = builder.finalize(self.keys)
        out = await self.client.send_event(event)
        self.kinds[event.id().to_hex()] = kind
        emit({"type": "sent", "id": event.id().to_hex(), "label": cmd.get("label"),
              "event": json.loads(event.as_json()), **outcome(out)})

    async def delete(self, cmd):
        target = cmd.get("id")
        if not isinstance(target, str) or len(target) != 64:
            raise CommandError("id must be an event id (64 hex digits)")
        tags = [["e", target]]
        kind = self.kinds.get(target, cmd.get("kind"))
        if kind is not None:
            tags.append(["k", str(kind)])
        event = EventBuilder(Kind(5), "").tags([Tag.parse(t) for t in tags]).finalize(self.keys)
        out = await self.client.send_event(event)
        emit({"type": "deleted", "id": target, "label": cmd.get("label"), "deletion": event.id().to_hex(),
              **outcome(out)})

    # -- events --

    def report(self, event):
        kind = event.kind().as_u16()
        tags = [t.to_vec() for t in event.tags()]
        first = lambda name: next((t for t in tags if t and t[0] == name), None)  # noqa: E731
        e = first("e")
        encrypted = first("encrypted") is not None
        content, error = event.content(), None
        if encrypted and content:  # an empty content has nothing to decrypt
            try:
                sk, pk = self.keys.secret_key(), event.author()
                content = nip04_decrypt(sk, pk, content) if "?iv=" in content else nip44_decrypt(sk, pk, content)
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                content, error = None, str(exc) or type(exc).__name__
        common = {"id": event.id().to_hex(), "request": e[1] if e and len(e) > 1 else None,
                  "content": content, "encrypted": encrypted, "tags": tags,
                  "pubkey": event.author().to_hex(), "created_at": event.created_at().as_secs()}
        if error is not None:
            common["decrypt_error"] = error
        if kind == 7000:
            status = first("status") or []
            amount = first("amount")
            emit({"type": "feedback", **common, "status": status[1] if len(status) > 1 else None,
                  "extra": status[2] if len(status) > 2 else None, "amount": amount[1:] if amount else None})
        elif 6000 <= kind <= 6999:
            emit({"type": "result", "kind": kind, **common})


def outcome(out):
    return {"accepted": sorted(str(u) for u in out.success),
            "rejected": {str(u): str(m) for u, m in out.failed.items()}}


async def main():
    # Started by Foundation's Process, this process inherits a mask that blocks SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description="A NIP-90 customer driven by JSON lines on stdin.")
    parser.add_argument("--relay", action="append", required=True, help="relay URL (repeatable)")
    parser.add_argument("--secret", help="the customer's secret key, hex (random by default)")
    args = parser.parse_args()
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
        print(f"dvm_customer.py: could not connect to {', '.join(args.relay)} within 10 s", file=sys.stderr)
        os._exit(1)
    me = keys.public_key()
    kinds = [Kind(7000)] + [Kind(k) for k in range(6000, 7000)]
    since = Timestamp.from_secs(int(time.time()) - 5)
    await client.subscribe(ReqTarget.auto([Filter().kinds(kinds).pubkey(me).since(since)]))
    customer = Customer(keys, client)

    async def listen():
        stream = client.notifications()
        while True:
            note = await stream.next()
            if note is None:
                return
            if note.is_new_event():
                try:
                    customer.report(note.event)
                except Exception as exc:  # noqa: BLE001
                    emit({"type": "error", "message": f"cannot report an event: {exc}"})

    listener = asyncio.create_task(listen())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: os._exit(0))
    emit({"type": "ready", "pubkey": me.to_hex()})

    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            break
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise CommandError("a command is a JSON object")
            name = cmd.get("cmd")
            if name == "quit":
                break
            if name == "request":
                await customer.request(cmd)
            elif name == "delete":
                await customer.delete(cmd)
            else:
                raise CommandError(f"unknown cmd {name!r} (request, delete, quit)")
        except json.JSONDecodeError as exc:
            emit({"type": "error", "message": f"not JSON: {exc}"})
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the customer goes on
            emit({"type": "error", "message": str(exc) or type(exc).__name__})
    listener.cancel()
    sys.stdout.flush()
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0)


asyncio.run(main())
