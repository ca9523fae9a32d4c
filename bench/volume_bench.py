#!/usr/bin/python3
"""Volume benchmark (issue 20), in one run against zunvmd with the libvirt driver (TCG here).

1. Throughput: sequential write then read of SIZE MiB (default 256) with dd and direct I/O
   (`oflag=direct` / `iflag=direct`, 1 MiB blocks) on a zunvmd volume inside the guest (busybox
   dd, timed around its exec less an empty exec's round trip), against the same dd on a file in
   the same directory of the host. Ratio guest/host per direction.
2. Create-and-run: `POST /v1/containers?run=true` running `echo ready`, timed to `ready` in the
   logs, with one volume (`source=` a fresh named volume each time) and without, alternating,
   N rounds (default 4) after one unmeasured warm-up of each. Reports medians and the delta.

Prints a table and writes build/bench-volumes/results.json. Asserts nothing about speed.
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


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256, help="MiB to write and read")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    os.environ.setdefault("ZUNVMD", os.path.join(ROOT, "build", "zunvmd"))
    subprocess.run([os.path.join(ROOT, "guest", "start-libvirt.sh")], check=True, stdout=subprocess.DEVNULL)
    state = vm_state_dir("zvolb-")
    d = Zunvmd(state_dir=state, driver="libvirt", config_text="[DEFAULT]\nexecute_timeout = 300\n").start(timeout=60)
    results = {}
    try:
        url = d.url

        def run(body):
            code, c = api_request(url, "POST", "/v1/containers?run=true", body)
            if code != 202:
                raise RuntimeError("create: %s %s" % (code, c))
            return c["uuid"]

        def running(uuid):
            return api_request(url, "GET", "/v1/containers/" + uuid)[1]["status"] == "Running"

        def sh(uuid, script):
            code, r = api_request(url, "POST", "/v1/containers/%s/execute?run=true" % uuid,
                                  {"command": "sh -c '%s'" % script}, timeout=600)
            if code != 200 or r["exit_code"] != 0:
                raise RuntimeError("exec %s: %s %s" % (script, code, r))
            return r["output"]

        def delete(uuid):
            api_request(url, "DELETE", "/v1/containers/%s?force=true" % uuid)
            wait_for(lambda: api_request(url, "GET", "/v1/containers/" + uuid)[0] == 404, 120, "deleted")

        # 1. Throughput.
        uuid = run({"image": "busybox", "command": ["sleep", "100000"],
                    "mounts": [{"source": "bench", "destination": "/data"}]})
        wait_for(lambda: running(uuid), 180, "running")
        n = args.size
        # busybox dd prints no rate: each dd is timed around its exec, less an empty exec's
        # round trip (median of 5), and the host's dd around its process.
        def took(fn):
            t0 = time.monotonic()
            fn()
            return time.monotonic() - t0
        empty = statistics.median(took(lambda: sh(uuid, "true")) for _ in range(5))
        g_w = n / (took(lambda: sh(uuid, "dd if=/dev/zero of=/data/f bs=1M count=%d oflag=direct 2>&1" % n)) - empty)
        drop_caches()  # the read comes from the disk, not from the host's page cache
        g_r = n / (took(lambda: sh(uuid, "dd if=/data/f of=/dev/null bs=1M iflag=direct 2>&1")) - empty)
        host_file = os.path.join(state, "volumes", "host-dd")
        dd = lambda *a: subprocess.run(["dd", "bs=1M", *a], capture_output=True, check=True)  # noqa: E731
        h_w = n / took(lambda: dd("if=/dev/zero", "of=" + host_file, "count=%d" % n, "oflag=direct"))
        drop_caches()
        h_r = n / took(lambda: dd("if=" + host_file, "of=/dev/null", "iflag=direct"))
        os.unlink(host_file)
        delete(uuid)
        results["throughput_mib_s"] = {"guest_write": g_w, "guest_read": g_r, "host_write": h_w, "host_read": h_r,
                                       "write_ratio": g_w / h_w, "read_ratio": g_r / h_r, "size_mib": n}

        # 2. Create-and-run with and without a volume.
        def timed(with_volume, i):
            body = {"image": "busybox", "command": ["echo", "ready"]}
            if with_volume:
                body["mounts"] = [{"source": "b%d" % i, "destination": "/data"}]
            t0 = time.monotonic()
            uuid = run(body)
            api_s.append(time.monotonic() - t0)
            wait_for(lambda: "ready" in (api_request(url, "GET", "/v1/containers/%s/logs" % uuid)[1] or ""), 180, "ready")
            dt = time.monotonic() - t0
            delete(uuid)
            if with_volume:
                api_request(url, "DELETE", "/v1/volumes/b%d" % i)
            return dt

        api_s = []
        timed(False, 0), timed(True, 0)  # warm-up: image disk, page cache
        plain, vol, api_plain, api_vol = [], [], [], []
        for i in range(1, args.rounds + 1):
            for w in ((False, True) if i % 2 else (True, False)):
                (vol if w else plain).append(timed(w, i))
                (api_vol if w else api_plain).append(api_s[-1])
        results["create_and_run_s"] = {"without": plain, "with_volume": vol,
                                       "median_without": statistics.median(plain),
                                       "median_with_volume": statistics.median(vol),
                                       "delta": statistics.median(vol) - statistics.median(plain),
                                       # the POST's own time: with a new named volume it makes the disk (mkfs)
                                       "median_post_without": statistics.median(api_plain),
                                       "median_post_with_volume": statistics.median(api_vol)}
    finally:
        d.stop()
        remove_vm_state(state)
    out = os.path.join(ROOT, "build", "bench-volumes")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    t = results["throughput_mib_s"]
    print("| %d MiB, direct I/O | guest (volume) MiB/s | host file MiB/s | guest/host |" % t["size_mib"])
    print("| --- | --- | --- | --- |")
    print("| write | %.1f | %.1f | %.2f |" % (t["guest_write"], t["host_write"], t["write_ratio"]))
    print("| read | %.1f | %.1f | %.2f |" % (t["guest_read"], t["host_read"], t["read_ratio"]))
    c = results["create_and_run_s"]
    print("\ncreate-and-run (echo ready in the logs), %d rounds: median without %.2f s, with one volume %.2f s, delta %+.2f s"
          % (len(c["without"]), c["median_without"], c["median_with_volume"], c["delta"]))
    print("of which the POST (202; with the volume: its mkfs): %.3f s vs %.3f s"
          % (c["median_post_without"], c["median_post_with_volume"]))


if __name__ == "__main__":
    main()
