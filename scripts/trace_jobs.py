"""Reads a packet capture of NIP-90 jobs through one relay (scripts/trace-jobs.sh makes it) and
prints, for each job, when each message crossed the loopback, counted from the customer's publish,
and what held a message that the relay sent late.

  trace_jobs.py CAPTURE.pcap --relay-port N [--jobs-shown K] [--json]

The capture holds every TCP segment to and from the relay's port (tcpdump -i lo, full packets).
Each direction of each connection is put back together and cut into WebSocket frames (masked from
the clients, plain from the relay), and each frame into its Nostr message. A connection whose
client publishes kind 5000-5999 requests is a customer's; one whose client publishes kind 6xxx
results or 7000 feedback is the provider's.

A message the relay sends is "held" when it leaves the relay more than --held-ms after what caused
it reached the relay (the request for the customer's OK and the provider's copy, the provider's
event for its OK and the customer's copy), less than 1 ms after a bare ACK from the other side,
and that ACK itself came more than --held-ms after the relay's previous data to that side: the
relay had the message and waited for that late ACK (Nagle's algorithm, holding a small write while
an earlier one is unacknowledged), whose delay is the receiver's delayed-ACK timer.
"""
import argparse
import json
import statistics
import struct
import sys
from collections import defaultdict


def packets(path):
    """(time in seconds, src port, dst port, flags, payload) of each TCP segment over IPv4."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        endian, scale = "<", 1e-6
    elif magic == 0xA1B23C4D:
        endian, scale = "<", 1e-9
    elif magic == 0xD4C3B2A1:
        endian, scale = ">", 1e-6
    elif magic == 0x4D3CB2A1:
        endian, scale = ">", 1e-9
    else:
        sys.exit(f"trace_jobs.py: {path} is not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {1: 14, 113: 16, 276: 20, 0: 4}.get(linktype)
    if link_header is None:
        sys.exit(f"trace_jobs.py: link type {linktype} is not supported (capture on lo)")
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        ip = frame[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        ihl = (ip[0] & 0x0F) * 4
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        doff = (tcp[12] >> 4) * 4
        yield sec + frac * scale, sport, dport, tcp[13], seq, tcp[doff:]


class Stream:
    """One direction of one connection: bytes in order, cut into WebSocket text messages."""

    def __init__(self):
        self.buffer = b""
        self.next_seq = None
        self.upgraded = False
        self.fragments = b""

    def feed(self, seq, payload):
        if self.next_seq is not None and seq != self.next_seq:
            if (seq - self.next_seq) % 2**32 > 2**31:
                return []  # a retransmission of bytes already read
        self.next_seq = (seq + len(payload)) % 2**32
        self.buffer += payload
        out = []
        if not self.upgraded and not self.buffer.startswith((b"GET ", b"HTTP/")):
            self.upgraded = True  # the capture began after the handshake
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return out
            self.buffer = self.buffer[end + 4:]
            self.upgraded = True
        while True:
            frame = self.frame()
            if frame is None:
                return out
            fin, opcode, body = frame
            if opcode in (0, 1):
                self.fragments += body
                if fin:
                    out.append(self.fragments.decode("utf-8", "replace"))
                    self.fragments = b""

    def frame(self):
        b = self.buffer
        if len(b) < 2:
            return None
        n, pos = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack("!Q", b[2:10])[0], 10
        mask = None
        if b[1] & 0x80:
            if len(b) < pos + 4:
                return None
            mask, pos = b[pos:pos + 4], pos + 4
        if len(b) < pos + n:
            return None
        body = b[pos:pos + n]
        if mask:
            body = bytes(c ^ mask[i % 4] for i, c in enumerate(body))
        self.buffer = b[pos + n:]
        return bool(b[0] & 0x80), b[0] & 0x0F, body


def describe(message):
    """(what, event id, the job it is about, kind, status) of a Nostr message, or None."""
    try:
        item = json.loads(message)
    except ValueError:
        return None
    if not isinstance(item, list) or not item:
        return None
    if item[0] == "OK" and len(item) > 1:
        return ("OK", item[1], None, None, None)
    event = None
    if item[0] == "EVENT" and len(item) == 2 and isinstance(item[1], dict):
        event, what = item[1], "publish"
    elif item[0] == "EVENT" and len(item) == 3 and isinstance(item[2], dict):
        event, what = item[2], "deliver"
    if event is None:
        return (item[0], None, None, None, None)
    tags = event.get("tags", [])
    job = next((t[1] for t in tags if len(t) > 1 and t[0] == "e"), None)
    status = next((t[1] for t in tags if len(t) > 1 and t[0] == "status"), None)
    kind = event.get("kind")
    if kind is not None and 5000 <= kind < 6000:
        job = event.get("id")
    return (what, event.get("id"), job, kind, status)


def label(kind, status):
    if kind is not None and 5000 <= kind < 6000:
        return "request"
    if kind == 7000:
        return f"{status or 'feedback'}"
    if kind is not None and 6000 <= kind < 7000:
        return "result"
    return f"kind {kind}"


def analyse(path, relay_port, held_ms):
    streams = defaultdict(Stream)
    # Per connection (the client's port): what the relay sent last, and a log of everything.
    log = defaultdict(list)  # client port -> [(time, direction, 'ack' | message description)]
    roles = {}
    for t, sport, dport, flags, seq, payload in packets(path):
        if relay_port not in (sport, dport):
            continue
        to_relay = dport == relay_port
        client = sport if to_relay else dport
        direction = "up" if to_relay else "down"
        if not payload:
            if flags & 0x10 and not flags & 0x07:  # a bare ACK
                log[client].append((t, direction, "ack", None))
            continue
        for message in streams[(client, direction)].feed(seq, payload):
            d = describe(message)
            if d is None:
                continue
            log[client].append((t, direction, "msg", d))
            if d[0] == "publish" and d[3] is not None:
                if 5000 <= d[3] < 6000:
                    roles.setdefault(client, "customer")
                elif d[3] == 7000 or 6000 <= d[3] < 7000:
                    roles[client] = "provider"
    # Where each published event reached the relay (the cause of what the relay sends about it).
    arrived = {}
    for client, entries in log.items():
        for t, direction, what, d in entries:
            if what == "msg" and direction == "up" and d[0] == "publish":
                arrived.setdefault(d[1], (t, d))
    jobs = defaultdict(list)  # job id -> [(time, step, held note)]
    held = []
    for client, entries in log.items():
        role = roles.get(client)
        if role is None:
            continue
        last_down_data = None
        for i, (t, direction, what, d) in enumerate(entries):
            if what != "msg":
                continue
            kind_of, event_id, job, kind, status = d
            source = arrived.get(event_id) if direction == "down" else None
            if source is not None:
                job = job or source[1][2]
                if kind_of == "OK":
                    kind, status = source[1][3], source[1][4]
            if kind_of == "OK":
                step = f"relay OK to {role} for its {label(kind, status)}"
            elif kind_of == "publish":
                step = f"{role} publishes {label(kind, status)}"
            else:
                step = f"relay delivers {label(kind, status)} to {role}"
            note = None
            if direction == "down":
                if source is not None:
                    lateness = (t - source[0]) * 1000
                    previous = entries[i - 1] if i > 0 else None
                    ack_delay = (previous[0] - last_down_data) * 1000 if previous and last_down_data else None
                    # Held: late, sent right after a bare ACK from the other side, and that ACK was
                    # itself late (a delayed ACK), not the prompt answer to the relay's last data.
                    if (lateness > held_ms and previous and previous[1] == "up" and previous[2] == "ack"
                            and t - previous[0] < 0.001 and ack_delay is not None and ack_delay > held_ms):
                        note = (f"held {lateness:.1f} ms: released by the {role}'s ACK"
                                + (f", sent {ack_delay:.1f} ms after the relay's previous message to it" if ack_delay else ""))
                        held.append((step, lateness, ack_delay))
                last_down_data = t
            if job is not None:
                jobs[job].append((t, step, note))
    return jobs, held


def main():
    parser = argparse.ArgumentParser(description="Per-message timeline of NIP-90 jobs in a loopback capture.")
    parser.add_argument("capture")
    parser.add_argument("--relay-port", type=int, required=True)
    parser.add_argument("--held-ms", type=float, default=5.0, help="lateness above which a released message counts as held")
    parser.add_argument("--jobs-shown", type=int, default=3, help="jobs printed in full (the median figures cover all)")
    parser.add_argument("--skip", type=int, default=1, help="first jobs left out (the probe, warm-up)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    jobs, held = analyse(args.capture, args.relay_port, args.held_ms)
    ordered = sorted(jobs.values(), key=lambda steps: min(t for t, _, _ in steps))[args.skip:]
    steps = defaultdict(list)
    for timeline in ordered:
        timeline.sort()
        t0 = timeline[0][0]
        seen = set()
        for t, step, _ in timeline:
            if step not in seen:  # the first of a repeated step (partials)
                seen.add(step)
                steps[step].append((t - t0) * 1000)
    order = sorted(steps, key=lambda s: statistics.median(steps[s]))
    if args.json:
        print(json.dumps({
            "jobs": len(ordered),
            "steps": {s: round(statistics.median(steps[s]), 2) for s in order},
            "held": [{"step": m, "ms": round(late, 2), "ack_delay_ms": ack and round(ack, 2)} for m, late, ack in held],
        }))
        return
    print(f"{len(ordered)} jobs; median time of each step from the customer's publish:")
    for s in order:
        values = steps[s]
        print(f"   {statistics.median(values):7.2f} ms  {s}   (min {min(values):.2f}, max {max(values):.2f}, {len(values)} jobs)")
    by = defaultdict(list)
    for step, late, ack in held:
        by[step].append((late, ack))
    if by:
        print(f"held messages (the relay sent them more than {args.held_ms:g} ms after their cause, right after an ACK):")
        for step, values in sorted(by.items(), key=lambda kv: -len(kv[1])):
            lates = [v[0] for v in values]
            acks = [v[1] for v in values if v[1] is not None]
            print(f"   {len(values):4d} x {step}: held {statistics.median(lates):.1f} ms (median) until the receiver's ACK"
                  + (f", which came {statistics.median(acks):.1f} ms after the relay's previous data to it" if acks else ""))
    else:
        print(f"held messages: none (no message left the relay more than {args.held_ms:g} ms after its cause right after an ACK)")
    for timeline in ordered[:args.jobs_shown]:
        t0 = timeline[0][0]
        print("job:")
        for t, step, note in timeline:
            print(f"   +{(t - t0) * 1000:7.2f} ms  {step}" + (f"   <- {note}" if note else ""))


if __name__ == "__main__":
    main()
