"""Daemon benchmark: `pylon start` to Pong, idle resident memory and CPU after 30 s, the Status
round trip over the control socket, and host mode: the daemon idle with 10 idle agents (its RSS and
CPU next to the same daemon without agents) and each agent process's RSS. Run through
scripts/bench-daemon.sh (release build).

  bench_daemon.py PYLON_BINARY [--starts 20] [--idle 30] [--status 2000] [--agents 10]
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


def pss_kib(pid):
    """Proportional set size: each shared page counted as its share."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_snapshot(pid):
    """CPU time of each of a process's threads in ns, from the first field of
    /proc/PID/task/TID/schedstat (utime + stime of /proc/PID/stat count in 10 ms clock ticks, too
    coarse for a daemon that idles)."""
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                times[task] = int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended meanwhile
    return times


def cpu_ms_since(pid, before):
    """CPU ms a process used since `before` (a cpu_snapshot): each thread's growth, a new thread's
    whole time. A thread that ended in between is left out, so this never goes below zero."""
    after = cpu_snapshot(pid)
    return sum(ns - before.get(task, 0) for task, ns in after.items()) / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pylon")
    parser.add_argument("--relay", required=True)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--status", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=10)
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
        time.sleep(min(5, args.idle))
        cpu0 = cpu_snapshot(pid)
        time.sleep(max(0, args.idle - 5))
        idle_cpu = cpu_ms_since(pid, cpu0)
        idle = rss_kib(pid) / 1024
        # Anonymous memory is the daemon's own; file-backed pages are code and data of the binary
        # and its libraries, shared with the page cache (the kernel maps a whole cached folio on a fault).
        print(f"idle resident memory after {args.idle:.0f} s: {idle:.1f} MB (target < 30 MB): "
              f"anonymous {rss_kib(pid, 'RssAnon') / 1024:.1f} MB, file-backed {rss_kib(pid, 'RssFile') / 1024:.1f} MB; "
              f"idle CPU {idle_cpu:.1f} ms over the last {max(0, args.idle - 5):.0f} s")

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

        # Host mode: the same daemon with idle agents (free, one tick a day: each ticks once at
        # start, finds no provider within 60 s, and sleeps).
        if args.agents > 0:
            # Mode host, so that no provider answers the agents' requests: the same daemon idle
            # without agents first, then with them.
            run(args.pylon, home, "start", "--mode", "host")
            pid = int(open(os.path.join(home, "pylon.pid")).read().strip())
            time.sleep(min(5, args.idle))
            cpu0 = cpu_snapshot(pid)
            time.sleep(max(0, args.idle - 5))
            idle_cpu = cpu_ms_since(pid, cpu0)
            idle = rss_kib(pid) / 1024
            run(args.pylon, home, "stop")
            for index in range(args.agents):
                run(args.pylon, home, "agent", "spawn", f"idle-{index}", "--interval", "86400", "--json")
            run(args.pylon, home, "start", "--mode", "host")
            pid = int(open(os.path.join(home, "pylon.pid")).read().strip())
            agents = []
            for _ in range(100):
                listed = json.loads(run(args.pylon, home, "agent", "list", "--json").stdout)
                agents = [a["pid"] for a in listed if a["pid"]]
                if len(agents) == args.agents:
                    break
                time.sleep(0.1)
            # Idle means between ticks: each agent ticks once at its start (no provider answers
            # in mode host: the tick ends after 60 s), then sleeps for a day.
            ticking = time.monotonic()
            while time.monotonic() - ticking < 120:
                listed = json.loads(run(args.pylon, home, "agent", "list", "--json").stdout)
                if all(a["ticks"] >= 1 for a in listed):
                    break
                time.sleep(1)
            peak = sorted(rss_kib(a, "VmHWM") / 1024 for a in agents)
            time.sleep(min(5, args.idle))
            cpu0 = cpu_snapshot(pid)
            agent_cpu0 = {a: cpu_snapshot(a) for a in agents}
            time.sleep(max(0, args.idle - 5))
            host_cpu = cpu_ms_since(pid, cpu0)
            agent_cpu = sorted(cpu_ms_since(a, agent_cpu0[a]) for a in agents)
            rss = sorted(rss_kib(a) / 1024 for a in agents)
            pss = sorted(pss_kib(a) / 1024 for a in agents)
            anon = sorted(rss_kib(a, "RssAnon") / 1024 for a in agents)
            print(f"host mode (--mode host), {len(agents)} idle agents: the daemon {rss_kib(pid) / 1024:.1f} MB resident "
                  f"(without agents {idle:.1f} MB), idle CPU {host_cpu:.1f} ms over {max(0, args.idle - 5):.0f} s "
                  f"(without agents {idle_cpu:.1f} ms; target: unchanged within noise)")
            if rss:
                print(f"  each agent process: resident median {statistics.median(rss):.1f} MB, max {rss[-1]:.1f} MB "
                      f"(target < 15 MB; anonymous median {statistics.median(anon):.1f} MB, proportional set size median "
                      f"{statistics.median(pss):.1f} MB: the binary's pages are shared with the daemon); CPU median "
                      f"{statistics.median(agent_cpu):.1f} ms, max {agent_cpu[-1]:.1f} ms over the same window")
                print(f"  each agent's peak while it started and ticked: median {statistics.median(peak):.1f} MB (VmHWM; an idle "
                      f"agent gives back the clean pages of the binary and its libraries that it mapped then)")
            run(args.pylon, home, "stop")
        print("peer reference (SPEC §11, nostr-dvm 1.1.8 on this machine kind): start to first heartbeat 850 ms, idle RSS 108 MB")
    finally:
        run(args.pylon, home, "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
