#!/usr/bin/python3
"""Sandbox benchmark: zunvmd with the libvirt driver (domain type qemu = TCG here), in one run.

1. Cold start through the API, 1 unmeasured warm-up + N measured (default 5):
   `POST /v1/containers?run=true` {"image": "busybox", "command": ["echo", "ready"]}, timed from
   just before the POST to: the 202 (t_api); the container's upper disk appearing and its
   sandbox directory appearing (the driver starting; both polled every 20 ms); the driver's
   own stages from <state>/sandboxes/<uuid>/sandbox.json ("boot": domain_started_s,
   kernel_booted_s, agent_ready_s, container_created_s, seconds since the driver began defining
   the domain); and `ready` appearing in GET .../logs (t_started, polled every 20 ms).
2. Two floors, alternating with the cold starts (the order rotating every round): the same
   kernel and modules with the marker-only /init of bench/guest (floor initramfs built by
   bench/guest/run.sh) in bench/guest/guest_bench.py's VM, timed from just before `virsh create`
   to the marker on the channel. By default both get the sandbox VM's vCPUs and memory.
   floor-bare has only the console and the agent channel; floor-devices also has the sandbox
   VM's devices, as driver/libvirt/domain_xml.cc writes them: the image's disk (the same file,
   read-only), a fresh writable disk made as zunvmd makes one (sparse ext4, the container's disk
   size) and a virtio-rng. The headline is create-and-run / floor-devices: same VM hardware
   (checked against `virsh dumpxml` of a running sandbox VM), only the software differs.
3. Memory: 3 containers running `sleep 3600`, Running + 5 s, VmRSS of each qemu process.
4. Stop (`POST .../stop?timeout=0` -> GET shows Stopped), delete of the stopped container
   (`DELETE` -> 404) for those 3, and `DELETE ?force=true` of 3 other Running containers -> 404.

Prints a table, writes build/bench-sandbox/results.json. Asserts nothing about speed.

--floor-only: no zunvmd, only floor VMs of several variants (--variants; default the sandbox
VM's devices alone and together), alternating: where the devices' boot time goes, and
experiments with the domain definition (PCI placement, disk driver attributes, kernel command
line). Writes build/bench-sandbox/floor-variants.json.

Needs root, a running libvirtd (started with guest/start-libvirt.sh when it is not), build/zunvmd
and the guest image (build/guest, or --build-guest for a fresh one from build/zunvm-agent).
"""
import argparse
import glob
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


def write_results(out_dir, name, results):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"results: {path}")


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


# ---- the floor VMs --------------------------------------------------------------------------

# What zunvmd's domain has beyond the floor's minimal one (tests/integration/test_vm_boot.py's
# domain_xml: kernel, initrd, cmdline, console, agent channel, no USB, no balloon), written as
# driver/libvirt/domain_xml.cc writes it: the image's read-only disk, the container's writable
# disk (in that order, right after <emulator>), and after the channel a virtio-rng.
FLOOR_DEVICE_TOKENS = {"bare": (), "rootfs": ("rootfs",), "upper": ("upper",), "disks": ("rootfs", "upper"),
                       "rng": ("rng",), "devices": ("rootfs", "upper", "rng")}
# --floor-only's default: each device alone and together.
FLOOR_MATRIX = ("bare", "rootfs", "upper", "disks", "rng", "devices")
DEFAULT_DISK_GIB = 10         # zunvmd's [DEFAULT] default_disk
DEFAULT_VM_MEMORY_MIB = 640   # zunvmd's [DEFAULT] default_memory (512) + the VM's 128 MiB


def parse_floor_variant(spec):
    """A floor variant: tokens joined by '+'. Devices: bare, rootfs, upper, disks (= rootfs+upper),
    rng, devices (= rootfs+upper+rng). Experiments: pcie0 (every virtio PCI device at its own
    slot on pcie.0, q35's root bus, from 0x02 up in the domain's order: the disks, the rng, then
    the virtio-serial controller of the agent channel; so libvirt adds no pcie-root-port, where
    it otherwise puts each device behind its own and adds one spare), blk:ATTR=VALUE (an
    attribute of the disks' <driver>, e.g. blk:cache=none or blk:queue_size=64), arg:KERNEL_ARG
    (appended to the kernel command line), agent (the guest image's own initramfs instead of the
    floor's, timed to the agent's answer to `hello`: what zunvmd's agent_ready_s measures, without
    zunvmd; the hello also gives the guest's own clock at /init and at hello), icount (qemu
    -icount shift=0,sleep=off: the guest's clock counts the instructions it executed, 1 ns each,
    so with `agent` its clock at hello measures the guest's own work free of the host's speed,
    which varies by tens of percent from second to second on a shared machine; it does not see
    what TCG spends translating code and emulating device accesses, so it understates device
    costs; the domain is tainted custom-argv), xN (N sets of the devices, N <= 13: a device's
    cost times N, to see it above the noise)."""
    v = {"name": spec, "devices": set(), "pcie0": False, "driver_attrs": {}, "cmdline_extra": [], "agent": False,
         "icount": False, "copies": 1}
    for tok in spec.split("+"):
        if tok in FLOOR_DEVICE_TOKENS:
            v["devices"].update(FLOOR_DEVICE_TOKENS[tok])
        elif tok == "pcie0":
            v["pcie0"] = True
        elif tok == "agent":
            v["agent"] = True
        elif tok == "icount":
            v["icount"] = True
        elif re.fullmatch(r"x([1-9]|1[0-3])", tok):
            v["copies"] = int(tok[1:])
        elif tok.startswith("blk:") and "=" in tok:
            k, _, val = tok[4:].partition("=")
            v["driver_attrs"][k] = val
        elif tok.startswith("arg:") and len(tok) > 4:
            v["cmdline_extra"].append(tok[4:])
        else:
            raise ValueError(f"bad floor variant token {tok!r} in {spec!r} (see --help)")
    if v["driver_attrs"] and not v["devices"] & {"rootfs", "upper"}:
        raise ValueError(f"{spec!r}: blk: attributes without a disk")
    if v["pcie0"] and v["copies"] * len(v["devices"]) + 1 > 0x1f - 2:
        raise ValueError(f"{spec!r}: more devices than free slots on pcie.0")
    return v


def make_upper_disk(path, gib):
    """The container's writable disk exactly as zunvmd makes it (ImageService::ContainerDisk):
    mkfs.ext4 of a sparse file of the container's disk size, 0600."""
    run(["mkfs.ext4", "-q", "-F", "-L", "zunvm-upper", "-E", "lazy_itable_init=1,lazy_journal_init=1", path,
         f"{max(gib, 1)}G"], timeout=120)
    os.chmod(path, 0o600)


def floor_domain_xml(base_xml, variant, rootfs_disk, upper_disks):
    """The floor's minimal domain with the variant's devices added where domain_xml.cc puts them
    (with xN, N sets of them: one writable disk from `upper_disks` each)."""
    from xml.sax.saxutils import quoteattr
    from xml.sax.saxutils import escape as esc
    slots = iter(range(2, 0x1f))  # pcie0: 0x00 is the host bridge, 0x1f the ICH9 functions

    def pci_addr():
        if not variant["pcie0"]:
            return ""
        return f"<address type='pci' domain='0x0000' bus='0x00' slot='{next(slots):#04x}' function='0x0'/>"

    def disk(path, dev, serial, readonly):
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in sorted(variant["driver_attrs"].items()))
        return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'{attrs}/>"
                f"<source file={quoteattr(path)}/><target dev='{dev}' bus='virtio'/>"
                f"<serial>{esc(serial)}</serial>" + ("<readonly/><shareable/>" if readonly else "")
                + pci_addr() + "</disk>\n")

    devs, tail, n = "", "", 0
    for c in range(variant["copies"]):
        suffix = str(c) if c else ""
        for what in ("rootfs", "upper"):
            if what in variant["devices"]:
                path = rootfs_disk if what == "rootfs" else upper_disks[c]
                devs += disk(path, "vd" + "abcdefghijklmnopqrstuvwxyz"[n], what + suffix, what == "rootfs")
                n += 1
    for c in range(variant["copies"] if "rng" in variant["devices"] else 0):
        tail += "<rng model='virtio'><backend model='random'>/dev/urandom</backend>" + pci_addr() + "</rng>\n"
    if variant["pcie0"]:  # the controller libvirt adds for the channel, placed explicitly
        tail += "<controller type='virtio-serial' index='0'>" + pci_addr() + "</controller>\n"
    for anchor in ("</emulator>", "<controller type='usb'"):
        if base_xml.count(anchor) != 1:
            raise RuntimeError(f"the floor domain (tests/integration/test_vm_boot.py) changed: no single {anchor!r}")
    xml = base_xml.replace("</emulator>", "</emulator>\n" + devs)
    xml = xml.replace("<controller type='usb'", tail + "<controller type='usb'")
    if variant["icount"]:
        if not xml.startswith("<domain type='qemu'>") or not xml.rstrip().endswith("</domain>"):
            raise RuntimeError("the floor domain (tests/integration/test_vm_boot.py) changed: cannot add -icount")
        xml = xml.replace("<domain type='qemu'>",
                          "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>", 1)
        xml = xml.rstrip()[:-len("</domain>")] + ("<qemu:commandline><qemu:arg value='-icount'/>"
                                                  "<qemu:arg value='shift=0,sleep=off'/></qemu:commandline>\n"
                                                  "</domain>\n")
    return xml


def qemu_cpu_s(domain):
    """CPU time (user + system, all threads) the domain's qemu process has used so far. Under TCG
    it follows the wall time closely (qemu computes all the time): a gap would mean waiting. It is
    as noisy as the wall time here, because what varies is how fast the host runs it."""
    with open(f"/run/libvirt/qemu/{domain}.pid") as f:
        pid = int(f.read().strip())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        if domain.encode() not in f.read():
            raise RuntimeError(f"pid {pid} is not the qemu of {domain}")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DEVICE_STRIP = {"alias", "source", "seclabel", "log", "backingStore"}

# --initcalls: the guest kernel's own timing of the initcalls that depend on the VM's devices
# (initcall_debug; built-in ones run before /init, the modules' when /init loads them):
INITCALLS = (
    ("acpi_init", "ACPI and the PCI bus scan, root ports included"),
    ("pcibios_assign_resources", "PCI resources (the root ports' bridge windows)"),
    ("pcie_portdrv_init", "pcieport services (hotplug, AER, PME) per root port"),
    ("virtio_pci_driver_init", "virtio_pci probe of every virtio PCI device"),
    ("virtio_console_init", "virtio_console (the agent channel)"),
    ("virtio_blk_init", "virtio_blk probe: queues, capacity, partition scan"),
    ("virtio_rng_driver_init", "virtio_rng probe, hwrng registration"),
)
INITCALL_RE = re.compile(r"\[\s*(\d+\.\d+)\] (calling  |initcall )(\w+)\+")
RUN_INIT_RE = re.compile(r"\[\s*(\d+\.\d+)\] Run /init")


def initcall_times(console):
    """From a console log with initcall_debug: seconds per initcall of INITCALLS, their sum, and
    the guest's clock when the kernel ran /init. Durations are taken from the printk timestamps
    of `calling` and `returned` (the kernel's sched_clock): the kernel's own "after N usecs" is
    jiffies-grained before the clocksource switches to the TSC, i.e. for the built-in ones."""
    want = {k for k, _ in INITCALLS}
    out = {k: 0.0 for k in want}
    started = {}
    for m in INITCALL_RE.finditer(console):
        ts, what, name = float(m.group(1)), m.group(2), m.group(3)
        if name not in want:
            continue
        if what == "calling  ":
            started[name] = ts
        elif name in started:
            out[name] += ts - started.pop(name)
    out["sum"] = sum(out[k] for k in want)
    m = RUN_INIT_RE.search(console)
    out["run_init_s"] = float(m.group(1)) if m else None
    return out


def device_signature(live_xml):
    """What a running domain's hardware is, from `virsh dumpxml` (libvirt's completed definition:
    its added controllers and PCI addresses): machine, vCPUs, memory and one line per device,
    without file paths and aliases. Used to check that the floor-with-devices VM has the sandbox
    VM's hardware."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(live_xml)
    out = [f"type={root.get('type')}", f"machine={root.find('os/type').get('machine')}",
           f"vcpu={root.findtext('vcpu')}", f"memory={root.findtext('memory')}{root.find('memory').get('unit')}",
           f"cmdline={root.findtext('os/cmdline')}"]

    def canon(e):
        attrs = ",".join(f"{k}={v}" for k, v in sorted(e.attrib.items()) if k not in ("path",))
        kids = [canon(c) for c in e if c.tag not in DEVICE_STRIP]
        text = (e.text or "").strip()
        return f"{e.tag}[{attrs}]" + (f"={text}" if text and len(text) < 80 else "") + \
            ("{" + ";".join(kids) + "}" if kids else "")

    out += sorted(canon(d) for d in root.find("devices"))
    return out


def compare_hardware(sandbox_xml, floor_live_xml):
    """The device signatures of a running sandbox VM and of the floor VMs (their first boots),
    and how floor-devices differs from the sandbox VM (should be: not at all)."""
    import collections
    out = {"sandbox": device_signature(sandbox_xml) if sandbox_xml else None}
    for k, v in FLOORS.items():
        x = floor_live_xml.get(v["name"])
        out[k] = device_signature(x) if x else None
    if out["sandbox"] and out["floor-devices"]:
        a, b = collections.Counter(out["sandbox"]), collections.Counter(out["floor-devices"])
        out["floor_devices_differences"] = ([f"only in the sandbox VM: {x}" for x in (a - b).elements()]
                                            + [f"only in floor-devices: {x}" for x in (b - a).elements()])
    return out


class Floor:
    """Boots floor VMs: guest_bench's domain (named zunvm-bench-<random>, destroyed after each
    boot) with the floor initramfs, plus the devices of the variant. A writable disk is made fresh
    for every boot (outside the timing; zunvmd makes one per container) in the VM's own temporary
    directory, removed with it."""

    def __init__(self, gb, kernel, initrd, cmdline, memory_mib, vcpus, rootfs_disk, disk_gib):
        self.gb, self.kernel, self.initrd, self.cmdline = gb, kernel, initrd, cmdline
        self.agent_initrd = os.path.join(os.path.dirname(kernel), "initramfs.cpio")  # for `agent` variants
        self.memory_mib, self.vcpus = memory_mib, vcpus
        self.rootfs_disk, self.disk_gib = rootfs_disk, disk_gib
        self.live_xml = {}  # variant name -> `virsh dumpxml` of its first boot
        self.keep_console = None  # a directory: each VM's serial console log is copied there
        self.initcalls = False    # boot with initcall_debug and read the device initcalls' times

    def boot(self, variant):
        cmdline = " ".join([self.cmdline] + variant["cmdline_extra"]
                           + (["initcall_debug", "ignore_loglevel"] if self.initcalls else []))
        if variant["agent"]:
            vm = self.gb.Vm("agent", self.kernel, self.agent_initrd, cmdline, self.memory_mib, self.vcpus)
        else:
            vm = self.gb.Vm("floor", self.kernel, self.initrd, cmdline, self.memory_mib, self.vcpus)
        try:
            uppers = []
            for c in range(variant["copies"] if "upper" in variant["devices"] else 0):
                uppers.append(os.path.join(vm.workdir, f"upper{c or ''}.ext4"))
                make_upper_disk(uppers[-1], self.disk_gib)
            with open(vm.xml_path) as f:
                base = f.read()
            with open(vm.xml_path, "w") as f:
                f.write(floor_domain_xml(base, variant, self.rootfs_disk, uppers))
            try:
                t = vm.boot()
            except Exception:
                log(f"floor boot ({variant['name']}) failed ({vm.name}); console:\n{vm.console_tail()}")
                raise
            t["qemu_cpu_s"] = qemu_cpu_s(vm.name)
            t["variant"] = variant["name"]
            if variant["name"] not in self.live_xml:  # after the timing: it does not count
                r = subprocess.run(VIRSH + ["dumpxml", vm.name], capture_output=True, text=True, timeout=60)
                self.live_xml[variant["name"]] = r.stdout if r.returncode == 0 else None
            t["domain"] = vm.name
            if variant["agent"]:  # the guest's clock (CLOCK_BOOTTIME) when the kernel ran /init and at hello
                t["guest_init_s"] = vm.hello.get("started_uptime_ms", 0) / 1000 or None
                t["guest_hello_s"] = vm.hello.get("uptime_ms", 0) / 1000 or None
            if self.initcalls:  # the marker comes after the modules' initcalls: they are in the log
                with open(os.path.join(vm.workdir, "console.log"), errors="replace") as f:
                    t["initcalls"] = initcall_times(f.read())
            return t
        finally:
            if self.keep_console:
                os.makedirs(self.keep_console, exist_ok=True)
                src = os.path.join(vm.workdir, "console.log")
                tag = re.sub(r"[^A-Za-z0-9_.=-]+", "_", variant["name"])
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(self.keep_console, f"{vm.name}-{tag}.log"))
            vm.close()


def rootfs_disk_of(state):
    """The image's read-only disk zunvmd's VMs get (zunvmd import-image makes it)."""
    disks = sorted(glob.glob(os.path.join(state, "images", "rootfs", "*.ext4")))
    if len(disks) != 1:
        raise RuntimeError(f"expected one image disk in {state}/images/rootfs, found {disks}")
    return disks[0]


FLOORS = {"floor-bare": parse_floor_variant("bare"), "floor-devices": parse_floor_variant("devices")}


def rotated(kinds, i):
    """The i-th round's order: each kind takes each position in turn (what runs right after a
    sandbox's delete, or first after a pause, is not always the same kind)."""
    k = i % len(kinds)
    return list(kinds[k:]) + list(kinds[:k])


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
        self.floor = None   # Floor, sized after the first cold start

    def make_floor(self, s, kernel):
        """The floor VMs get the sandbox VM's vCPUs and memory (from its record), its image disk and
        a writable disk of its size; returns both sizes for results.json."""
        b, spec = s["boot"] or {}, s.get("spec") or {}
        vm_mem, vm_cpus = b.get("memory_mib"), b.get("vcpus")
        rootfs = spec.get("image_disk") or rootfs_disk_of(self.state)
        gib = spec.get("disk_gib") or DEFAULT_DISK_GIB
        self.floor = Floor(self.gb, kernel, self.args.floor_initrd, self.gb.TEST_VM_BOOT.CMDLINE,
                           self.args.floor_memory_mib or vm_mem or DEFAULT_VM_MEMORY_MIB,
                           self.args.floor_vcpus or vm_cpus or 1, rootfs, gib)
        self.floor.keep_console = self.args.keep_console
        return {"sandbox": {"memory_mib": vm_mem, "vcpus": vm_cpus, "disk_gib": spec.get("disk_gib"),
                            "image_disk": spec.get("image_disk")},
                "floor": {"memory_mib": self.floor.memory_mib, "vcpus": self.floor.vcpus,
                          "disk_gib": gib, "image_disk": rootfs}}

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
        """fn() with retries (a step whose container went to Error, e.g. on a loaded machine).
        Each retry is recorded, with the other zunvmd processes running at the time."""
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
                        s["spec"] = {k: rec.get("spec", {}).get(k) for k in ("disk_gib", "image_disk")}
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
                rec = json.load(f)
            s["boot"] = rec.get("boot")
            s["spec"] = {k: rec.get("spec", {}).get(k) for k in ("disk_gib", "image_disk")}
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


def floor_only(args, gb, kernel, kernel_version):
    """--floor-only: floor VMs of each variant, alternating, no zunvmd (so no sandbox VMs)."""
    try:
        variants = [parse_floor_variant(v) for v in args.variants.split(",") if v]
    except ValueError as ex:
        sys.exit(str(ex))
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names) or not names:
        sys.exit(f"--variants: empty or repeated names: {args.variants}")
    mem = args.floor_memory_mib or DEFAULT_VM_MEMORY_MIB
    cpus = args.floor_vcpus or 1
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_before": os.getloadavg()},
               "guest": {"dir": args.guest_dir, "kernel": kernel_version, "floor_initrd": args.floor_initrd,
                         "cmdline": gb.TEST_VM_BOOT.CMDLINE},
               "vm": {"memory_mib": mem, "vcpus": cpus, "disk_gib": args.disk_gib}, "domain_type": "qemu (TCG)",
               "variants": {}}
    state = tempfile.mkdtemp(prefix="zsb-floor-", dir="/tmp")
    samples = {n: [] for n in names}
    try:
        os.chmod(state, 0o711)  # qemu reaches the image disk below it, as in zunvmd's state dir
        # The image disk zunvmd's VMs get: zunvmd import-image makes it (no zunvmd is started).
        run([args.zunvmd, "import-image", "--state-dir", state, args.image_tar], timeout=300)
        floor = Floor(gb, kernel, args.floor_initrd, gb.TEST_VM_BOOT.CMDLINE, mem, cpus, rootfs_disk_of(state),
                      args.disk_gib)
        floor.keep_console = args.keep_console
        floor.initcalls = args.initcalls
        log(f"floor variants, {cpus} vCPU, {mem} MiB, image disk {floor.rootfs_disk} "
            f"({os.path.getsize(floor.rootfs_disk) / 2**20:.1f} MiB), writable disk {args.disk_gib} GiB sparse ext4; "
            f"{args.warmup} warm-up + {args.boots} measured rounds, the order rotating every round:")
        for i in range(args.warmup + args.boots):
            tag = f"warm-up {i + 1}" if i < args.warmup else f"round {i + 1 - args.warmup}"
            parts = []
            for v in rotated(variants, i):
                t = floor.boot(v)
                t["round"] = i
                if i >= args.warmup:
                    samples[v["name"]].append(t)
                parts.append(f"{v['name']} {t['ready_s']:.2f} s (cpu {t['qemu_cpu_s']:.2f})")
            log(f"  {tag:9s} " + ", ".join(parts))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    results["host"]["loadavg_after"] = os.getloadavg()

    base = names[0]

    def paired(name, key):
        """Median over rounds of (variant - first variant in the same round)."""
        by_round = {t["round"]: t[key] for t in samples[base]}
        d = [t[key] - by_round[t["round"]] for t in samples[name] if t["round"] in by_round]
        return statistics.median(d) if d else None

    for v in variants:
        n = v["name"]
        r = {"spec": {"devices": sorted(v["devices"]), "copies": v["copies"], "pcie0": v["pcie0"],
                      "icount": v["icount"], "driver_attrs": v["driver_attrs"],
                      "cmdline_extra": v["cmdline_extra"], "initrd": "agent" if v["agent"] else "floor"},
             "ready_s": summary([t["ready_s"] for t in samples[n]]),
             "virsh_create_s": summary([t["create_s"] for t in samples[n]]),
             "qemu_cpu_s": summary([t["qemu_cpu_s"] for t in samples[n]]),
             "paired_delta_ready_s": paired(n, "ready_s"), "paired_delta_qemu_cpu_s": paired(n, "qemu_cpu_s"),
             "guest_init_s": summary([t.get("guest_init_s") for t in samples[n]]),
             "guest_hello_s": summary([t.get("guest_hello_s") for t in samples[n]]),
             "hardware": device_signature(floor.live_xml[n]) if floor.live_xml.get(n) else None,
             "samples": samples[n]}
        results["variants"][n] = r

    log()
    log(f"host: {os.cpu_count()} CPUs, load average before {results['host']['loadavg_before'][0]:.2f}, "
        f"after {results['host']['loadavg_after'][0]:.2f}; libvirt domain type qemu (TCG); {args.boots} measured "
        f"boots of each")
    log("ready = virsh create -> marker on the channel (agent variants: hello answered); cpu = the qemu process's "
        "CPU time then;")
    log(f"delta = against {base}: difference of the medians, and in brackets the median of the per-round differences")
    w = max(12, *(len(n) for n in names))
    log(f"  {'variant':{w}s} {'ready med':>9s} {'min':>6s} {'max':>6s} {'delta':>15s} {'cpu med':>8s} {'delta':>15s} "
        f"{'create':>7s}")
    b = results["variants"][base]
    for n in names:
        r = results["variants"][n]
        dr = r["ready_s"]["median"] - b["ready_s"]["median"]
        dc = r["qemu_cpu_s"]["median"] - b["qemu_cpu_s"]["median"]
        log(f"  {n:{w}s} {r['ready_s']['median']:9.3f} {r['ready_s']['min']:6.2f} {r['ready_s']['max']:6.2f} "
            f"{dr:+6.3f} ({r['paired_delta_ready_s']:+6.3f}) {r['qemu_cpu_s']['median']:8.3f} "
            f"{dc:+6.3f} ({r['paired_delta_qemu_cpu_s']:+6.3f}) {r['virsh_create_s']['median']:7.3f}")
    agents = [n for n in names if results["variants"][n]["guest_hello_s"]]
    if agents:
        log()
        log("agent variants: the guest's own clock (CLOCK_BOOTTIME; with icount: executed instructions, 1 ns each)")
        log(f"  {'variant':{w}s} {'at /init med':>12s} {'min':>7s} {'max':>7s} {'at hello med':>12s} {'min':>7s} "
            f"{'max':>7s} {'delta':>8s}")
        a0 = results["variants"][agents[0]]["guest_hello_s"]["median"]
        for n in agents:
            gi, gh = results["variants"][n]["guest_init_s"], results["variants"][n]["guest_hello_s"]
            log(f"  {n:{w}s} {gi['median']:12.3f} {gi['min']:7.3f} {gi['max']:7.3f} {gh['median']:12.3f} "
                f"{gh['min']:7.3f} {gh['max']:7.3f} {gh['median'] - a0:+8.3f}")
        log(f"  (delta: at hello, against {agents[0]})")
    if args.initcalls:
        log()
        log("the guest kernel's initcall timings (initcall_debug; the console output it adds slows the whole boot):")
        log(f"  median ms           " + "".join(f"{n[:14]:>15s}" for n in names))
        for k, what in list(INITCALLS) + [("sum", "sum of the above")]:
            cells = []
            for n in names:
                xs = [t["initcalls"][k] for t in samples[n] if t.get("initcalls")]
                cells.append(f"{statistics.median(xs) * 1000:15.1f}" if xs else f"{'n/a':>15s}")
            log(f"  {k[:18]:18s} " + "".join(cells) + f"   {what}")
        cells = []
        for n in names:
            xs = [t["initcalls"]["run_init_s"] for t in samples[n] if (t.get("initcalls") or {}).get("run_init_s")]
            cells.append(f"{statistics.median(xs) * 1000:15.0f}" if xs else f"{'n/a':>15s}")
        log(f"  {'Run /init at':18s} " + "".join(cells) + "   the guest's clock when the kernel started /init")
        for n in names:
            results["variants"][n]["initcalls_median_s"] = {
                k: statistics.median([t["initcalls"][k] for t in samples[n]])
                for k in [k for k, _ in INITCALLS] + ["sum"]} if samples[n] else None
    write_results(args.out, "floor-variants.json", results)


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
                    help="floor VM memory (default: the sandbox VM's, from the warm-up's record; "
                         f"--floor-only: {DEFAULT_VM_MEMORY_MIB})")
    ap.add_argument("--floor-vcpus", type=int, default=None,
                    help="floor VM vCPUs (default: the sandbox VM's; --floor-only: 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary state dir")
    ap.add_argument("--floor-only", action="store_true",
                    help="no zunvmd: only floor VMs with the --variants, alternating (where the sandbox VM's "
                         "devices cost boot time); writes OUT/floor-variants.json")
    ap.add_argument("--variants", default=",".join(FLOOR_MATRIX),
                    help="--floor-only: comma-separated floor variants, differences against the first "
                         f"(default {','.join(FLOOR_MATRIX)}). " + parse_floor_variant.__doc__.split(". ", 1)[1])
    ap.add_argument("--keep-console", metavar="DIR",
                    help="copy each floor VM's serial console log to DIR (with --floor-only variants carrying "
                         "arg:initcall_debug+arg:ignore_loglevel: where their boot time goes)")
    ap.add_argument("--initcalls", action="store_true",
                    help="--floor-only: boot every variant with initcall_debug ignore_loglevel and print the guest "
                         "kernel's timings of the initcalls that depend on the devices (slower boots: for "
                         "attribution, not for boot times)")
    ap.add_argument("--disk-gib", type=int, default=DEFAULT_DISK_GIB,
                    help=f"--floor-only: size of the writable disk (default {DEFAULT_DISK_GIB}, zunvmd's default_disk)")
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

    if args.floor_only:
        return floor_only(args, gb, kernel, kernel_version)

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
        bench.zunvmd = Zunvmd(args.zunvmd, bench.state, conf, os.path.join(bench.state, "zunvmd.log"))
        port = bench.zunvmd.start()
        bench.api = Api(port)
        log(f"zunvmd on 127.0.0.1:{port}, state {bench.state}, guest {args.guest_dir} (kernel {kernel_version})")
        for w in warnings:
            log(f"WARNING: {w}")

        # -- 1 + 2: cold starts alternating with both floors -------------------------------------
        cold, floor = [], {k: [] for k in FLOORS}
        log(f"cold starts, floor-bare and floor-devices boots ({args.warmup} warm-up + {args.boots} measured of "
            f"each, alternating, the order rotating every round):")
        for i in range(args.warmup + args.boots):
            tag = f"warm-up {i + 1}" if i < args.warmup else f"run {i + 1 - args.warmup}"
            # The first cold start tells the floor VMs their size and disks, so it comes first.
            order = ["sandbox"] + list(FLOORS) if i < args.warmup else rotated(["sandbox"] + list(FLOORS), i)
            got = {}
            for kind in order:
                if kind == "sandbox":
                    got[kind] = bench.attempt(f"cold start ({tag})", bench.cold_start)
                    if bench.floor is None:
                        results["vm"] = bench.make_floor(got[kind], kernel)
                else:
                    got[kind] = bench.floor.boot(FLOORS[kind])
            s, b = got["sandbox"], got["sandbox"]["boot"] or {}
            log(f"  {tag:9s} sandbox: api {s['t_api_s'] * 1000:5.0f} ms,"
                f" driver at {fmt(s['t_driver_s'], prec=3).strip()} s,"
                f" domain {fmt(b.get('domain_started_s')).strip()}, kernel {fmt(b.get('kernel_booted_s')).strip()},"
                f" agent {fmt(b.get('agent_ready_s')).strip()}, created {fmt(b.get('container_created_s')).strip()},"
                f" 'ready' in logs {s['t_started_s']:.3f} s | " + ", ".join(
                    f"{k} {got[k]['ready_s']:.3f} s" for k in FLOORS) + f"  (order: {', '.join(order)})")
            if i >= args.warmup:
                cold.append(s)
                for k in FLOORS:
                    floor[k].append(got[k])

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
        results["cold_start"] = {"request": ECHO_BODY, "summary": cs, "samples": cold}
        results["floor"] = {"initrd": args.floor_initrd, "rootfs_disk": bench.floor.rootfs_disk,
                            "upper_disk_gib": bench.floor.disk_gib}
        for k in FLOORS:
            fs_ = {"ready_s": summary([f["ready_s"] for f in floor[k]]),
                   "virsh_create_s": summary([f["create_s"] for f in floor[k]]),
                   "qemu_cpu_s": summary([f["qemu_cpu_s"] for f in floor[k]])}
            results["floor"][k] = {"variant": FLOORS[k]["name"], "summary": fs_, "samples": floor[k]}
            results["cold_start"][f"ratio_create_and_run_over_{k.replace('-', '_')}_median"] = \
                cs["t_started_s"]["median"] / fs_["ready_s"]["median"]

        # -- 3 + 4: idle memory, stop, delete, force delete --------------------------------------
        def idle_phase():
            log(f"memory: {args.idle} containers running sleep 3600, Running + {SETTLE_S:.0f} s")
            idle = bench.start_sleepers(args.idle)
            time.sleep(SETTLE_S)
            for u in idle:  # all still Running (none lost meanwhile)
                wait_status(bench.api, u, "Running", deadline_s=1)
            rss = [bench.qemu_rss(u) for u in idle]
            r = subprocess.run(VIRSH + ["dumpxml", bench.domain_name(idle[0])], capture_output=True, text=True,
                               timeout=60)
            results["hardware"] = compare_hardware(r.stdout if r.returncode == 0 else None, bench.floor.live_xml)
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
    log("  same kernel, cmdline and modules; /init only loads the modules and writes a marker to the agent's port")
    log(f"  floor-bare: the minimal domain (console, agent channel); floor-devices: plus the sandbox VM's devices "
        f"(image disk {os.path.basename(vm['floor']['image_disk'])} read-only, a fresh {vm['floor']['disk_gib']} GiB "
        f"sparse ext4, virtio-rng)")
    hw = results.get("hardware") or {}
    if hw.get("sandbox") and hw.get("floor-devices"):
        diffs = hw["floor_devices_differences"]
        log("  hardware (virsh dumpxml, paths and aliases left out): floor-devices "
            + ("= the sandbox VM" if not diffs else f"DIFFERS from the sandbox VM in {len(diffs)} item(s):"))
        for d in diffs:
            log(f"    {d}")
    else:
        log("  hardware: not compared (no live XML of a sandbox VM or of floor-devices)")
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
    for k in FLOORS:
        fs_ = results["floor"][k]["summary"]
        log(row(f"{k}: virsh create -> marker on the channel", fs_["ready_s"]))
        log(row(f"  of which virsh create ({k})", fs_["virsh_create_s"]))
        log(row(f"  qemu CPU time at the marker ({k})", fs_["qemu_cpu_s"]))
    fb, fd = (results["floor"][k]["summary"]["ready_s"]["median"] for k in ("floor-bare", "floor-devices"))
    log(f"  floor-devices - floor-bare (medians): {fd - fb:+.3f} s")
    log(f"  ratio create-and-run / floor-devices (medians): "
        f"{results['cold_start']['ratio_create_and_run_over_floor_devices_median']:.2f}"
        "   <- same VM hardware, only the software differs")
    log(f"  ratio create-and-run / floor-bare (medians):    "
        f"{results['cold_start']['ratio_create_and_run_over_floor_bare_median']:.2f}")
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

    write_results(args.out, "results.json", results)


if __name__ == "__main__":
    main()
