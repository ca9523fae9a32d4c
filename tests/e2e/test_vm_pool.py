#!/usr/bin/python3
"""The warm pool with real VMs: zunvmd with [pool] size = 2 clones pool VMs from a template and
creates take them. Containers from the pool behave like cold ones (logs, exec, stop/start keeps
files, networking, re-adoption after SIGKILL), clones are unique (kernel boot_id, the first bytes
of /dev/urandom, the clock), the template's RAM file never changes, no clone has a balloon, and
nothing is left behind (domains, pool directories) after a restart and a shutdown.

Needs libvirtd, the guest image in build/guest and busybox (scripts/test.sh prepares them).
"""
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import VmApi, wait_for  # noqa: E402

VIRSH = ["virsh", "-c", "qemu:///system"]
METADATA_NS = "https://zunvm.org/xmlns/sandbox/1"


def our_domains(instance):
    """{name: metadata text} of the running domains carrying `instance`."""
    names = subprocess.run(VIRSH + ["list", "--name"], capture_output=True, text=True, timeout=60).stdout.split()
    out = {}
    for n in names:
        if not n.startswith("zunvm-"):
            continue
        meta = subprocess.run(VIRSH + ["metadata", n, METADATA_NS], capture_output=True, text=True, timeout=60)
        if instance in meta.stdout:
            out[n] = meta.stdout
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class PoolTest(VmApi, unittest.TestCase):
    TEMPLATES = True  # PoolWithoutTemplatesTest: [pool] use_templates = false

    @classmethod
    def setUpClass(cls):
        cls.start_vm_daemon("zpool-", "[DEFAULT]\nexecute_timeout = 20\n[pool]\nsize = 2\nuse_templates = %s\n"
                            % ("true" if cls.TEMPLATES else "false"))
        with open(os.path.join(cls.state, "instance-id")) as f:
            cls.instance = f.read().strip()
        cls.wait_pool_ready()
        rams = glob.glob("/dev/shm/zunvm/%s/*/ram" % cls.instance)
        assert len(rams) == (1 if cls.TEMPLATES else 0), rams
        cls.template_ram = rams[0] if rams else None
        cls.template_hash = sha256(cls.template_ram) if rams else None

    @classmethod
    def unclaimed(cls):
        return {n for n, m in our_domains(cls.instance).items()
                if n.startswith("zunvm-pool-") and "<container></container>" in m.replace("<container/>", "<container></container>")}

    @classmethod
    def wait_pool_ready(cls):
        """Two unclaimed pool VMs, both warmed (their directory says `ready`)."""
        def ready():
            members = cls.unclaimed()
            done = [n for n in members
                    if os.path.exists(os.path.join(cls.state, "pool", n[len("zunvm-pool-"):], "ready"))]
            return len(done) == 2 and members
        return wait_for(ready, 240, "two pool VMs ready")

    def sandbox(self, uuid):
        with open(os.path.join(self.state, "sandboxes", uuid, "sandbox.json")) as f:
            return json.load(f)

    def run_container(self, name, command):
        code, c = self.api("POST", "/v1/containers?run=true", {"name": name, "image": "busybox", "command": command})
        self.assertEqual(code, 202, c)
        return c["uuid"]

    def test_1_pool_containers_are_containers_and_unique(self):
        u1 = self.run_container("p1", ["sleep", "600"])
        u2 = self.run_container("p2", ["sleep", "600"])
        self.wait_running("p1")
        c2 = self.wait_running("p2")
        # Both came from the pool: their VMs are pool domains, recorded as such.
        for u in (u1, u2):
            rec = self.sandbox(u)
            self.assertTrue(rec["boot"]["pool"], rec["boot"])
            # The claim's steps, in order, up to the container's start (bench/pool_bench.py).
            steps = [rec["boot"][k] for k in ("claim_identity_s", "claim_disks_s", "claim_nics_plugged_s",
                                              "claim_container_created_s", "claim_nics_configured_s",
                                              "container_started_s")]
            self.assertEqual(steps, sorted(steps), rec["boot"])
            self.assertTrue(rec["domain"].startswith("zunvm-pool-"), rec)
            self.assertIn("<container>%s</container>" % u, our_domains(self.instance)[rec["domain"]])
            xml = subprocess.run(VIRSH + ["dumpxml", rec["domain"]], capture_output=True, text=True).stdout
            self.assertIn("<memballoon model='none'/>", xml)
            for word in ("virtio-mem", "free-page-reporting", "memballoon model='virtio'"):
                self.assertNotIn(word, xml)
            if self.TEMPLATES:
                self.assertIn("share=off", xml)
            else:  # cold-booted pool VMs: nothing of libvirt's bypassed
                self.assertNotIn("qemu:commandline", xml)
        # Clones of one template are not copies of each other.
        seen = []
        for name in ("p1", "p2"):
            before = time.time()
            code, out = self.exec(name, "sh -c 'cat /proc/sys/kernel/random/boot_id; "
                                        "head -c 16 /dev/urandom | od -An -tx1 | tr -d \" \\n\"; echo; date +%s'")
            after = time.time()
            self.assertEqual(code, 0, out)
            boot_id, random_hex, clock = out.split()
            self.assertGreaterEqual(int(clock), int(before) - 1)
            self.assertLessEqual(int(clock), int(after) + 1)
            seen.append((boot_id, random_hex))
        self.assertNotEqual(seen[0][0], seen[1][0])
        self.assertNotEqual(seen[0][1], seen[1][1])
        # Networking: the two containers reach each other on the default network.
        addr2 = [a["addr"] for net in c2["addresses"].values() for a in net][0]
        code, out = self.exec("p1", "ping -c 1 -W 5 " + addr2)
        self.assertEqual(code, 0, out)
        # Logs of a short-lived container from the pool.
        self.wait_pool_ready()
        u3 = self.run_container("p3", ["echo", "hello from the pool"])
        wait_for(lambda: "hello from the pool" in (self.api("GET", "/v1/containers/p3/logs")[1] or ""), 120,
                 "p3's output")
        self.assertTrue(self.sandbox(u3)["boot"]["pool"])
        # Stop and start (a new VM, from the pool again) keeps the container's files.
        self.assertEqual(self.exec("p1", "sh -c 'echo kept > /kept.txt'")[0], 0)
        self.assertEqual(self.api("POST", "/v1/containers/p1/stop?timeout=0")[0], 202)
        wait_for(lambda: self.api("GET", "/v1/containers/p1")[1]["status"] == "Stopped", 120, "p1 Stopped")
        self.wait_pool_ready()
        self.assertEqual(self.api("POST", "/v1/containers/p1/start")[0], 202)
        self.wait_running("p1")
        self.assertTrue(self.sandbox(u1)["boot"]["pool"])
        self.assertEqual(self.exec("p1", "cat /kept.txt"), (0, "kept\n"))

    def test_2_restart_adopts_clones_and_leaks_nothing(self):
        self.wait_pool_ready()
        old_members = self.unclaimed()
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        # The members nobody claimed are destroyed and replaced; claimed ones are adopted.
        wait_for(lambda: not (old_members & self.unclaimed()), 60, "the old pool VMs destroyed")
        self.assertEqual(self.api("GET", "/v1/containers/p2")[1]["status"], "Running")
        self.assertEqual(self.exec("p2", "echo adopted"), (0, "adopted\n"))
        self.wait_pool_ready()
        self.delete_all()
        # A clean shutdown destroys the unclaimed members: nothing of this instance is left.
        self.daemon.stop()
        self.assertEqual(our_domains(self.instance), {})
        self.assertEqual(os.listdir(os.path.join(self.state, "pool")), [])
        self.assertEqual(os.listdir(os.path.join(self.state, "sandboxes")), [])
        # Clones ran, wrote their memory and exited: the template's RAM file is as it was made.
        if self.TEMPLATES:
            self.assertEqual(sha256(self.template_ram), self.template_hash)
        self.daemon.start(timeout=60)


class PoolWithoutTemplatesTest(PoolTest):
    """The same with [pool] use_templates = false: pool VMs are cold-booted, nothing shared."""
    TEMPLATES = False


if __name__ == "__main__":
    unittest.main(verbosity=2)
