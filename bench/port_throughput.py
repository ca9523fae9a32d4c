#!/usr/bin/python3
"""Throughput container -> host through a published port, against the same transfer over the
host's loopback, in one run (and, to show what the proxy itself costs, the same transfer read
straight from inside the network's namespace).

One zunvmd (libvirt driver, domain type from $ZUNVM_VIRT_TYPE, default qemu) runs a busybox
container whose port 5001 is published on 127.0.0.1; inside it `dd if=/dev/zero | nc -l -p
5001` serves SIZE_MIB MiB per connection. The baseline is the very same busybox pipeline run on
the host, listening on 127.0.0.1. The same reader (this script) drains both, alternating, ROUNDS
times; the table gives the median MiB/s of each and their ratio. Asserts nothing about speed.

usage: bench/port_throughput.py     (env: SIZE_MIB=64, ROUNDS=5, ZUNVMD=build/zunvmd)
All traffic is on 127.0.0.1 and inside the namespace zunvmd made for the container's network.
"""
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

SIZE_MIB = int(os.environ.get("SIZE_MIB", "64"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SERVE = "while true; do dd if=/dev/zero bs=65536 count=%d 2>/dev/null | nc -l -p %d; done"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drain(port, size):
    """Reads `size` bytes from 127.0.0.1:port; returns MiB/s (None if the server is not up)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError:
        return None
    with s:
        return read_all(s, size)


def read_all(s, size):
    got = 0
    t0 = time.monotonic()
    s.settimeout(30)
    while got < size:
        try:
            chunk = s.recv(1 << 20)
        except OSError:  # timed out: the round is retried
            return None
        if not chunk:
            return None
        got += len(chunk)
    return size / (1 << 20) / (time.monotonic() - t0)


def socket_in_namespace(netns):
    """A TCP socket made inside /var/run/netns/<netns> (by a thread that enters it; a socket
    stays in the namespace it was made in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def make():
        fd = os.open("/var/run/netns/" + netns, os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                out["error"] = os.strerror(ctypes.get_errno())
                return
            out["sock"] = socket.socket()
        finally:
            os.close(fd)
    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "error" in out:
        raise OSError(out["error"])
    return out["sock"]


def drain_in_namespace(netns, ip, port, size):
    """The same read from inside the container network's namespace, straight to the container
    (no proxy). MiB/s, or None."""
    s = socket_in_namespace(netns)
    with s:
        s.settimeout(30)
        try:
            s.connect((ip, port))
        except OSError:
            return None
        return read_all(s, size)


def api(url, method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("OpenStack-API-Version", "container 1.40")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=180) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` cleans up
    size = SIZE_MIB << 20
    count = size // 65536
    state = vm_state_dir("zvb-")
    daemon = Zunvmd(state_dir=state, driver="libvirt").start(timeout=60)
    host_port, local_port = free_port(), free_port()
    local = subprocess.Popen(["busybox", "sh", "-c", SERVE % (count, local_port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api(daemon.url, "POST", "/v1/containers?run=true",
            {"name": "bench", "image": "busybox", "memory": "512", "command": ["sh", "-c", SERVE % (count, 5001)],
             "exposed_ports": {"5001/tcp": {"host_port": host_port}}})
        wait_for(lambda: api(daemon.url, "GET", "/v1/containers/bench")["status"] == "Running", 180, "Running")
        wait_for(lambda: drain(host_port, 65536 * 16) and True, 60, "the container's server")
        c = api(daemon.url, "GET", "/v1/containers/bench")
        (net, [addr]), = c["addresses"].items()
        netns, ip = "zvn-" + net.replace("-", "")[:8], addr["addr"]
        published, loopback, direct = [], [], []
        for _ in range(ROUNDS):
            loopback.append(wait_for(lambda: drain(local_port, size), 60, "loopback round"))
            published.append(wait_for(lambda: drain(host_port, size), 120, "published round"))
            direct.append(wait_for(lambda: drain_in_namespace(netns, ip, 5001, size), 120, "direct round"))
        p, lo = statistics.median(published), statistics.median(loopback)
        print("date: %s, cpus: %d, load: %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), os.cpu_count(),
                                                open("/proc/loadavg").read().split()[:3]))
        print("transfer: %d MiB per round, %d rounds, virt type %s" % (SIZE_MIB, ROUNDS,
                                                                      os.environ.get("ZUNVM_VIRT_TYPE", "qemu")))
        print("| path | median MiB/s | rounds |")
        print("| --- | --- | --- |")
        print("| host loopback (busybox nc on the host) | %.1f | %s |" % (lo, ", ".join("%.0f" % x for x in loopback)))
        print("| container -> 127.0.0.1 published port | %.1f | %s |" % (p, ", ".join("%.1f" % x for x in published)))
        d = statistics.median(direct)
        print("| container -> its network's namespace, no proxy | %.1f | %s |" % (d, ", ".join("%.1f" % x for x in direct)))
        print("ratio published / loopback: %.4f" % (p / lo))
        print("ratio published / direct (the proxy's share): %.2f" % (p / d))
    finally:
        local.kill()
        try:
            api(daemon.url, "DELETE", "/v1/containers/bench?force=true")
            wait_for(lambda: not api(daemon.url, "GET", "/v1/containers")["containers"], 120, "cleanup")
        finally:
            daemon.stop()
            remove_vm_state(state)


if __name__ == "__main__":
    main()
