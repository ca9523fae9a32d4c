#!/usr/bin/python3
"""What `mitigations=off nokaslr` on the guest kernel's command line buys, in one run.

Two zunvmd (libvirt driver, release build, TCG here) side by side: `default` boots the guest
with zunvmd's default command line, `off` appends `mitigations=off nokaslr` through
[guest] kernel_cmdline_extra. Rounds alternate between them; each round measures, per daemon:

* create-and-run: POST /v1/containers?run=true of `echo ready` until its output is in the logs;
* a system-call-bound exec: `dd if=/dev/zero of=/dev/null bs=1 count=N` (two syscalls a byte),
  timed inside the guest by the agent's exec round trip;
* a fork/exec-bound exec: `/bin/true` run M times by a shell loop.

It also reports what the guest kernel says about itself under each command line: the CPU
vulnerability files (/sys/devices/system/cpu/vulnerabilities) and whether its text moves from
one boot to the next (`_text` in /proc/kallsyms, read by a privileged container): with PVH
direct boot of an uncompressed vmlinux the decompressor that randomises the kernel never runs.

Usage: bench/guest_cmdline_bench.py [--rounds 5] [--dd-bytes 200000] [--forks 300]
Needs root, libvirtd, build/zunvmd and build/guest (scripts/run.sh or test.sh make them).
"""
import argparse
import json
import os
import statistics
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

import urllib.request  # noqa: E402

OFF = "mitigations=off nokaslr"


def api(d, method, path, body=None, timeout=600):
    req = urllib.request.Request(d.url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("OpenStack-API-Version", "container 1.40")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


def run_and_wait(d, name, command, privileged=False):
    body = {"name": name, "image": "busybox", "command": command}
    if privileged:
        body["privileged"] = True
    t0 = time.monotonic()
    code, c = api(d, "POST", "/v1/containers?run=true", body)
    assert code == 202, c
    return t0


def create_and_run(d, name):
    t0 = run_and_wait(d, name, ["echo", "ready"])
    wait_for(lambda: "ready" in (api(d, "GET", "/v1/containers/%s/logs" % name)[1] or ""), 300,
             name + " output")
    return time.monotonic() - t0


def wait_running(d, name):
    wait_for(lambda: api(d, "GET", "/v1/containers/" + name)[1]["status"] == "Running", 300,
             name + " Running")


def exec_seconds(d, name, cmd):
    t0 = time.monotonic()
    code, r = api(d, "POST", "/v1/containers/%s/execute?run=true&command=%s" %
                  (name, urllib.parse.quote(cmd)))
    assert code == 200 and r["exit_code"] == 0, r
    return time.monotonic() - t0


def guest_facts(d, name):
    wait_running(d, name)
    _, vulns = api(d, "POST", "/v1/containers/%s/execute?run=true&command=%s" % (
        name, urllib.parse.quote("sh -c 'cd /sys/devices/system/cpu/vulnerabilities && grep . *'")))
    _, text = api(d, "POST", "/v1/containers/%s/execute?run=true&command=%s" % (
        name, urllib.parse.quote("sh -c 'grep \" _text$\" /proc/kallsyms'")))
    return vulns["output"].strip().splitlines(), text["output"].split()[0] if text["output"] else "?"


def delete(d, name):
    api(d, "DELETE", "/v1/containers/%s?force=true" % name)
    wait_for(lambda: api(d, "GET", "/v1/containers/" + name)[0] == 404, 300, name + " deleted")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dd-bytes", type=int, default=200000)
    ap.add_argument("--forks", type=int, default=300)
    args = ap.parse_args()
    conf = "[api]\nallow_privileged = true\n"
    daemons = {}
    try:
        for kind, extra in (("default", ""), ("off", OFF)):
            state = vm_state_dir("zcb-")
            text = conf + ("[guest]\nkernel_cmdline_extra = %s\n" % extra if extra else "")
            daemons[kind] = (Zunvmd(state_dir=state, driver="libvirt", config_text=text).start(60), state)
        samples = {k: {"create_and_run": [], "dd": [], "forks": []} for k in daemons}
        facts = {k: [] for k in daemons}
        for i in range(args.rounds + 1):  # round 0 warms up
            for kind, (d, _) in daemons.items():
                t = create_and_run(d, "echo%d" % i)
                delete(d, "echo%d" % i)
                run_and_wait(d, "busy%d" % i, ["sleep", "3600"])
                wait_running(d, "busy%d" % i)
                dd = exec_seconds(d, "busy%d" % i, "dd if=/dev/zero of=/dev/null bs=1 count=%d" % args.dd_bytes)
                forks = exec_seconds(d, "busy%d" % i, "sh -c 'i=0; while [ $i -lt %d ]; do /bin/true; "
                                     "i=$((i+1)); done'" % args.forks)
                delete(d, "busy%d" % i)
                if i < 2:  # two boots each: does the kernel text move?
                    run_and_wait(d, "facts%d" % i, ["sleep", "3600"], privileged=True)
                    facts[kind].append(guest_facts(d, "facts%d" % i))
                    delete(d, "facts%d" % i)
                if i == 0:
                    continue
                samples[kind]["create_and_run"].append(t)
                samples[kind]["dd"].append(dd)
                samples[kind]["forks"].append(forks)
        print("medians of %d rounds (seconds), ratio = default / off" % args.rounds)
        print("%-16s %10s %10s %8s" % ("", "default", "off", "ratio"))
        for what in ("create_and_run", "dd", "forks"):
            a = statistics.median(samples["default"][what])
            b = statistics.median(samples["off"][what])
            print("%-16s %10.3f %10.3f %8.3f" % (what, a, b, a / b))
        for kind in daemons:
            vulns, texts = facts[kind][0][0], [f[1] for f in facts[kind]]
            print("\n[%s] _text over two boots: %s" % (kind, " ".join(texts)))
            for v in vulns:
                print("  " + v)
    finally:
        for d, state in daemons.values():
            d.stop()
            remove_vm_state(state)


if __name__ == "__main__":
    main()
