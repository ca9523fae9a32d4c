#!/usr/bin/python3
"""libvirtd SIGKILLed and started again while zunvmd serves API load on real VMs
(docs/operator.md §6).

Two containers run (and a third, deleted during the outage). Client threads list and show
containers, exec into the two, and create, exec into and delete throw-away containers in a
loop, before, during and after the outage; every answer is recorded with its time. libvirtd
is SIGKILLed while a create is in flight, kept away until the load has seen the outage (at
least 5 s), then started again the way the suite starts it (guest/start-libvirt.sh, under
guest/subreaper.py). Asserted:

* zunvmd never exits, and never answers 500 (nor any 5xx but 503);
* a 503 is only an answer to a request sent before zunvmd reconnected, and it is the API's
  error envelope saying libvirt is unavailable;
* list, show and exec into the running containers answer 200 throughout: they need no libvirt;
* network attaches during the outage are refused with that 503 and change nothing; creates
  then go to Error saying libvirt is not connected (or was lost);
* a running container force-deleted during the outage is gone, and its VM is destroyed once
  libvirtd is back (no domain without a record);
* zunvmd reconnects once libvirtd answers; the two containers stay Running in the same qemu
  processes; after the reconnect creates, execs, network attach/detach and deletes work;
* at the end everything is deleted and no domain of this zunvmd is left, nor a sandbox
  directory or disk.

libvirtd is running again when the test ends, passed or failed. Needs libvirtd and build/guest
(scripts/test.sh prepares them).
"""
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, api_request, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_LIBVIRT = os.path.join(ROOT, "guest", "start-libvirt.sh")
VIRSH = ["virsh", "-c", "qemu:///system"]
META_NS = "https://zunvm.org/xmlns/sandbox/1"
BOOT = 120  # seconds a create may take here (TCG, 2 cores shared)


def libvirtd_pids():
    out = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def start_libvirtd():
    subprocess.run([START_LIBVIRT], check=True, timeout=120)


def domain_names():
    out = subprocess.run(VIRSH + ["list", "--all", "--name"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("virsh list failed: " + out.stderr)
    return set(out.stdout.split())


def qemu_pid(domain):
    with open("/run/libvirt/qemu/%s.pid" % domain) as f:
        return int(f.read().strip())


def our_domains(instance):
    """The domains carrying zunvmd instance id `instance` (containers' and pool VMs')."""
    ours = set()
    for d in domain_names():
        if d.startswith("zunvm-"):
            meta = subprocess.run(VIRSH + ["metadata", d, META_NS], capture_output=True, text=True, timeout=60)
            if instance in meta.stdout:
                ours.add(d)
    return ours


class Recorder:
    """Every API answer of the load: (kind, sent, answered, status, body)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.lock = threading.Lock()
        self.calls = []

    def call(self, kind, method, path, body=None, timeout=120):
        sent = time.monotonic()
        try:
            code, out = api_request(self.daemon.url, method, path, body, timeout=timeout)
        except Exception as e:  # a reset or refused connection is an answer too: a failure
            code, out = "error", repr(e)
        with self.lock:
            self.calls.append((kind, sent, time.monotonic(), code, out))
        return code, out

    def since(self, t, kind=None):
        with self.lock:
            return [c for c in self.calls if c[1] >= t and (kind is None or c[0] == kind)]


class LibvirtdRestartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        start_libvirtd()
        # libvirtd is running when the test ends, whatever happened (other tests need it).
        cls.addClassCleanup(start_libvirtd)
        cls.state = vm_state_dir("zlr-")
        cls.addClassCleanup(remove_vm_state, cls.state)
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt")
        # After zunvmd stopped: libvirtd up (the test may have failed during the outage) and
        # every domain of this zunvmd destroyed, also one whose sandbox dir is gone.
        cls.addClassCleanup(cls.destroy_our_domains)
        cls.addClassCleanup(cls.daemon.stop)
        cls.daemon.start(timeout=60)
        with open(os.path.join(cls.state, "instance-id")) as f:
            cls.instance = f.read().strip()

    @classmethod
    def destroy_our_domains(cls):
        start_libvirtd()
        for d in our_domains(cls.instance) if getattr(cls, "instance", None) else ():
            subprocess.run(VIRSH + ["destroy", d], capture_output=True, timeout=60)

    def api(self, method, path, body=None):
        return api_request(self.daemon.url, method, path, body, timeout=180)

    def tail(self, n=40):
        return "".join(self.daemon.output[-n:])

    def assert_alive(self):
        self.assertIsNone(self.daemon.proc.poll(), "zunvmd exited:\n" + self.tail())

    def status_of(self, name):
        code, c = self.api("GET", "/v1/containers/" + name)
        return c if code == 200 else None

    def wait_settled(self, name, timeout=BOOT):
        """The container's view once it is Running or Error with no task."""
        def settled():
            c = self.status_of(name)
            return c if c and c["status"] in ("Running", "Error", "Stopped") and not c.get("task_state") else None
        return wait_for(settled, timeout, name + " settled")

    def run_container(self, name):
        code, c = self.api("POST", "/v1/containers?run=true",
                           {"name": name, "image": "busybox", "command": ["sleep", "100000"]})
        self.assertEqual(code, 202, c)
        return c["uuid"]

    def exec_ok(self, rec, kind, name):
        code, r = rec.call(kind, "POST", "/v1/containers/%s/execute?run=true&command=%s" %
                           (name, urllib.parse.quote("echo alive-" + name)))
        return code == 200 and r.get("exit_code") == 0 and r.get("output", "").strip() == "alive-" + name

    def test_libvirtd_killed_and_restarted_under_load(self):
        names = ("lr-a", "lr-b")
        uuids = {n: self.run_container(n) for n in names + ("lr-del",)}
        for n in names + ("lr-del",):
            c = self.wait_settled(n)
            self.assertEqual(c["status"], "Running", (c, self.tail()))
        pids = {n: qemu_pid("zunvm-" + uuids[n]) for n in names}

        rec = Recorder(self.daemon)
        stop = threading.Event()
        cycles = []  # creator: (sent, create status, settled status, reason, exec ok, delete status)
        in_flight = threading.Event()  # the creator has a create whose container is not settled
        problems = []

        def reader():
            while not stop.is_set():
                rec.call("list", "GET", "/v1/containers")
                for n in names:
                    rec.call("show", "GET", "/v1/containers/" + n)
                stop.wait(0.05)  # paced: the VMs need the CPU more than the count needs to be high

        def execer():
            while not stop.is_set():
                for n in names:
                    if not self.exec_ok(rec, "exec", n):
                        problems.append("exec into %s failed" % n)

        def creator():
            i = 0
            while not stop.is_set():
                i += 1
                name = "lr-load-%d" % i
                sent = time.monotonic()
                code, c = rec.call("create", "POST", "/v1/containers?run=true",
                                   {"name": name, "image": "busybox", "command": ["sleep", "100000"]})
                status, reason, exec_ok = None, None, None
                if code == 202:
                    in_flight.set()
                    deadline = time.monotonic() + BOOT
                    while time.monotonic() < deadline:
                        _, v = rec.call("poll", "GET", "/v1/containers/" + name)
                        if v and v.get("status") in ("Running", "Error", "Stopped") and not v.get("task_state"):
                            status, reason = v["status"], v.get("status_reason")
                            break
                        time.sleep(0.2)
                    in_flight.clear()
                    if status == "Running":
                        exec_ok = self.exec_ok(rec, "exec-new", name)
                dcode = None
                if code == 202:
                    dcode, _ = rec.call("delete", "DELETE", "/v1/containers/%s?force=true" % name)
                    gone = time.monotonic() + BOOT
                    while time.monotonic() < gone and rec.call("poll", "GET", "/v1/containers/" + name)[0] != 404:
                        time.sleep(0.2)
                cycles.append((sent, code, status, reason, exec_ok, dcode))

        threads = [threading.Thread(target=f, daemon=True) for f in (reader, execer, creator)]
        for t in threads:
            t.start()
        try:
            # ---- the outage: libvirtd SIGKILLed while a create is in flight ----
            wait_for(in_flight.is_set, 60, "a create in flight")
            old = libvirtd_pids()
            self.assertEqual(len(old), 1, old)
            t_kill = time.monotonic()
            os.kill(old[0], signal.SIGKILL)
            wait_for(lambda: not libvirtd_pids(), 30, "libvirtd gone")
            wait_for(lambda: "lost the connection to libvirt" in "".join(self.daemon.output), 30,
                     "zunvmd to notice the lost connection")
            t_noticed = time.monotonic()
            # A request that needs libvirt: refused, nothing changed.
            attach_during = self.api("POST", "/v1/containers/lr-a/network_attach?network=lr-second")
            # A running container deleted meanwhile: its VM must not outlive it.
            delete_during = self.api("DELETE", "/v1/containers/lr-del?force=true")
            self.assert_alive()

            # Held away until the load has seen the outage: reads and execs answered, and a
            # create sent after the kill has settled and been deleted.
            def outage_seen():
                return (time.monotonic() - t_kill > 5 and
                        len(rec.since(t_noticed, "list")) >= 5 and len(rec.since(t_noticed, "exec")) >= 10 and
                        any(c[0] > t_noticed and c[5] is not None or c[0] > t_noticed and c[1] != 202
                            for c in cycles))
            # Meanwhile requests that need libvirt: the NIC attach, again and again.
            deadline = time.monotonic() + 90
            while not outage_seen():
                self.assertLess(time.monotonic(), deadline, "load during the outage")
                rec.call("attach", "POST", "/v1/containers/lr-b/network_attach?network=lr-second")
                stop.wait(0.2)
            self.assert_alive()

            # ---- libvirtd again, as the suite starts it ----
            t_restart = time.monotonic()
            start_libvirtd()
            t_back = time.monotonic()
            wait_for(lambda: "reconnected to libvirt" in "".join(self.daemon.output), 60,
                     "zunvmd to reconnect to libvirt")
            t_reconnected = time.monotonic()
            # A create sent after the reconnect runs, answers exec and is deleted.
            wait_for(lambda: any(c[0] > t_reconnected and c[2] == "Running" and c[5] is not None for c in cycles),
                     2 * BOOT, "a create after the reconnect")
        finally:
            stop.set()
            for t in threads:
                t.join(2 * BOOT)
        self.assert_alive()

        # ---- what the load saw ----
        def phase(sent):
            if sent < t_kill:
                return "before"
            if sent < t_restart:
                return "outage"
            if sent < t_reconnected:
                return "restart"
            return "after"
        counts = collections.Counter((phase(c[1]), c[0], c[3]) for c in rec.calls)
        print("\nkilled -> zunvmd noticed %.2f s; libvirtd started again after %.2f s of outage; "
              "start-libvirt.sh took %.2f s; zunvmd reconnected %.2f s after the kill, %.2f s after libvirtd "
              "answered" % (t_noticed - t_kill, t_restart - t_kill, t_back - t_restart, t_reconnected - t_kill,
                            t_reconnected - t_back))
        print("".join(line for line in self.daemon.output
                      if re.search(r"lost the connection|reconnected to|destroying domain|lost:", line)))
        print("phase   | call     | status | count")
        for (ph, kind, code), n in sorted(counts.items(), key=lambda kv: (["before", "outage", "restart", "after"]
                                                                          .index(kv[0][0]), kv[0][1], str(kv[0][2]))):
            print("%-7s | %-8s | %-6s | %d" % (ph, kind, code, n))
        print("creates: sent at | create | settled | reason | exec | delete")
        for sent, code, status, reason, ok, dcode in cycles:
            print("  %s %+.1f s | %s | %s | %s | %s | %s" % (phase(sent), sent - t_kill, code, status,
                                                          (reason or "")[:70], ok, dcode))
        print("network attach during the outage: %s %s" % attach_during)
        print("delete of a running container during the outage: %s %s" % delete_during)

        self.assertEqual(problems, [])
        for kind, sent, answered, code, body in rec.calls:
            where = "%s %s sent %+.2f s after the kill" % (kind, code, sent - t_kill)
            self.assertNotEqual(code, "error", where + ": " + str(body))
            if kind in ("list", "show", "exec", "poll") and not (kind == "poll" and code == 404):
                self.assertEqual(code, 200, where + ": " + str(body))
            if kind == "attach":  # all sent while libvirtd was away
                self.assertEqual(code, 503, where + ": " + str(body))
            self.assertFalse(code >= 500 and code != 503, where + ": " + str(body))
            if code == 503:
                self.assertLess(sent, t_reconnected, where + ": a 503 after the reconnect")
                self.assertGreater(answered, t_kill, where)
                err = body["errors"][0]
                self.assertEqual(err["status"], 503, body)
                self.assertIn("libvirt", err["detail"], body)
        # Creates during the outage fail clearly (503, or the container goes to Error saying
        # why) and are deleted; creates after the reconnect run.
        for sent, code, status, reason, ok, dcode in cycles:
            self.assertIn(code, (202, 503), cycles)
            if code == 202:
                self.assertIn(status, ("Running", "Error"), cycles)
                self.assertEqual(dcode, 204, cycles)
            if status == "Running":
                self.assertTrue(ok, cycles)
            if status == "Error":
                self.assertLess(sent, t_reconnected, cycles)
                self.assertTrue(reason, cycles)
                # The create in flight at the kill may carry libvirt's own words ("End of file
                # while reading data"); later ones say that libvirt is not connected or was lost.
                if sent > t_kill:
                    self.assertIn("libvirt", reason, cycles)
            if sent > t_reconnected:
                self.assertEqual(status, "Running", cycles)

        # The attach during the outage: refused, the container untouched.
        code, r = attach_during
        self.assertEqual(code, 503, r)
        self.assertIn("libvirt", r["errors"][0]["detail"], r)

        # The delete during the outage: done (its VM destroyed once libvirt is back), or refused
        # with the 503 and done now.
        code, r = delete_during
        self.assertIn(code, (204, 503), r)
        if code == 503:
            self.assertIn("libvirt", r["errors"][0]["detail"], r)
            self.assertEqual(self.api("DELETE", "/v1/containers/lr-del?force=true")[0], 204)
        wait_for(lambda: self.api("GET", "/v1/containers/lr-del")[0] == 404, BOOT, "lr-del deleted")
        wait_for(lambda: "zunvm-" + uuids["lr-del"] not in domain_names(), 60,
                 "the VM of the container deleted during the outage destroyed")
        # No domain without a record (the load has stopped: the records stay as they are).
        records = {c["uuid"] for c in self.api("GET", "/v1/containers")[1]["containers"]}
        wait_for(lambda: {d[len("zunvm-"):] for d in our_domains(self.instance)} <= records, 60,
                 "no domain without a record")

        # ---- after the restart ----
        for n in names:
            c = self.status_of(n)
            self.assertEqual((c["status"], c.get("task_state")), ("Running", None), c)
            self.assertEqual(len(c["addresses"]), 1, c)  # the attaches during the outage added nothing
            code, out = self.api("POST", "/v1/containers/%s/execute?run=true&command=ls%%20/sys/class/net" % n)
            self.assertEqual(len([x for x in out["output"].split() if x != "lo"]), 1, out)
            self.assertEqual(qemu_pid("zunvm-" + uuids[n]), pids[n], n + ": its qemu was replaced")
            self.assertTrue(self.exec_ok(Recorder(self.daemon), "exec", n), n)
        state = subprocess.run(VIRSH + ["domstate", "zunvm-" + uuids["lr-a"]], capture_output=True, text=True)
        self.assertEqual(state.stdout.strip(), "running", state)
        # libvirt operations on a VM from before the outage: a NIC plugged in and out.
        code, r = self.api("POST", "/v1/containers/lr-a/network_attach?network=lr-second")
        self.assertEqual(code, 200, (r, self.tail()))
        code, out = self.api("POST", "/v1/containers/lr-a/execute?run=true&command=ls%20/sys/class/net")
        self.assertEqual(len([x for x in out["output"].split() if x != "lo"]), 2, out)
        code, r = self.api("POST", "/v1/containers/lr-a/network_detach?network=lr-second")
        self.assertEqual(code, 202, (r, self.tail()))
        wait_for(lambda: len(self.status_of("lr-a")["addresses"]) == 1, 60, "the NIC detached")
        # A new container from start to end.
        self.run_container("lr-after")
        c = self.wait_settled("lr-after")
        self.assertEqual(c["status"], "Running", (c, self.tail()))
        self.assertTrue(self.exec_ok(Recorder(self.daemon), "exec", "lr-after"))
        self.assert_alive()

        # ---- everything deleted: nothing left ----
        _, body = self.api("GET", "/v1/containers")
        for c in body["containers"]:
            self.assertEqual(self.api("DELETE", "/v1/containers/%s?force=true" % c["uuid"])[0], 204, c)
        wait_for(lambda: not self.api("GET", "/v1/containers")[1]["containers"], BOOT, "all deleted")
        wait_for(lambda: not our_domains(self.instance), 60, "no domain of this zunvmd")
        sandboxes = os.path.join(self.state, "sandboxes")
        self.assertEqual(os.listdir(sandboxes) if os.path.isdir(sandboxes) else [], [])
        disks = os.path.join(self.state, "images", "containers")
        self.assertEqual(os.listdir(disks) if os.path.isdir(disks) else [], [])
        self.assert_alive()
        self.assertFalse(re.search(r"terminate called|Segmentation|AddressSanitizer", self.tail(400)), self.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
