#!/usr/bin/python3
"""The config.json zunvm generates for a container (driver/oci/oci_spec.h), checked twice:
against the runtime-spec's JSON schema (Debian's golang-github-opencontainers-specs-dev), and
by running it with the real runc and crun on a busybox root: the container must get what the
spec says (hostname, user, Docker's default capabilities, seccomp, read-only /proc/sys) or,
privileged, everything.

OCI_SPEC_TOOL names tests/oci/oci_spec_tool (ctest sets it). Needs root (the runtimes) and
busybox-static; a missing runtime skips its tests. ctest runs it as oci_spec.
"""
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.environ.get("OCI_SPEC_TOOL") or os.path.join(ROOT, "build", "oci_spec_tool")
SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema"
BUSYBOX = "/bin/busybox"
DOCKER_DEFAULT_CAPS = "00000000a80425fb"  # Docker's 14 capabilities, as CapEff shows them
CAP_SYS_RESOURCE = 24
DEFAULT_NOFILE = 1048576

_names = itertools.count()

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import test_vm_security as vm_security  # noqa: E402  (its escape table)

ESCAPE_PROBE = os.environ.get("ZUNVM_ESCAPE_PROBE") or os.path.join(ROOT, "build", "escape-probe")
def generate(spec, options=None):
    """The tool's config.json for `spec` (SandboxSpec fields) and OciSpecOptions fields."""
    full = {"uuid": str(uuid.uuid4()), "name": "oci-test", "image": "busybox", "hostname": "oci-box",
            "argv": ["sh", "-c", "true"]}
    full.update(spec)
    out = subprocess.run([TOOL], input=json.dumps({"spec": full, "options": options or {}}),
                         capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise AssertionError("oci_spec_tool failed (%d): %s" % (out.returncode, out.stderr))
    return json.loads(out.stdout)


# The specs both halves check: name -> (SandboxSpec fields, OciSpecOptions fields).
SPECS = {
    "default": ({}, {}),
    "privileged": ({"privileged": True}, {}),
    "tty": ({"tty": True, "interactive": True}, {}),
    "user": ({"user": "1000:1000", "workdir": "/tmp"}, {}),
    "env_and_limits": ({"env": {"GREETING": "hello world", "PATH": "/bin"}, "cpu": 0.5, "memory_mib": 64},
                       {"root_readonly": True}),
}


class SchemaTest(unittest.TestCase):
    """Every generated spec is valid under the runtime-spec schema."""

    @classmethod
    def setUpClass(cls):
        import jsonschema  # python3-jsonschema
        path = os.path.join(SCHEMA_DIR, "config-schema.json")
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        # config-schema.json refers to its siblings relatively ("defs.json#/..."): resolve them
        # from its own directory.
        resolver = jsonschema.RefResolver(base_uri="file://%s/" % SCHEMA_DIR, referrer=schema)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        cls.validator = validator_class(schema, resolver=resolver)

    def check(self, name):
        spec, options = SPECS[name]
        config = generate(spec, options)
        errors = sorted(self.validator.iter_errors(config), key=lambda e: list(e.path))
        self.assertEqual([], ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors])
        return config

    def test_default(self):
        config = self.check("default")
        self.assertIn("seccomp", config["linux"])

    def test_privileged(self):
        config = self.check("privileged")
        self.assertNotIn("seccomp", config["linux"])

    def test_tty(self):
        self.assertTrue(self.check("tty")["process"]["terminal"])

    def test_user(self):
        self.assertEqual({"uid": 1000, "gid": 1000}, self.check("user")["process"]["user"])

    def test_env_and_limits(self):
        config = self.check("env_and_limits")
        self.assertIn("GREETING=hello world", config["process"]["env"])
        self.assertEqual(50000, config["linux"]["resources"]["cpu"]["quota"])

    def test_the_schema_catches_mistakes(self):
        """The validator is live: a spec with a bad field is refused."""
        config = generate({})
        config["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_MAYBE"
        self.assertTrue(list(self.validator.iter_errors(config)))


def own_capeff():
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return line.split()[1]
    return ""


def nofile():
    """Docker's RLIMIT_NOFILE, unless the runtimes cannot raise theirs that far: setrlimit above
    one's own hard limit needs CAP_SYS_RESOURCE, which some hosts (nested sandboxes) withhold."""
    if int(own_capeff(), 16) & (1 << CAP_SYS_RESOURCE):
        return DEFAULT_NOFILE
    return min(DEFAULT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def mounted_at(path):
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == path for line in f)


def prepare_hybrid_cgroups():
    """crun refuses a hybrid cgroup host (v1 controllers under a tmpfs /sys/fs/cgroup, cgroup2
    at /sys/fs/cgroup/unified) while cgroup2 still holds any controller: "cgroups in hybrid
    mode not supported, drop all controllers from cgroupv2". On such hosts a controller that has
    no v1 hierarchy of its own (usually hugetlb) stays on cgroup2; mounting a v1 hierarchy for
    it moves it off. Idempotent: nothing to do once cgroup2 lists no controllers."""
    controllers = "/sys/fs/cgroup/unified/cgroup.controllers"
    if not os.path.exists(controllers):
        return
    with open("/proc/self/mounts", encoding="utf-8") as f:
        fstype = {line.split()[1]: line.split()[2] for line in f}.get("/sys/fs/cgroup")
    if fstype != "tmpfs":
        return
    with open(controllers, encoding="utf-8") as f:
        names = f.read().split()
    for name in names:
        target = "/sys/fs/cgroup/" + name
        if mounted_at(target):
            continue
        os.makedirs(target, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", name, "cgroup", target], check=False)


def make_rootfs(root):
    """A busybox root: the static binary, a link per applet, the usual directories and a user."""
    for d in ("bin", "proc", "sys", "dev", "tmp", "mnt", "etc", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(root, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(root, "etc", "passwd"), "w", encoding="utf-8") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w", encoding="utf-8") as f:
        f.write("root:x:0:\ntty:x:5:\nuser:x:1000:\n")
    os.chmod(os.path.join(root, "tmp"), 0o1777)


# What the container reports: "key: value" lines.
PROBE = r"""
echo "id: $(id)"
echo "hostname: $(hostname)"
cat /proc/self/status | grep CapEff
grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
if mount -t tmpfs x /mnt 2>/dev/null; then echo "mount: ok"; else echo "mount: fail"; fi
v=$(cat /proc/sys/net/ipv4/ip_forward)
if (echo "$v" > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; then echo "proc_sys: ok"; else echo "proc_sys: fail"; fi
echo "nofile: $(ulimit -n)"
echo "cwd: $(pwd)"
echo "greeting: $GREETING"
"""


def parse(out):
    table = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            table[key.strip()] = value.strip()
    return table


class RuntimeMixin:
    """Runs the specs with RUNTIME (a subclass per runtime)."""
    RUNTIME = None

    @classmethod
    def setUpClass(cls):
        cls.binary = shutil.which(cls.RUNTIME)
        if not cls.binary:
            raise unittest.SkipTest("%s is not installed" % cls.RUNTIME)
        if not os.path.exists(BUSYBOX):
            raise unittest.SkipTest("busybox-static is not installed")
        prepare_hybrid_cgroups()
        cls.tmp = tempfile.mkdtemp(prefix="zunvm-oci-")
        cls.rootfs = os.path.join(cls.tmp, "rootfs")
        make_rootfs(cls.rootfs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_spec(self, name, argv, edit=None):
        """Runs SPECS[name] with `argv` (its config.json passed through `edit` first); returns
        (exit code, stdout, stderr)."""
        spec, options = SPECS[name]
        spec = dict(spec, argv=argv)
        container = "zunvm-oci-%s-%d-%d" % (self.RUNTIME, os.getpid(), next(_names))
        # What this host lets the runtimes grant: a nested sandbox may withhold capabilities
        # (or a high RLIMIT_NOFILE) even from root, and asking for more fails the start.
        options = dict(options, root_path=self.rootfs, cgroups_path="/zunvm-test/" + container,
                       nofile=nofile(), grantable_capabilities=int(own_capeff(), 16))
        bundle = os.path.join(self.tmp, container)
        os.makedirs(bundle)
        config = generate(spec, options)
        if edit:
            edit(config)
        with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
        self.addCleanup(self.delete, container)
        out = subprocess.run([self.binary, "run", "--bundle", bundle, container], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120, check=False)
        return out.returncode, out.stdout, out.stderr

    def delete(self, container):
        subprocess.run([self.binary, "delete", "-f", container], capture_output=True, check=False)
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            for d in ("/zunvm-test/" + container, "/zunvm-test"):
                try:
                    os.rmdir("/sys/fs/cgroup/%s%s" % (hierarchy, d))
                except OSError:
                    pass

    def probe(self, name):
        code, out, err = self.run_spec(name, ["sh", "-c", PROBE])
        self.assertEqual(0, code, "%s run failed:\n%s\n%s" % (self.RUNTIME, out, err))
        return parse(out)

    def test_default_has_dockers_privileges(self):
        t = self.probe("default")
        self.assertEqual("uid=0(root) gid=0(root)", t["id"])
        self.assertEqual("oci-box", t["hostname"])
        self.assertEqual(DOCKER_DEFAULT_CAPS, t["CapEff"])
        self.assertEqual("1", t["NoNewPrivs"])
        self.assertEqual("2", t["Seccomp"])  # filter mode
        self.assertEqual("fail", t["mount"])
        self.assertEqual("fail", t["proc_sys"])
        self.assertEqual(str(nofile()), t["nofile"])
        self.assertEqual("/", t["cwd"])

    def test_seccomp_refuses_what_no_capability_guards(self):
        """A user namespace needs no capability: only the filter (unshare is denied) stops it."""
        script = "unshare -U true 2>/dev/null && echo unshared || echo refused"
        code, out, err = self.run_spec("default", ["sh", "-c", script])
        self.assertEqual(0, code, err)
        self.assertEqual("refused", out.strip(), err)
        if subprocess.run([BUSYBOX, "unshare", "-U", "true"], capture_output=True, check=False).returncode == 0:
            code, out, err = self.run_spec("privileged", ["sh", "-c", script])  # where the host allows it
            self.assertEqual(0, code, err)
            self.assertEqual("unshared", out.strip(), err)

    def test_unknown_syscall_names_are_ignored(self):
        """zunvmd's libseccomp may know calls the runtime's does not: the runtime must skip them
        (both do), not refuse the container."""
        def add_unknown(config):
            rules = config["linux"]["seccomp"]["syscalls"]
            rules[0]["names"].append("zunvm_no_such_syscall")
            rules.append({"names": ["zunvm_no_such_syscall_either"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]})
        code, out, err = self.run_spec("default", ["sh", "-c", "echo ran"], edit=add_unknown)
        self.assertEqual(0, code, err)
        self.assertEqual("ran", out.strip(), err)

    def test_privileged_has_everything(self):
        t = self.probe("privileged")
        # Every capability the runtime itself holds (all of them where root has all).
        self.assertEqual(own_capeff(), t["CapEff"])
        self.assertEqual("0", t["NoNewPrivs"])
        self.assertEqual("0", t["Seccomp"])
        self.assertEqual("ok", t["mount"])
        self.assertEqual("ok", t["proc_sys"])

    def test_escape_table(self):
        """The VM path's escape table (tests/e2e/test_vm_security.py, build/escape-probe) on the
        host: a default container is refused each attempt by the host kernel's seccomp filter,
        capabilities, namespaces and read-only mounts, as in the guest (the rows whose answer
        does not depend on the kernel or its devices); privileged gets them."""
        if not os.path.exists(ESCAPE_PROBE):
            self.skipTest("build/escape-probe is not built")
        shutil.copy2(ESCAPE_PROBE, os.path.join(self.rootfs, "escape-probe"))
        for name, column in (("default", 0), ("privileged", 1)):
            code, out, err = self.run_spec(name, ["/escape-probe"])
            self.assertEqual(0, code, err)
            got = parse(out)
            # What a privileged container gets from the kernel depends on how it was built (the
            # rows the minimal guest kernel answers differently): only a default one's is fixed.
            want = {row: expected[column] for row, expected in vm_security.TABLE.items()
                    if row in vm_security.HOST_ROWS and expected[column] is not None
                    and not (column == 1 and row in vm_security.MINIMAL_KERNEL)}
            if column == 1:  # every capability the runtime holds, not necessarily all
                want.update(capeff=own_capeff(), capbnd=own_capeff())
            wrong = {row: (got.get(row), w) for row, w in want.items() if got.get(row) != w}
            self.assertEqual({}, wrong, "%s: row: (answered, expected)\n%s" % (name, out))
            if column == 0:
                # A node the container makes for a host disk does not open: the device cgroup.
                if "open_disk" in got:
                    self.assertIn(got["open_disk"], ("EPERM", "EACCES"), out)
        # The host's PID 1 is out of reach: the container's /proc/1 is its own init.
        code, out, err = self.run_spec("default", ["sh", "-c", "tr '\\0' '\\n' < /proc/1/environ | grep ^HOSTNAME="])
        self.assertEqual(0, code, err)
        self.assertEqual("HOSTNAME=oci-box", out.strip())

    def test_user_and_workdir(self):
        t = self.probe("user")
        self.assertEqual("uid=1000(user) gid=1000(user)", t["id"])
        self.assertEqual("0000000000000000", t["CapEff"])  # a non-root user keeps none, as under Docker
        self.assertEqual("/tmp", t["cwd"])
        self.assertEqual("fail", t["mount"])

    def test_env_and_limits(self):
        t = self.probe("env_and_limits")
        self.assertEqual("hello world", t["greeting"])
        # The memory limit as the container's own cgroup shows it (v1 or v2).
        code, out, err = self.run_spec("env_and_limits", [
            "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"])
        self.assertEqual(0, code, err)
        lines = out.split()
        self.assertEqual(str(64 << 20), lines[0], out)
        self.assertEqual("50000", lines[1], out)
        code, out, err = self.run_spec("env_and_limits", ["sh", "-c", "touch /x"])  # root_readonly
        self.assertNotEqual(0, code, out)


class RuncTest(RuntimeMixin, unittest.TestCase):
    RUNTIME = "runc"


class CrunTest(RuntimeMixin, unittest.TestCase):
    RUNTIME = "crun"


if __name__ == "__main__":
    unittest.main(verbosity=2)
