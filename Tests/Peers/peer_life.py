"""What every long-running peer of pylon's tests does about its own life: clear the signal mask it
inherits from Foundation's Process (which blocks SIGTERM), and run until SIGTERM, SIGINT or the
end of stdin (tests hold a pipe open and close it to stop the peer).

  from peer_life import serve_until_stopped, unblock_signals, until_stopped
"""
import asyncio
import signal
import sys


def unblock_signals():
    """Started by Foundation's Process, a peer inherits a mask that blocks SIGTERM: clear it."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


async def until_stopped():
    """Returns on SIGTERM or SIGINT, or when stdin (a pipe) closes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(4096) else None)
    except (PermissionError, ValueError, OSError):
        pass  # stdin is not a pipe (e.g. /dev/null): run until a signal
    await stop.wait()


async def serve_until_stopped(app, port):
    """Serves an aiohttp application on 127.0.0.1:port, prints its ws:// URL on the first line of
    stdout once it listens, and runs until stopped."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"ws://127.0.0.1:{port}", flush=True)
    await until_stopped()
    await runner.cleanup()
