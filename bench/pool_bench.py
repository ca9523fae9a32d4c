#!/usr/bin/python3
"""Warm-pool benchmark (issue 18): cold creates against creates from the pool, in one run, on
this machine (domain type qemu = TCG).

1. Cold: zunvmd with [pool] size = 0. 1 unmeasured + N measured `POST /v1/containers?run=true`
   {"image": "busybox", "command": ["echo", "ready"]}: seconds from just before the POST to
   `ready` in GET .../logs (polled every 10 ms), and the driver's stages from sandbox.json.
   Then 3 idle cold sandboxes (`sleep 3600`): qemu PSS and private memory.
2. Warm: zunvmd with [pool] size = 2. Before each create both pool VMs are ready (their
   directories say `ready`); the same create, timed the same way, with the claim's steps from
   sandbox.json (identity, disks hot-plugged, NICs plugged, container created, NICs configured).
3. Memory: --idle sandboxes (`sleep 3600`) from the pool, idle 5 s, then per qemu PSS (its
   private pages + its share of the template's pages), private and shared memory, and the
   template's size on tmpfs.
4. Density: more sandboxes from the pool up to --density in all, each answering
   `exec echo ok` (timed), and the host memory they take (sum of qemu PSS, MemAvailable drop).

Prints a table, writes build/bench-pool/results.json. Asserts nothing about speed.
Needs root, libvirtd (guest/start-libvirt.sh), build/zunvmd, build/guest (the minimal kernel;
--guest-dir build/guest-debian for Debian's) and busybox.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADERS = {"OpenStack-API-Version": "container 1.40", "Content-Type": "application/json"}
ECHO = {"image": "busybox", "command": ["echo", "ready"]}
SLEEP = {"image": "busybox", "command": ["sleep", "3600"]}


def log(msg=""):
    print(msg, flush=True)


class Daemon:
    def __init__(self, binary, state, pool_size, tb_cache_mib, guest_dir=None):
        self.state = state
        conf = os.path.join(state, "zunvm.conf")
        with open(conf, "w") as f:
            f.write(f"[DEFAULT]\ncontainer_driver = libvirt\n[libvirt]\nvirt_type = qemu\n"
                    f"tb_cache_mib = {tb_cache_mib}\n[pool]\nsize = {pool_size}\n")
            if guest_dir:
                f.write(f"[guest]\nkernel = {guest_dir}/vmlinux\ninitrd = {guest_dir}/initramfs.cpio\n")
        self.log_path = os.path.join(state, f"zunvmd-{pool_size}.log")
        logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "--config-file", conf, "--state-dir", state, "--port", "0"],
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        self.port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"zunvmd listening on http://127\.0\.0\.1:(\d+)", open(self.log_path).read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError(open(self.log_path).read())
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("zunvmd did not start")

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request(method, path, json.dumps(body) if body is not None else None, HEADERS)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.01)
        raise RuntimeError("timed out: " + what)

    def run_echo(self):
        t0 = time.monotonic()
        code, c = self.request("POST", "/v1/containers?run=true", ECHO)
        assert code == 202, c
        uuid = c["uuid"]

        def output():
            code, text = self.request("GET", f"/v1/containers/{uuid}/logs")
            if code == 200 and "ready" in (text or ""):
                return True
            if code != 200 and self.request("GET", f"/v1/containers/{uuid}")[1]["status"] == "Error":
                raise RuntimeError(self.request("GET", f"/v1/containers/{uuid}")[1]["status_reason"])
            return False
        self.wait(output, 120, "output")
        total = time.monotonic() - t0
        with open(os.path.join(self.state, "sandboxes", uuid, "sandbox.json")) as f:
            boot = json.load(f)["boot"]
        self.request("DELETE", f"/v1/containers/{uuid}?force=true")
        return {"total_s": total, "boot": boot}

    def run_sleeper(self):
        # Named: zunvmd's generated names are Zun's short word pairs, which repeat within 50.
        self.sleepers = getattr(self, "sleepers", 0) + 1
        code, c = self.request("POST", "/v1/containers?run=true", dict(SLEEP, name=f"idle-{self.sleepers}"))
        assert code == 202, c
        uuid = c["uuid"]
        self.wait(lambda: self.request("GET", f"/v1/containers/{uuid}")[1]["status"] == "Running", 180, "Running")
        return uuid

    def pool_ready(self, n):
        return len(glob.glob(os.path.join(self.state, "pool", "*", "ready"))) >= n

    def qemu_pid(self, uuid):
        with open(os.path.join(self.state, "sandboxes", uuid, "sandbox.json")) as f:
            name = json.load(f).get("domain") or "zunvm-" + uuid
        with open(f"/run/libvirt/qemu/{name}.pid") as f:
            return int(f.read().strip())

    def delete_all(self):
        for c in self.request("GET", "/v1/containers")[1]["containers"]:
            self.request("DELETE", f"/v1/containers/{c['uuid']}?force=true")
        self.wait(lambda: not self.request("GET", "/v1/containers")[1]["containers"], 300, "all deleted")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)

    def abandon(self):
        """After a failure: delete what it made (best effort), then stop."""
        if self.proc.poll() is None:
            try:
                self.delete_all()
            except Exception as e:  # noqa: BLE001 - the original failure matters more
                log(f"cleanup: {e}")
            self.stop()


def memory(pid):
    """MiB: PSS, private (clean + dirty), shared, PSS of shared memory (the template's pages), RSS."""
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                vals[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"pss": vals.get("Pss", 0), "private": vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0),
            "shared": vals.get("Shared_Clean", 0) + vals.get("Shared_Dirty", 0), "pss_shmem": vals.get("Pss_Shmem", 0),
            "rss": vals.get("Rss", 0)}


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zunvmd", default=os.path.join(ROOT, "build", "zunvmd"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=int, default=10)
    ap.add_argument("--density", type=int, default=50)
    ap.add_argument("--tb-cache-mib", type=int, default=40, help="[libvirt] tb_cache_mib for both daemons")
    ap.add_argument("--guest-dir", help="another guest image (e.g. build/guest-minimal: the minimal kernel)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-pool"))
    args = ap.parse_args()
    subprocess.run([os.path.join(ROOT, "guest", "start-libvirt.sh")], check=True, timeout=120)
    tar = os.path.join(ROOT, "build", "images", "busybox.tar")
    if not os.path.exists(tar):
        subprocess.run([os.path.join(ROOT, "guest", "build-busybox-image.sh"), tar], check=True, timeout=300)
    state = tempfile.mkdtemp(prefix="zpb-", dir="/tmp")
    os.chmod(state, 0o711)  # qemu must reach the sandboxes below it
    subprocess.run([args.zunvmd, "import-image", "--state-dir", state, tar], check=True, capture_output=True)
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "domain_type": "qemu (TCG)",
               "tb_cache_mib": args.tb_cache_mib, "guest_dir": args.guest_dir or os.path.join(ROOT, "build", "guest")}
    d = None
    try:
        # 1. cold
        d = Daemon(args.zunvmd, state, 0, args.tb_cache_mib, args.guest_dir)
        cold = [d.run_echo() for _ in range(args.runs + 1)][1:]
        sleepers = [d.run_sleeper() for _ in range(3)]
        time.sleep(5)  # idle: what a sandbox holds at rest (not synchronisation)
        cold_mem = [memory(d.qemu_pid(u)) for u in sleepers]
        d.delete_all()
        d.stop()
        results["cold"] = {"runs": cold, "memory": cold_mem}
        log(f"cold create-and-run: median {med([r['total_s'] for r in cold]):.3f} s "
            f"({', '.join('%.3f' % r['total_s'] for r in cold)}); idle qemu PSS median "
            f"{med([m['pss'] for m in cold_mem]):.1f} MiB, private {med([m['private'] for m in cold_mem]):.1f} MiB")

        # 2. warm
        d = Daemon(args.zunvmd, state, 2, args.tb_cache_mib, args.guest_dir)
        warm = []
        for i in range(args.runs + 1):
            d.wait(lambda: d.pool_ready(2), 300, "pool ready")
            r = d.run_echo()
            if i:
                warm.append(r)
        steps = ["claim_identity_s", "claim_disks_s", "claim_nics_plugged_s", "claim_container_created_s", "claim_nics_configured_s",
                 "container_started_s"]
        results["warm"] = {"runs": warm}
        log(f"warm create-and-run: median {med([r['total_s'] for r in warm]):.3f} s "
            f"({', '.join('%.3f' % r['total_s'] for r in warm)}); ratio warm/cold "
            f"{med([r['total_s'] for r in warm]) / med([r['total_s'] for r in cold]):.3f}")
        log("  claim steps (median, seconds since the driver began): " +
            ", ".join(f"{s} {med([r['boot'].get(s, float('nan')) for r in warm]):.3f}" for s in steps))

        # 3. idle memory of pool sandboxes
        before = mem_available()
        uuids = []
        for _ in range(args.idle):
            d.wait(lambda: d.pool_ready(1), 300, "a pool VM")
            uuids.append(d.run_sleeper())
        time.sleep(5)  # idle, as above
        idle_mem = [memory(d.qemu_pid(u)) for u in uuids]
        with open(os.path.join(state, "instance-id")) as f:
            tmpl_dir = "/dev/shm/zunvm/" + f.read().strip()  # this zunvmd's templates only
        template = sum(os.path.getsize(p) for p in glob.glob(tmpl_dir + "/*/ram")) / 2**20
        tmpl_used = subprocess.run(["du", "-sm", tmpl_dir], capture_output=True, text=True).stdout.split()[0]
        results["idle"] = {"memory": idle_mem, "template_tmpfs_mib": int(tmpl_used)}
        log(f"{args.idle} idle pool sandboxes: qemu PSS median {med([m['pss'] for m in idle_mem]):.1f} MiB "
            f"(private {med([m['private'] for m in idle_mem]):.1f}, template share {med([m['pss_shmem'] for m in idle_mem]):.1f}); "
            f"template on tmpfs {tmpl_used} MiB (file {template:.0f} MiB)")

        # 4. density
        for _ in range(max(0, args.density - args.idle)):
            d.wait(lambda: d.pool_ready(1), 300, "a pool VM")
            uuids.append(d.run_sleeper())
        execs = []
        for u in uuids:
            t0 = time.monotonic()
            code, r = d.request("POST", f"/v1/containers/{u}/execute?run=true&command=echo%20ok")
            execs.append(time.monotonic() - t0)
            assert code == 200 and r["output"].strip() == "ok", r
        all_mem = [memory(d.qemu_pid(u)) for u in uuids]
        results["density"] = {"sandboxes": len(uuids), "exec_s": execs, "pss_total_mib": sum(m["pss"] for m in all_mem),
                              "memavailable_drop_mib": before - mem_available()}
        log(f"density: {len(uuids)} idle sandboxes, exec max {max(execs, default=float('nan')):.3f} s, median {med(execs):.3f} s, "
            f"{sum(1 for e in execs if e < 1)} under 1 s; qemu PSS total {results['density']['pss_total_mib']:.0f} MiB, "
            f"MemAvailable dropped {results['density']['memavailable_drop_mib']:.0f} MiB (with the pool's 2 ready VMs)")
        d.delete_all()
        d.stop()
    finally:
        if d is not None:
            d.abandon()
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        try:
            with open(os.path.join(state, "instance-id")) as f:
                shutil.rmtree("/dev/shm/zunvm/" + f.read().strip(), ignore_errors=True)  # its templates
        except OSError:
            pass
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
