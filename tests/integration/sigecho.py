#!/usr/bin/env python3
"""A command that prints every signal it receives ("<tag> got SIGHUP"), as dumb-init's
print_signals.py does.  With --spawn it starts a grandchild of the same kind in its own process
group (so group forwarding reaches it, and child forwarding does not).  Exits 0 on SIGTERM or
SIGINT, unless --ignore-term is given.  --more echoes the signals nobody lists too."""
import os
import signal
import subprocess
import sys
import time

tag = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "child"
ignore_term = "--ignore-term" in sys.argv
ECHOED = [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGINT,
          signal.SIGTERM]


if "--more" in sys.argv:
    # The signals nobody lists: a timer, CPU limits, a real-time signal, a terminal stop.
    ECHOED += [signal.SIGALRM, signal.SIGXCPU, signal.SIGPROF, signal.SIGVTALRM, signal.SIGTSTP,
               signal.SIGRTMIN + 3]


def name(n):
    try:
        return signal.Signals(n).name if n != signal.SIGRTMIN + 3 else "SIGRTMIN+3"
    except ValueError:
        return "SIG%d" % n


def handler(n, _frame):
    os.write(1, ("%s got %s\n" % (tag, name(n))).encode())
    if n in (signal.SIGTERM, signal.SIGINT) and not ignore_term:
        os._exit(0)


for s in ECHOED:
    signal.signal(s, handler)
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

kid = None
if "--spawn" in sys.argv:
    kid = subprocess.Popen([sys.executable, __file__, "grandchild"])
os.write(1, ("%s ready %d\n" % (tag, os.getpid())).encode())
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    time.sleep(0.05)
