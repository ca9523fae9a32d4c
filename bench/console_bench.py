#!/usr/bin/python3
"""Console benchmark (issue 19), in one run on this machine (domain type qemu = TCG):

1. The floor, at the agent: `build/agent_bench --console` boots a VM of the same guest image and
   measures the agent's bare request round trip (guest_details) and a keystroke's echo at the
   agent (write_stdin of one byte to `stty raw -echo; cat` on a tty, to its output event),
   medians of 200.
2. Through zunvmd's console: an interactive container, an interactive exec of the same
   `stty raw -echo; cat` opened by its proxy_url with websocket-client (subprotocol binary, as
   the CLI): one byte sent, its echo received; median and p90 of 200. Ratio to (1).
3. Throughput through attach: an interactive tty container running
   `read x; head -c N /dev/zero` (with a tty, and again with pipes); attached, Enter sent, bytes received per second
   until the close frame; against the same producer writing to /dev/null in the same container
   (timed by /proc/uptime around it, through a plain exec). Ratio.

Prints a table and one JSON line. Asserts nothing about speed.
Needs root, libvirtd (guest/start-libvirt.sh), build/zunvmd, build/agent_bench, build/guest.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir  # noqa: E402

HEADERS = {"OpenStack-API-Version": "container 1.40", "Content-Type": "application/json"}


def api(z, method, path, body=None):
    """(HTTP status, parsed JSON or None)."""
    req = urllib.request.Request(z.url + path, method=method, headers=HEADERS,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_status(z, uuid, want, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, c = api(z, "GET", "/v1/containers/" + uuid)
        if st == 200 and c["status"] == want:
            return c
        time.sleep(0.05)
    raise RuntimeError("container %s never reached %s" % (uuid, want))


def connect(url):
    return websocket.create_connection(url, subprotocols=["binary", "base64"], timeout=60)


def echo_rtts(z, uuid, n):
    q = urllib.parse.quote('sh -c "stty raw -echo; echo ready; exec cat"')
    st, e = api(z, "POST", "/v1/containers/%s/execute?command=%s&interactive=true&run=false" % (uuid, q))
    assert st == 200, e
    ws = connect(e["proxy_url"])
    got = b""
    while b"ready" not in got:
        got += ws.recv()
    rtts = []
    for i in range(n):
        key = bytes([ord("a") + i % 26])
        t0 = time.perf_counter()
        ws.send_binary(key)
        got = b""
        while key not in got:
            got += ws.recv()
        rtts.append((time.perf_counter() - t0) * 1000)
    ws.close()
    return rtts


def attach_throughput(z, blocks, tty):
    body = {"image": "busybox", "interactive": True, "tty": tty,
            "command": ["sh", "-c", "read x; head -c %d /dev/zero" % (blocks * 65536)]}
    st, c = api(z, "POST", "/v1/containers?run=true", body)
    assert st == 202, c
    wait_status(z, c["uuid"], "Running")
    # The producer alone, in the same container, timed by the guest's clock (/proc/uptime:
    # centiseconds; the run takes about a second).
    script = "cat /proc/uptime; head -c %d /dev/zero >/dev/null; cat /proc/uptime" % (blocks * 65536)
    st, r = api(z, "POST", "/v1/containers/%s/execute?command=%s&run=true" % (
        c["uuid"], urllib.parse.quote("sh -c '%s'" % script)))
    t = [float(line.split()[0]) for line in r["output"].split("\n") if line.strip()]
    null_mb_s = blocks * 65536 / 1e6 / max(t[1] - t[0], 0.01)
    st, url = api(z, "GET", "/v1/containers/%s/attach" % c["uuid"])
    ws = connect(url)
    total = 0
    t0 = time.perf_counter()
    ws.send_binary(b"\r" if tty else b"\n")
    try:
        while True:
            data = ws.recv()
            if not data:
                break
            total += len(data)
    except websocket.WebSocketConnectionClosedException:
        pass
    secs = time.perf_counter() - t0
    api(z, "DELETE", "/v1/containers/%s?force=true" % c["uuid"])
    return total, total / 1e6 / secs, null_mb_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=512, help="64 KiB blocks the producer writes")
    args = ap.parse_args()
    floor = subprocess.run([os.path.join(ROOT, "build", "agent_bench"), "--console"], capture_output=True,
                           text=True, timeout=900)
    if floor.returncode != 0:
        sys.exit("agent_bench --console failed: " + floor.stderr[-2000:])
    agent = json.loads(floor.stdout.strip().splitlines()[-1])

    state = vm_state_dir("zcb-")
    z = Zunvmd(state_dir=state, driver="libvirt").start()
    try:
        st, c = api(z, "POST", "/v1/containers?run=true",
                    {"image": "busybox", "command": ["sleep", "3600"], "interactive": True, "tty": True})
        assert st == 202, c
        wait_status(z, c["uuid"], "Running")
        rtts = echo_rtts(z, c["uuid"], args.rounds)
        api(z, "DELETE", "/v1/containers/%s?force=true" % c["uuid"])
        total, attach_mb_s, null_mb_s = attach_throughput(z, args.blocks, True)
        ptotal, pipe_mb_s, pnull_mb_s = attach_throughput(z, args.blocks, False)
    finally:
        z.stop()
        remove_vm_state(state)
    ws_ms = statistics.median(rtts)
    p90 = sorted(rtts)[int(0.9 * len(rtts))]
    print("%-46s %10s" % ("", "ms / MB/s"))
    print("%-46s %10.2f" % ("agent request round trip, median", agent["call_ms"]))
    print("%-46s %10.2f" % ("agent keystroke echo, median", agent["echo_ms"]))
    print("%-46s %10.2f (p90 %.2f)" % ("websocket keystroke echo, median", ws_ms, p90))
    print("%-46s %10.2f" % ("websocket echo / agent request", ws_ms / agent["call_ms"]))
    print("%-46s %10.2f" % ("websocket echo / agent echo", ws_ms / agent["echo_ms"]))
    print("%-46s %10.1f (%d bytes)" % ("attach throughput, tty", attach_mb_s, total))
    print("%-46s %10.1f" % ("producer to /dev/null", null_mb_s))
    print("%-46s %10.2f" % ("attach / producer, tty", attach_mb_s / null_mb_s))
    print("%-46s %10.1f (%d bytes)" % ("attach throughput, pipes", pipe_mb_s, ptotal))
    print("%-46s %10.2f" % ("attach / producer, pipes", pipe_mb_s / pnull_mb_s))
    print(json.dumps({"agent": agent, "ws_echo_ms": ws_ms, "ws_echo_p90_ms": p90, "attach_mb_s": attach_mb_s,
                      "attach_bytes": total, "producer_mb_s": null_mb_s, "attach_pipes_mb_s": pipe_mb_s,
                      "producer_pipes_mb_s": pnull_mb_s}))


if __name__ == "__main__":
    main()
