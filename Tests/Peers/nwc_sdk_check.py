"""Checks a NIP-47 wallet service (nwc_wallet.py) with rust-nostr's own NWC client
(NostrWalletConnect from the nostr-sdk package), so that nwc_wallet.py is known to speak NIP-47 as
another implementation understands it before pylon's tests rely on it.

  nwc_sdk_check.py PROVIDER_URI BUYER_URI [--amount MSATS] [--timeout SECONDS] [--lnbits]

It reads the provider's info event (kind 13194) first, then runs one payment flow between the two
wallets with nostr-sdk's client ("sdk." steps): get_info on both, get_balance on both, make_invoice
on the provider (--amount msats, default 21000, description "pylon check"; the invoice must be a
signed lnbcrt invoice for that amount and description, from the node get_info names),
lookup_invoice (pending), pay_invoice from the buyer, lookup_invoice again (settled; sha256(preimage)
= payment hash), balances moved by exactly the amount, list_transactions showing the payment on
both sides, a second pay_invoice of the same invoice failing with PAYMENT_FAILED, and the
payment_received / payment_sent notifications arriving, on every kind the info event implies
(23196 NIP-04, 23197 NIP-44).

nostr-sdk's client picks its cipher from the info event: nip44_v2 when the encryption tag lists it
(the request then carries ["encryption","nip44_v2"]), else NIP-04 (no encryption tag). Step
"sdk.encryption" checks, on the requests themselves, that it did so. The other scheme is then
covered by a minimal client built here on nostr-sdk's Client and nip04/nip44 functions: the same
flow when the service serves that scheme too ("nip04." steps in mode both), else a check that it
is refused with UNSUPPORTED_ENCRYPTION ("nip04.refused" for a nip44 service, "nip44.refused" for a
nip04 one).

--lnbits checks a service run with nwc_wallet.py --lnbits (LNbits' FakeWallet behind it) instead:
get_info says network "mainnet" and names no node, invoices are lnbc (any payee); the rest is the
same.

Prints one JSON object, {"steps": {NAME: {"ok": bool, ...}}, "ok": bool}, and exits 0 only if
every step passed.
"""
import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import time
from datetime import timedelta

from bolt11 import decode as bolt11_decode
from nostr_sdk import (
    Client, EventBuilder, Filter, Keys, Kind, ListTransactionsRequest, LookupInvoiceRequest, MakeInvoiceRequest,
    Nip44Version, NostrWalletConnectBuilder, NostrWalletConnectUri, PayInvoiceRequest, ReqExitPolicy, ReqTarget,
    Tag, Timestamp, nip04_decrypt, nip04_encrypt, nip44_decrypt, nip44_encrypt,
)

DESCRIPTION = "pylon check"
# What get_info and make_invoice must show: nwc_wallet.py's regtest node, or with --lnbits LNbits'
# FakeWallet.
EXPECT = {"network": "regtest", "prefix": "lnbcrt", "node": True}


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def has_code(exc, code):
    """Whether an error names a NIP-47 code: nostr-sdk words it in CamelCase ("already paid
    [PaymentFailed]"), and cannot parse a code it does not know (e.g. UNSUPPORTED_ENCRYPTION), which
    then shows in its JSON error."""
    camel = "".join(word.capitalize() for word in code.split("_"))
    return code in str(exc) or f"[{camel}]" in str(exc)


def plain(value):
    """nostr-sdk's records (dataclasses, enums, Timestamps) as JSON values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Timestamp):
        return value.as_secs()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "value"):  # an enum: TransactionState, TransactionType
        return value.name.lower()
    if hasattr(value, "__dict__"):
        fields = vars(value)
        variant = type(value).__qualname__  # "Method.GET_INFO", "Method.UNKNOWN" (with the name)
        if variant.startswith("Method."):
            return next(iter(fields.values())) if fields else variant.rpartition(".")[2].lower()
        return {k.lstrip("_"): plain(v) for k, v in fields.items()}
    return str(value)


def transaction(record):
    """A transaction from nostr-sdk's LookupInvoiceResponse, in NIP-47 names."""
    out = plain(record)
    out["type"] = out.pop("transaction_type", None)
    return out


class SdkWallet:
    """nostr-sdk's NostrWalletConnect, with plain results."""

    def __init__(self, uri, timeout):
        parsed = NostrWalletConnectUri.parse(uri)
        self.client_pubkey = Keys(parsed.secret()).public_key().to_hex()
        self.nwc = NostrWalletConnectBuilder(parsed).timeout(timedelta(seconds=timeout)).build()

    async def get_info(self):
        return plain(await self.nwc.get_info())

    async def get_balance(self):
        return (await self.nwc.get_balance()).balance

    async def make_invoice(self, amount, description):
        request = MakeInvoiceRequest(amount=amount, description=description, description_hash=None, expiry=None)
        return plain(await self.nwc.make_invoice(request))

    async def lookup_invoice(self, payment_hash):
        return transaction(await self.nwc.lookup_invoice(LookupInvoiceRequest(payment_hash=payment_hash, invoice=None)))

    async def pay_invoice(self, invoice):
        return plain(await self.nwc.pay_invoice(PayInvoiceRequest(id=None, invoice=invoice, amount=None)))

    async def list_transactions(self):
        request = ListTransactionsRequest(_from=None, until=None, limit=20, offset=None, unpaid=None,
                                          transaction_type=None)
        return [transaction(t) for t in await self.nwc.list_transactions(request)]


class WalletError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{message} [{code}]")  # as nostr-sdk words its errors
        self.code = code


class RawWallet:
    """A minimal NIP-47 client on nostr-sdk's Client and its nip04/nip44 functions: the same calls as
    SdkWallet, answers as JSON. NIP-04 requests carry no encryption tag, as legacy clients send them."""

    def __init__(self, uri, client, scheme, timeout):
        parsed = NostrWalletConnectUri.parse(uri)
        self.keys = Keys(parsed.secret())
        self.client_pubkey = self.keys.public_key().to_hex()
        self.service = parsed.public_key()
        self.client = client
        self.scheme = scheme  # "nip44_v2" or "nip04"
        self.timeout = timeout

    async def call(self, method, params):
        text, secret = json.dumps({"method": method, "params": params}), self.keys.secret_key()
        tags = [["p", self.service.to_hex()], ["expiration", str(int(time.time()) + 60)]]
        if self.scheme == "nip44_v2":
            content = nip44_encrypt(secret, self.service, text, Nip44Version.V2)
            tags.append(["encryption", "nip44_v2"])
        else:
            content = nip04_encrypt(secret, self.service, text)
        request = EventBuilder(Kind(23194), content).tags([Tag.parse(t) for t in tags]).finalize(self.keys)
        answers = Filter().author(self.service).kind(Kind(23195)).event(request.id())
        stream = await self.client.stream_events(ReqTarget.auto([answers]), timeout=timedelta(seconds=self.timeout),
                                                 policy=ReqExitPolicy.WAIT_FOR_EVENTS(1))
        await self.client.send_event(request)
        item = await stream.next()
        if item is None or item.event is None:
            raise WalletError("TIMEOUT", f"no answer to {method} within {self.timeout} s")
        content = item.event.content()
        decrypt = nip04_decrypt if "?iv=" in content else nip44_decrypt  # refusals come in NIP-04
        response = json.loads(decrypt(secret, self.service, content))
        expect(response.get("result_type") == method, f"result_type {response.get('result_type')!r} for {method}")
        if response.get("error"):
            raise WalletError(response["error"].get("code"), response["error"].get("message"))
        return response["result"]

    async def get_info(self):
        return await self.call("get_info", {})

    async def get_balance(self):
        return (await self.call("get_balance", {}))["balance"]

    async def make_invoice(self, amount, description):
        return await self.call("make_invoice", {"amount": amount, "description": description})

    async def lookup_invoice(self, payment_hash):
        return await self.call("lookup_invoice", {"payment_hash": payment_hash})

    async def pay_invoice(self, invoice):
        return await self.call("pay_invoice", {"invoice": invoice})

    async def list_transactions(self):
        return (await self.call("list_transactions", {"limit": 20}))["transactions"]


class Watch:
    """Collects, from the relays, the notifications to the two clients (kinds 23196 and 23197,
    decrypted) and the requests the clients send (kind 23194, as they are tagged). Requests sent by
    this script's own Client do not show: nostr-sdk does not echo a client's events to it."""

    def __init__(self, client, uris):
        self.client = client
        self.parsed = [NostrWalletConnectUri.parse(u) for u in uris]
        self.notifications = []  # (kind, client pubkey hex, notification dict)
        self.requests = []  # (client pubkey hex, encryption tag value or None)

    async def start(self):
        clients = [Keys(p.secret()).public_key() for p in self.parsed]
        services = [p.public_key() for p in self.parsed]
        since = Timestamp.from_secs(int(time.time()) - 5)
        await self.client.subscribe(ReqTarget.auto([
            Filter().kinds([Kind(23196), Kind(23197)]).authors(services).pubkeys(clients).since(since),
            Filter().kind(Kind(23194)).authors(clients).pubkeys(services).since(since)]))
        asyncio.create_task(self.listen())

    async def listen(self):
        stream = self.client.notifications()
        while (note := await stream.next()) is not None:
            if note.is_new_event():
                self.see(note.event)

    def see(self, event):
        kind, author = event.kind().as_u16(), event.author().to_hex()
        if kind == 23194:
            tag = next((t.to_vec() for t in event.tags() if t.to_vec()[0] == "encryption"), None)
            self.requests.append((author, tag[1] if tag and len(tag) > 1 else None))
            return
        for parsed in self.parsed:
            if kind not in (23196, 23197) or author != parsed.public_key().to_hex():
                continue
            keys = Keys(parsed.secret())
            try:
                decrypt = nip04_decrypt if kind == 23196 else nip44_decrypt
                body = json.loads(decrypt(keys.secret_key(), event.author(), event.content()))
            except Exception as exc:  # noqa: BLE001 - reported as a notification that could not be read
                body = {"error": str(exc)}
            self.notifications.append((kind, keys.public_key().to_hex(), body))

    def find(self, kind, client_pubkey, notification_type, payment_hash):
        return any(k == kind and c == client_pubkey and b.get("notification_type") == notification_type
                   and (b.get("notification") or {}).get("payment_hash") == payment_hash
                   for k, c, b in self.notifications)


class Steps:
    def __init__(self):
        self.results = {}

    async def run(self, name, step):
        """Runs one step: its dict of details, or its failure."""
        try:
            details = await step()
            self.results[name] = {"ok": True, **(details or {})}
            return details
        except Exception as exc:  # noqa: BLE001 - every failure is a failed step
            self.results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return None

    def ok(self):
        return bool(self.results) and all(r["ok"] for r in self.results.values())


async def read_info(client, uri, timeout):
    service = NostrWalletConnectUri.parse(uri).public_key()
    events = await client.fetch_events(ReqTarget.auto([Filter().kind(Kind(13194)).author(service)]),
                                       timedelta(seconds=timeout))
    expect(len(events) >= 1, "no info event (kind 13194) from the provider's service key")
    tags = {t.to_vec()[0]: t.to_vec()[1:] for t in events[0].tags()}
    encryption = tags.get("encryption", [""])[0].split() if "encryption" in tags else None
    notifications = tags.get("notifications", [""])[0].split() if "notifications" in tags else []
    return {"content": events[0].content(), "encryption": encryption, "notifications": notifications}


async def flow(steps, prefix, provider, buyer, amount, watch, kinds, expect_notifications):
    """The payment flow between two wallets of one kind (SdkWallet or RawWallet)."""
    state = {}

    async def get_info():
        infos = {"provider": await provider.get_info(), "buyer": await buyer.get_info()}
        for name, info in infos.items():
            expect(info.get("network") == EXPECT["network"], f"{name}: network {info.get('network')!r}")
            expect("pay_invoice" in info.get("methods", []), f"{name}: no pay_invoice in {info.get('methods')}")
            expect(info.get("pubkey") or not EXPECT["node"], f"{name}: no node pubkey")
        state["node"] = infos["provider"].get("pubkey")
        return {"provider": infos["provider"], "buyer_alias": infos["buyer"].get("alias")}

    async def balances_before():
        state["before"] = (await provider.get_balance(), await buyer.get_balance())
        expect(state["before"][1] >= amount, f"the buyer has {state['before'][1]} msats, less than {amount}")
        return {"provider": state["before"][0], "buyer": state["before"][1]}

    async def make_invoice():
        made = await provider.make_invoice(amount, DESCRIPTION)
        text = made.get("invoice") or ""
        expect(text.startswith(EXPECT["prefix"]) and (EXPECT["prefix"] != "lnbc" or not text.startswith("lnbcrt")),
               f"invoice {text[:20]!r} is not {EXPECT['prefix']}")
        decoded = bolt11_decode(text)
        expect(decoded.amount_msat == amount, f"invoice amount {decoded.amount_msat}")
        expect(decoded.description == DESCRIPTION, f"invoice description {decoded.description!r}")
        expect(made.get("payment_hash") == decoded.payment_hash, "payment_hash differs from the invoice's")
        expect(made.get("amount") == amount, f"amount {made.get('amount')}")
        expect(decoded.payee == state.get("node") or not EXPECT["node"],
               f"signed by {decoded.payee}, not the node {state.get('node')}")
        state["invoice"], state["hash"] = text, decoded.payment_hash
        return {"invoice": text, "payment_hash": decoded.payment_hash, "expires_at": made.get("expires_at")}

    async def lookup_pending():
        found = await provider.lookup_invoice(state["hash"])
        expect(found.get("state") == "pending", f"state {found.get('state')!r}")
        expect(found.get("type") == "incoming", f"type {found.get('type')!r}")
        expect(found.get("amount") == amount and found.get("created_at"), "amount or created_at wrong")
        return {"state": found["state"]}

    async def pay():
        paid = await buyer.pay_invoice(state["invoice"])
        preimage = paid.get("preimage") or ""
        expect(hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == state["hash"], "sha256(preimage) != payment hash")
        state["preimage"] = preimage
        return {"preimage": preimage, "fees_paid": paid.get("fees_paid")}

    async def lookup_settled():
        found = await provider.lookup_invoice(state["hash"])
        expect(found.get("state") == "settled", f"state {found.get('state')!r}")
        expect(found.get("preimage") == state["preimage"], "another preimage")
        expect(found.get("settled_at"), "no settled_at")
        return {"state": found["state"], "settled_at": found["settled_at"]}

    async def balances_moved():
        after = (await provider.get_balance(), await buyer.get_balance())
        before = state["before"]
        expect(after[0] - before[0] == amount, f"provider {before[0]} -> {after[0]}")
        expect(before[1] - after[1] == amount, f"buyer {before[1]} -> {after[1]}")
        return {"provider": after[0], "buyer": after[1]}

    async def list_transactions():
        incoming = [t for t in await provider.list_transactions() if t.get("payment_hash") == state["hash"]]
        outgoing = [t for t in await buyer.list_transactions() if t.get("payment_hash") == state["hash"]]
        expect([t.get("type") for t in incoming] == ["incoming"], f"provider lists {incoming}")
        expect([t.get("type") for t in outgoing] == ["outgoing"], f"buyer lists {outgoing}")
        expect(incoming[0].get("state") == "settled" and outgoing[0].get("state") == "settled", "not settled")
        expect(outgoing[0].get("amount") == amount, f"outgoing amount {outgoing[0].get('amount')}")
        return {"provider": incoming[0], "buyer": outgoing[0]}

    async def pay_again():
        try:
            await buyer.pay_invoice(state["invoice"])
        except Exception as exc:  # noqa: BLE001 - the failure expected
            expect(has_code(exc, "PAYMENT_FAILED"), f"failed otherwise: {exc}")
            return {"error": str(exc)}
        raise CheckFailed("a second payment of the same invoice succeeded")

    async def notifications():
        wanted = [(kind, note_type, client) for kind in kinds
                  for note_type, client in (("payment_received", provider), ("payment_sent", buyer))]
        if not expect_notifications:
            await asyncio.sleep(1)
            unexpected = [(k, t) for k, t, c in wanted if watch.find(k, c.client_pubkey, t, state["hash"])]
            expect(not unexpected, f"notifications sent though not advertised: {unexpected}")
            return {"received": []}
        deadline = time.monotonic() + 5
        while True:
            missing = [(k, t) for k, t, c in wanted if not watch.find(k, c.client_pubkey, t, state["hash"])]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        expect(not missing, f"missing {missing}")
        return {"received": [f"{k} {t}" for k, t, _ in wanted]}

    for name, step in [("get_info", get_info), ("balances_before", balances_before), ("make_invoice", make_invoice),
                       ("lookup_pending", lookup_pending), ("pay_invoice", pay), ("lookup_settled", lookup_settled),
                       ("balances_moved", balances_moved), ("list_transactions", list_transactions),
                       ("pay_again_fails", pay_again), ("notifications", notifications)]:
        if await steps.run(f"{prefix}.{name}", step) is None and name in ("make_invoice", "pay_invoice"):
            steps.results[f"{prefix}.{name}"].setdefault("note", "later steps depend on this one")
            break


async def sdk_encryption(watch, scheme):
    """nostr-sdk's client tagged its requests as the info event implies."""
    tags = {tag for _, tag in watch.requests}
    expect(watch.requests, "no request of nostr-sdk's client seen on the relays")
    expect(tags == {"nip44_v2" if scheme == "nip44_v2" else None}, f"encryption tags {tags}")
    return {"requests": len(watch.requests), "encryption": scheme}


async def refused(wallet):
    """A request in a scheme the service does not serve gets UNSUPPORTED_ENCRYPTION."""
    try:
        await wallet.get_info()
    except Exception as exc:  # noqa: BLE001 - the refusal expected
        expect(has_code(exc, "UNSUPPORTED_ENCRYPTION"), f"refused otherwise: {exc}")
        return {"error": str(exc)}
    raise CheckFailed(f"a {wallet.scheme} request was served by a service that does not advertise {wallet.scheme}")


async def main():
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description="Checks nwc_wallet.py with nostr-sdk's NWC client.")
    parser.add_argument("provider_uri")
    parser.add_argument("buyer_uri")
    parser.add_argument("--amount", type=int, default=21000, help="msats paid (default 21000)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds to wait for each answer (default 10)")
    parser.add_argument("--lnbits", action="store_true", help="the service runs with --lnbits (FakeWallet's lnbc invoices)")
    args = parser.parse_args()
    if args.lnbits:
        EXPECT.update(network="mainnet", prefix="lnbc", node=False)
    steps = Steps()
    uris = [args.provider_uri, args.buyer_uri]

    client = Client()
    for url in NostrWalletConnectUri.parse(args.provider_uri).relays():
        await client.add_relay(url)
    await client.connect(timedelta(seconds=10))
    info = await steps.run("info_event", lambda: read_info(client, args.provider_uri, args.timeout))
    if info is not None:
        encryption = info["encryption"]
        served = {"nip04": encryption is None or "nip04" in encryption,
                  "nip44_v2": encryption is not None and "nip44_v2" in encryption}
        kinds = ([23196] if served["nip04"] else []) + ([23197] if served["nip44_v2"] else [])
        expect_notifications = "notifications" in info["content"].split()
        watch = Watch(client, uris)
        await watch.start()

        provider, buyer = (SdkWallet(u, args.timeout) for u in uris)
        await flow(steps, "sdk", provider, buyer, args.amount, watch, kinds, expect_notifications)
        sdk_scheme = "nip44_v2" if served["nip44_v2"] else "nip04"
        await steps.run("sdk.encryption", lambda: sdk_encryption(watch, sdk_scheme))

        other = "nip04" if sdk_scheme == "nip44_v2" else "nip44_v2"
        prefix = other.partition("_")[0]
        provider, buyer = (RawWallet(u, client, other, args.timeout) for u in uris)
        if served[other]:
            await flow(steps, prefix, provider, buyer, args.amount, watch, kinds, expect_notifications)
        else:
            await steps.run(f"{prefix}.refused", lambda: refused(provider))

    print(json.dumps({"steps": steps.results, "ok": steps.ok()}), flush=True)
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0 if steps.ok() else 1)


asyncio.run(main())
