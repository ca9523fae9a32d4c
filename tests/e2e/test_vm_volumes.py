#!/usr/bin/python3
"""Volumes end to end on real VMs (issue 20): the real `openstack appcontainer` CLI and curl
against zunvmd with the libvirt driver. A named volume keeps its data across stop/start, a
zunvmd SIGKILL and the container's delete; `size=` volumes go with their container; `type=bind`
injects a file; read-only mounts refuse writes; a second writer is 409; a host block device (the
Zun driver's Cinder volumes) is handed to the VM as is. At the end nothing is
left: no volume disk, container disk or domain.

Six VM boots in all. Needs what test_vm_cli.py needs (scripts/test.sh prepares it).
"""
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, curl_api, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

OPENSTACK = "/usr/bin/openstack"
VIRSH = ["virsh", "-c", "qemu:///system"]
BOOT = 120


class VmVolumesTest(unittest.TestCase):
    made = set()  # uuids of the containers the tests ran
    @classmethod
    def setUpClass(cls):
        cls.state = vm_state_dir("zvol-")
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt",
                            config_text="[DEFAULT]\nexecute_timeout = 20\n").start(timeout=60)

    @classmethod
    def tearDownClass(cls):
        try:
            for c in cls.api("GET", "/v1/containers")[1].get("containers", []):
                cls.api("DELETE", "/v1/containers/%s?force=true" % c["uuid"])
            wait_for(lambda: not cls.api("GET", "/v1/containers")[1].get("containers"), 120, "cleanup")
        finally:
            cls.daemon.stop()
            remove_vm_state(cls.state)

    def osc(self, *args, check=True):
        cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.daemon.url + "/v1",
               "appcontainer"] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        if check and p.returncode != 0:
            self.fail("%s failed (%d): %s %s\n--- zunvmd:\n%s" % (" ".join(args), p.returncode, p.stdout,
                                                              p.stderr, "".join(self.daemon.output[-40:])))
        return p

    @classmethod
    def api(cls, method, path, body=None):
        return curl_api(cls.daemon.url, method, path, body)

    def show(self, name):
        code, c = self.api("GET", "/v1/containers/" + name)
        return c if code == 200 else {"status": "gone(%d)" % code}

    def wait_status(self, name, status):
        def check():
            c = self.show(name)
            if c["status"] == "Error" and status != "Error":
                self.fail("%s went to Error: %s" % (name, c.get("status_reason")))
            return c if c["status"] == status and not c.get("task_state") else None
        c = wait_for(check, BOOT, "%s %s" % (name, status))
        self.made.add(c["uuid"])
        return c

    def sh(self, name, script):
        """`exec` through the API: (exit code, output)."""
        code, r = self.api("POST", "/v1/containers/%s/execute?run=true" % name,
                           {"command": "sh -c '%s'" % script})
        self.assertEqual(code, 200, r)
        return r["exit_code"], r["output"]

    def volume_files(self):
        d = os.path.join(self.state, "volumes")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    # ---- tests (numbered: they share one daemon) ----

    def test_1_cli_mounts_survive_stop_start(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("injected by the CLI\n")
        self.addCleanup(os.unlink, f.name)
        self.osc("run", "--name", "writer", "--mount", "source=v1,destination=/data",
                 "--mount", "size=1,destination=/scratch",
                 "--mount", "type=bind,source=%s,destination=/etc/app/app.conf" % f.name,
                 "busybox", "sleep", "100000")
        c = self.wait_status("writer", "Running")
        kinds = sorted((m["type"], m["destination"]) for m in c["mounts"])
        self.assertEqual(kinds, [("bind", "/etc/app/app.conf"), ("volume", "/data"), ("volume", "/scratch")])
        self.assertEqual(self.sh("writer", "cat /etc/app/app.conf"), (0, "injected by the CLI\n"))
        # Block devices of the VM, ext4, mounted where asked (no 9p, no host mount).
        code, out = self.sh("writer", "grep -E \" /(data|scratch) \" /proc/mounts")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"/dev/vd[c-z] /data ext4 rw")
        self.assertRegex(out, r"/dev/vd[c-z] /scratch ext4 rw")
        self.assertEqual(self.sh("writer", "echo first > /data/f && echo tmp > /scratch/t && sync")[0], 0)
        self.assertEqual(len(self.volume_files()), 2)
        self.osc("stop", "writer")
        self.wait_status("writer", "Stopped")
        self.osc("start", "writer")
        self.wait_status("writer", "Running")
        self.assertEqual(self.sh("writer", "cat /data/f /scratch/t /etc/app/app.conf"),
                         (0, "first\ntmp\ninjected by the CLI\n"))

    def test_2_second_writer_is_refused(self):
        p = self.osc("run", "--name", "second", "--mount", "source=v1,destination=/data", "busybox", "true",
                     check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("in use", p.stderr)
        self.assertEqual(self.show("second")["status"], "gone(404)")
        # Hostile mounts are 400s that name the problem.
        for mount, why in [("source=../x,destination=/d", "Volume name"),
                           ("source=v2,destination=/proc/x", "/proc"),
                           ("source=v2,destination=/", "root"),
                           ("size=100000,destination=/d", "size")]:
            p = self.osc("run", "--mount", mount, "busybox", "true", check=False)
            self.assertNotEqual(p.returncode, 0, mount)
            self.assertIn(why, p.stderr, mount)
        self.assertEqual(len(self.volume_files()), 2)  # nothing made by the refused creates

    def test_3_zunvmd_sigkill_keeps_volumes_attached(self):
        os.kill(self.daemon.proc.pid, signal.SIGKILL)
        self.daemon.proc.wait(timeout=30)
        self.daemon.start(timeout=60)
        self.wait_status("writer", "Running")
        self.assertEqual(self.sh("writer", "echo second >> /data/f && sync && cat /data/f"), (0, "first\nsecond\n"))

    def test_4_delete_keeps_named_volume_read_only_mount(self):
        # Written and not synced: a forced delete still lets the guest write it back.
        self.assertEqual(self.sh("writer", "echo unsynced > /data/u")[0], 0)
        self.osc("delete", "--force", "writer")
        wait_for(lambda: self.show("writer")["status"] == "gone(404)", 120, "writer deleted")
        # The `size=` volume went with it; v1 stays, detached.
        code, vols = self.api("GET", "/v1/volumes")
        self.assertEqual(code, 200)
        self.assertEqual([(v["name"], v["status"]) for v in vols["volumes"]], [("v1", "available")])
        self.assertEqual(len(self.volume_files()), 1)
        code, c = self.api("POST", "/v1/containers?run=true", {
            "name": "reader", "image": "busybox", "command": ["sleep", "100000"],
            "mounts": [{"source": "v1", "destination": "/data", "read_only": True}]})
        self.assertEqual(code, 202, c)
        self.wait_status("reader", "Running")
        self.assertEqual(self.sh("reader", "cat /data/f /data/u"), (0, "first\nsecond\nunsynced\n"))
        code, out = self.sh("reader", "echo x > /data/g")
        self.assertNotEqual(code, 0)
        self.assertIn("Read-only file system", out)
        # A rebuild makes a new VM from the image: the volume comes with it.
        self.osc("rebuild", "reader")
        self.wait_status("reader", "Running")
        self.assertEqual(self.sh("reader", "cat /data/f"), (0, "first\nsecond\n"))
        # Another read-only mount may share it; a writer may not, nor may the volume go.
        code, err = self.api("POST", "/v1/containers", {"image": "busybox", "command": ["true"],
                                                        "mounts": [{"source": "v1", "destination": "/d"}]})
        self.assertEqual(code, 409, err)
        self.assertEqual(self.api("DELETE", "/v1/volumes/v1")[0], 409)

    def test_5_host_block_device(self):
        """The Zun driver's form (Cinder volumes): a host block device handed to the VM as is, given
        ext4 when blank; after the delete the data is on the device and qemu has let it go."""
        img = os.path.join(self.state, "blockdev.img")
        subprocess.run(["truncate", "-s", "64M", img], check=True)
        loop = subprocess.run(["losetup", "--find", "--show", img], capture_output=True, text=True,
                              check=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "--detach", loop])
        code, c = self.api("POST", "/v1/containers?run=true", {
            "name": "cinderish", "image": "busybox", "command": ["sleep", "100000"],
            "mounts": [{"type": "block", "device_path": loop, "serial": "0f1e2d3c-4b5a-6978-8", "destination": "/vol"}]})
        self.assertEqual(code, 202, c)
        self.wait_status("cinderish", "Running")
        self.assertEqual(self.sh("cinderish", "echo on-the-device > /vol/f && sync && cat /vol/f"), (0, "on-the-device\n"))
        self.assertEqual(self.show("cinderish")["mounts"][0]["source"], loop)
        self.osc("delete", "--force", "cinderish")
        wait_for(lambda: self.show("cinderish")["status"] == "gone(404)", 120, "cinderish deleted")
        # The host reads the guest's write straight off the device (no host mount was involved).
        out = subprocess.run(["debugfs", "-R", "cat /f", loop], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.stdout, "on-the-device\n", out.stderr)
        self.assertEqual(self.api("GET", "/v1/volumes")[1]["volumes"][0]["name"], "v1")  # not a zunvmd volume

    def test_6_nothing_left_behind(self):
        self.osc("delete", "--force", "reader")
        wait_for(lambda: self.show("reader")["status"] == "gone(404)", 120, "reader deleted")
        self.assertEqual(self.api("DELETE", "/v1/volumes/v1")[0], 204)
        self.assertEqual(self.api("GET", "/v1/volumes/v1")[0], 404)
        self.assertEqual(self.volume_files(), [])
        self.assertEqual(os.listdir(os.path.join(self.state, "images", "containers")), [])
        names = subprocess.run(VIRSH + ["list", "--name"], capture_output=True, text=True, timeout=60).stdout
        self.assertEqual(len(self.made), 3)
        self.assertEqual([u for u in self.made if "zunvm-" + u in names.split()], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
