"""A NIP-47 (Nostr Wallet Connect) wallet service on rust-nostr (the nostr-sdk package), with an
in-memory regtest "lightning node", for tests of pylon's NWC client. Wallets pay each other's real
(signed BOLT #11) invoices; nothing ever touches a real network. With --lnbits the wallets are
LNbits wallets instead (see "LNbits" below): the demo's mode.

  nwc_wallet.py --relay URL [--relay URL ...] [--wallet NAME[=BALANCE_MSATS] ... | --lnbits FILE]
                [--encryption nip44|nip04|both] [--no-notifications]

Wallets default to provider=0 and buyer=1000000000 (msats); any --wallet replaces the defaults.
Each wallet has its own service key pair and its own client secret, hence its own connection URI:

  nostr+walletconnect://<service pubkey>?relay=<url-encoded>&relay=...&secret=<client secret>&lud16=<NAME>@pylon.test

On start it connects, publishes one kind 13194 info event per wallet (content "pay_invoice
get_balance make_invoice lookup_invoice list_transactions get_info notifications"; tags
["encryption","nip44_v2 nip04"] for both, ["encryption","nip44_v2"] for nip44, none for nip04 (as a
legacy service), and ["notifications","payment_received payment_sent"]; --no-notifications drops
both the word and the tag), subscribes to kind 23194 requests #p-addressed to its service keys,
and only then prints one line:

  {"wallets": {"NAME": {"uri": "...", "service_pubkey": HEX, "client_pubkey": HEX}, ...}, "node_pubkey": HEX}

Requests. Only the wallet's client key may use it (anything else gets UNAUTHORIZED). A request
tagged ["encryption","nip44_v2"] is NIP-44 v2, one without the tag is NIP-04 (["encryption","nip04"]
is NIP-04 too); the answer (kind 23195, tags ["p", client] and ["e", request]) uses the same
scheme. A scheme the service does not support (see --encryption) gets UNSUPPORTED_ENCRYPTION,
encrypted with NIP-04. A request whose expiration tag has passed is ignored. A request that cannot
be decrypted or parsed gets OTHER (logged on stderr). A request seen before (same event id, e.g.
sent again after a reconnect) is not answered again: nostr-sdk reports each event once. Answers are
{"result_type": METHOD, "error": null | {"code", "message"}, "result": {...} | null}.

Methods (one ledger shared by all wallets; one node key, the same on every run, signs every invoice):
  get_info          alias (the wallet name), color, pubkey (node key), network "regtest",
                    block_height 1, block_hash (zeros), methods, notifications
  get_balance       {"balance": MSATS}
  make_invoice      {amount (msats > 0), description?, description_hash?, expiry? (3600)} -> a signed
                    lnbcrt invoice (random preimage and payment secret); answers the transaction
  lookup_invoice    {payment_hash | invoice} -> the transaction (the wallet's own invoices and
                    payments only; else NOT_FOUND); state pending, settled or expired
  pay_invoice       {invoice, amount?} -> {"preimage", "fees_paid": 0}. Errors: OTHER (not an
                    invoice, amountless without amount, amount mismatch), PAYMENT_FAILED (not
                    issued by this service: "unknown invoice"; "already paid"; "invoice expired"),
                    INSUFFICIENT_BALANCE. Paying one's own invoice is allowed.
  list_transactions {from?, until?, limit?, offset?, unpaid?, type?} -> {"transactions": [...]},
                    newest first; unpaid (pending or expired) invoices only with unpaid=true
  anything else     NOT_IMPLEMENTED
Transactions: {"type", "state", "invoice", "description", "description_hash", "preimage" (once
settled), "payment_hash", "amount", "fees_paid": 0, "created_at", "expires_at", "settled_at" (once
settled), "metadata"}; absent values are left out.

Notifications (unless --no-notifications): after a payment, payment_received goes to the payee's
client and payment_sent to the payer's, as kind 23197 (NIP-44 v2) when the service speaks nip44
and kind 23196 (NIP-04) when it speaks nip04 (both kinds in mode both), tagged ["p", client],
content {"notification_type": TYPE, "notification": transaction}.

Control, one JSON object per line on stdin, each answered by one line {"ok": true, ...} or
{"ok": false, "error": TEXT} on stdout:
  {"cmd":"balance","wallet":NAME}                    -> {"ok":true,"balance":MSATS}
  {"cmd":"set_balance","wallet":NAME,"msats":N}      -> {"ok":true,"balance":N}
  {"cmd":"fail","method":M,"code":CODE,"message"?:TEXT,"times"?:N}
        the next N (default 1; 0 clears) well-formed, authorized requests for M answer that error
        (and are not carried out)
  {"cmd":"delay","method":M,"seconds":S}             requests for M are carried out at once but
        answered S seconds late (0 clears)
  {"cmd":"silence","method":M,"on":true|false}       requests for M are dropped (neither carried
        out nor answered) while on
  {"cmd":"settle","payment_hash":HEX,"quiet"?:true}  settles an invoice as if paid from outside
        (balance to its wallet, payment_received notification unless quiet)
        -> {"ok":true,"wallet":NAME,"balance":MSATS,"preimage":HEX}
  {"cmd":"invoices"}  -> {"ok":true,"invoices":[{"wallet","state","amount","payment_hash",
        "invoice","description","created_at","expires_at","settled_at","paid_by"}...]}
  {"cmd":"requests","reset"?:true}  -> {"ok":true,"total":N,"methods":{M:N},"encryption":
        {"nip44_v2":N,"nip04":N,...},"rejected":{"unauthorized":N,"unsupported_encryption":N,
        "malformed":N,"expired":N},"log":[{"id","wallet","method","encryption","author","params",
        "error","at","expiration"}...]}  (every request addressed to a wallet counts, whatever its
        outcome; expired ones only under rejected, and rarely: rust-nostr's relay refuses expired
        events and nostr-sdk's client drops them before this service sees them; "encryption" is
        the request's tag value, "nip04" without one; "error" the code answered, null for
        success or no answer; the log keeps the last 200; reset clears after answering)

LNbits (--lnbits FILE). FILE (JSON, keep it private) names LNbits and one LNbits wallet per NIP-47
wallet: {"url": "http://127.0.0.1:PORT", "wallets": {"NAME": {"id", "adminkey", "inkey"}, ...}}
(scripts/lib/lnbits.sh writes it). The service checks both keys of every wallet before it starts
(else it exits 1 with the reason on stderr), and the ready line carries "lnbits": URL instead of
"node_pubkey". LNbits then keeps balances and payments, through its REST API (stdlib urllib, from a
worker thread; X-Api-Key is the wallet's invoice key, its admin key only to pay):
  get_balance       GET /api/v1/wallet ("balance" is msats there too)
  make_invoice      POST /api/v1/payments {"out": false, "amount": SATS, "memo", "expiry"
                    (3600), "description_hash"?}: LNbits' own invoice (FakeWallet signs lnbc...).
                    LNbits counts whole sats: an amount that is not a multiple of 1000 msats is
                    refused with OTHER (LNbits would round it)
  lookup_invoice    GET /api/v1/payments/{hash}: the wallet's own side of it only (else NOT_FOUND)
  pay_invoice       POST /api/v1/payments {"out": true, "bolt11"} with the payer's admin key.
                    Refused here first: amountless invoices, an amount that differs, an expired
                    invoice (LNbits would pay its own expired invoices). LNbits' "Insufficient
                    balance" is INSUFFICIENT_BALANCE, "already paid" PAYMENT_FAILED "already
                    paid", anything else it refuses PAYMENT_FAILED with its words
  list_transactions GET /api/v1/payments (the newest 1000), filtered as above
  get_info          alias "NAME (LNbits, FakeWallet)", network "mainnet" (FakeWallet's invoices
                    are lnbc: no real funds exist behind them), methods, notifications; no node
                    pubkey
LNbits not answering, or failing with HTTP 5xx, is INTERNAL; another refusal by LNbits is OTHER
with its words (pay_invoice: see above). Metadata goes into LNbits' "extra" and comes back.
Transactions are LNbits payments: state settled (success), expired (an unpaid invoice past its
expiry, which LNbits calls failed), failed, or pending; created_at is LNbits' created_at,
settled_at its updated_at. Notifications: after a pay_invoice through this service, payment_sent to
the payer and payment_received to the payee when the payee is one of these wallets (FakeWallet
settles internal invoices at once); payments made past this service (LNbits' UI or API) are
notified to nobody: pylon finds them with lookup_invoice. Control: balance asks LNbits;
set_balance, settle and invoices answer an error (LNbits keeps the ledger; fund a wallet through
LNbits); fail, delay, silence and requests work as above.

Runs until stdin closes or SIGTERM/SIGINT arrives.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from bolt11 import Bolt11, Feature, FeatureState, Features, MilliSatoshi, TagChar, Tags
from bolt11 import decode as bolt11_decode
from bolt11 import encode as bolt11_encode
from coincurve import PrivateKey
from nostr_sdk import (
    Client, EventBuilder, Filter, Keys, Kind, Nip44Version, PublicKey, RelayStatus, RelayUrl, ReqTarget, Tag,
    nip04_decrypt, nip04_encrypt, nip44_decrypt, nip44_encrypt,
)

from peer_life import unblock_signals

METHODS = ["pay_invoice", "get_balance", "make_invoice", "lookup_invoice", "list_transactions", "get_info"]
NOTIFICATION_TYPES = ["payment_received", "payment_sent"]
NIP44, NIP04 = "nip44_v2", "nip04"
SCHEMES = {"nip44": [NIP44], "nip04": [NIP04], "both": [NIP44, NIP04]}
INFO_KIND, REQUEST_KIND, RESPONSE_KIND = 13194, 23194, 23195
NOTIFICATION_KIND = {NIP44: 23197, NIP04: 23196}
DEFAULT_WALLETS = [("provider", 0), ("buyer", 1_000_000_000)]
# One node for the whole service: it signs every invoice, and get_info reports its key.
NODE_KEY = PrivateKey(hashlib.sha256(b"pylon nwc_wallet.py regtest node").digest())
NODE_PUBKEY = NODE_KEY.public_key.format(compressed=True).hex()
MAX_DESCRIPTION_BYTES = 639  # a BOLT #11 tagged field holds at most 1023 5-bit groups
LOG_SIZE = 200
LNBITS_PAGE = 1000  # list_transactions looks at the newest this many LNbits payments
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(message):
    print(f"nwc_wallet.py: {message}", file=sys.stderr, flush=True)


def compact(obj):
    """The object without its None members."""
    return {k: v for k, v in obj.items() if v is not None}


class NwcError(Exception):
    """An answer with an error: code is a NIP-47 error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def other(message):
    return NwcError("OTHER", message)


# -- the ledger --


@dataclass
class Wallet:
    name: str
    balance: int
    service: Keys  # the wallet service's key pair (author of info, answers and notifications)
    client_pubkey: str  # hex; the only key allowed to use this wallet
    uri: str
    lnbits: dict | None = None  # with --lnbits: the LNbits wallet's "id", "adminkey" and "inkey"


@dataclass
class Invoice:
    wallet: str
    text: str
    payment_hash: str
    preimage: str
    amount: int
    description: str | None
    description_hash: str | None
    created_at: int
    expires_at: int
    seq: int
    metadata: dict = field(default_factory=dict)
    settled_at: int | None = None
    paid_by: str | None = None  # a wallet name, or "outside" (the settle control command)

    def state(self):
        if self.settled_at is not None:
            return "settled"
        return "expired" if time.time() > self.expires_at else "pending"

    def transaction(self):
        settled = self.settled_at is not None
        return compact({
            "type": "incoming", "state": self.state(), "invoice": self.text, "description": self.description,
            "description_hash": self.description_hash, "preimage": self.preimage if settled else None,
            "payment_hash": self.payment_hash, "amount": self.amount, "fees_paid": 0,
            "created_at": self.created_at, "expires_at": self.expires_at, "settled_at": self.settled_at,
            "metadata": self.metadata,
        })


@dataclass
class Payment:
    payer: str
    invoice: Invoice
    amount: int
    created_at: int
    seq: int
    metadata: dict = field(default_factory=dict)

    def transaction(self):
        inv = self.invoice
        return compact({
            "type": "outgoing", "state": "settled", "invoice": inv.text, "description": inv.description,
            "description_hash": inv.description_hash, "preimage": inv.preimage, "payment_hash": inv.payment_hash,
            "amount": self.amount, "fees_paid": 0, "created_at": self.created_at, "expires_at": inv.expires_at,
            "settled_at": self.created_at, "metadata": self.metadata,
        })


def optional_int(params, name, minimum=0):
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise other(f"{name} must be an integer >= {minimum}")
    return value


def optional_str(params, name):
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise other(f"{name} must be a string")
    return value


def metadata_of(params):
    metadata = params.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise other("metadata must be an object")
    return metadata if len(json.dumps(metadata)) <= 4096 else {}  # NIP-47: larger metadata is dropped


def sign_invoice(amount, description, description_hash, expiry, payment_hash, now):
    tags = Tags()
    tags.add(TagChar.payment_hash, payment_hash)
    tags.add(TagChar.payment_secret, secrets.token_hex(32))
    if description_hash is not None:
        tags.add(TagChar.description_hash, description_hash)
    else:
        tags.add(TagChar.description, description or "")
    tags.add(TagChar.expire_time, expiry)
    tags.add(TagChar.min_final_cltv_expiry, 18)
    tags.add(TagChar.features, Features.from_feature_list({
        Feature.var_onion_optin: FeatureState.required, Feature.payment_secret: FeatureState.required,
        Feature.basic_mpp: FeatureState.supported}))
    invoice = Bolt11(currency="bcrt", date=now, tags=tags, amount_msat=MilliSatoshi(amount))
    return bolt11_encode(invoice, NODE_KEY.secret.hex())


class Ledger:
    def __init__(self, wallets):
        self.wallets = {w.name: w for w in wallets}
        self.invoices = {}  # payment hash -> Invoice
        self.payments = []
        self.seq = 0

    def next_seq(self):
        self.seq += 1
        return self.seq

    def make_invoice(self, wallet, params):
        amount = params.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise other("amount (msats) is required and must be a positive integer")
        description = optional_str(params, "description")
        description_hash = optional_str(params, "description_hash")
        if description_hash is not None:
            if not HEX64.match(description_hash):
                raise other("description_hash must be 64 hex digits")
            description_hash = description_hash.lower()
        elif description is not None and len(description.encode()) > MAX_DESCRIPTION_BYTES:
            raise other(f"description is longer than {MAX_DESCRIPTION_BYTES} bytes")
        expiry = optional_int(params, "expiry", minimum=1)
        expiry = 3600 if expiry is None else expiry
        now = int(time.time())
        preimage = secrets.token_hex(32)
        payment_hash = hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
        text = sign_invoice(amount, description, description_hash, expiry, payment_hash, now)
        invoice = Invoice(wallet=wallet.name, text=text, payment_hash=payment_hash, preimage=preimage,
                          amount=amount, description=description, description_hash=description_hash,
                          created_at=now, expires_at=now + expiry, seq=self.next_seq(), metadata=metadata_of(params))
        self.invoices[payment_hash] = invoice
        return invoice

    def own_transaction(self, wallet, payment_hash):
        """The wallet's invoice with this hash, else its payment of it, else None."""
        invoice = self.invoices.get(payment_hash)
        if invoice is not None and invoice.wallet == wallet.name:
            return invoice.transaction()
        for payment in reversed(self.payments):
            if payment.payer == wallet.name and payment.invoice.payment_hash == payment_hash:
                return payment.transaction()
        return None

    def lookup(self, wallet, params):
        payment_hash = optional_str(params, "payment_hash")
        text = optional_str(params, "invoice")
        if payment_hash is None and text is None:
            raise other("lookup_invoice needs payment_hash or invoice")
        if payment_hash is not None:
            if not HEX64.match(payment_hash):
                raise other("payment_hash must be 64 hex digits")
            payment_hash = payment_hash.lower()
        else:
            try:
                payment_hash = bolt11_decode(text.strip()).payment_hash
            except Exception as exc:  # noqa: BLE001 - any decoding failure is the caller's error
                raise other(f"invalid invoice: {exc}") from None
        found = self.own_transaction(wallet, payment_hash)
        if found is None:
            raise NwcError("NOT_FOUND", f"no invoice or payment with payment hash {payment_hash}")
        return found

    def pay(self, wallet, params):
        """Carries out a payment; returns (payment, invoice)."""
        text = optional_str(params, "invoice")
        if not text:
            raise other("invoice is required")
        text = text.strip()
        try:
            decoded = bolt11_decode(text)
        except Exception as exc:  # noqa: BLE001
            raise other(f"invalid invoice: {exc}") from None
        amount = optional_int(params, "amount", minimum=1)
        if decoded.amount_msat is None and amount is None:
            raise other("the invoice has no amount: give one")
        if decoded.amount_msat is not None and amount is not None and amount != decoded.amount_msat:
            raise other(f"amount {amount} does not match the invoice's {decoded.amount_msat} msats")
        invoice = self.invoices.get(decoded.payment_hash)
        if invoice is None or invoice.text.lower() != text.lower():
            raise NwcError("PAYMENT_FAILED", "unknown invoice: no route to its payee")
        if invoice.settled_at is not None:
            raise NwcError("PAYMENT_FAILED", "already paid")
        if invoice.state() == "expired":
            raise NwcError("PAYMENT_FAILED", "invoice expired")
        if wallet.balance < invoice.amount:
            raise NwcError("INSUFFICIENT_BALANCE",
                           f"balance {wallet.balance} msats is less than {invoice.amount} msats")
        now = int(time.time())
        wallet.balance -= invoice.amount
        self.wallets[invoice.wallet].balance += invoice.amount
        invoice.settled_at, invoice.paid_by = now, wallet.name
        payment = Payment(payer=wallet.name, invoice=invoice, amount=invoice.amount, created_at=now,
                          seq=self.next_seq(), metadata=metadata_of(params))
        self.payments.append(payment)
        return payment, invoice

    def settle(self, payment_hash):
        invoice = self.invoices.get(payment_hash.lower())
        if invoice is None:
            raise ValueError(f"no invoice with payment hash {payment_hash}")
        if invoice.settled_at is not None:
            raise ValueError("invoice already settled")
        if invoice.state() == "expired":
            raise ValueError("invoice expired")
        invoice.settled_at, invoice.paid_by = int(time.time()), "outside"
        self.wallets[invoice.wallet].balance += invoice.amount
        return invoice

    def transactions(self, wallet, params):
        since = optional_int(params, "from") or 0
        until = optional_int(params, "until")
        until = int(time.time()) if until is None else until
        limit = optional_int(params, "limit")
        offset = optional_int(params, "offset") or 0
        unpaid = params.get("unpaid", False)
        if not isinstance(unpaid, bool) and unpaid is not None:
            raise other("unpaid must be a boolean")
        kind = params.get("type")
        if kind not in (None, "incoming", "outgoing"):
            raise other('type must be "incoming" or "outgoing"')
        rows = []
        if kind in (None, "incoming"):
            rows += [(i.created_at, i.seq, i.transaction()) for i in self.invoices.values()
                     if i.wallet == wallet.name and (unpaid or i.settled_at is not None)]
        if kind in (None, "outgoing"):
            rows += [(p.created_at, p.seq, p.transaction()) for p in self.payments if p.payer == wallet.name]
        rows = [r for r in rows if since <= r[0] <= until]
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        rows = rows[offset:] if limit is None else rows[offset:offset + limit]
        return [r[2] for r in rows]


# -- the LNbits ledger (--lnbits) --


class LnbitsError(Exception):
    """An LNbits request that failed: status is the HTTP status (None when LNbits did not answer)."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class LnbitsApi:
    """LNbits' REST API over urllib (blocking: the service calls it from a worker thread)."""

    def __init__(self, url, timeout=15):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # LNbits is local: no proxy

    def call(self, method, path, key, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"X-Api-Key": key, "Content-Type": "application/json",
                                                  "Accept": "application/json"})
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                detail = json.loads(text).get("detail") or text
            except (ValueError, AttributeError):
                detail = text
            raise LnbitsError(exc.code, str(detail)[:300]) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LnbitsError(None, f"LNbits at {self.url} did not answer {method} {path.split('?')[0]}: "
                                    f"{reason}") from None


def epoch(text):
    """An LNbits time (ISO 8601; naive ones are UTC) as Unix seconds, or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def decoded_invoice(text):
    try:
        return bolt11_decode(text)
    except Exception:  # noqa: BLE001 - LNbits' own invoices decode; anything else is shown without it
        return None


class LnbitsLedger:
    """The NIP-47 methods on LNbits wallets (one per NIP-47 wallet, all on one LNbits): LNbits
    keeps balances and payments; amounts are msats here and whole sats in LNbits' invoices."""

    def __init__(self, wallets, api):
        self.wallets = {w.name: w for w in wallets}
        self.api = api

    def balance(self, wallet):
        return self.api.call("GET", "/api/v1/wallet", wallet.lnbits["inkey"])["balance"]

    def check(self):
        """Each wallet's keys work (invoice key and admin key), else LnbitsError."""
        for wallet in self.wallets.values():
            for kind in ("inkey", "adminkey"):
                try:
                    self.api.call("GET", "/api/v1/wallet", wallet.lnbits[kind])
                except LnbitsError as exc:
                    if exc.status is None:
                        raise
                    raise LnbitsError(exc.status, f"LNbits at {self.api.url} refused the {kind} of wallet {wallet.name}: "
                                                  f"HTTP {exc.status} {exc.detail}") from None

    @staticmethod
    def transaction(payment):
        """An LNbits payment as a NIP-47 transaction."""
        amount = payment.get("amount") or 0
        text = payment.get("bolt11") or ""
        invoice = decoded_invoice(text)
        status = payment.get("status")
        expires_at = epoch(payment.get("expiry"))
        if invoice is not None and invoice.expiry is not None:
            expires_at = invoice.date + invoice.expiry
        elif invoice is not None:
            expires_at = invoice.date + 3600
        expired = expires_at is not None and time.time() > expires_at
        if status == "success":
            state = "settled"
        elif amount > 0 and expired:
            state = "expired"  # LNbits marks an incoming invoice "failed" once it expired
        elif status == "failed":
            state = "failed"
        else:
            state = "expired" if expired else "pending"
        extra = payment.get("extra") or {}
        description_hash = invoice.description_hash if invoice is not None else None
        return compact({
            "type": "incoming" if amount > 0 else "outgoing", "state": state, "invoice": text or None,
            "description": None if description_hash else payment.get("memo"), "description_hash": description_hash,
            "preimage": payment.get("preimage") if state == "settled" else None,
            "payment_hash": payment["payment_hash"], "amount": abs(amount), "fees_paid": abs(payment.get("fee") or 0),
            "created_at": epoch(payment.get("created_at")) or epoch(payment.get("time")), "expires_at": expires_at,
            "settled_at": epoch(payment.get("updated_at")) if state == "settled" else None,
            "metadata": extra.get("nwc_metadata") if isinstance(extra.get("nwc_metadata"), dict) else None,
        })

    def dispatch(self, wallet, method, params):
        """Carries out a request: returns (result, notifications [(wallet, type, transaction)])."""
        try:
            if method == "get_balance":
                return {"balance": self.balance(wallet)}, []
            if method == "make_invoice":
                return self.make_invoice(wallet, params), []
            if method == "lookup_invoice":
                return self.lookup(wallet, params), []
            if method == "list_transactions":
                return {"transactions": self.transactions(wallet, params)}, []
            if method == "pay_invoice":
                return self.pay(wallet, params)
        except LnbitsError as exc:
            if exc.status is None or exc.status >= 500:
                raise NwcError("INTERNAL", exc.detail) from None
            raise other(f"LNbits refused {method}: {exc.detail}") from None
        raise NwcError("NOT_IMPLEMENTED", f"{method} is not implemented")

    def make_invoice(self, wallet, params):
        amount = params.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise other("amount (msats) is required and must be a positive integer")
        if amount % 1000:
            raise other(f"LNbits makes invoices for whole sats only: {amount} msats is not a multiple of 1000")
        description = optional_str(params, "description")
        description_hash = optional_str(params, "description_hash")
        body = {"out": False, "amount": amount // 1000, "memo": description or ""}
        if description_hash is not None:
            if not HEX64.match(description_hash):
                raise other("description_hash must be 64 hex digits")
            body["description_hash"] = description_hash.lower()
        elif description is not None and len(description.encode()) > MAX_DESCRIPTION_BYTES:
            raise other(f"description is longer than {MAX_DESCRIPTION_BYTES} bytes")
        expiry = optional_int(params, "expiry", minimum=1)
        body["expiry"] = 3600 if expiry is None else expiry
        metadata = metadata_of(params)
        if metadata:
            body["extra"] = {"nwc_metadata": metadata}
        payment = self.api.call("POST", "/api/v1/payments", wallet.lnbits["inkey"], body)
        return self.transaction(payment)

    def own_payment(self, wallet, payment_hash):
        """This wallet's LNbits payment (incoming or outgoing) with this hash, or None."""
        try:
            found = self.api.call("GET", f"/api/v1/payments/{payment_hash}", wallet.lnbits["inkey"])
        except LnbitsError as exc:
            if exc.status == 404:
                return None
            raise
        details = found.get("details") if isinstance(found, dict) else None
        # Without "details" the payment is another wallet's: not this one's to see.
        if not isinstance(details, dict) or details.get("wallet_id") != wallet.lnbits["id"]:
            return None
        return details

    def lookup(self, wallet, params):
        payment_hash = optional_str(params, "payment_hash")
        text = optional_str(params, "invoice")
        if payment_hash is None and text is None:
            raise other("lookup_invoice needs payment_hash or invoice")
        if payment_hash is not None:
            if not HEX64.match(payment_hash):
                raise other("payment_hash must be 64 hex digits")
            payment_hash = payment_hash.lower()
        else:
            try:
                payment_hash = bolt11_decode(text.strip()).payment_hash
            except Exception as exc:  # noqa: BLE001 - any decoding failure is the caller's error
                raise other(f"invalid invoice: {exc}") from None
        payment = self.own_payment(wallet, payment_hash)
        if payment is None:
            raise NwcError("NOT_FOUND", f"no invoice or payment with payment hash {payment_hash}")
        return self.transaction(payment)

    def pay(self, wallet, params):
        text = optional_str(params, "invoice")
        if not text:
            raise other("invoice is required")
        text = text.strip()
        try:
            decoded = bolt11_decode(text)
        except Exception as exc:  # noqa: BLE001
            raise other(f"invalid invoice: {exc}") from None
        amount = optional_int(params, "amount", minimum=1)
        if decoded.amount_msat is None:
            raise other("LNbits pays only invoices that carry an amount")
        if amount is not None and amount != decoded.amount_msat:
            raise other(f"amount {amount} does not match the invoice's {decoded.amount_msat} msats")
        # LNbits pays its own (internal) invoices even after they expired: NIP-47 says no.
        if time.time() > decoded.date + (decoded.expiry if decoded.expiry is not None else 3600):
            raise NwcError("PAYMENT_FAILED", "invoice expired")
        body = {"out": True, "bolt11": text}
        metadata = metadata_of(params)
        if metadata:
            body["extra"] = {"nwc_metadata": metadata}
        try:
            payment = self.api.call("POST", "/api/v1/payments", wallet.lnbits["adminkey"], body)
        except LnbitsError as exc:
            if exc.status is None:
                raise
            if "insufficient balance" in exc.detail.lower():
                raise NwcError("INSUFFICIENT_BALANCE", f"LNbits: {exc.detail}") from None
            if "already paid" in exc.detail.lower():
                raise NwcError("PAYMENT_FAILED", "already paid") from None
            raise NwcError("PAYMENT_FAILED", f"LNbits: {exc.detail}") from None
        if payment.get("status") != "success" or not payment.get("preimage"):
            raise NwcError("PAYMENT_FAILED", f"LNbits left the payment {payment.get('status') or 'without a status'}")
        sent = self.transaction(payment)
        notifications = [(wallet, "payment_sent", sent)]
        # The payee, when it is one of this service's wallets (FakeWallet settles only internal
        # invoices, at once): its side of the payment.
        for payee in self.wallets.values():
            try:
                received = self.own_payment(payee, decoded.payment_hash)
            except LnbitsError as exc:  # the payment went out; only its notification is lost
                log(f"paid {decoded.payment_hash}, but cannot look it up for {payee.name}: {exc.detail}")
                continue
            if received is not None and (received.get("amount") or 0) > 0:
                notifications.insert(0, (payee, "payment_received", self.transaction(received)))
                break
        return {"preimage": payment["preimage"], "fees_paid": abs(payment.get("fee") or 0)}, notifications

    def transactions(self, wallet, params):
        since = optional_int(params, "from") or 0
        until = optional_int(params, "until")
        until = int(time.time()) if until is None else until
        limit = optional_int(params, "limit")
        offset = optional_int(params, "offset") or 0
        unpaid = params.get("unpaid", False)
        if not isinstance(unpaid, bool) and unpaid is not None:
            raise other("unpaid must be a boolean")
        kind = params.get("type")
        if kind not in (None, "incoming", "outgoing"):
            raise other('type must be "incoming" or "outgoing"')
        payments = self.api.call("GET", f"/api/v1/payments?limit={LNBITS_PAGE}&sortby=created_at&direction=desc",
                                 wallet.lnbits["inkey"])
        rows = []
        for payment in payments if isinstance(payments, list) else []:
            transaction = self.transaction(payment)
            if kind is not None and transaction["type"] != kind:
                continue
            if transaction["state"] != "settled" and not unpaid:
                continue
            created = transaction.get("created_at") or 0
            if since <= created <= until:
                rows.append((created, transaction))
        rows.sort(key=lambda r: r[0], reverse=True)
        rows = rows[offset:] if limit is None else rows[offset:offset + limit]
        return [r[1] for r in rows]


# -- the service --


def encrypt(scheme, keys, public_key, text):
    if scheme == NIP44:
        return nip44_encrypt(keys.secret_key(), public_key, text, Nip44Version.V2)
    return nip04_encrypt(keys.secret_key(), public_key, text)


def decrypt(scheme, keys, public_key, payload):
    if scheme == NIP44:
        return nip44_decrypt(keys.secret_key(), public_key, payload)
    return nip04_decrypt(keys.secret_key(), public_key, payload)


def tag_value(tags, name):
    """The first value of the first tag with this name, or None."""
    return next((t[1] for t in tags if len(t) > 1 and t[0] == name), None)


class Service:
    def __init__(self, client, ledger, schemes, notifications):
        self.client = client
        self.ledger = ledger
        self.schemes = schemes  # the encryption schemes served, e.g. [NIP44, NIP04]
        self.notifications = notifications
        self.by_service_key = {w.service.public_key().to_hex(): w for w in ledger.wallets.values()}
        self.failures = {}  # method -> {"code", "message", "times"}
        self.delays = {}  # method -> seconds
        self.silenced = set()
        self.tasks = set()
        self.reset_counts()

    def reset_counts(self):
        self.methods, self.encryptions, self.rejected = Counter(), Counter(), Counter()
        self.log = deque(maxlen=LOG_SIZE)

    def spawn(self, coroutine):
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- publishing --

    def info_event(self, wallet):
        content = " ".join(METHODS + (["notifications"] if self.notifications else []))
        tags = []
        if self.schemes != [NIP04]:  # a NIP-04-only service is a legacy one: no encryption tag
            tags.append(["encryption", " ".join(self.schemes)])
        if self.notifications:
            tags.append(["notifications", " ".join(NOTIFICATION_TYPES)])
        return EventBuilder(Kind(INFO_KIND), content).tags([Tag.parse(t) for t in tags]).finalize(wallet.service)

    async def publish(self, event, what):
        out = await self.client.send_event(event)
        if not out.success:
            log(f"no relay accepted {what}: {', '.join(f'{u}: {m}' for u, m in out.failed.items())}")
        return bool(out.success)

    async def answer(self, wallet, client_pk, request_id, scheme, method, result=None, error=None):
        body = {"result_type": method, "error": None, "result": result}
        if error is not None:
            body = {"result_type": method, "error": {"code": error.code, "message": error.message}, "result": None}
        tags = [["p", client_pk.to_hex()], ["e", request_id]]
        content = encrypt(scheme, wallet.service, client_pk, json.dumps(body))
        event = EventBuilder(Kind(RESPONSE_KIND), content).tags([Tag.parse(t) for t in tags]).finalize(wallet.service)
        await self.publish(event, f"the answer to {request_id}")

    async def notify(self, wallet, notification_type, transaction):
        if not self.notifications:
            return
        client_pk = PublicKey.parse(wallet.client_pubkey)
        text = json.dumps({"notification_type": notification_type, "notification": transaction})
        for scheme in self.schemes:
            content = encrypt(scheme, wallet.service, client_pk, text)
            event = (EventBuilder(Kind(NOTIFICATION_KIND[scheme]), content)
                     .tags([Tag.parse(["p", wallet.client_pubkey])]).finalize(wallet.service))
            await self.publish(event, f"a {notification_type} notification")

    async def notify_all(self, notes):
        for wallet, notification_type, transaction in notes:
            await self.notify(wallet, notification_type, transaction)

    async def notify_payment(self, payment, invoice):
        await self.notify(self.ledger.wallets[invoice.wallet], "payment_received", invoice.transaction())
        if payment is not None:
            await self.notify(self.ledger.wallets[payment.payer], "payment_sent", payment.transaction())

    # -- requests --

    async def on_request(self, event):
        try:
            await self.handle(event)
        except Exception as exc:  # noqa: BLE001 - a request never stops the service
            log(f"request {event.id().to_hex()} failed: {type(exc).__name__}: {exc}")

    def addressee(self, tags):
        """The wallet a request is for: its first p tag naming one of the service keys."""
        return next((self.by_service_key[t[1]] for t in tags
                     if len(t) > 1 and t[0] == "p" and t[1] in self.by_service_key), None)

    def expired(self, request_id, expiration):
        if expiration is None:
            return False
        try:
            return int(expiration) <= time.time()
        except ValueError:
            log(f"request {request_id}: ignoring a bad expiration tag {expiration!r}")
            return False

    @staticmethod
    def read(wallet, event, scheme):
        """Decrypts and parses a request: (method or None, params, problem or None). Any author can
        be decrypted (ECDH works with any key), so even a refusal names the method."""
        if scheme not in (NIP44, NIP04):
            return None, None, f"unknown encryption {scheme!r}"
        try:
            request = json.loads(decrypt(scheme, wallet.service, event.author(), event.content()))
        except Exception as exc:  # noqa: BLE001
            return None, None, f"cannot decrypt or parse the request as {scheme}: {exc}"
        if not isinstance(request, dict):
            return None, None, "a request is a JSON object"
        method, params = request.get("method"), request.get("params")
        if not isinstance(method, str) or not method:
            return None, params, "the request has no method"
        if params is not None and not isinstance(params, dict):
            return method, params, "params must be an object"
        return method, params or {}, None

    def refusal(self, wallet, author, scheme, problem):
        """Why a request is refused, as (counter name, NwcError), or None."""
        if scheme not in self.schemes:
            return "unsupported_encryption", NwcError(
                "UNSUPPORTED_ENCRYPTION", f"encryption {scheme!r} not supported; use {' or '.join(self.schemes)}")
        if author.to_hex() != wallet.client_pubkey:
            return "unauthorized", NwcError("UNAUTHORIZED", "this public key has no wallet connected")
        if problem is not None:
            return "malformed", other(problem)
        return None

    async def carry_out(self, wallet, method, params):
        """An injected failure, or the method's outcome: (result, error, coroutine to run after)."""
        injected = self.failures.get(method)
        if injected is not None:
            injected["times"] -= 1
            if injected["times"] <= 0:
                del self.failures[method]
            return None, NwcError(injected["code"], injected["message"]), None
        try:
            result, after = await self.dispatch(wallet, method, params)
            return result, None, after
        except NwcError as exc:
            return None, exc, None
        except Exception as exc:  # noqa: BLE001 - a bug here is answered, and logged
            log(f"{method} failed: {type(exc).__name__}: {exc}")
            return None, NwcError("INTERNAL", f"{type(exc).__name__}: {exc}"), None

    async def handle(self, event):
        request_id, author = event.id().to_hex(), event.author()
        tags = [t.to_vec() for t in event.tags()]
        wallet = self.addressee(tags)
        if wallet is None:
            return
        expiration = tag_value(tags, "expiration")
        if self.expired(request_id, expiration):
            self.rejected["expired"] += 1
            log(f"request {request_id} to {wallet.name} expired at {expiration}: ignored")
            return
        scheme = (tag_value(tags, "encryption") or NIP04).strip()  # no tag: NIP-04, as legacy clients
        method, params, problem = self.read(wallet, event, scheme)
        entry = {"id": request_id, "wallet": wallet.name, "method": method, "encryption": scheme,
                 "author": author.to_hex(), "params": params, "error": None, "at": int(time.time()),
                 "expiration": expiration}
        self.log.append(entry)
        self.encryptions[scheme] += 1
        if method is not None:
            self.methods[method] += 1

        refused = self.refusal(wallet, author, scheme, problem)
        if refused is not None:
            reason, error = refused
            self.rejected[reason] += 1
            entry["error"] = error.code
            log(f"request {request_id} to {wallet.name}: {error.code}: {error.message}")
            answer_scheme = NIP04 if reason == "unsupported_encryption" else scheme
            await self.answer(wallet, author, request_id, answer_scheme, method or "unknown", error=error)
            return
        if method in self.silenced:
            log(f"request {request_id} ({method}) to {wallet.name}: silenced, not answered")
            return
        result, error, after = await self.carry_out(wallet, method, params)
        entry["error"] = error.code if error is not None else None
        if after is not None:
            self.spawn(after)  # notifications go out at once, even when the answer waits
        delay = self.delays.get(method, 0)
        if delay > 0:
            await asyncio.sleep(delay)
        await self.answer(wallet, author, request_id, scheme, method, result=result, error=error)

    async def dispatch(self, wallet, method, params):
        """Carries out a request: returns (result, a coroutine to run afterwards or None)."""
        ledger = self.ledger
        if method == "get_info" and isinstance(ledger, LnbitsLedger):
            # FakeWallet signs lnbc (mainnet-prefixed) invoices; no real funds exist behind them.
            return {"alias": f"{wallet.name} (LNbits, FakeWallet)", "color": "#3399ff", "network": "mainnet",
                    "methods": METHODS,
                    "notifications": NOTIFICATION_TYPES if self.notifications else []}, None
        if method == "get_info":
            return {"alias": wallet.name, "color": "#3399ff", "pubkey": NODE_PUBKEY, "network": "regtest",
                    "block_height": 1, "block_hash": "0" * 64, "methods": METHODS,
                    "notifications": NOTIFICATION_TYPES if self.notifications else []}, None
        if isinstance(ledger, LnbitsLedger):
            # LNbits is called over blocking HTTP: in a worker thread, so the relay keeps flowing.
            result, notes = await asyncio.to_thread(ledger.dispatch, wallet, method, params)
            return result, (self.notify_all(notes) if notes else None)
        if method == "get_balance":
            return {"balance": wallet.balance}, None
        if method == "make_invoice":
            return ledger.make_invoice(wallet, params).transaction(), None
        if method == "lookup_invoice":
            return ledger.lookup(wallet, params), None
        if method == "list_transactions":
            return {"transactions": ledger.transactions(wallet, params)}, None
        if method == "pay_invoice":
            payment, invoice = ledger.pay(wallet, params)
            return {"preimage": invoice.preimage, "fees_paid": 0}, self.notify_payment(payment, invoice)
        raise NwcError("NOT_IMPLEMENTED", f"{method} is not implemented")

    # -- control --

    def wallet_named(self, cmd):
        wallet = self.ledger.wallets.get(cmd.get("wallet"))
        if wallet is None:
            raise ValueError(f"unknown wallet {cmd.get('wallet')!r} ({', '.join(self.ledger.wallets)})")
        return wallet

    async def control(self, cmd):
        name = cmd.get("cmd")
        method = cmd.get("method")
        if name in ("fail", "delay", "silence") and (not isinstance(method, str) or not method):
            raise ValueError("method must be a method name")
        if isinstance(self.ledger, LnbitsLedger):
            if name == "balance":
                wallet = self.wallet_named(cmd)
                try:
                    return {"balance": await asyncio.to_thread(self.ledger.balance, wallet)}
                except LnbitsError as exc:
                    raise ValueError(exc.detail) from None
            if name in ("set_balance", "settle", "invoices"):
                raise ValueError(f"{name} is not available with --lnbits: LNbits keeps the ledger")
        if name == "balance":
            return {"balance": self.wallet_named(cmd).balance}
        if name == "set_balance":
            wallet, msats = self.wallet_named(cmd), cmd.get("msats")
            if not isinstance(msats, int) or isinstance(msats, bool) or msats < 0:
                raise ValueError("msats must be an integer >= 0")
            wallet.balance = msats
            return {"balance": msats}
        if name == "fail":
            code, times = cmd.get("code"), cmd.get("times", 1)
            if not isinstance(code, str) or not code:
                raise ValueError("code must be an error code, e.g. PAYMENT_FAILED")
            if not isinstance(times, int) or isinstance(times, bool) or times < 0:
                raise ValueError("times must be an integer >= 0")
            if times == 0:
                self.failures.pop(method, None)
            else:
                message = cmd.get("message") or f"injected {code}"
                self.failures[method] = {"code": code, "message": str(message), "times": times}
            return {}
        if name == "delay":
            seconds = cmd.get("seconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise ValueError("seconds must be a number >= 0")
            if seconds:
                self.delays[method] = seconds
            else:
                self.delays.pop(method, None)
            return {}
        if name == "silence":
            on = cmd.get("on")
            if not isinstance(on, bool):
                raise ValueError("on must be true or false")
            (self.silenced.add if on else self.silenced.discard)(method)
            return {}
        if name == "settle":
            payment_hash = cmd.get("payment_hash")
            if not isinstance(payment_hash, str) or not HEX64.match(payment_hash):
                raise ValueError("payment_hash must be 64 hex digits")
            invoice = self.ledger.settle(payment_hash)
            if not cmd.get("quiet"):
                await self.notify_payment(None, invoice)
            return {"wallet": invoice.wallet, "balance": self.ledger.wallets[invoice.wallet].balance,
                    "preimage": invoice.preimage}
        if name == "invoices":
            return {"invoices": [{
                "wallet": i.wallet, "state": i.state(), "amount": i.amount, "payment_hash": i.payment_hash,
                "invoice": i.text, "description": i.description, "created_at": i.created_at,
                "expires_at": i.expires_at, "settled_at": i.settled_at, "paid_by": i.paid_by,
            } for i in sorted(self.ledger.invoices.values(), key=lambda i: i.seq)]}
        if name == "requests":
            out = {"total": sum(self.encryptions.values()), "methods": dict(self.methods),
                   "encryption": dict(self.encryptions),
                   "rejected": {k: self.rejected[k] for k in ("unauthorized", "unsupported_encryption",
                                                              "malformed", "expired")},
                   "log": list(self.log)}
            if cmd.get("reset"):
                self.reset_counts()
            return out
        raise ValueError(f"unknown cmd {name!r} (balance, set_balance, fail, delay, silence, settle, "
                         "invoices, requests)")

    async def run_control(self, line):
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("a command is a JSON object")
            emit({"ok": True, **await self.control(cmd)})
        except json.JSONDecodeError as exc:
            emit({"ok": False, "error": f"not JSON: {exc}"})
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the service goes on
            emit({"ok": False, "error": str(exc) or type(exc).__name__})


# -- start-up --


def parse_wallets(parser, specs):
    if not specs:
        return DEFAULT_WALLETS
    wallets = []
    for spec in specs:
        name, _, balance = spec.partition("=")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            parser.error(f"--wallet {spec}: the name may hold letters, digits, '_', '.' and '-'")
        if name in (n for n, _ in wallets):
            parser.error(f"--wallet {spec}: {name} given twice")
        try:
            msats = int(balance) if balance else 0
            if msats < 0:
                raise ValueError
        except ValueError:
            parser.error(f"--wallet {spec}: the balance must be an integer >= 0 (msats)")
        wallets.append((name, msats))
    return wallets


def make_wallet(name, balance, relays, lnbits=None):
    service, client = Keys.generate(), Keys.generate()
    query = "&".join(f"relay={quote(r, safe='')}" for r in relays)
    uri = (f"nostr+walletconnect://{service.public_key().to_hex()}?{query}"
           f"&secret={client.secret_key().to_hex()}&lud16={quote(name + '@pylon.test', safe='@')}")
    # The client's secret goes into the URI only: the service keeps its public key.
    return Wallet(name=name, balance=balance, service=service, client_pubkey=client.public_key().to_hex(), uri=uri,
                  lnbits=lnbits)


def read_lnbits_file(parser, path):
    """--lnbits FILE: (url, [(name, {"id", "adminkey", "inkey"})...])."""
    try:
        with open(path) as file:
            spec = json.load(file)
    except (OSError, ValueError) as exc:
        parser.error(f"--lnbits {path}: {exc}")
    url = spec.get("url") if isinstance(spec, dict) else None
    wallets = spec.get("wallets") if isinstance(spec, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        parser.error(f"--lnbits {path}: \"url\" must be LNbits' http(s) URL")
    if not isinstance(wallets, dict) or not wallets:
        parser.error(f"--lnbits {path}: \"wallets\" must name at least one wallet")
    out = []
    for name, keys in wallets.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            parser.error(f"--lnbits {path}: wallet {name!r}: the name may hold letters, digits, '_', '.' and '-'")
        if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) and keys.get(k)
                                                 for k in ("id", "adminkey", "inkey")):
            parser.error(f"--lnbits {path}: wallet {name!r} needs \"id\", \"adminkey\" and \"inkey\"")
        out.append((name, {k: keys[k] for k in ("id", "adminkey", "inkey")}))
    return url, out


async def listen(client, service):
    stream = client.notifications()
    while True:
        note = await stream.next()
        if note is None:
            return
        if note.is_new_event() and note.event.kind().as_u16() == REQUEST_KIND:
            service.spawn(service.on_request(note.event))


async def until_stopped(service):
    """Runs control commands from stdin until it closes, or until SIGTERM/SIGINT (peer_life's
    until_stopped would swallow stdin, which carries commands here)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lines = asyncio.Queue()
    pending = bytearray()

    def readable():
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:
            loop.remove_reader(sys.stdin.fileno())
            lines.put_nowait(None)
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                lines.put_nowait(line)

    async def commands():
        while (line := await lines.get()) is not None:
            await service.run_control(line)
        stop.set()

    try:
        loop.add_reader(sys.stdin.fileno(), readable)
        runner = asyncio.create_task(commands())
    except (PermissionError, ValueError, OSError):
        runner = None  # stdin is not a pipe (e.g. /dev/null): run until a signal
    await stop.wait()
    if runner is not None:
        runner.cancel()


async def main():
    unblock_signals()
    parser = argparse.ArgumentParser(description="A NIP-47 wallet service for pylon's tests.")
    parser.add_argument("--relay", action="append", required=True, help="relay URL (repeatable)")
    parser.add_argument("--wallet", action="append", metavar="NAME[=BALANCE_MSATS]",
                        help="a wallet (repeatable; default provider=0 and buyer=1000000000)")
    parser.add_argument("--encryption", choices=sorted(SCHEMES), default="both",
                        help="encryption schemes served (default both)")
    parser.add_argument("--no-notifications", action="store_true", help="advertise and send no notifications")
    parser.add_argument("--lnbits", metavar="FILE",
                        help='back the wallets with LNbits: FILE is {"url": URL, "wallets": {NAME: {"id", '
                             '"adminkey", "inkey"}, ...}} (replaces --wallet and the in-memory ledger)')
    args = parser.parse_args()
    urls = []
    for url in args.relay:
        try:
            urls.append(RelayUrl.parse(url))
        except Exception as exc:  # noqa: BLE001
            parser.error(f"--relay {url}: {exc}")
    if args.lnbits:
        if args.wallet:
            parser.error("--wallet and --lnbits exclude each other: with --lnbits, LNbits holds the balances")
        lnbits_url, specs = read_lnbits_file(parser, args.lnbits)
        wallets = [make_wallet(name, None, args.relay, lnbits=keys) for name, keys in specs]
        ledger = LnbitsLedger(wallets, LnbitsApi(lnbits_url))
        try:
            await asyncio.to_thread(ledger.check)
        except LnbitsError as exc:
            log(f"--lnbits {args.lnbits}: {exc.detail}")
            os._exit(1)
    else:
        wallets = [make_wallet(name, balance, args.relay) for name, balance in parse_wallets(parser, args.wallet)]
        ledger = Ledger(wallets)

    client = Client()
    for url in urls:
        await client.add_relay(url)
    await client.connect(timedelta(seconds=10))
    relays = await client.relays()
    if not any(r.status() == RelayStatus.CONNECTED for r in relays.values()):
        log(f"could not connect to {', '.join(args.relay)} within 10 s")
        os._exit(1)

    service = Service(client, ledger, SCHEMES[args.encryption], not args.no_notifications)
    for wallet in wallets:
        if not await service.publish(service.info_event(wallet), f"the info event of {wallet.name}"):
            os._exit(1)
    listener = asyncio.create_task(listen(client, service))
    service_keys = [w.service.public_key() for w in wallets]
    await client.subscribe(ReqTarget.auto([Filter().kind(Kind(REQUEST_KIND)).pubkeys(service_keys)]))
    # A round trip on the same connections: once it is back, the relays hold the subscription
    # above (and the info events, which it checks).
    stored = await client.fetch_events(ReqTarget.auto([Filter().kind(Kind(INFO_KIND)).authors(service_keys)]),
                                       timedelta(seconds=5))
    if len(stored) < len(wallets):
        log(f"the relays returned {len(stored)} of {len(wallets)} info events")

    ready = {"wallets": {w.name: {"uri": w.uri, "service_pubkey": w.service.public_key().to_hex(),
                                  "client_pubkey": w.client_pubkey} for w in wallets}}
    if args.lnbits:
        ready["lnbits"] = lnbits_url
    else:
        ready["node_pubkey"] = NODE_PUBKEY
    emit(ready)
    await until_stopped(service)
    listener.cancel()
    sys.stdout.flush()
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0)


asyncio.run(main())
