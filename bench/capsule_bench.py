#!/usr/bin/python3
"""Capsule benchmark (issue 21), in one run against zunvmd with the libvirt driver (TCG here).

A 3-member capsule (three busybox `sleep` containers in one VM) against 3 separate containers
(three VMs), alternating, N rounds (default 3) after one unmeasured warm-up of each:
1. Time to all members running: from the POST(s) to every member's status Running.
2. Host memory: the PSS (smaps_rollup) of the capsule's one qemu against the sum over the three
   containers' qemus, read once everything runs (and after a settle of 3 s).

Prints a table and writes build/bench-capsules/results.json. Asserts nothing about speed.
Needs root, libvirtd (guest/start-libvirt.sh), build/zunvmd and build/guest.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from zunvmd_proc import Zunvmd, api_request, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

MEMBER = {"image": "busybox", "command": ["sleep", "100000"], "imagePullPolicy": "IfNotPresent",
          "resources": {"requests": {"cpu": 0.5, "memory": 128}}}


def qemu_pss_kib(domain):
    with open("/run/libvirt/qemu/%s.pid" % domain) as f:
        pid = f.read().strip()
    with open("/proc/%s/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("ZUNVMD", os.path.join(ROOT, "build", "zunvmd"))
    subprocess.run([os.path.join(ROOT, "guest", "start-libvirt.sh")], check=True, stdout=subprocess.DEVNULL)
    state = vm_state_dir("zcapb-")
    d = Zunvmd(state_dir=state, driver="libvirt").start(timeout=60)
    url = d.url

    def status(kind, uuid):
        return api_request(url, "GET", "/v1/%s/%s" % (kind, uuid))[1]

    def capsule_round():
        t0 = time.monotonic()
        code, c = api_request(url, "POST", "/v1/capsules",
                              {"template": {"kind": "capsule", "metadata": {"name": "bench"},
                                            "spec": {"containers": [MEMBER] * 3}}})
        assert code == 202, c
        uuid = c["uuid"]
        wait_for(lambda: [m["status"] for m in status("capsules", uuid)["containers"]] == ["Running"] * 3, 300, "members")
        took = time.monotonic() - t0
        time.sleep(3)
        pss = qemu_pss_kib("zunvm-" + uuid)
        api_request(url, "DELETE", "/v1/capsules/" + uuid)
        wait_for(lambda: api_request(url, "GET", "/v1/capsules/" + uuid)[0] == 404, 120, "capsule gone")
        return took, pss

    def containers_round():
        t0 = time.monotonic()
        uuids = []
        for _ in range(3):
            code, c = api_request(url, "POST", "/v1/containers?run=true",
                                  {"image": "busybox", "command": ["sleep", "100000"], "cpu": 0.5, "memory": "128"})
            assert code == 202, c
            uuids.append(c["uuid"])
        wait_for(lambda: all(status("containers", u)["status"] == "Running" for u in uuids), 300, "containers")
        took = time.monotonic() - t0
        time.sleep(3)
        pss = sum(qemu_pss_kib("zunvm-" + u) for u in uuids)
        for u in uuids:
            api_request(url, "DELETE", "/v1/containers/%s?force=true" % u)
        wait_for(lambda: all(api_request(url, "GET", "/v1/containers/" + u)[0] == 404 for u in uuids), 120, "gone")
        return took, pss

    results = {"capsule": [], "containers": []}
    try:
        capsule_round()
        containers_round()
        for _ in range(args.rounds):
            results["capsule"].append(capsule_round())
            results["containers"].append(containers_round())
    finally:
        d.stop()
        remove_vm_state(state)
    cap_t = statistics.median(t for t, _ in results["capsule"])
    con_t = statistics.median(t for t, _ in results["containers"])
    cap_m = statistics.median(m for _, m in results["capsule"]) / 1024
    con_m = statistics.median(m for _, m in results["containers"]) / 1024
    print("%-36s %10s %14s %8s" % ("", "capsule", "3 containers", "ratio"))
    print("%-36s %9.2fs %13.2fs %8.2f" % ("time to all 3 running (median)", cap_t, con_t, cap_t / con_t))
    print("%-36s %7.0fMiB %11.0fMiB %8.2f" % ("host memory, qemu PSS (median)", cap_m, con_m, cap_m / con_m))
    out = os.path.join(ROOT, "build", "bench-capsules")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"rounds": results, "capsule_s": cap_t, "containers_s": con_t, "capsule_pss_mib": cap_m,
                   "containers_pss_mib": con_m}, f, indent=1)


if __name__ == "__main__":
    main()
