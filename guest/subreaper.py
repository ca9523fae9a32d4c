#!/usr/bin/python3
"""Runs a daemon in the foreground as a child subreaper and reaps every orphan promptly.

libvirt daemonizes qemu with a double fork, so finished qemu processes are reparented to the
nearest subreaper. Where PID 1 reaps lazily (minimal container and VM inits), libvirtd then
waits about a minute for each to vanish; under this reaper they are gone at once.
usage: subreaper.py COMMAND [ARGS...]
"""
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    child = os.fork()
    if child == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == child:
            return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
