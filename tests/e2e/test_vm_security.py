#!/usr/bin/python3
"""The second wall, in real VMs: a default container has Docker's default privileges inside
its guest, a privileged one has everything (docs/security.md).

build/escape-probe (tests/e2e/escape_probe.c, static) is copied into each container with
put_archive and run there, as the container's own command and as an exec; it prints one line
per attempt ("row: result"). The table below is what each must answer. Needs libvirtd, the
guest image and build/escape-probe (scripts/test.sh builds them); ctest runs it as
e2e_vm_security.
"""
import base64
import io
import os
import sys
import tarfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import ROOT, VmApi, wait_for  # noqa: E402

PROBE = os.environ.get("ZUNVM_ESCAPE_PROBE") or os.path.join(ROOT, "build", "escape-probe")

DOCKER_DEFAULT_CAPS = "00000000a80425fb"  # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
# SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP

# row -> (what a default container gets, what a privileged one gets); None: not checked.
TABLE = {
    "capeff": (DOCKER_DEFAULT_CAPS, "000001ffffffffff"),
    "capbnd": (DOCKER_DEFAULT_CAPS, "000001ffffffffff"),
    "no_new_privs": ("1", "0"),
    "seccomp": ("2", "0"),
    "mount": ("EPERM", "ok"),
    "unshare_mount_ns": ("EPERM", "ok"),
    "clone_new_user_ns": ("EPERM", "ok"),
    "clone3": ("ENOSYS", "ok"),
    "finit_module": ("EPERM", "EBADF"),
    "add_key": ("EPERM", "ok"),
    "keyctl": ("EPERM", "ok"),
    "reboot": ("EPERM", None),
    "bpf": ("EPERM", None),
    "perf_event_open": ("EPERM", None),
    "kexec_load": ("EPERM", None),
    "swapon": ("EPERM", "ENOENT"),
    "settimeofday": ("EPERM", "ok"),
    "sethostname": ("EPERM", "ok"),
    "io_uring_setup": ("EPERM", "EFAULT"),
    "open_by_handle_at": ("EPERM", None),
    # CAP_MKNOD is Docker's too, but a node made on the root filesystem never opens (the
    # agent mounts container disks nodev, privileged or not)...
    "mknod_port": ("ok", "ok"),
    "open_port": ("EACCES", "EACCES"),
    "mknod_disk": ("ok", "ok"),
    "open_disk": ("EACCES", "EACCES"),
    # ...nor in /dev, unless privileged (EBUSY: the device answered; the agent holds its port).
    "mknod_port_in_dev": ("ok", "ok"),
    "open_port_in_dev": ("EACCES", "EBUSY"),
    "kcore_bytes": ("0", None),
    "write_proc_sys": ("EROFS", "ok"),
    "write_sysrq_trigger": ("EROFS", "ok"),
    "write_sys": ("EROFS", "ok"),
    "virtio_ports_listed": ("0", "1"),
    "setuid_euid": ("65534", "0"),
}

# The minimal guest kernel (guest/kernel/zunvm.config, `uname -r` ends in -zunvm) has no
# /proc/kcore, no magic SysRq, no loadable modules, no keyrings and no io_uring: nobody, not
# even a privileged container, reaches them.
MINIMAL_KERNEL = {
    "kcore_bytes": ("ENOENT", "ENOENT"),
    "write_sysrq_trigger": ("ENOENT", "ENOENT"),
    "finit_module": ("EPERM", "ENOSYS"),
    "add_key": ("EPERM", "ENOSYS"),
    "keyctl": ("EPERM", "ENOSYS"),
    "io_uring_setup": ("EPERM", "ENOSYS"),
}

# The rows whose answer is the container's rules, not the kernel's build or the machine's
# devices (those differ between a guest and a host): what a trusted container (runc/crun on
# the host) must answer as a VM's does.
HOST_ROWS = {"capeff", "capbnd", "no_new_privs", "seccomp", "mount", "unshare_mount_ns", "clone_new_user_ns",
             "clone3", "finit_module", "add_key", "keyctl", "reboot", "bpf", "perf_event_open", "kexec_load",
             "swapon", "settimeofday", "sethostname", "io_uring_setup", "open_by_handle_at", "write_proc_sys",
             "write_sys", "setuid_euid"}


def probe_table(text):
    out = {}
    for line in text.splitlines():
        row, sep, result = line.partition(": ")
        if sep:
            out[row] = result
    return out


def probe_archive():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tar.gettarinfo(PROBE, arcname="escape-probe")
        info.mode = 0o755
        info.uid = info.gid = 0
        with open(PROBE, "rb") as f:
            tar.addfile(info, f)
    return base64.b64encode(buf.getvalue()).decode()


class VmSecurityTest(VmApi, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_vm_daemon("zvs-", "[api]\nallow_privileged = true\n")

    def run_probe(self, name, privileged):
        body = {"name": name, "image": "busybox", "command": ["sleep", "3600"]}
        if privileged:
            body["privileged"] = True
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)
        self.wait_running(name)
        code, r = self.api("POST", "/v1/containers/%s/put_archive?path=/" % name, {"data": probe_archive()})
        self.assertEqual(code, 200, r)
        code, out = self.exec(name, "/escape-probe")
        self.assertEqual(code, 0, out)
        if not hasattr(VmSecurityTest, "expected"):
            code, release = self.exec(name, "uname -r")
            self.assertEqual(code, 0, release)
            minimal = release.strip().endswith("-zunvm")
            VmSecurityTest.expected = dict(TABLE, **MINIMAL_KERNEL) if minimal else TABLE
        return probe_table(out)

    def check(self, table, column, text):
        wrong = {row: (table.get(row), expected[column]) for row, expected in self.expected.items()
                 if expected[column] is not None and table.get(row) != expected[column]}
        self.assertEqual(wrong, {}, "row: (answered, expected)\n%s" % text)

    def test_1_default_container_has_dockers_privileges(self):
        table = self.run_probe("plain", privileged=False)
        self.check(table, 0, table)
        # The container's own init gets the same rules as an exec: the probe as its command.
        code, c = self.api("POST", "/v1/containers?run=true", {
            "name": "probe-init", "image": "busybox",
            "command": ["sh", "-c", "until [ -x /escape-probe ]; do sleep 0.2; done; /escape-probe"]})
        self.assertEqual(code, 202, c)
        self.wait_running("probe-init")
        self.api("POST", "/v1/containers/probe-init/put_archive?path=/", {"data": probe_archive()})

        def logged():
            code, text = self.api("GET", "/v1/containers/probe-init/logs?stdout=true&stderr=true")
            return text if code == 200 and "setuid_euid" in text else None
        text = wait_for(logged, self.BOOT, "the probe's table in the logs")
        self.check(probe_table(text), 0, text)
        # The agent still serves the container: top, stats, cp.
        code, top = self.api("GET", "/v1/containers/plain/top")
        self.assertEqual(code, 200, top)
        self.assertTrue(any("sleep" in row[-1] for row in top["Processes"]), top)
        self.assertEqual(self.api("GET", "/v1/containers/plain/stats")[0], 200)
        code, r = self.api("GET", "/v1/containers/plain/get_archive?path=/escape-probe")
        self.assertEqual(code, 200, r)

    def test_2_privileged_container_has_everything(self):
        table = self.run_probe("priv", privileged=True)
        self.check(table, 1, table)
        self.assertNotEqual(table.get("kcore_bytes"), "0", table)
        # Every device of the guest, its disks among them; a default container has only the
        # standard set.
        code, out = self.exec("priv", "ls /dev")
        self.assertIn("vda", out.split())
        code, out = self.exec("plain", "ls /dev")
        self.assertEqual(sorted(n for n in out.split() if n not in ("fd", "stdin", "stdout", "stderr")),
                         ["full", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
