"""A WebSocket server that misbehaves on purpose, for the tests of pylon's relay socket.

Speaks RFC 6455 by hand over asyncio streams, so it can do what a library would not: never
answer pings, send a message in fragments, send invalid UTF-8, close with its own code. The path
of the WebSocket URL picks the behaviour:

  /fragments   pings the client once ("hello"), then answers every text message with
               ["EOSE", <subscription id>] split into three frames
  /close       closes at once with code 4001 and reason "maintenance"
  /deaf        reads everything and answers nothing, pings included
  /big         sends one text message of 10,000 bytes
  /bad-utf8    sends a text message that is not UTF-8
  /refuse      answers the upgrade with HTTP 403
  /mute        takes the connection and never answers the handshake
  /slow        answers the handshake 0.5 s late, then behaves as /fragments
  /acks        answers every EVENT with OK true and measures how long the client's kernel takes to
               acknowledge that OK (TCP_INFO's count of unacknowledged segments back to 0, polled
               every 0.2 ms for up to 300 ms): {"id": event id, "ms": delay} in the log's "acks"

With --tls the server speaks TLS with a self-signed certificate made at start (wss://), which a
client that checks certificates must refuse.

GET /log (plain HTTP) returns what clients sent: {"pongs": [payload...], "closes": [[code,
reason]...], "texts": [...], "pings": count, "acks": [...], "upgrades": WebSocket handshakes begun}. Prints its ws:// base URL on the first line; runs until stdin
closes or SIGTERM.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import signal
import socket
import struct
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
log = {"pongs": [], "closes": [], "texts": [], "pings": 0, "acks": [], "upgrades": 0}


def unacknowledged(sock):
    """The socket's count of sent segments not yet acknowledged (struct tcp_info's tcpi_unacked)."""
    return struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 24)[0]


async def measure_ack(sock, event_id, sent):
    loop = asyncio.get_running_loop()
    while unacknowledged(sock) > 0 and loop.time() - sent < 0.3:
        await asyncio.sleep(0.0002)
    log["acks"].append({"id": event_id, "ms": round((loop.time() - sent) * 1000, 2)})


def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else None
    data = await reader.readexactly(n)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data, bool(b1 & 0x80)


async def serve(reader, writer):
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = head.split(" ", 2)[1]
        headers = {}
        for line in head.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if path == "/log":
            body = json.dumps(log).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
            return
        if "websocket" not in headers.get("upgrade", "").lower():
            # NIP-11 or anything else: no document here
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        if path == "/mute":
            await reader.read()  # until the client gives up
            return
        if path == "/refuse":
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        log["upgrades"] += 1
        if path == "/slow":
            await asyncio.sleep(0.5)
            path = "/fragments"
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        if path == "/fragments":
            writer.write(frame(0x9, b"hello"))
        elif path == "/close":
            writer.write(frame(0x8, struct.pack("!H", 4001) + b"maintenance"))
        elif path == "/big":
            writer.write(frame(0x1, json.dumps(["NOTICE", "x" * 9980]).encode()))
        elif path == "/bad-utf8":
            writer.write(frame(0x1, b'["NOTICE","\xff\xfe"]'))
        await writer.drain()
        while True:
            opcode, data, _ = await read_frame(reader)
            if opcode == 0xA:
                log["pongs"].append(data.decode("latin-1"))
            elif opcode == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                log["closes"].append([code, data[2:].decode("utf-8", "replace")])
                if path != "/close":
                    writer.write(frame(0x8, data[:2]))
                    await writer.drain()
                return
            elif opcode == 0x1:
                log["texts"].append(data.decode("utf-8", "replace"))
                if path == "/fragments":
                    message = json.loads(data)
                    if message[0] == "REQ":
                        text = json.dumps(["EOSE", message[1]]).encode()
                        third = len(text) // 3
                        writer.write(frame(0x1, text[:third], fin=False))
                        writer.write(frame(0x0, text[third:2 * third], fin=False))
                        writer.write(frame(0x0, text[2 * third:]))
                        await writer.drain()
                elif path == "/acks":
                    message = json.loads(data)
                    if message[0] == "EVENT":
                        writer.write(frame(0x1, json.dumps(["OK", message[1]["id"], True, ""]).encode()))
                        await writer.drain()
                        sent = asyncio.get_running_loop().time()
                        asyncio.ensure_future(measure_ack(writer.get_extra_info("socket"), message[1]["id"], sent))
                    elif message[0] == "REQ":
                        writer.write(frame(0x1, json.dumps(["EOSE", message[1]]).encode()))
                        await writer.drain()
            elif opcode == 0x9:
                log["pings"] += 1
                if path != "/deaf":
                    writer.write(frame(0xA, data))
                    await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def self_signed_context():
    import datetime
    import ssl
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
        pem.write(cert.public_bytes(serialization.Encoding.PEM))
        pem.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        pem.flush()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem.name)
    return context


async def main():
    # Started by Foundation's Process, this process inherits a mask that blocks SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    context = self_signed_context() if args.tls else None
    server = await asyncio.start_server(serve, "127.0.0.1", args.port, ssl=context)
    print(f"{'wss' if args.tls else 'ws'}://127.0.0.1:{args.port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(sys.stdin, lambda: sys.stdin.read(1) or stop.done() or stop.set_result(None))
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
