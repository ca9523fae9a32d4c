#!/usr/bin/python3
"""End to end: `zunvmd check` on this host (real libvirt, QEMU, /dev/kvm, the built guest
images, iproute2), its JSON, and zunvmd refusing to start on a fatal check with a message that
names the problem and its fix: a state dir QEMU's user cannot reach (under a 0700 parent, as
`mktemp -d` makes), libvirt unreachable, a guest image with another agent protocol.

Needs libvirtd and build/guest, build/guest-debian (scripts/test.sh prepares them).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import ROOT, binary  # noqa: E402


def zunvmd(*args, timeout=60):
    return subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout)


class HostCheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zchk-")  # 0700: what QEMU's user cannot pass
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.open_dir = os.path.join(self.tmp, "open")
        os.mkdir(self.open_dir)

    def reachable_state(self):
        os.chmod(self.tmp, 0o711)
        return os.path.join(self.open_dir, "state")

    def check_json(self, *args):
        r = zunvmd("check", "--json", "--virt-type", "qemu", *args)
        report = json.loads(r.stdout)
        return r.returncode, report, {c["name"]: c for c in report["checks"]}

    def test_this_host_passes_with_every_check_named(self):
        state = self.reachable_state()
        rc, report, checks = self.check_json("--state-dir", state)
        self.assertEqual(rc, 0, json.dumps(report, indent=1))
        self.assertTrue(report["ok"])
        for name in ("state dir", "cgroups", "open files", "memory", "libvirt", "qemu", "kvm", "guest image kata",
                     "guest image kata-debian", "reachable by qemu", "bridges", "nftables"):
            self.assertIn(name, checks)
            self.assertIn(checks[name]["result"], ("ok", "warn"), checks[name])
        self.assertRegex(checks["libvirt"]["found"], r"libvirt \d+\.\d+\.\d+, QEMU \d+\.\d+\.\d+")
        self.assertRegex(checks["qemu"]["found"], r"qemu-system-x86_64, domain types .*qemu.*, machine types [1-9]")
        self.assertIn("agent protocol", checks["guest image kata"]["found"])
        with open(os.path.join(ROOT, "build", "guest", "kernel.version")) as f:
            self.assertIn(f.read().strip(), checks["guest image kata"]["found"])
        self.assertFalse(os.path.exists(state), "check creates nothing")
        # The table for people says the same.
        r = zunvmd("check", "--virt-type", "qemu", "--state-dir", state)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("this host can run zunvmd", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^libvirt\s+ok\s+qemu:///system")

    def test_a_state_dir_qemu_cannot_reach_is_refused_naming_the_directory(self):
        state = os.path.join(self.open_dir, "state")  # under the 0700 temp dir
        rc, report, checks = self.check_json("--state-dir", state)
        self.assertEqual(rc, 1)
        self.assertFalse(report["ok"])
        item = checks["reachable by qemu"]
        self.assertEqual(item["result"], "fail")
        self.assertIn("may not search %s (mode 0700" % self.tmp, item["found"])
        self.assertIn("chmod o+x", item["fix"])
        # zunvmd itself refuses to start, before it makes anything there.
        r = zunvmd("--state-dir", state, "--port", "0", "--virt-type", "qemu")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot run zunvmd as configured: reachable by qemu", r.stderr)
        self.assertIn(self.tmp, r.stderr)
        self.assertIn("chmod o+x", r.stderr)
        self.assertFalse(os.path.exists(state))

    def test_libvirt_unreachable_is_fatal_with_its_fix(self):
        conf = os.path.join(self.tmp, "zunvm.conf")
        with open(conf, "w") as f:
            f.write("[libvirt]\nuri = qemu+unix:///system?socket=%s/no-libvirt-sock\n" % self.tmp)
        rc, _, checks = self.check_json("--config-file", conf, "--state-dir", self.reachable_state())
        self.assertEqual(rc, 1)
        self.assertEqual(checks["libvirt"]["result"], "fail")
        self.assertIn("start libvirtd", checks["libvirt"]["fix"])
        self.assertNotIn("qemu", checks)  # nothing to ask an absent libvirt

    def test_a_guest_image_of_another_agent_protocol_is_fatal(self):
        img = os.path.join(self.open_dir, "old")
        os.mkdir(img)
        shutil.copy(os.path.join(ROOT, "build", "guest", "vmlinux"), img)
        with open(os.path.join(img, "initramfs.cpio"), "wb") as f:
            f.write(b"\0" * 4096 + b"zunvm-agent protocol 1;" + b"\0" * 64)
        conf = os.path.join(self.tmp, "zunvm.conf")
        with open(conf, "w") as f:
            f.write("[DEFAULT]\nruntimes = kata, old\n[runtime:old]\ntype = vm\nkernel = %s/vmlinux\n"
                    "initrd = %s/initramfs.cpio\n" % (img, img))
        rc, _, checks = self.check_json("--config-file", conf, "--state-dir", self.reachable_state())
        self.assertEqual(rc, 1)
        item = checks["guest image old"]
        self.assertEqual(item["result"], "fail")
        self.assertIn("speaks agent protocol 1", item["found"])
        self.assertIn("guest/build-image.sh", item["fix"])
        self.assertEqual(checks["guest image kata"]["result"], "ok")


if __name__ == "__main__":
    unittest.main(verbosity=2)
