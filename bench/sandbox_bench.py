#!/usr/bin/python3
"""Sandbox benchmark: zunvmd with the libvirt driver (domain type qemu = TCG here), in one run.

1. Cold start through the API, 1 unmeasured warm-up + N measured (default 5):
   `POST /v1/containers?run=true` {"image": "busybox", "command": ["echo", "ready"]}, timed from
   just before the POST to: the 202 (t_api); the container's upper disk appearing and its
   sandbox directory appearing (the driver starting; both polled every 20 ms); the driver's
   own stages from <state>/sandboxes/<uuid>/sandbox.json ("boot": domain_started_s,
   kernel_booted_s, agent_ready_s, container_created_s, seconds since the driver began defining
   the domain); and `ready` appearing in GET .../logs (t_started, polled every 20 ms).
2. The floor, alternating with the cold starts: the same kernel and modules with the
   marker-only /init of bench/guest (floor initramfs built by bench/guest/run.sh), booted by
   bench/guest/guest_bench.py's own code, timed from just before `virsh create` to the marker on
   the channel. By default the floor VM gets the sandbox VM's vCPUs and memory.
3. Memory: 3 containers running `sleep 3600`, Running + 5 s, VmRSS of each qemu process.
4. Stop (`POST .../stop?timeout=0` -> GET shows Stopped), delete of the stopped container
   (`DELETE` -> 404) for those 3, and `DELETE ?force=true` of 3 other Running containers -> 404.

Prints a table, writes build/bench-sandbox/results.json. Asserts nothing about speed.
Needs root, a running libvirtd (started with guest/start-libvirt.sh when it is not), build/zunvmd
and the guest image (build/guest, or --build-guest for a fresh one from build/zunvm-agent).
"""
import argparse
import http.client
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIRSH = ["virsh", "-c", "qemu:///system"]
API_HEADERS = {"OpenStack-API-Version": "container 1.40", "Accept": "application/json"}
POLL_S = 0.02
BOOT_DEADLINE_S = 180.0
OP_DEADLINE_S = 90.0
SETTLE_S = 5.0
ECHO_BODY = {"image": "busybox", "command": ["echo", "ready"]}
SLEEP_BODY = {"image": "busybox", "command": ["sleep", "3600"]}
STAGES = ("domain_started_s", "kernel_booted_s", "agent_ready_s", "container_created_s")


def log(msg=""):
    print(msg, flush=True)


def load_guest_bench():
    path = os.path.join(ROOT, "bench", "guest", "guest_bench.py")
    spec = importlib.util.spec_from_file_location("zunvm_guest_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    s = sorted(xs)
    return {"n": len(s), "min": s[0], "median": statistics.median(s), "max": s[-1]}


# The libvirt driver names domains zunvm-<container uuid> (with its metadata). zunvmd's start
# destroys every such domain that is not in its own state dir, whoever started it.
DOMAIN_RE = re.compile(r"^zunvm-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def sandbox_domains():
    r = subprocess.run(VIRSH + ["list", "--name"], capture_output=True, text=True, timeout=60)
    return {n for n in r.stdout.split() if DOMAIN_RE.match(n)}


def other_zunvmds(own_pid):
    """Command lines of the zunvmd processes that are not ours (other tests, other benches)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == own_pid:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"zunvmd":
            out.append(f"{d}: " + " ".join(a.decode(errors="replace") for a in argv if a)[:200])
    return out


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}")
    return r


# ---- the API ---------------------------------------------------------------------------------

class Api:
    """GETs share one keep-alive connection (re-opened once on failure); every other request gets
    a fresh connection so a POST or DELETE is never sent twice."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def _once(self, conn, method, path, body):
        headers = dict(API_HEADERS)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()

    def request(self, method, path, body=None):
        if method != "GET":
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                return self._once(conn, method, path, body)
            finally:
                conn.close()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                return self._once(self.conn, method, path, body)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def container(self, uuid):
        st, data = self.request("GET", f"/v1/containers/{uuid}")
        if st == 404:
            return None
        if st != 200:
            raise RuntimeError(f"GET container {uuid}: {st} {data[:300]!r}")
        return json.loads(data)

    def create(self, body, run_now=True):
        path = "/v1/containers?run=true" if run_now else "/v1/containers"
        st, data = self.request("POST", path, body)
        if st != 202:
            raise RuntimeError(f"POST {path}: {st} {data[:500]!r}")
        return json.loads(data)


def wait_status(api, uuid, want, deadline_s=OP_DEADLINE_S, t0=None):
    """Polls GET every 20 ms until the container's status is `want` (None: until 404).
    Returns seconds since t0 (perf_counter) when it was seen."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        c = api.container(uuid)
        now = time.perf_counter()
        if want is None and c is None:
            return now - t0 if t0 is not None else now
        if c is not None:
            last = c
            if c["status"] == want:
                return now - t0 if t0 is not None else now
            if c["status"] == "Error":
                raise RuntimeError(f"container {uuid} went to Error: {c.get('status_reason')}")
        elif want is not None:
            raise RuntimeError(f"container {uuid} disappeared while waiting for {want}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"container {uuid}: not {want or 'gone'} after {deadline_s:.0f} s "
                               f"(last: {last and last['status']}, {last and last.get('status_reason')})")
        time.sleep(POLL_S)


def logs_text(data):
    try:
        v = json.loads(data)
        return v if isinstance(v, str) else json.dumps(v)
    except ValueError:
        return data.decode(errors="replace")


# ---- zunvmd ----------------------------------------------------------------------------------

class Zunvmd:
    def __init__(self, binary, state, conf, log_path):
        self.binary, self.state, self.conf, self.log_path = binary, state, conf, log_path
        self.proc = None
        self.port = None

    def start(self):
        logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.binary, "--config-file", self.conf, "--state-dir", self.state,
                                      "--port", "0"], stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.monotonic() + 30
        pat = re.compile(r"zunvmd listening on http://127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as f:
                m = pat.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"zunvmd did not start (exit {self.proc.poll()}):\n{self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log("warning: zunvmd did not exit 20 s after SIGTERM; sending SIGKILL")
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as ex:
            return f"(no log: {ex})"

    def log_counts(self):
        counts = {"error": 0, "warning": 0}
        lines = {"error": [], "warning": []}
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    for level, key in ((" error [", "error"), (" warn [", "warning"), (" warning [", "warning"),
                                       (" critical [", "error")):
                        if level in line:
                            counts[key] += 1
                            if len(lines[key]) < 5:
                                lines[key].append(line.strip()[:300])
        except OSError:
            pass
        return counts, lines


# ---- measurements ----------------------------------------------------------------------------

class Bench:
    def __init__(self, args, gb):
        self.args = args
        self.gb = gb
        self.state = None
        self.zunvmd = None
        self.api = None
        self.created = []    # every container uuid this run created
        self.deleted = set()
        self.retries = []

    def domain_name(self, uuid):
        return "zunvm-" + uuid

    def own_pid(self):
        return self.zunvmd.proc.pid if self.zunvmd and self.zunvmd.proc else -1

    def delete_leftovers(self, deadline_s=60):
        """Force-deletes every container of this run not deleted yet; returns what went wrong."""
        problems = []
        for u in [u for u in self.created if u not in self.deleted]:
            try:
                st, _ = self.api.request("DELETE", f"/v1/containers/{u}?force=true")
                if st not in (204, 404):  # e.g. still Creating: let it settle and try once more
                    time.sleep(3)
                    self.api.request("DELETE", f"/v1/containers/{u}?force=true")
                wait_status(self.api, u, None, deadline_s=deadline_s)
                self.deleted.add(u)
            except Exception as ex:
                problems.append(f"deleting {u}: {ex}")
        return problems

    def attempt(self, what, fn, tries=3):
        """fn() with retries: another zunvmd starting on this libvirtd destroys our VMs (its start
        destroys every zunvm-<uuid> domain outside its own state dir), which shows up here as a
        container in Error ("the guest agent closed the channel") or lost. Each retry is recorded."""
        for i in range(tries):
            try:
                return fn()
            except (RuntimeError, TimeoutError, OSError) as ex:
                others = other_zunvmds(self.own_pid())
                note = {"what": what, "attempt": i + 1, "error": str(ex)[:600], "other_zunvmd": others}
                self.retries.append(note)
                log(f"  !! {what} failed (attempt {i + 1}/{tries}): {str(ex)[:300]}")
                if others:
                    log(f"     other zunvmd processes running now: {len(others)} ({others[0][:120]} ...)")
                if i + 1 == tries or not self.zunvmd.alive():
                    raise
                for p in self.delete_leftovers():
                    log(f"     {p}")

    # One cold start of `echo ready`; the container is deleted afterwards.
    def cold_start(self):
        api, state = self.api, self.state
        t0 = time.perf_counter()
        c = api.create(ECHO_BODY)
        t_api = time.perf_counter() - t0
        uuid = c["uuid"]
        self.created.append(uuid)
        sdir = os.path.join(state, "sandboxes", uuid)
        rec_path = os.path.join(sdir, "sandbox.json")
        upper = os.path.join(state, "images", "containers", uuid + ".ext4")
        s = {"uuid": uuid, "t_api_s": t_api, "t_upper_disk_s": None, "t_driver_s": None,
             "t_record_s": None, "boot": None}
        deadline = time.monotonic() + BOOT_DEADLINE_S
        polls = 0
        while True:
            now = time.perf_counter() - t0
            if s["t_upper_disk_s"] is None and os.path.exists(upper):
                s["t_upper_disk_s"] = now
            if s["t_driver_s"] is None and os.path.isdir(sdir):
                s["t_driver_s"] = now
            if s["boot"] is None and os.path.exists(rec_path):
                try:
                    with open(rec_path) as f:
                        rec = json.load(f)
                    if rec.get("boot"):
                        s["boot"] = rec["boot"]
                        s["t_record_s"] = now
                except (OSError, ValueError):
                    pass  # being replaced: next poll
            st, data = api.request("GET", f"/v1/containers/{uuid}/logs")
            if st == 200 and "ready" in logs_text(data):
                s["t_started_s"] = time.perf_counter() - t0
                break
            if st not in (200, 409) or polls % 5 == 4:
                c = api.container(uuid)
                if c is None or c["status"] == "Error":
                    raise RuntimeError(f"cold start {uuid}: {c and c['status']} {c and c.get('status_reason')} "
                                       f"(logs: {st} {data[:200]!r})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"cold start {uuid}: no 'ready' in the logs after {BOOT_DEADLINE_S:.0f} s")
            polls += 1
            time.sleep(POLL_S)
        if s["boot"] is None:  # the output came before this loop saw the record: it stays until delete
            with open(rec_path) as f:
                s["boot"] = json.load(f).get("boot")
        # echo has exited: the VM shuts down and the container becomes Stopped; then delete it so
        # the next boot has the machine to itself.
        s["t_stopped_s"] = wait_status(api, uuid, "Stopped", t0=t0)
        t1 = time.perf_counter()
        st, data = api.request("DELETE", f"/v1/containers/{uuid}")
        if st != 204:
            raise RuntimeError(f"DELETE {uuid}: {st} {data[:300]!r}")
        s["delete_stopped_s"] = wait_status(api, uuid, None, t0=t1)
        self.deleted.add(uuid)
        return s

    def floor_boot(self):
        return self.gb.boot_once("floor", self.args.floor_initrd, self.floor_args, verbose=False)

    def qemu_rss(self, uuid):
        pidfile = f"/run/libvirt/qemu/{self.domain_name(uuid)}.pid"
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if self.domain_name(uuid).encode() not in f.read():
                raise RuntimeError(f"pid {pid} from {pidfile} is not the qemu of {uuid}")
        out = {"pid": pid}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[k + "_mib"] = int(v.split()[0]) / 1024.0
        return out

    def start_sleepers(self, n):
        uuids = []
        for _ in range(n):
            c = self.api.create(SLEEP_BODY)
            uuids.append(c["uuid"])
            self.created.append(c["uuid"])
        for u in uuids:
            wait_status(self.api, u, "Running", deadline_s=BOOT_DEADLINE_S)
        return uuids

    def stop_then_delete(self, uuid):
        api = self.api
        t0 = time.perf_counter()
        st, data = api.request("POST", f"/v1/containers/{uuid}/stop?timeout=0")
        t_accept = time.perf_counter() - t0
        if st != 202:
            raise RuntimeError(f"stop {uuid}: {st} {data[:300]!r}")
        t_stop = wait_status(api, uuid, "Stopped", t0=t0)
        t1 = time.perf_counter()
        st, data = api.request("DELETE", f"/v1/containers/{uuid}")
        t_del_accept = time.perf_counter() - t1
        if st != 204:
            raise RuntimeError(f"DELETE {uuid}: {st} {data[:300]!r}")
        t_del = wait_status(api, uuid, None, t0=t1)
        self.deleted.add(uuid)
        return {"uuid": uuid, "stop_accept_s": t_accept, "stop_s": t_stop,
                "delete_accept_s": t_del_accept, "delete_s": t_del}

    def force_delete(self, uuid):
        t0 = time.perf_counter()
        st, data = self.api.request("DELETE", f"/v1/containers/{uuid}?force=true")
        t_accept = time.perf_counter() - t0
        if st != 204:
            raise RuntimeError(f"DELETE ?force=true {uuid}: {st} {data[:300]!r}")
        t = wait_status(self.api, uuid, None, t0=t0)
        self.deleted.add(uuid)
        return {"uuid": uuid, "delete_force_accept_s": t_accept, "delete_force_s": t}

    # Whatever happened: containers deleted, zunvmd stopped, our domains gone, temp dir removed.
    def cleanup(self):
        problems = []
        if self.zunvmd and self.zunvmd.alive() and self.api:
            problems += self.delete_leftovers()
        if self.zunvmd:
            try:
                self.zunvmd.stop()
            except Exception as ex:
                problems.append(f"stopping zunvmd: {ex}")
            try:
                os.makedirs(self.args.out, exist_ok=True)
                shutil.copy(self.zunvmd.log_path, os.path.join(self.args.out, "zunvmd.log"))
            except OSError:
                pass
        ours = {self.domain_name(u) for u in self.created}
        for name in sorted(ours & sandbox_domains()):
            problems.append(f"domain {name} was still running after zunvmd stopped: destroyed")
            subprocess.run(VIRSH + ["destroy", name], capture_output=True, timeout=60)
        if self.state and not self.args.keep:
            shutil.rmtree(self.state, ignore_errors=True)
        elif self.state:
            log(f"state dir kept: {self.state}")
        return problems


def build_guest(args):
    """--build-guest: a fresh guest image from build/zunvm-agent into OUT/guest (the kernel .deb
    is copied from build/guest when present, so nothing is downloaded)."""
    dest = os.path.join(args.out, "guest")
    os.makedirs(dest, exist_ok=True)
    src = os.path.join(ROOT, "build", "guest")
    if os.path.isdir(src):
        for name in os.listdir(src):
            if name.endswith(".deb") and not os.path.exists(os.path.join(dest, name)):
                shutil.copy(os.path.join(src, name), dest)
    log(f"building a guest image from {args.agent} into {dest}")
    run([os.path.join(ROOT, "guest", "build-image.sh"), args.agent, dest], timeout=600)
    return dest


def build_floor(guest_dir, floor_dir):
    """bench/guest/run.sh builds the floor initramfs (marker_init.c as /init in a copy of
    guest_dir/initramfs.root) into floor_dir and then execs guest_bench.py with our arguments:
    given --help, that prints its usage and exits 0, so only the build step runs."""
    env = dict(os.environ, ZUNVM_GUEST_DIR=guest_dir, ZUNVM_BENCH_DIR=floor_dir)
    run([os.path.join(ROOT, "bench", "guest", "run.sh"), "--help"], env=env, timeout=300)
    path = os.path.join(floor_dir, "initramfs-floor.cpio")
    if not os.path.exists(path):
        raise RuntimeError(f"bench/guest/run.sh did not build {path}")
    return path


def guest_agent_reports_start(guest_dir):
    """Whether the guest's agent reports started_uptime_ms in hello (without it the driver cannot
    split kernel boot from agent start: kernel_booted_s then equals agent_ready_s)."""
    try:
        with open(os.path.join(guest_dir, "initramfs.root", "init"), "rb") as f:
            return b"started_uptime_ms" in f.read()
    except OSError:
        return None


def fmt(x, scale=1.0, width=8, prec=3):
    return f"{'n/a':>{width}s}" if x is None else f"{x * scale:{width}.{prec}f}"


def row(label, s, scale=1.0, unit="s", prec=3):
    if s is None:
        return f"  {label:58s} {'n/a':>8s}"
    return (f"  {label:58s} {fmt(s['median'], scale, prec=prec)} {fmt(s['min'], scale, prec=prec)} "
            f"{fmt(s['max'], scale, prec=prec)}  {unit}  (n={s['n']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zunvmd", default=os.path.join(ROOT, "build", "zunvmd"))
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "zunvm-agent"),
                    help="agent binary for --build-guest (and the staleness check)")
    ap.add_argument("--guest-dir", default=None, help="guest image (default build/guest)")
    ap.add_argument("--build-guest", action="store_true",
                    help="build a fresh guest image from --agent into OUT/guest and use it")
    ap.add_argument("--image-tar", default=os.path.join(ROOT, "build", "images", "busybox.tar"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-sandbox"))
    ap.add_argument("--boots", type=int, default=5, help="measured cold starts and floor boots (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured ones of each first (default 1)")
    ap.add_argument("--idle", type=int, default=3, help="sleep containers for memory, stop and delete")
    ap.add_argument("--force", type=int, default=3, help="sleep containers for DELETE ?force=true")
    ap.add_argument("--floor-memory-mib", type=int, default=None,
                    help="floor VM memory (default: the sandbox VM's, from the warm-up's record)")
    ap.add_argument("--floor-vcpus", type=int, default=None, help="floor VM vCPUs (default: the sandbox VM's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary state dir")
    ap.add_argument("--wait-foreign", type=float, default=240,
                    help="seconds to wait for other zunvm-<uuid> domains to go away before starting zunvmd "
                         "(its start destroys them; default 240)")
    ap.add_argument("--ignore-foreign", action="store_true",
                    help="start zunvmd even though other zunvm-<uuid> domains run (they will be destroyed)")
    args = ap.parse_args()

    gb = load_guest_bench()  # its atexit handler destroys any floor domain left behind
    signal.signal(signal.SIGTERM, gb._on_signal)
    signal.signal(signal.SIGHUP, gb._on_signal)

    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.out, 0o755)  # qemu reads the guest image from here with --build-guest
    warnings = []
    if not os.access(args.zunvmd, os.X_OK):
        sys.exit(f"missing {args.zunvmd} (build it first; if it is being rebuilt, wait and retry)")
    if args.build_guest:
        args.guest_dir = build_guest(args)
    args.guest_dir = os.path.abspath(args.guest_dir or os.path.join(ROOT, "build", "guest"))
    kernel = os.path.join(args.guest_dir, "vmlinux")
    initrd = os.path.join(args.guest_dir, "initramfs.cpio")
    for p in (kernel, initrd, os.path.join(args.guest_dir, "kernel.version")):
        if not os.path.exists(p):
            sys.exit(f"missing {p}: run guest/build-image.sh {args.agent} (or pass --build-guest)")
    with open(os.path.join(args.guest_dir, "kernel.version")) as f:
        kernel_version = f.read().strip()
    if os.path.exists(args.agent) and os.path.getmtime(args.agent) > os.path.getmtime(initrd):
        warnings.append(f"the guest image {initrd} is older than {args.agent}: the VMs run an older agent "
                        f"(rebuild with guest/build-image.sh, or pass --build-guest)")
    reports_start = guest_agent_reports_start(args.guest_dir)
    if reports_start is False:
        warnings.append("the guest agent does not report started_uptime_ms: kernel_booted_s is not measured "
                        "(the driver records agent_ready_s for it)")

    floor_dir = (os.path.join(ROOT, "build", "bench-guest")
                 if args.guest_dir == os.path.join(ROOT, "build", "guest") else os.path.join(args.out, "floor"))
    log(f"floor initramfs: bench/guest/run.sh build step into {floor_dir}")
    args.floor_initrd = build_floor(args.guest_dir, floor_dir)

    run([os.path.join(ROOT, "guest", "start-libvirt.sh")], timeout=120)
    if not os.path.exists(args.image_tar):
        run([os.path.join(ROOT, "guest", "build-busybox-image.sh"), args.image_tar], timeout=300)

    bench = Bench(args, gb)
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_before": os.getloadavg()},
               "guest": {"dir": args.guest_dir, "kernel": kernel_version, "initrd": initrd,
                         "agent_reports_started_uptime": reports_start},
               "zunvmd": os.path.abspath(args.zunvmd), "domain_type": "qemu (TCG)"}
    problems = []
    try:
        bench.state = tempfile.mkdtemp(prefix="zsb-", dir="/tmp")
        conf = os.path.join(bench.state, "zunvm.conf")
        with open(conf, "w") as f:
            f.write("[DEFAULT]\ncontainer_driver = libvirt\n[libvirt]\nvirt_type = qemu\n"
                    f"[guest]\nkernel = {kernel}\ninitrd = {initrd}\n")
        run([args.zunvmd, "import-image", "--state-dir", bench.state, args.image_tar], timeout=300)
        # zunvmd's start destroys every zunvm-<uuid> domain outside its state dir: do not start it
        # while VMs of other zunvmd instances (tests, other benches) are running.
        deadline = time.monotonic() + args.wait_foreign
        foreign = sandbox_domains()
        if foreign:
            log(f"waiting up to {args.wait_foreign:.0f} s for {len(foreign)} running zunvm-<uuid> domain(s) of other "
                f"zunvmd instances to go away (starting zunvmd would destroy them)")
        waited = time.monotonic()
        while foreign and time.monotonic() < deadline and not args.ignore_foreign:
            time.sleep(2)
            foreign = sandbox_domains()
        waited = time.monotonic() - waited
        if waited > 1:
            log(f"  waited {waited:.0f} s")
        results["waited_for_foreign_s"] = waited
        if foreign:
            if not args.ignore_foreign:
                sys.exit(f"other zunvm-<uuid> domains are running ({', '.join(sorted(foreign))}): zunvmd would "
                         f"destroy them at start; retry later or pass --ignore-foreign")
            warnings.append(f"zunvmd started while {len(foreign)} other zunvm-<uuid> domain(s) ran: "
                            f"it destroyed them ({', '.join(sorted(foreign))})")
        results["foreign_domains_at_start"] = sorted(foreign)
        bench.zunvmd = Zunvmd(args.zunvmd, bench.state, conf, os.path.join(bench.state, "zunvmd.log"))
        port = bench.zunvmd.start()
        bench.api = Api(port)
        log(f"zunvmd on 127.0.0.1:{port}, state {bench.state}, guest {args.guest_dir} (kernel {kernel_version})")
        for w in warnings:
            log(f"WARNING: {w}")

        # -- 1 + 2: cold starts alternating with floor boots --------------------------------------
        cold, floor = [], []
        log(f"cold starts and floor boots ({args.warmup} warm-up + {args.boots} measured, alternating):")
        for i in range(args.warmup + args.boots):
            tag = f"warm-up {i + 1}" if i < args.warmup else f"run {i + 1 - args.warmup}"
            s = bench.attempt(f"cold start ({tag})", bench.cold_start)
            if i == 0:
                vm_mem = s["boot"].get("memory_mib") if s["boot"] else None
                vm_cpus = s["boot"].get("vcpus") if s["boot"] else None
                bench.floor_args = argparse.Namespace(
                    kernel=kernel, cmdline=gb.TEST_VM_BOOT.CMDLINE, keep_console=None,
                    kernel_version=kernel_version,
                    memory_mib=args.floor_memory_mib or vm_mem or 256,
                    vcpus=args.floor_vcpus or vm_cpus or 1)
                results["vm"] = {"sandbox": {"memory_mib": vm_mem, "vcpus": vm_cpus},
                                 "floor": {"memory_mib": bench.floor_args.memory_mib,
                                           "vcpus": bench.floor_args.vcpus}}
            f = bench.floor_boot()
            b = s["boot"] or {}
            log(f"  {tag:9s} sandbox: api {s['t_api_s'] * 1000:5.0f} ms, driver at {fmt(s['t_driver_s'], prec=3).strip()} s,"
                f" domain {fmt(b.get('domain_started_s')).strip()}, kernel {fmt(b.get('kernel_booted_s')).strip()},"
                f" agent {fmt(b.get('agent_ready_s')).strip()}, created {fmt(b.get('container_created_s')).strip()},"
                f" 'ready' in logs {s['t_started_s']:.3f} s | floor {f['ready_s']:.3f} s")
            if i >= args.warmup:
                cold.append(s)
                floor.append(f)

        def derived(s):
            b = s["boot"] or {}
            d = s["t_driver_s"]
            cc = b.get("container_created_s")
            return {"after_created_s": (s["t_started_s"] - d - cc) if d is not None and cc is not None else None}

        kb_measured = reports_start is not False and any(
            (s["boot"] or {}).get("kernel_booted_s") != (s["boot"] or {}).get("agent_ready_s") for s in cold)
        cs = {"t_api_s": summary([s["t_api_s"] for s in cold]),
              "t_upper_disk_s": summary([s["t_upper_disk_s"] for s in cold]),
              "t_driver_s": summary([s["t_driver_s"] for s in cold]),
              "t_started_s": summary([s["t_started_s"] for s in cold]),
              "t_stopped_s": summary([s["t_stopped_s"] for s in cold]),
              "delete_stopped_s": summary([s["delete_stopped_s"] for s in cold]),
              "after_created_s": summary([derived(s)["after_created_s"] for s in cold])}
        for k in STAGES:
            cs["boot_" + k] = summary([(s["boot"] or {}).get(k) for s in cold])
        cs["kernel_booted_measured"] = kb_measured
        fs_ = {"ready_s": summary([f["ready_s"] for f in floor]),
               "virsh_create_s": summary([f["create_s"] for f in floor])}
        ratio = cs["t_started_s"]["median"] / fs_["ready_s"]["median"]
        results["cold_start"] = {"request": ECHO_BODY, "summary": cs, "samples": cold,
                                 "ratio_create_and_run_over_floor_median": ratio}
        results["floor"] = {"initrd": args.floor_initrd, "summary": fs_, "samples": floor}

        # -- 3 + 4: idle memory, stop, delete, force delete --------------------------------------
        def idle_phase():
            log(f"memory: {args.idle} containers running sleep 3600, Running + {SETTLE_S:.0f} s")
            idle = bench.start_sleepers(args.idle)
            time.sleep(SETTLE_S)
            for u in idle:  # all still Running (none lost meanwhile)
                wait_status(bench.api, u, "Running", deadline_s=1)
            rss = [bench.qemu_rss(u) for u in idle]
            for u, r in zip(idle, rss):
                log(f"  {u}: qemu pid {r['pid']} VmRSS {r['VmRSS_mib']:.1f} MiB (anon {r.get('RssAnon_mib', 0):.1f},"
                    f" file {r.get('RssFile_mib', 0):.1f}, shmem {r.get('RssShmem_mib', 0):.1f})")
            log("stop (timeout=0) -> Stopped, then DELETE -> 404:")
            stops = []
            for u in idle:
                r = bench.stop_then_delete(u)
                stops.append(r)
                log(f"  {u}: stop {r['stop_s']:.3f} s, delete {r['delete_s']:.3f} s")
            return rss, stops

        def force_phase():
            log(f"DELETE ?force=true of Running containers -> 404 ({args.force} more sleep containers):")
            forced = []
            for u in bench.start_sleepers(args.force):
                r = bench.force_delete(u)
                forced.append(r)
                log(f"  {u}: {r['delete_force_s']:.3f} s")
            return forced

        rss, stops = bench.attempt("idle sandboxes, stop, delete", idle_phase)
        forced = bench.attempt("force delete", force_phase)
        results["memory"] = {"containers": args.idle, "settle_s": SETTLE_S, "samples": rss,
                             "vmrss_mib": summary([r["VmRSS_mib"] for r in rss]),
                             "rss_anon_mib": summary([r.get("RssAnon_mib") for r in rss]),
                             "rss_file_mib": summary([r.get("RssFile_mib") for r in rss]),
                             "rss_shmem_mib": summary([r.get("RssShmem_mib") for r in rss])}
        results["lifecycle"] = {
            "stop_s": summary([r["stop_s"] for r in stops]),
            "stop_accept_s": summary([r["stop_accept_s"] for r in stops]),
            "delete_stopped_s": summary([r["delete_s"] for r in stops]),
            "delete_force_running_s": summary([r["delete_force_s"] for r in forced]),
            "samples": stops + forced}
    finally:
        if bench.zunvmd:
            results["zunvmd_log_counts"], results["zunvmd_log_examples"] = bench.zunvmd.log_counts()
        problems = bench.cleanup()
        for p in problems:
            log(f"WARNING: {p}")

    results["host"]["loadavg_after"] = os.getloadavg()
    results["retries"] = bench.retries
    if bench.retries:
        warnings.append(f"{len(bench.retries)} step(s) failed and were retried (results.json \"retries\"): "
                        + "; ".join(f"{r['what']}: {r['error'][:160]}" for r in bench.retries))
    results["warnings"] = warnings + problems

    # -- the table ---------------------------------------------------------------------------
    cs = results["cold_start"]["summary"]
    vm = results["vm"]
    log()
    log(f"host: {os.cpu_count()} CPUs, load average before {results['host']['loadavg_before'][0]:.2f}, "
        f"after {results['host']['loadavg_after'][0]:.2f}; libvirt domain type qemu (TCG)")
    log(f"sandbox VM: {vm['sandbox']['vcpus']} vCPU, {vm['sandbox']['memory_mib']} MiB (container memory + 128 MiB); "
        f"floor VM: {vm['floor']['vcpus']} vCPU, {vm['floor']['memory_mib']} MiB"
        + ("" if vm["sandbox"]["memory_mib"] == vm["floor"]["memory_mib"] else "  <- different memory sizes"))
    log("  the sandbox VM also has 2 virtio disks and a virtio-rng the floor VM lacks; same kernel, cmdline, modules")
    hdr = f"  {'':58s} {'median':>8s} {'min':>8s} {'max':>8s}"
    log()
    log(f"cold start: POST /v1/containers?run=true {json.dumps(ECHO_BODY)}, "
        f"{args.boots} measured (+{args.warmup} warm-up)")
    log(hdr)
    log("  since just before the POST:")
    log(row("t_api: POST -> 202", cs["t_api_s"]))
    log(row("upper disk made (mkfs.ext4 done)  [20 ms polls]", cs["t_upper_disk_s"]))
    log(row("driver starts (sandbox dir appears)  [20 ms polls]", cs["t_driver_s"]))
    log("  since the driver began defining the domain (sandbox.json \"boot\"):")
    log(row("domain_started_s (libvirt create returned)", cs["boot_domain_started_s"]))
    log(row("kernel_booted_s (kernel handed over to /init)" + ("" if cs["kernel_booted_measured"] else " NOT MEASURED"),
            cs["boot_kernel_booted_s"]))
    log(row("agent_ready_s (hello answered)", cs["boot_agent_ready_s"]))
    log(row("container_created_s (create_container answered)", cs["boot_container_created_s"]))
    log("  since just before the POST:")
    log(row("after created -> 'ready' in logs (start, run, log)", cs["after_created_s"]))
    log(row("t_started: 'ready' in GET .../logs = CREATE-AND-RUN", cs["t_started_s"]))
    log(row("floor: marker on the channel (virsh create -> READY)", results["floor"]["summary"]["ready_s"]))
    log(row("  of which virsh create (floor)", results["floor"]["summary"]["virsh_create_s"]))
    log(f"  ratio create-and-run / floor (medians): {results['cold_start']['ratio_create_and_run_over_floor_median']:.2f}")
    log(row("(echo exited) POST -> status Stopped", cs["t_stopped_s"]))
    log(row("(echo) DELETE of the Stopped container -> 404", cs["delete_stopped_s"]))
    m = results["memory"]
    lc = results["lifecycle"]
    log()
    log(f"idle sandbox ({m['containers']} x sleep 3600, Running + {SETTLE_S:.0f} s): qemu /proc/<pid>/status")
    log(hdr)
    log(row("VmRSS", m["vmrss_mib"], unit="MiB", prec=1))
    log(row("  RssAnon", m["rss_anon_mib"], unit="MiB", prec=1))
    log(row("  RssFile", m["rss_file_mib"], unit="MiB", prec=1))
    log(row("  RssShmem", m["rss_shmem_mib"], unit="MiB", prec=1))
    log()
    log("stop and delete")
    log(hdr)
    log(row("POST .../stop?timeout=0 -> GET shows Stopped", lc["stop_s"]))
    log(row("DELETE (Stopped) -> GET 404", lc["delete_stopped_s"]))
    log(row("DELETE ?force=true (Running) -> GET 404", lc["delete_force_running_s"]))
    log()
    counts = results.get("zunvmd_log_counts", {})
    log(f"zunvmd log: {counts.get('error', 0)} error lines, {counts.get('warning', 0)} warning lines "
        f"(copy in {os.path.join(args.out, 'zunvmd.log')})")
    for w in results["warnings"]:
        log(f"WARNING: {w}")

    path = os.path.join(args.out, "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"results: {path}")


if __name__ == "__main__":
    main()
