#!/usr/bin/python3
"""End to end: runtimes (docs/runtimes.md) with the real `openstack appcontainer` CLI and real
VMs. Two VM profiles boot their own guest kernels (`exec uname -r` differs between them and from
the host's), `show` says which runtime and guest kernel a container has, a runtime that is not
configured is a 400 naming the configured ones, and a runtime whose PCI device is missing is
refused with the reason while the others run. The guest agent builds the container from the
OCI config.json zunvmd sends (its rlimit shows).

Needs libvirtd, build/guest and build/guest-debian (scripts/test.sh prepares them).
"""
import os
import platform
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, curl_api, remove_vm_state, vm_state_dir, wait_for  # noqa: E402
from zunvmd_proc import osc as run_osc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = 120  # seconds a create may take here (TCG, 2 cores shared with other tests)
# A PCI address no machine here has: the gpu runtime is configured but unavailable.
MISSING_PCI = "0000:3b:1f.7"


def kernel_of(guest_dir):
    with open(os.path.join(ROOT, "build", guest_dir, "kernel.version")) as f:
        return f.read().strip()


class VmRuntimesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = vm_state_dir("zrt-")
        conf = ("[DEFAULT]\nruntimes = kata, kata-debian, gpu\n"
                "[runtime:gpu]\ntype = vm\nhostdev = %s\n" % MISSING_PCI)
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt", config_text=conf).start(timeout=60)

    @classmethod
    def tearDownClass(cls):
        try:
            for c in curl_api(cls.daemon.url, "GET", "/v1/containers")[1].get("containers", []):
                curl_api(cls.daemon.url, "DELETE", "/v1/containers/%s?force=true" % c["uuid"])
            wait_for(lambda: not curl_api(cls.daemon.url, "GET", "/v1/containers")[1].get("containers"), 120,
                     "cleanup")
        finally:
            cls.daemon.stop()
            remove_vm_state(cls.state)

    def osc(self, *args, check=True, fmt_json=False):
        return run_osc(self, self.daemon, *args, check=check, fmt_json=fmt_json)

    def wait_running(self, name):
        def check():
            code, c = curl_api(self.daemon.url, "GET", "/v1/containers/" + name)
            if code == 200 and c["status"] == "Error":
                self.fail("%s went to Error: %s" % (name, c.get("status_reason")))
            return c if code == 200 and c["status"] == "Running" and not c.get("task_state") else None
        return wait_for(check, BOOT, name + " Running")

    def test_two_vm_profiles_boot_their_own_kernels(self):
        kata, debian, host = kernel_of("guest"), kernel_of("guest-debian"), platform.release()
        self.assertEqual(len({kata, debian, host}), 3, "the two guest kernels and the host's must differ")
        # The agent builds the container from zunvmd's OCI config.json: its RLIMIT_NOFILE is the
        # spec's (Docker's 1048576), which nothing else in the guest sets.
        self.osc("run", "--name", "on-kata", "busybox", "sh", "-c", "ulimit -n; exec sleep 3600")
        self.osc("run", "--name", "on-debian", "--runtime", "kata-debian", "busybox", "sleep", "3600")
        for name, want in (("on-kata", kata), ("on-debian", debian)):
            self.wait_running(name)
            out = self.osc("exec", name, "uname", "-r").stdout.strip()
            self.assertEqual(out, want, name)
            shown = self.osc("show", name, fmt_json=True)
            self.assertEqual(shown["runtime"], "kata" if name == "on-kata" else "kata-debian")
            self.assertEqual(shown["guest_kernel"], want)
        wait_for(lambda: "1048576" in self.osc("logs", "on-kata").stdout, 30, "the spec's nofile limit logged")
        # /v1/hosts offers the runtimes this host can run: not the one whose device is missing.
        code, hosts = curl_api(self.daemon.url, "GET", "/v1/hosts")
        self.assertEqual(code, 200)
        self.assertEqual(sorted(hosts["hosts"][0]["runtimes"]), ["kata", "kata-debian"])
        for name in ("on-kata", "on-debian"):
            self.osc("delete", "--force", name)

    def test_runtime_refusals_are_400s_that_say_why(self):
        p = self.osc("run", "--name", "nope", "--runtime", "gvisor", "busybox", "true", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Runtime gvisor is not configured on this host (configured: kata, kata-debian, gpu)", p.stderr)
        code, body = curl_api(self.daemon.url, "POST", "/v1/containers",
                              {"image": "busybox", "command": ["true"], "runtime": "gpu"})
        self.assertEqual(code, 400, body)
        msg = body["errors"][0]["detail"]
        self.assertIn("Runtime gpu is configured but this host cannot run it", msg)
        self.assertIn("PCI device %s (hostdev) is not on this host" % MISSING_PCI, msg)
        code, listed = curl_api(self.daemon.url, "GET", "/v1/containers")
        self.assertEqual([c["name"] for c in listed["containers"] if c["name"] == "nope"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
