"""Daemon benchmark: `pylon start` to Pong, idle resident memory after 30 s, and the Status round
trip over the control socket. Run through scripts/bench-daemon.sh (release build).

  bench_daemon.py PYLON_BINARY [--starts 20] [--idle 30] [--status 2000]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def run(pylon, home, *args, check=True):
    env = dict(os.environ, PYLON_HOME=home, HOME=home)
    return subprocess.run([pylon, *args], env=env, capture_output=True, text=True, check=check)


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pylon")
    parser.add_argument("--relay", required=True)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--status", type=int, default=2000)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="pylon-bench-")
    try:
        with open(os.path.join(home, "config.toml"), "w") as f:
            f.write(f'relays = ["{args.relay}"]\n[backends]\npreference = ["ollama"]\nollama_url = "http://127.0.0.1:9"\n'
                    '[http]\nlisten = "127.0.0.1:0"\n')
        run(args.pylon, home, "init", "--json")

        # start → Pong: `pylon start` returns only once the daemon answers Ping.
        starts = []
        for _ in range(args.starts):
            t = time.perf_counter()
            run(args.pylon, home, "start")
            starts.append((time.perf_counter() - t) * 1000)
            run(args.pylon, home, "stop")
        starts.sort()
        print(f"start → Pong: median {statistics.median(starts):.1f} ms, min {starts[0]:.1f}, max {starts[-1]:.1f} "
              f"over {len(starts)} starts (target < 150 ms median)")

        # Idle RSS after the daemon has run for a while, connected to a relay.
        run(args.pylon, home, "start")
        pid = int(open(os.path.join(home, "pylon.pid")).read().strip())
        time.sleep(args.idle)
        idle = rss_kib(pid) / 1024
        # Anonymous memory is the daemon's own; file-backed pages are code and data of the binary
        # and its libraries, shared with the page cache (the kernel maps a whole cached folio on a fault).
        print(f"idle resident memory after {args.idle:.0f} s: {idle:.1f} MB (target < 30 MB): "
              f"anonymous {rss_kib(pid, 'RssAnon') / 1024:.1f} MB, file-backed {rss_kib(pid, 'RssFile') / 1024:.1f} MB")

        # Status round trips on one connection (client: this Python script).
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.path.join(home, "control.sock"))
        reader = sock.makefile("rb")
        for _ in range(50):
            sock.sendall(b'{"Status":null}\n')
            reader.readline()
        samples = []
        for _ in range(args.status):
            t = time.perf_counter_ns()
            sock.sendall(b'{"Status":null}\n')
            line = reader.readline()
            samples.append((time.perf_counter_ns() - t) / 1e6)
        assert json.loads(line)["Status"]["running"] is True
        pings = []
        for _ in range(args.status):
            t = time.perf_counter_ns()
            sock.sendall(b'{"Ping":null}\n')
            reader.readline()
            pings.append((time.perf_counter_ns() - t) / 1e6)
        sock.close()
        samples.sort()
        pings.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        print(f"Status round trip: median {statistics.median(samples):.3f} ms, p99 {p99:.3f} ms over {len(samples)} requests "
              f"(Ping median {statistics.median(pings):.3f} ms) (target < 1 ms median)")
        print(f"resident memory after the Status loop: {rss_kib(pid) / 1024:.1f} MB")
        run(args.pylon, home, "stop")
        print("peer reference (SPEC §11, nostr-dvm 1.1.8 on this machine kind): start to first heartbeat 850 ms, idle RSS 108 MB")
    finally:
        run(args.pylon, home, "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
