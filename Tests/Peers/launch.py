"""Runs a command with every signal unblocked.

Foundation's Process on Linux starts children with the spawning thread's signal mask, in which
SIGTERM and SIGINT are blocked; a peer started that way would ignore them. This launcher clears
the mask and then becomes the command (exec keeps the cleared mask).

  launch.py COMMAND [ARGS...]
"""
import os
import signal
import sys

signal.pthread_sigmask(signal.SIG_SETMASK, [])
os.execvp(sys.argv[1], sys.argv[1:])
