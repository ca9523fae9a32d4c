#!/usr/bin/python3
"""Soak (issue 23): N clients send mixed API traffic to one zunvmd for a bounded time, against
real VMs (domain type qemu = TCG here), on loopback only.

Each client keeps at most one container of its own and loops: run it (POST ?run=true, then GET
until Running), then at random exec `echo`, logs, show, list, stop and start again, or delete it
(force) and start over. Every call's latency and status are recorded.

Reports: requests, 4xx, 5xx (must be 0), zunvmd's RSS at start (after the first containers
run), middle and end (flat: end within --rss-margin of the middle), p50/p99 per call, and after
deleting everything the leaked domains, disks and sandbox dirs (must be 0). Exit status 1 when a
bar fails. Writes build/bench-soak/results.json.

  bench/soak.py --clients 16 --seconds 600     # the note's run
  bench/soak.py --clients 4 --seconds 60       # e2e_soak in the suite
Needs root, libvirtd (guest/start-libvirt.sh), build/zunvmd, build/guest.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir  # noqa: E402

HEADERS = {"OpenStack-API-Version": "container 1.40", "Content-Type": "application/json"}
BOOT = 180  # seconds a container may take to run here under load


class Stats:
    def __init__(self):
        self.mu = threading.Lock()
        self.calls = {}  # name -> [latencies]
        self.codes = {}  # status -> count
        self.errors = []  # the first few 5xx / transport errors
        self.made = set()  # uuids of every container the clients made

    def add(self, name, seconds, status, body):
        with self.mu:
            self.calls.setdefault(name, []).append(seconds)
            self.codes[status] = self.codes.get(status, 0) + 1
            if (status >= 500 or status == 0) and len(self.errors) < 10:
                self.errors.append((name, status, body[:300]))


class Client(threading.Thread):
    def __init__(self, idx, port, stats, deadline, seed):
        super().__init__(daemon=True)
        self.idx, self.port, self.stats, self.deadline = idx, port, stats, deadline
        self.rng = random.Random(seed)
        self.conn = None
        self.uuid = None
        self.failure = None

    def call(self, name, method, path, body=None):
        t0 = time.monotonic()
        status, text = 0, ""
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=BOOT)
                self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
                r = self.conn.getresponse()
                status, text = r.status, r.read().decode(errors="replace")
                break
            except (OSError, http.client.HTTPException) as e:
                self.conn = None
                status, text = 0, repr(e)
        self.stats.add(name, time.monotonic() - t0, status, text)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def wait_status(self, want):
        end = time.monotonic() + BOOT
        while time.monotonic() < end:
            code, c = self.call("show", "GET", "/v1/containers/" + self.uuid)
            if code == 200 and c["status"] == want and not c.get("task_state"):
                return True
            if code == 404 and want == "gone":
                return True
            if code == 200 and c["status"] == "Error":
                self.failure = "container %s went to Error: %s" % (self.uuid, c.get("status_reason"))
                return False
            time.sleep(0.2)
        self.failure = "container %s not %s within %d s" % (self.uuid, want, BOOT)
        return False

    def run(self):
        n = 0
        while time.monotonic() < self.deadline and not self.failure:
            if self.uuid is None:
                n += 1
                code, c = self.call("run", "POST", "/v1/containers?run=true",
                                    {"name": "soak-%d-%d" % (self.idx, n), "image": "busybox",
                                     "command": ["sh", "-c", "echo started; sleep 100000"]})
                if code != 202:
                    continue
                self.uuid = c["uuid"]
                with self.stats.mu:
                    self.stats.made.add(self.uuid)
                self.wait_status("Running")
                continue
            pick = self.rng.random()
            base = "/v1/containers/" + self.uuid
            if pick < 0.40:
                self.call("exec", "POST", base + "/execute?run=true", {"command": "echo soak"})
            elif pick < 0.60:
                self.call("logs", "GET", base + "/logs?stdout=true&stderr=true")
            elif pick < 0.70:
                self.call("show", "GET", base)
            elif pick < 0.82:
                self.call("list", "GET", "/v1/containers")
            elif pick < 0.91:
                if self.call("stop", "POST", base + "/stop?timeout=1")[0] == 202 and self.wait_status("Stopped"):
                    if self.call("start", "POST", base + "/start")[0] == 202:
                        self.wait_status("Running")
            else:
                if self.call("delete", "DELETE", base + "?force=true")[0] == 204:
                    self.wait_status("gone")
                self.uuid = None


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def leaks(state, made):
    virsh = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"], capture_output=True, text=True,
                           timeout=60).stdout.split()
    sandboxes = os.path.join(state, "sandboxes")
    disks = os.path.join(state, "images", "containers")
    return {"domains": [d for d in virsh if d.startswith("zunvm-") and d[len("zunvm-"):] in made],
            "disks": os.listdir(disks) if os.path.isdir(disks) else [],
            "sandbox_dirs": os.listdir(sandboxes) if os.path.isdir(sandboxes) else []}


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rss-margin", type=float, default=0.25, help="end RSS may exceed the middle's by this share")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-soak"))
    args = ap.parse_args()
    state = vm_state_dir("zsoak-")
    daemon = Zunvmd(state_dir=state, driver="libvirt", config_text="[DEFAULT]\nworkers = 16\n").start(timeout=60)
    stats = Stats()
    result = {}
    try:
        pid = daemon.proc.pid
        started = time.monotonic()
        deadline = started + args.seconds
        clients = [Client(i, daemon.port, stats, deadline, 1000 + i) for i in range(args.clients)]
        for c in clients:
            c.start()
        rss = {}
        # "start": once the first round of containers runs (10% of the time); "middle"; "end".
        for label, at in (("start", 0.1), ("middle", 0.5)):
            time.sleep(max(0, started + at * args.seconds - time.monotonic()))
            rss[label] = rss_kib(pid)
        for c in clients:
            c.join(timeout=args.seconds + BOOT * 3)
        rss["end"] = rss_kib(pid)
        elapsed = time.monotonic() - started
        # Everything deleted, then what is left.
        probe = Client(-1, daemon.port, Stats(), 0, 0)
        code, body = probe.call("list", "GET", "/v1/containers")
        for c in body.get("containers", []) if code == 200 else []:
            probe.call("delete", "DELETE", "/v1/containers/%s?force=true" % c["uuid"])
        end = time.monotonic() + BOOT
        while time.monotonic() < end and probe.call("list", "GET", "/v1/containers")[1].get("containers"):
            time.sleep(0.5)
        left = leaks(state, stats.made)
        total = sum(len(v) for v in stats.calls.values())
        five = sum(n for code, n in stats.codes.items() if code >= 500 or code == 0)
        four = sum(n for code, n in stats.codes.items() if 400 <= code < 500)
        result = {
            "clients": args.clients, "seconds": round(elapsed, 1), "requests": total, "4xx": four, "5xx": five,
            "rss_kib": rss, "leaks": {k: len(v) for k, v in left.items()}, "leaked": left,
            "client_failures": [c.failure for c in clients if c.failure], "errors": stats.errors,
            "latency_ms": {name: {"n": len(v), "p50": round(pct(v, 50) * 1000, 1), "p99": round(pct(v, 99) * 1000, 1),
                                  "mean": round(statistics.mean(v) * 1000, 1)} for name, v in sorted(stats.calls.items())},
        }
    finally:
        daemon.stop()
        remove_vm_state(state)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("soak: %d clients, %.0f s, %d requests (%.1f/s), 4xx %d, 5xx %d" % (
        result["clients"], result["seconds"], result["requests"], result["requests"] / result["seconds"],
        result["4xx"], result["5xx"]))
    print("zunvmd RSS MiB: start %.1f, middle %.1f, end %.1f" % tuple(result["rss_kib"][k] / 1024.0
                                                                    for k in ("start", "middle", "end")))
    print("left after deleting everything: %s" % result["leaks"])
    print("%-8s %7s %9s %9s %9s" % ("call", "n", "p50 ms", "p99 ms", "mean ms"))
    for name, v in result["latency_ms"].items():
        print("%-8s %7d %9.1f %9.1f %9.1f" % (name, v["n"], v["p50"], v["p99"], v["mean"]))
    failed = []
    if result["5xx"]:
        failed.append("5xx: %s" % result["errors"])
    if any(result["leaks"].values()):
        failed.append("leaks: %s" % result["leaked"])
    if result["client_failures"]:
        failed.append("clients: %s" % result["client_failures"])
    if result["rss_kib"]["end"] > result["rss_kib"]["middle"] * (1 + args.rss_margin):
        failed.append("RSS grew from %d to %d KiB" % (result["rss_kib"]["middle"], result["rss_kib"]["end"]))
    for f in failed:
        print("FAIL: " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
