"""The customers of the provider benchmark: rust-nostr clients (nostr-sdk) that publish kind 5050
jobs to one provider and time each from publishing the request to receiving its kind 6050 result.

  bench_customers.py --relay URL --provider HEX [--jobs N] [--concurrency C] [--customers K]
                     [--max-tokens T] [--timeout S] [--pay NWC_URI] [--bid MSATS]

K customers (each its own key and relay connection, subscribed to kinds 6050 and 7000 with #p =
itself) share N jobs; C jobs are in flight at any time. Each request is
["i", "<unique prompt>", "text"], ["p", provider], ["param", "max_tokens", T]. A job fails on an
"error" feedback and times out after S seconds without a result.

With --pay, the customers pay a priced provider: a "payment-required" feedback's invoice (its
["amount", msats, bolt11] tag) is paid through rust-nostr's own NWC client (NostrWalletConnect)
with the wallet of NWC_URI, once per job; --bid adds ["bid", MSATS] to each request.

Prints one JSON object: jobs, ok, failed, timeouts, p50_ms, p99_ms, mean_ms, max_ms (exact, from
the sorted latencies of the jobs that got a result), jobs_per_s (results / wall time), wall_s,
cpu_s (this process's CPU time, all threads, over the run), concurrency, customers; with --pay
also payment_required_p50_ms (request published -> payment-required received), paid (payments
made) and pay_p50_ms (pay_invoice sent -> the wallet's answer).
"""
import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time
import uuid
from datetime import timedelta

from nostr_sdk import (
    Client, EventBuilder, Filter, Keys, Kind, NostrWalletConnectBuilder, NostrWalletConnectUri, PayInvoiceRequest, PublicKey,
    RelayStatus, RelayUrl, ReqTarget, Tag, Timestamp,
)


class Payer:
    """Pays invoices with rust-nostr's NWC client; keeps the times."""

    def __init__(self, uri):
        self.nwc = NostrWalletConnectBuilder(NostrWalletConnectUri.parse(uri)).timeout(timedelta(seconds=30)).build()
        self.asked = []  # request published -> payment-required received, ms
        self.times = []  # pay_invoice sent -> answered, ms
        self.paid = set()

    def pay(self, request_id, bolt11, asked_ms):
        if request_id in self.paid:
            return
        self.paid.add(request_id)
        self.asked.append(asked_ms)
        asyncio.ensure_future(self._pay(bolt11))

    async def _pay(self, bolt11):
        start = time.perf_counter()
        try:
            await self.nwc.pay_invoice(PayInvoiceRequest(id=None, invoice=bolt11, amount=None))
            self.times.append((time.perf_counter() - start) * 1000.0)
        except Exception as exc:  # noqa: BLE001 - reported, the job then times out
            print(f"bench_customers.py: pay_invoice failed: {exc}", file=sys.stderr, flush=True)


class Customer:
    def __init__(self, url, payer=None):
        self.keys = Keys.generate()
        self.client = Client()
        self.url = url
        self.payer = payer
        self.pending = {}  # request id -> future of (arrival time, outcome)
        self.sent = {}  # request id -> publish time
        self.first_feedback = {}  # request id -> arrival time of its first kind 7000

    async def start(self):
        await self.client.add_relay(RelayUrl.parse(self.url))
        await self.client.connect(timedelta(seconds=10))
        if not any(r.status() == RelayStatus.CONNECTED for r in (await self.client.relays()).values()):
            print(f"bench_customers.py: could not connect to {self.url} within 10 s", file=sys.stderr)
            os._exit(1)
        since = Timestamp.from_secs(int(time.time()) - 5)
        await self.client.subscribe(ReqTarget.auto(
            [Filter().kinds([Kind(6050), Kind(7000)]).pubkey(self.keys.public_key()).since(since)]))
        asyncio.ensure_future(self.listen())

    async def listen(self):
        stream = self.client.notifications()
        while True:
            note = await stream.next()
            now = time.perf_counter()
            if note is None:
                return
            if not note.is_new_event():
                continue
            event = note.event
            tags = [t.to_vec() for t in event.tags()]
            e = next((t[1] for t in tags if t[0] == "e" and len(t) > 1), None)
            future = self.pending.get(e)
            if future is None or future.done():
                continue
            kind = event.kind().as_u16()
            if kind == 7000:
                self.first_feedback.setdefault(e, now)
                if self.payer and any(t[:2] == ["status", "payment-required"] for t in tags):
                    amount = next((t for t in tags if t[0] == "amount" and len(t) > 2), None)
                    if amount and e in self.sent:
                        self.payer.pay(e, amount[2], (now - self.sent[e]) * 1000.0)
            if kind == 6050:
                future.set_result((now, "ok"))
            elif kind == 7000 and any(t[:2] == ["status", "error"] for t in tags):
                future.set_result((now, "failed"))


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


async def run(args):
    provider = PublicKey.parse(args.provider).to_hex()
    payer = Payer(args.pay) if args.pay else None
    customers = [Customer(args.relay, payer) for _ in range(args.customers)]
    await asyncio.gather(*(c.start() for c in customers))
    await asyncio.sleep(0.2)  # let the relay register every subscription
    run_id = uuid.uuid4().hex[:8]
    latencies, feedback, acks, outcomes = [], [], [], {"ok": 0, "failed": 0, "timeouts": 0, "rejected": 0}
    next_job = iter(range(args.jobs))
    last_result = [0.0]

    async def worker():
        for index in next_job:
            customer = customers[index % len(customers)]
            tags = [["i", f"bench {run_id} job {index}: tell me something", "text"], ["p", provider],
                    ["param", "max_tokens", str(args.max_tokens)]]
            if args.bid:
                tags.append(["bid", str(args.bid)])
            event = EventBuilder(Kind(5050), "").tags([Tag.parse(t) for t in tags]).finalize(customer.keys)
            request_id = event.id().to_hex()
            future = asyncio.get_running_loop().create_future()
            customer.pending[request_id] = future
            sent = time.perf_counter()
            customer.sent[request_id] = sent
            try:
                out = await customer.client.send_event(event)
                acks.append((time.perf_counter() - sent) * 1000.0)
                if not out.success:
                    outcomes["rejected"] += 1
                    continue
                arrived, outcome = await asyncio.wait_for(future, args.timeout)
            except asyncio.TimeoutError:
                outcomes["timeouts"] += 1
                continue
            finally:
                customer.pending.pop(request_id, None)
                customer.sent.pop(request_id, None)
                first = customer.first_feedback.pop(request_id, None)
            if first is not None:
                feedback.append((first - sent) * 1000.0)
            outcomes[outcome] += 1
            if outcome == "ok":
                latencies.append((arrived - sent) * 1000.0)
                last_result[0] = max(last_result[0], arrived)

    cpu0, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    end = last_result[0] if latencies else time.perf_counter()
    cpu = time.process_time() - cpu0
    wall = max(end - start, 1e-9)
    latencies.sort()
    feedback.sort()
    acks.sort()
    rnd = lambda v: None if v is None else round(v, 2)  # noqa: E731
    paid = {}
    if payer:
        payer.asked.sort()
        payer.times.sort()
        paid = {"payment_required_p50_ms": rnd(percentile(payer.asked, 0.50)), "paid": len(payer.times),
                "pay_p50_ms": rnd(percentile(payer.times, 0.50))}
    return paid | {
        "jobs": args.jobs, "ok": outcomes["ok"], "failed": outcomes["failed"] + outcomes["rejected"],
        "timeouts": outcomes["timeouts"],
        "p50_ms": rnd(percentile(latencies, 0.50)), "p99_ms": rnd(percentile(latencies, 0.99)),
        "mean_ms": rnd(sum(latencies) / len(latencies)) if latencies else None,
        "max_ms": rnd(latencies[-1]) if latencies else None,
        "feedback_p50_ms": rnd(percentile(feedback, 0.50)), "feedback_p99_ms": rnd(percentile(feedback, 0.99)),
        "ok_p50_ms": rnd(percentile(acks, 0.50)),
        "jobs_per_s": round(len(latencies) / wall, 1), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "concurrency": args.concurrency, "customers": args.customers,
    }


def main():
    # Started by Foundation's Process, this process inherits a mask that blocks SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description="Kind 5050 load generator: request-to-result latency and jobs/s.")
    parser.add_argument("--relay", required=True, help="relay URL")
    parser.add_argument("--provider", required=True, help="the provider's public key, hex or npub")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--customers", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one result")
    parser.add_argument("--pay", metavar="NWC_URI", help="pay payment-required invoices from this wallet")
    parser.add_argument("--bid", type=int, help="a bid in msats on each request")
    args = parser.parse_args()
    if min(args.jobs, args.concurrency, args.customers) < 1:
        parser.error("--jobs, --concurrency and --customers must be at least 1")
    for name, value, parse in (("--provider", args.provider, PublicKey.parse), ("--relay", args.relay, RelayUrl.parse)):
        try:
            parse(value)
        except Exception as exc:  # noqa: BLE001 - a user error
            parser.error(f"{name} {value}: {exc}")
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    # The bindings keep background tasks alive after shutdown; leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
