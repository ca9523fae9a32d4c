#!/usr/bin/python3
"""Runtimes benchmark: kata vs kata-debian (zunvmd, one VM per container) vs runc (zunvmd, host
processes under runc and conmon) vs runc directly, in one run.

Four columns, measured in the same run, rounds alternating (the order of the four rotates every
round), one unmeasured warm-up round, then N measured rounds (--rounds, default 5):

* kata: zunvmd with the libvirt driver (domain type qemu = TCG here, or $ZUNVM_VIRT_TYPE), the
  default runtime's VM (the minimal guest kernel, build/guest), `[pool] size = 0` so every
  create boots its VM.
* kata-debian: the same zunvmd, `"runtime": "kata-debian"` (Debian's kernel, build/guest-debian).
* runc: the same zunvmd, `"runtime": "runc"` (docs/runtimes.md): the container's processes and
  its conmon on the host, its root the image's disk and its upper disk merged by overlayfs, a
  veth on zunvmd's default network. This is the "container performance" the VM rows are
  measured against. Memory: PSS of conmon plus the container's processes.
* runc directly (no zunvmd): what zunvmd's own share costs, runc itself on a bundle whose config.json is zunvm's own
  (build/oci_spec_tool, i.e. BuildOciSpec, as tests/oci/test_oci_spec.py feeds it) on a busybox
  root made from /bin/busybox. The helpers (generate, make_rootfs, nofile, own_capeff) are that
  test's. Root here may lack CAP_SYS_RESOURCE: the spec asks for the RLIMIT_NOFILE and the
  capabilities this host can grant, as the test does. The container has its own (empty) network
  namespace; zunvmd's VMs get a NIC on zunvmd's default network.

Per container (each round makes one of each, kept running until its memory is read):

1. create-and-run: zunvmd: from just before `POST /v1/containers?run=true` {"image": "busybox",
   "command": ["sleep", "3600"], "runtime": ...} to the first successful exec of `true`, after
   the container's status is Running (GET polled every 20 ms; then `POST .../execute?run=true`
   {"command": "true"} until it answers 200 with exit code 0, 20 ms apart). The time to Running
   alone is reported too. runc: from just before `runc run -d` to the first `runc exec <id> true`
   that exits 0 (rootfs and config.json are made before the clock starts; for zunvmd the POST
   includes making the container's writable disk).
2. exec round trip: 20 (--execs) `exec true`, one after another; the container's number is the
   median of its 20. zunvmd: the execute POST above on a fresh loopback connection, until its
   200 answer (exit code 0 checked); runc: `runc exec <id> true` until it exits.
3. idle host memory: once the round's three containers are usable and each has been idle
   (nothing sent to it) for 10 s (--idle), PSS from /proc/<pid>/smaps_rollup: of the VM's qemu
   process (/run/libvirt/qemu/zunvm-<uuid>.pid), and for runc the sum over the container's
   processes (`runc ps`: just `sleep`; `runc run -d` leaves no shim or monitor running, which
   the script checks: no process whose command line names the container). PSS splits pages
   shared between processes; the round's kata and kata-debian qemus run side by side, so each
   carries half of the qemu binary's and libraries' shared pages. Private (clean + dirty) is
   reported beside it and is independent of that.

Each metric: median and min-max over the N rounds, and the ratios kata/runc, kata-debian/runc,
kata-debian/kata and runc/runc-directly of the medians. Prints a Markdown table on stdout; --json PATH writes the raw
numbers. Asserts nothing about speed.

Cleans up everything it made (containers, domains, zunvmd's state dir and networks, runc
containers and their cgroups, bundles) also on failure or SIGTERM.

Needs root, runc, busybox-static, libvirtd (started with guest/start-libvirt.sh when it is not),
build/zunvmd, build/oci_spec_tool, build/guest and build/guest-debian.

    /usr/bin/python3 bench/runtime_bench.py [--rounds 5] [--execs 20] [--idle 10] [--json PATH]
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "oci"))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir  # noqa: E402
import test_oci_spec as oci  # noqa: E402  (generate, make_rootfs, nofile, own_capeff)
from pool_bench import memory  # noqa: E402  (MiB of one process from smaps_rollup)

API_HEADERS = {"OpenStack-API-Version": "container 1.40", "Accept": "application/json"}
POLL_S = 0.02
BOOT_DEADLINE_S = 180.0
DELETE_DEADLINE_S = 120.0
RUNTIMES = ("kata", "kata-debian", "runc", "runc-direct")
LABELS = {"kata": "kata (zunvmd, minimal kernel)", "kata-debian": "kata-debian (zunvmd, Debian kernel)",
          "runc": "runc (zunvmd, conmon)", "runc-direct": "runc directly (no zunvmd)"}


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def summary(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return {"n": len(xs), "median": statistics.median(xs), "min": xs[0], "max": xs[-1]}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- zunvmd ----------------------------------------------------------------------------------

class Api:
    """One fresh loopback connection per request (a POST is never sent twice)."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
        try:
            headers = dict(API_HEADERS)
            data = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(body)
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return r.status, parsed

    def exec_true(self, uuid):
        """True when `true` ran in the container and exited 0."""
        st, r = self.request("POST", f"/v1/containers/{uuid}/execute?run=true", {"command": "true"})
        return st == 200 and isinstance(r, dict) and r.get("exit_code") == 0, st, r


class VmRuntime:
    def __init__(self, api, state, name, daemon):
        self.api, self.state, self.name, self.daemon = api, state, name, daemon
        self.made = []

    def create(self, tag):
        body = {"name": tag, "image": "busybox", "command": ["sleep", "3600"], "runtime": self.name}
        t0 = time.perf_counter()
        st, c = self.api.request("POST", "/v1/containers?run=true", body)
        if st != 202:
            raise RuntimeError(f"{self.name}: POST /v1/containers: {st} {c!r:.500}")
        uuid = c["uuid"]
        self.made.append(uuid)
        deadline = time.monotonic() + BOOT_DEADLINE_S
        while True:
            st, c = self.api.request("GET", f"/v1/containers/{uuid}")
            if st == 200 and c["status"] == "Running":
                t_running = time.perf_counter() - t0
                break
            if st == 200 and c["status"] == "Error":
                raise RuntimeError(f"{self.name} container {uuid} went to Error: {c.get('status_reason')}\n"
                                   + "".join(self.daemon.output[-30:]))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} container {uuid} not Running after {BOOT_DEADLINE_S:.0f} s "
                                   f"({st} {c!r:.300})")
            time.sleep(POLL_S)
        attempts = 0
        while True:
            attempts += 1
            ok, st, r = self.api.exec_true(uuid)
            if ok:
                t_usable = time.perf_counter() - t0
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} container {uuid}: exec true never succeeded (last {st} {r!r:.300})")
            time.sleep(POLL_S)
        return uuid, {"running_s": t_running, "usable_s": t_usable, "exec_attempts": attempts}

    def exec_once(self, uuid):
        t0 = time.perf_counter()
        ok, st, r = self.api.exec_true(uuid)
        dt = time.perf_counter() - t0
        if not ok:
            raise RuntimeError(f"{self.name}: exec true in {uuid}: {st} {r!r:.300}")
        return dt

    def info(self, uuid):
        st, c = self.api.request("GET", f"/v1/containers/{uuid}")
        return {"guest_kernel": c.get("guest_kernel"), "runtime": c.get("runtime")} if st == 200 else {}

    def memory(self, uuid):
        with open(os.path.join(self.state, "sandboxes", uuid, "sandbox.json")) as f:
            domain = json.load(f).get("domain") or "zunvm-" + uuid
        with open(f"/run/libvirt/qemu/{domain}.pid") as f:
            pid = int(f.read().strip())
        m = memory(pid)
        m.update(pids=[pid], domain=domain)
        return m

    def delete(self, uuid):
        self.api.request("DELETE", f"/v1/containers/{uuid}?force=true")

    def wait_deleted(self, uuids):
        deadline = time.monotonic() + DELETE_DEADLINE_S
        while any(self.api.request("GET", f"/v1/containers/{u}")[0] != 404 for u in uuids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: containers not deleted after {DELETE_DEADLINE_S:.0f} s")
            time.sleep(0.1)
        for u in uuids:
            if u in self.made:
                self.made.remove(u)


class ZunvmdRunc(VmRuntime):
    """A trusted container through zunvmd (runtime runc): its memory is conmon's and the
    container's processes', the host processes it costs while idle."""

    def memory(self, uuid):
        root = os.path.join(self.state, "oci-runtime", "runc")
        r = subprocess.run(["runc", "--root", root, "ps", "--format", "json", uuid], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"runc ps {uuid}: {r.stderr.strip()}")
        with open(os.path.join(self.state, "oci", uuid, "conmon.pid")) as f:
            pids = [int(f.read().strip())] + (json.loads(r.stdout or "[]") or [])
        total = {"pss": 0.0, "private": 0.0, "rss": 0.0}
        for pid in pids:
            m = memory(pid)
            for k in total:
                total[k] += m[k]
        total.update(pids=pids)
        return total


# ---- runc ------------------------------------------------------------------------------------

class Runc:
    name = "runc"

    def __init__(self, workdir):
        self.binary = shutil.which("runc")
        if not self.binary:
            raise RuntimeError("runc is not installed")
        if not os.path.exists(oci.BUSYBOX):
            raise RuntimeError(f"{oci.BUSYBOX} is missing (busybox-static)")
        if not os.path.exists(oci.TOOL):
            raise RuntimeError(f"{oci.TOOL} is missing (the oci_spec_tool target)")
        self.workdir = workdir
        self.root = os.path.join(workdir, "runc-state")  # runc --root: only ours in it
        os.makedirs(self.root)
        self.made = []
        self.nofile = oci.nofile()
        self.caps = int(oci.own_capeff(), 16)

    def cmd(self, *args):
        return [self.binary, "--root", self.root] + list(args)

    def bundle(self, cid):
        """The bundle, outside the clock: a busybox root and zunvm's config.json for it."""
        bundle = os.path.join(self.workdir, cid)
        rootfs = os.path.join(bundle, "rootfs")
        oci.make_rootfs(rootfs)
        spec = {"uuid": str(uuidlib.uuid4()), "name": cid, "argv": ["sleep", "3600"]}
        options = {"root_path": rootfs, "cgroups_path": "/zunvm-bench/" + cid, "nofile": self.nofile,
                   "grantable_capabilities": self.caps}
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(oci.generate(spec, options), f)
        return bundle

    def create(self, tag):
        cid = f"zunvm-rb-{os.getpid()}-{tag}"
        bundle = self.bundle(cid)
        err_path = os.path.join(bundle, "run.err")
        self.made.append(cid)
        with open(err_path, "w") as err:
            # -d: runc starts the container and exits; the container inherits these stdio, so
            # they must not be pipes we wait on.
            t0 = time.perf_counter()
            r = subprocess.run(self.cmd("run", "-d", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=120)
            t_running = time.perf_counter() - t0
        if r.returncode != 0:
            with open(err_path, errors="replace") as f:
                raise RuntimeError(f"runc run -d {cid} failed ({r.returncode}): {f.read()[-1500:]}")
        attempts = 0
        deadline = time.monotonic() + 60
        while True:
            attempts += 1
            e = subprocess.run(self.cmd("exec", cid, "true"), capture_output=True, text=True, timeout=60)
            if e.returncode == 0:
                t_usable = time.perf_counter() - t0
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"runc exec {cid} true never succeeded: {e.stderr.strip()[-500:]}")
            time.sleep(POLL_S)
        return cid, {"running_s": t_running, "usable_s": t_usable, "exec_attempts": attempts}

    def exec_once(self, cid):
        t0 = time.perf_counter()
        e = subprocess.run(self.cmd("exec", cid, "true"), capture_output=True, text=True, timeout=60)
        dt = time.perf_counter() - t0
        if e.returncode != 0:
            raise RuntimeError(f"runc exec {cid} true: {e.returncode} {e.stderr.strip()[-500:]}")
        return dt

    def info(self, cid):
        return {}

    def pids(self, cid):
        r = subprocess.run(self.cmd("ps", "--format", "json", cid), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"runc ps {cid}: {r.stderr.strip()}")
        return json.loads(r.stdout or "[]") or []

    def leftovers(self, cid):
        """Processes outside the container whose command line names it (a shim, a monitor, a
        runc still waiting): `runc run -d` should leave none."""
        inside = set(self.pids(cid))
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in inside or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if any(cid.encode() in a for a in argv):
                out.append(f"{d}: " + " ".join(a.decode(errors="replace") for a in argv if a)[:200])
        return out

    def memory(self, cid):
        pids = self.pids(cid)
        total = {"pss": 0.0, "private": 0.0, "rss": 0.0}
        comms = []
        for pid in pids:
            m = memory(pid)
            for k in total:
                total[k] += m[k]
            with open(f"/proc/{pid}/comm") as f:
                comms.append(f.read().strip())
        total.update(pids=pids, comms=comms, outside_processes=self.leftovers(cid))
        return total

    def delete(self, cid):
        subprocess.run(self.cmd("delete", "-f", cid), capture_output=True, timeout=60)
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            for d in ("/zunvm-bench/" + cid, "/zunvm-bench"):
                try:
                    os.rmdir(f"/sys/fs/cgroup/{hierarchy}{d}")
                except OSError:
                    pass
        shutil.rmtree(os.path.join(self.workdir, cid), ignore_errors=True)
        if cid in self.made:
            self.made.remove(cid)

    def wait_deleted(self, cids):
        pass

    def cleanup(self):
        for cid in list(self.made):
            self.delete(cid)


# ---- the run ---------------------------------------------------------------------------------

def one_round(rnd, order, backends, args):
    """One container per runtime, in `order`: create-and-run, execs; then idle, memory, delete."""
    res = {}
    made = {}
    try:
        for rt in order:
            b = backends[rt]
            ident, t = b.create(f"r{rnd}-{rt}")
            made[rt] = ident
            execs = [b.exec_once(ident) for _ in range(args.execs)]
            res[rt] = dict(t, id=ident, exec_s=execs, exec_median_s=statistics.median(execs),
                           last_activity=time.monotonic(), **b.info(ident))
        wake = max(r["last_activity"] for r in res.values()) + args.idle
        time.sleep(max(0.0, wake - time.monotonic()))
        for rt in order:
            now = time.monotonic()
            res[rt]["memory"] = backends[rt].memory(made[rt])
            res[rt]["idle_s"] = now - res[rt].pop("last_activity")
    finally:
        # Best effort when something already failed (main's cleanup retries): that error matters.
        in_flight = sys.exc_info()[0] is not None
        for rt, ident in made.items():
            try:
                backends[rt].delete(ident)
                backends[rt].wait_deleted([ident])
            except Exception as ex:  # noqa: BLE001
                if not in_flight:
                    raise
                log(f"cleanup of {rt} {ident}: {ex}")
    return res


def fmt(s, scale, digits):
    if s is None:
        return "-"
    return f"{s['median'] * scale:.{digits}f} ({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})"


def ratio(a, b):
    if a is None or b is None or not b["median"]:
        return "-"
    r = a["median"] / b["median"]
    return f"{r:.0f}" if r >= 100 else f"{r:.1f}" if r >= 10 else f"{r:.2f}"


def table(rounds):
    rows = [
        ("create-and-run, to usable (s)", lambda r: r["usable_s"], 1, 3),
        ("  of which to Running / `runc run -d` returned (s)", lambda r: r["running_s"], 1, 3),
        ("exec `true` round trip (ms, median of each container's execs)", lambda r: r["exec_median_s"], 1000, 1),
        ("idle host memory, PSS (MiB)", lambda r: r["memory"]["pss"], 1, 1),
        ("  private (clean + dirty) (MiB)", lambda r: r["memory"]["private"], 1, 1),
    ]
    stats = {}
    lines = ["| metric: median (min-max) | " + " | ".join(LABELS[rt] for rt in RUNTIMES) +
             " | kata / runc | kata-debian / runc | kata-debian / kata | runc / runc directly |",
             "| --- | " + " | ".join("---:" for _ in RUNTIMES) + " | ---: | ---: | ---: | ---: |"]
    for label, get, scale, digits in rows:
        s = {rt: summary([get(r[rt]) for r in rounds]) for rt in RUNTIMES}
        stats[label.strip()] = s
        lines.append(f"| {label} | " + " | ".join(fmt(s[rt], scale, digits) for rt in RUNTIMES) +
                     f" | {ratio(s['kata'], s['runc'])} | {ratio(s['kata-debian'], s['runc'])} |"
                     f" {ratio(s['kata-debian'], s['kata'])} | {ratio(s['runc'], s['runc-direct'])} |")
    return "\n".join(lines), stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", "-n", type=int, default=5, help="measured rounds (default 5), after 1 warm-up")
    ap.add_argument("--execs", type=int, default=20, help="exec round trips per container (default 20)")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds idle before memory is read (default 10)")
    ap.add_argument("--zunvmd", default=os.path.join(ROOT, "build", "zunvmd"))
    ap.add_argument("--json", metavar="PATH", help="write the raw numbers here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (libvirt, runc)")
    os.environ["ZUNVMD"] = os.path.abspath(args.zunvmd)
    os.environ.pop("ZUNVM_E2E_POOL_SIZE", None)  # the pool stays off: every create boots a VM

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    started = time.monotonic()
    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                        "virt_type": os.environ.get("ZUNVM_VIRT_TYPE", "qemu"), "loadavg_before": loadavg()},
               "params": {"rounds": args.rounds, "execs": args.execs, "idle_s": args.idle, "warmup_rounds": 1},
               "rounds": []}
    runc_v = subprocess.run(["runc", "--version"], capture_output=True, text=True)
    results["host"]["runc"] = runc_v.stdout.splitlines()[0] if runc_v.stdout else "?"
    subprocess.run([os.path.join(ROOT, "guest", "start-libvirt.sh")], check=True, stdout=subprocess.DEVNULL,
                   timeout=120)

    state = workdir = daemon = runc = None
    vms = []
    failed = None
    try:
        log("setting up: zunvmd state dir with busybox imported ...")
        state = vm_state_dir("zrtb-")
        daemon = Zunvmd(state_dir=state, driver="libvirt", config_text="[pool]\nsize = 0\n").start(timeout=60)
        api = Api(daemon.port)
        st, hosts = api.request("GET", "/v1/hosts")
        results["host"]["zunvmd_hosts"] = hosts if st == 200 else st
        workdir = tempfile.mkdtemp(prefix="zunvm-rtb-")
        runc = Runc(workdir)
        vms = [VmRuntime(api, state, "kata", daemon), VmRuntime(api, state, "kata-debian", daemon),
               ZunvmdRunc(api, state, "runc", daemon)]
        backends = {"kata": vms[0], "kata-debian": vms[1], "runc": vms[2], "runc-direct": runc}
        log(f"zunvmd on port {daemon.port}; runc nofile {runc.nofile}, capabilities {runc.caps:#x}; "
            f"setup {time.monotonic() - started:.0f} s")
        for rnd in range(args.rounds + 1):
            order = RUNTIMES[rnd % len(RUNTIMES):] + RUNTIMES[:rnd % len(RUNTIMES)]
            t0 = time.monotonic()
            res = one_round(rnd, order, backends, args)
            res["order"] = list(order)
            res["warmup"] = rnd == 0
            results["rounds"].append(res)
            log(f"round {rnd}{' (warm-up)' if rnd == 0 else ''} [{', '.join(order)}] {time.monotonic() - t0:.0f} s: " +
                "; ".join(f"{rt} usable {res[rt]['usable_s']:.3f} s, exec {res[rt]['exec_median_s'] * 1000:.1f} ms, "
                          f"PSS {res[rt]['memory']['pss']:.1f} MiB" for rt in RUNTIMES))
    except BaseException as ex:  # noqa: BLE001 - report, clean up, re-raise
        failed = ex
        log(f"FAILED: {type(ex).__name__}: {ex}")
        if daemon is not None and daemon.output:
            log("--- zunvmd, last lines:\n" + "".join(daemon.output[-30:]))
        raise
    finally:
        problems = cleanup(daemon, vms, state, runc, workdir)
        results["cleanup_problems"] = problems
        results["host"]["loadavg_after"] = loadavg()
        results["total_s"] = time.monotonic() - started
        if failed is not None:
            results["failed"] = f"{type(failed).__name__}: {failed}"
            write_json(args.json, results)

    measured = [r for r in results["rounds"] if not r["warmup"]]
    text, stats = table(measured)
    results["summary"] = stats
    write_json(args.json, results)
    kernels = {rt: sorted({r[rt].get("guest_kernel") or "?" for r in measured}) for rt in ("kata", "kata-debian")}
    outside = sorted({p for r in measured for p in r["runc-direct"]["memory"]["outside_processes"]})
    comms = sorted({c for r in measured for c in r["runc-direct"]["memory"]["comms"]})
    print(f"{results['date']}, {results['host']['cpus']} CPUs, host kernel {results['host']['kernel']}, "
          f"domain type {results['host']['virt_type']}, {results['host']['runc']}; "
          f"load average {results['host']['loadavg_before']} before, {results['host']['loadavg_after']} after")
    print(f"{args.rounds} rounds after 1 warm-up, {args.execs} execs per container, memory after "
          f"{args.idle:.0f} s idle; guest kernels: kata {', '.join(kernels['kata'])}, "
          f"kata-debian {', '.join(kernels['kata-debian'])}")
    print()
    print(text)
    print()
    print(f"runc directly: processes of the container {', '.join(comms) or '-'}; processes outside it naming it: "
          f"{len(outside)}{' (' + '; '.join(outside) + ')' if outside else ''}")
    if results["cleanup_problems"]:
        print("cleanup: " + "; ".join(results["cleanup_problems"]))
    print(f"total {results['total_s']:.0f} s")
    return 0


def write_json(path, results):
    if not path:
        return
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"raw numbers: {path}")


def cleanup(daemon, vms, state, runc, workdir):
    """Everything this run made, whatever happened; returns what needed forcing."""
    problems = []
    if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
        api = Api(daemon.port)
        left = [u for vm in vms for u in vm.made]
        try:
            st, body = api.request("GET", "/v1/containers")
            if st == 200:
                left = sorted(set(left) | {c["uuid"] for c in body.get("containers", [])})
            for u in left:
                api.request("DELETE", f"/v1/containers/{u}?force=true")
            deadline = time.monotonic() + DELETE_DEADLINE_S
            while left and time.monotonic() < deadline:
                left = [u for u in left if api.request("GET", f"/v1/containers/{u}")[0] != 404]
                time.sleep(0.2)
            if left:
                problems.append(f"{len(left)} containers not deleted through the API")
        except (OSError, http.client.HTTPException, ValueError) as ex:
            problems.append(f"deleting containers: {ex}")
    if daemon is not None:
        rc = daemon.stop()
        if rc not in (0, None):
            problems.append(f"zunvmd exited {rc}")
    if state is not None:
        remove_vm_state(state)  # any domain of its sandboxes, its networks' namespaces, the dir
    if runc is not None:
        if runc.made:
            problems.append(f"runc containers deleted at cleanup: {', '.join(runc.made)}")
        runc.cleanup()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    return problems


if __name__ == "__main__":
    sys.exit(main())
