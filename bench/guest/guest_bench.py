#!/usr/bin/python3
"""Benchmark of the zunvm guest image under libvirt (domain type qemu/TCG on this machine).

1. Boot time, floor vs agent, alternating in one run (after unmeasured warm-up boots):
   - floor: same kernel, same modules, /init = bench/guest/marker_init.c, which loads the
     modules, opens the org.zunvm.agent.0 port and writes "READY\n";
   - agent: the production initramfs (/init = zunvm-agent).
   Each sample is the wall time from just before `virsh create` to the marker arriving on the
   channel socket (floor) / the `hello` response arriving (agent; `hello` is sent as soon as
   the host socket connects, the agent reads it when it opens the port).
2. On one agent VM: exec round trip (`exec` of /init, which prints its usage line and exits 2:
   request sent -> `exit` event received) and a plain request/response (`guest_details`).

Run it through bench/guest/run.sh, which builds the floor initramfs first. Results are printed
as a table and written as JSON (--results).
"""
import argparse
import atexit
import importlib.util
import json
import math
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIRSH = ["virsh", "-c", "qemu:///system"]
MARKER = b"READY\n"
BOOT_DEADLINE_S = 120.0
OP_DEADLINE_S = 30.0


def _test_vm_boot():
    """tests/integration/test_vm_boot.py as a module: its domain and kernel command line are the
    ones benchmarked, so they stay in sync."""
    path = os.path.join(ROOT, "tests", "integration", "test_vm_boot.py")
    spec = importlib.util.spec_from_file_location("zunvm_test_vm_boot", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TEST_VM_BOOT = _test_vm_boot()


def domain_xml(name, workdir, kernel, initrd, cmdline, memory_mib, vcpus):
    return TEST_VM_BOOT.domain_xml(name, workdir, kernel=kernel, initrd=initrd, cmdline=cmdline,
                                   memory_mib=memory_mib, vcpus=vcpus)


# Every domain this process created and has not destroyed yet: destroyed at exit whatever happens.
LIVE_DOMAINS = set()


def destroy_domain(name):
    subprocess.run(VIRSH + ["destroy", name], capture_output=True, timeout=60)
    LIVE_DOMAINS.discard(name)


@atexit.register
def _destroy_leftovers():
    for name in list(LIVE_DOMAINS):
        try:
            destroy_domain(name)
        except Exception as ex:  # keep going: destroy the others
            print(f"warning: destroying {name}: {ex}", file=sys.stderr)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the `finally` blocks


class Channel:
    """Client end of the virtio-serial channel's unix socket, with deadlines on every read."""

    def __init__(self, path, deadline):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cannot connect to {path}")
                time.sleep(0.005)  # polling for the socket, bounded by the deadline
        self.sock = s
        self.buf = b""
        self.next_id = 1
        self.max_seq = 0

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed waiting for the guest")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("deadline passed waiting for the guest")
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("channel closed (the VM went away?)")
        self.buf += data

    def wait_bytes(self, token, deadline):
        while token not in self.buf:
            self._fill(deadline)
        i = self.buf.index(token) + len(token)
        self.buf = self.buf[i:]

    def send(self, op, body):
        rid = self.next_id
        self.next_id += 1
        self.sock.sendall(TEST_VM_BOOT.encode_request(rid, op, body))
        return rid

    def recv(self, deadline):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if not 1 <= n <= (2 << 20):
                    raise ValueError(f"bad frame length {n}")
                if len(self.buf) >= 4 + n:
                    msg = TEST_VM_BOOT.decode_payload(self.buf[4:4 + n])
                    self.buf = self.buf[4 + n:]
                    if msg.get("kind") == "event":
                        self.max_seq = max(self.max_seq, msg.get("body", {}).get("seq", 0))
                    return msg
            self._fill(deadline)

    def call(self, op, body, deadline):
        """Request -> its response (events arriving meanwhile are dropped, their seq noted)."""
        rid = self.send(op, body)
        while True:
            m = self.recv(deadline)
            if m.get("kind") == "resp" and m.get("id") == rid:
                if "error" in m:
                    raise RuntimeError(f"{op} failed: {m['error']}")
                return m["body"]


class Vm:
    """One transient domain named zunvm-bench-<random>; destroyed and cleaned up by close()."""

    def __init__(self, kind, kernel, initrd, cmdline, memory_mib, vcpus):
        self.kind = kind
        self.name = "zunvm-bench-" + uuid.uuid4().hex[:12]
        self.workdir = tempfile.mkdtemp(prefix="zunvm-bench-")
        os.chmod(self.workdir, 0o777)  # qemu (libvirt-qemu) creates the socket and log here
        self.xml_path = os.path.join(self.workdir, "dom.xml")
        with open(self.xml_path, "w") as f:
            f.write(domain_xml(self.name, self.workdir, kernel, initrd, cmdline, memory_mib, vcpus))
        self.ch = None
        self.hello = None

    def boot(self):
        """Boots and returns timings (seconds since just before `virsh create`)."""
        deadline = time.monotonic() + BOOT_DEADLINE_S
        t0 = time.perf_counter()
        LIVE_DOMAINS.add(self.name)  # before create: a create that half-succeeds is destroyed too
        r = subprocess.run(VIRSH + ["create", self.xml_path], capture_output=True, text=True,
                           timeout=BOOT_DEADLINE_S)
        t_created = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"virsh create failed: {r.stderr.strip()}")
        self.ch = Channel(os.path.join(self.workdir, "agent.sock"), deadline)
        t_connected = time.perf_counter() - t0
        if self.kind == "floor":
            self.ch.wait_bytes(MARKER, deadline)
        else:
            rid = self.ch.send("hello", {"version": TEST_VM_BOOT.PROTOCOL_VERSION})
            m = self.ch.recv(deadline)
            if m.get("kind") != "resp" or m.get("id") != rid or "error" in m:
                raise RuntimeError(f"unexpected answer to hello: {m}")
            self.hello = m["body"]
        t_ready = time.perf_counter() - t0
        return {"ready_s": t_ready, "create_s": t_created, "connected_s": t_connected}

    def console_tail(self, n=30):
        try:
            with open(os.path.join(self.workdir, "console.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as ex:
            return f"(no console log: {ex})"

    def close(self, keep_console=None):
        try:
            if keep_console:
                os.makedirs(keep_console, exist_ok=True)
                src = os.path.join(self.workdir, "console.log")
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(keep_console, f"{self.name}-{self.kind}.log"))
            if self.ch:
                self.ch.close()
        finally:
            try:
                destroy_domain(self.name)
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)


def summary(xs):
    s = sorted(xs)
    return {"n": len(s), "min": s[0], "median": statistics.median(s), "max": s[-1],
            "p90": s[max(0, math.ceil(0.9 * len(s)) - 1)],  # nearest rank
            "mean": statistics.fmean(s)}


def boot_once(kind, initrd, args, verbose=True, label=""):
    vm = Vm(kind, args.kernel, initrd, args.cmdline, args.memory_mib, args.vcpus)
    try:
        try:
            t = vm.boot()
        except Exception:
            print(f"\n{kind} boot failed ({vm.name}); console:\n{vm.console_tail()}", file=sys.stderr)
            raise
        if kind == "agent" and vm.hello.get("kernel") != args.kernel_version:
            raise RuntimeError(f"agent reports kernel {vm.hello.get('kernel')}, expected {args.kernel_version}")
        if verbose:
            print(f"  {label}{kind:5s} ready {t['ready_s']:6.3f} s  (virsh create {t['create_s']:.3f} s)", flush=True)
        return t
    finally:
        vm.close(args.keep_console)


def exec_latency(ch, n):
    """n sequential execs of /init in the guest root: send -> exec response, send -> exit event."""
    to_resp, to_exit = [], []
    for i in range(n):
        exec_id = f"bench-{i}"
        deadline = time.monotonic() + OP_DEADLINE_S
        t0 = time.perf_counter()
        rid = ch.send("exec", {"exec_id": exec_id, "argv": ["/init"], "env": [], "cwd": "/"})
        t_resp = t_exit = None
        out, code = b"", None
        while t_exit is None:
            m = ch.recv(deadline)
            if m.get("kind") == "resp" and m.get("id") == rid:
                if "error" in m:
                    raise RuntimeError(f"exec failed: {m['error']}")
                t_resp = time.perf_counter() - t0
            elif m.get("kind") == "event" and m["body"].get("exec_id") == exec_id:
                if m["op"] == "output":
                    out += m["data"]
                elif m["op"] == "exit":
                    t_exit = time.perf_counter() - t0
                    code = m["body"]["exit_code"]
        while t_resp is None:  # the response may come after the exit event: wait for it
            m = ch.recv(deadline)
            if m.get("kind") == "resp" and m.get("id") == rid:
                t_resp = time.perf_counter() - t0
        if code != 2:
            raise RuntimeError(f"exec of /init exited {code}, expected 2 (output {out!r})")
        ch.call("ack", {"seq": ch.max_seq}, deadline)
        to_resp.append(t_resp)
        to_exit.append(t_exit)
    return to_resp, to_exit


def request_latency(ch, op, n):
    xs = []
    for _ in range(n):
        deadline = time.monotonic() + OP_DEADLINE_S
        t0 = time.perf_counter()
        ch.call(op, {}, deadline)
        xs.append(time.perf_counter() - t0)
    return xs


def fmt_row(name, s, unit, scale):
    return (f"{name:34s} {s['n']:>3d}  {s['min'] * scale:9.3f} {s['median'] * scale:9.3f} "
            f"{s['p90'] * scale:9.3f} {s['max'] * scale:9.3f}  {unit}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--guest-dir", default=os.path.join(ROOT, "build", "guest"))
    ap.add_argument("--floor-initrd", default=os.path.join(ROOT, "build", "bench-guest", "initramfs-floor.cpio"))
    ap.add_argument("--results", default=os.path.join(ROOT, "build", "bench-guest", "results.json"))
    ap.add_argument("--boots", type=int, default=5, help="measured boots of each kind (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured boots of each kind first (default 1)")
    ap.add_argument("--execs", type=int, default=30)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--request-op", default="guest_details")
    ap.add_argument("--cmdline", default=None, help="kernel command line (default: the VM test's)")
    ap.add_argument("--extra-cmdline", default="", help="appended to the command line (experiments)")
    ap.add_argument("--memory-mib", type=int, default=256)
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--keep-console", metavar="DIR", help="copy each VM's serial console log to DIR")
    ap.add_argument("--skip-latency", action="store_true", help="boot times only")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    args.kernel = os.path.join(args.guest_dir, "vmlinux")
    args.agent_initrd = os.path.join(args.guest_dir, "initramfs.cpio")
    for p in (args.kernel, args.agent_initrd, args.floor_initrd, os.path.join(args.guest_dir, "kernel.version")):
        if not os.path.exists(p):
            sys.exit(f"missing {p} (run bench/guest/run.sh; the guest image comes from guest/build-image.sh)")
    with open(os.path.join(args.guest_dir, "kernel.version")) as f:
        args.kernel_version = f.read().strip()
    base_cmdline = args.cmdline if args.cmdline is not None else TEST_VM_BOOT.CMDLINE
    args.cmdline = (base_cmdline + " " + args.extra_cmdline).strip()
    initrds = {"floor": args.floor_initrd, "agent": args.agent_initrd}

    print(f"guest kernel {args.kernel_version}, domain type qemu (TCG), {args.vcpus} vCPU, "
          f"{args.memory_mib} MiB; host {os.cpu_count()} CPUs")
    print(f"cmdline: {args.cmdline}")
    print(f"initramfs: floor {os.path.getsize(args.floor_initrd) / 2**20:.2f} MiB, "
          f"agent {os.path.getsize(args.agent_initrd) / 2**20:.2f} MiB")

    boots = {"floor": [], "agent": []}
    print(f"boots ({args.warmup} warm-up + {args.boots} measured of each, alternating floor/agent):")
    for i in range(args.warmup):
        for kind in ("floor", "agent"):
            boot_once(kind, initrds[kind], args, label=f"warm-up {i + 1}: ")
    for i in range(args.boots):
        for kind in ("floor", "agent"):
            boots[kind].append(boot_once(kind, initrds[kind], args, label=f"boot {i + 1}:    "))

    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "guest": {"kernel": args.kernel_version, "domain_type": "qemu", "machine": "q35",
                  "vcpus": args.vcpus, "memory_mib": args.memory_mib, "cmdline": args.cmdline,
                  "initramfs_bytes": {k: os.path.getsize(v) for k, v in initrds.items()}},
        "boot": {},
    }
    for kind in ("floor", "agent"):
        results["boot"][kind] = {
            "ready_s": summary([b["ready_s"] for b in boots[kind]]),
            "virsh_create_s": summary([b["create_s"] for b in boots[kind]]),
            "samples": boots[kind],
        }
    fm = results["boot"]["floor"]["ready_s"]["median"]
    am = results["boot"]["agent"]["ready_s"]["median"]
    results["boot"]["ratio_agent_over_floor_median"] = am / fm
    results["boot"]["agent_minus_floor_median_s"] = am - fm

    if not args.skip_latency:
        print(f"latency VM (agent): {args.execs} execs of /init, {args.calls} {args.request_op} calls")
        vm = Vm("agent", args.kernel, args.agent_initrd, args.cmdline, args.memory_mib, args.vcpus)
        try:
            try:
                vm.boot()
            except Exception:
                print(f"agent boot failed ({vm.name}); console:\n{vm.console_tail()}", file=sys.stderr)
                raise
            to_resp, to_exit = exec_latency(vm.ch, args.execs)
            reqs = request_latency(vm.ch, args.request_op, args.calls)
        finally:
            vm.close(args.keep_console)
        results["exec"] = {"argv": ["/init"], "to_exit_event_s": summary(to_exit),
                           "to_response_s": summary(to_resp), "samples_to_exit_s": to_exit}
        results["request"] = {"op": args.request_op, "round_trip_s": summary(reqs), "samples_s": reqs}

    hdr = f"{'':34s} {'n':>3s}  {'min':>9s} {'median':>9s} {'p90':>9s} {'max':>9s}"
    print()
    print(hdr)
    print("-" * len(hdr))
    for kind, label in (("floor", "boot floor (marker on channel)"), ("agent", "boot agent (hello response)")):
        print(fmt_row(label, results["boot"][kind]["ready_s"], "s", 1))
    for kind in ("floor", "agent"):
        print(fmt_row(f"  of which virsh create ({kind})", results["boot"][kind]["virsh_create_s"], "s", 1))
    if "exec" in results:
        print(fmt_row("exec /init: request -> exit event", results["exec"]["to_exit_event_s"], "ms", 1000))
        print(fmt_row("exec /init: request -> response", results["exec"]["to_response_s"], "ms", 1000))
        print(fmt_row(f"{args.request_op} round trip", results["request"]["round_trip_s"], "ms", 1000))
    print(f"\nagent/floor boot (median): {results['boot']['ratio_agent_over_floor_median']:.3f}  "
          f"(agent - floor = {results['boot']['agent_minus_floor_median_s'] * 1000:+.0f} ms)")

    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    tmp = args.results + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.results)
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
