"""Starts and stops a real zunvmd binary for end-to-end tests.

The daemon runs on 127.0.0.1 with port 0 (it prints the port it chose) and a temporary state
directory, so several test runs can go side by side. Uses only the standard library.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary(driver="libvirt"):
    """zunvmd ($ZUNVMD, else build/zunvmd); for the fake driver, the test build beside it,
    zunvmd-fake (the product ships no fake)."""
    path = os.environ.get("ZUNVMD") or os.path.join(ROOT, "build", "zunvmd")
    if driver == "fake":
        path = os.path.join(os.path.dirname(path), "zunvmd-fake")
    if not os.path.exists(path):
        raise RuntimeError("zunvmd binary not found at %s (set ZUNVMD)" % path)
    return path


class Zunvmd:
    """One zunvmd process. `state_dir` survives restart() so state can be checked after."""

    # driver: "fake" for API-contract tests that need no VM; "libvirt" boots real VMs (domain
    # type from $ZUNVM_VIRT_TYPE, default qemu: nested KVM hangs on the build machines).
    # prefix: a command that execs zunvmd (e.g. prlimit with its options).
    def __init__(self, state_dir=None, extra_args=(), config_text=None, driver="fake", prefix=()):
        self.prefix = list(prefix)
        self.own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="zunvm-e2e-")
        self.extra_args = list(extra_args)
        self.config_text = config_text
        self.driver = driver
        self.proc = None
        self.port = None
        self.console_url = None  # ws://127.0.0.1:<port> of the console listener
        self.output = []

    def start(self, timeout=30):
        args = [binary(self.driver), "--state-dir", self.state_dir, "--port", "0", "--driver", self.driver]
        if self.driver == "libvirt":
            args += ["--virt-type", os.environ.get("ZUNVM_VIRT_TYPE", "qemu")]
            # The *_pool variants of the VM suites (CMakeLists.txt): creates take warm VMs.
            if os.environ.get("ZUNVM_E2E_POOL_SIZE"):
                args += ["--pool-size", os.environ["ZUNVM_E2E_POOL_SIZE"]]
        args += self.extra_args
        if self.config_text is not None:
            conf = os.path.join(self.state_dir, "zunvm.conf")
            with open(conf, "w") as f:
                f.write(self.config_text)
            args += ["--config-file", conf]
        self.proc = subprocess.Popen(self.prefix + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        found = threading.Event()

        def reader():
            for line in self.proc.stdout:
                self.output.append(line)
                c = re.search(r"zunvmd consoles on (wss?://\S+)", line)
                if c:
                    self.console_url = c.group(1)
                m = re.search(r"zunvmd listening on https?://[^:]+:(\d+)", line)
                if m and not found.is_set():
                    self.port = int(m.group(1))
                    found.set()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.is_set():
            if self.proc.poll() is not None:
                time.sleep(0.05)  # let the reader drain the last lines
                raise RuntimeError("zunvmd exited: " + "".join(self.output))
            if time.monotonic() > deadline:
                raise RuntimeError("zunvmd did not start: " + "".join(self.output))
            found.wait(0.05)
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if self.own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def vm_state_dir(prefix):
    """A temporary state dir for a libvirt-driver zunvmd, with busybox:latest imported. Short
    (under /tmp): the agents' unix sockets live below it and must stay under 108 bytes."""
    state = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    archive = os.path.join(state, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "guest", "build-busybox-image.sh"), archive], check=True,
                   capture_output=True, timeout=300)
    subprocess.run([binary(), "import-image", "--state-dir", state, archive], check=True,
                   capture_output=True, timeout=300)
    return state


def remove_vm_state(state_dir):
    """After its zunvmd stopped: destroys the VMs it left behind (its containers' and its pool
    VMs, by the instance id in their metadata), its templates, deletes its networks'
    namespaces, then the directory."""
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"], capture_output=True,
                         text=True, timeout=60)
    try:
        with open(os.path.join(state_dir, "instance-id")) as f:
            instance = f.read().strip()
    except OSError:
        instance = None
    for d in out.stdout.split():
        ours = d.startswith("zunvm-") and os.path.exists(os.path.join(state_dir, "sandboxes", d[6:]))
        if instance and d.startswith("zunvm-pool-"):
            meta = subprocess.run(["virsh", "-c", "qemu:///system", "metadata", d, "https://zunvm.org/xmlns/sandbox/1"],
                                  capture_output=True, text=True, timeout=60)
            ours = instance in meta.stdout
        if ours:
            subprocess.run(["virsh", "-c", "qemu:///system", "destroy", d], capture_output=True)
    if instance:
        shutil.rmtree("/dev/shm/zunvm/" + instance, ignore_errors=True)
    remove_oci_containers(state_dir)
    remove_networks(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)


def remove_oci_containers(state_dir):
    """Trusted containers (runtime runc/crun) a test left: deleted by their runtime, their network
    namespaces removed, then every mount under the state dir undone (deepest first), so removing
    the dir cannot reach through a container's root."""
    for rt in ("runc", "crun"):
        root = os.path.join(state_dir, "oci-runtime", rt)
        for cid in (os.listdir(root) if os.path.isdir(root) else []):
            subprocess.run(["/usr/bin/" + rt, "--root", root, "delete", "--force", cid], capture_output=True,
                           timeout=60)
    oci = os.path.join(state_dir, "oci")
    for uuid in (os.listdir(oci) if os.path.isdir(oci) else []):
        subprocess.run(["ip", "netns", "del", "zvc-" + uuid.replace("-", "")[:12]], capture_output=True, timeout=60)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for m in sorted((p for p in points if p == state_dir or p.startswith(state_dir + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=60)


def remove_networks(state_dir):
    """Deletes the network namespaces of a stopped zunvmd's networks (zunvmd keeps them while
    their networks exist, and a test's networks end with its state dir)."""
    path = os.path.join(state_dir, "zunvm.sqlite")
    if not os.path.exists(path):
        return
    db = sqlite3.connect(path)
    try:
        uuids = [row[0] for row in db.execute("SELECT uuid FROM networks")]
    except sqlite3.Error:
        uuids = []
    finally:
        db.close()
    for uuid in uuids:
        subprocess.run(["ip", "netns", "del", "zvn-" + uuid.replace("-", "")[:8]], capture_output=True)


def wait_for(cond, timeout=30.0, what="condition"):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def api_request(base_url, method, path, body=None, timeout=30):
    """A request to zunvmd's API with urllib, as a program would: (HTTP status, parsed JSON or
    None), microversion 1.40."""
    req = urllib.request.Request(base_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("OpenStack-API-Version", "container 1.40")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


def curl_api(base_url, method, path, body=None):
    """The same request with curl, as a user would: (HTTP status, parsed JSON or the text)."""
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
           "-H", "OpenStack-API-Version: container 1.40", base_url + path]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    text, _, code = p.stdout.rpartition("\n")
    try:
        return int(code), json.loads(text) if text else None
    except ValueError:
        return int(code), text


OPENSTACK = "/usr/bin/openstack"


def osc(test, daemon, *args, check=True, fmt_json=False, timeout=180):
    """`openstack appcontainer ARGS` against `daemon` without auth, as a user types it; fails
    `test` (with zunvmd's last lines) when it fails and `check`. With `fmt_json`, `-f json` goes
    after the command words and the parsed output is returned; else the CompletedProcess."""
    args = list(args)
    if fmt_json:
        words = 2 if args[0] in ("image", "action") else 1
        args[words:words] = ["-f", "json"]
    cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", daemon.url + "/v1", "appcontainer"] + args
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        test.fail("%s failed (%d): %s %s\n--- zunvmd:\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                                            "".join(daemon.output[-40:])))
    return json.loads(p.stdout) if fmt_json else p


class VmApi:
    """The API client of the VM test classes (unittest.TestCase with a class attribute
    `daemon`, a started Zunvmd): urllib, as a program would use the API. Its tearDownClass
    deletes what the tests left and stops the daemon."""

    BOOT = 120  # seconds a container may take to be Running under TCG

    @classmethod
    def start_vm_daemon(cls, prefix, config_text=None):
        """A libvirt zunvmd on a new state dir with busybox imported; the dir, its VMs and
        networks are removed by a class cleanup."""
        cls.state = vm_state_dir(prefix)
        cls.addClassCleanup(remove_vm_state, cls.state)
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt", config_text=config_text).start(timeout=60)

    @classmethod
    def api(cls, method, path, body=None):
        """(HTTP status, parsed JSON or None)."""
        return api_request(cls.daemon.url, method, path, body, timeout=180)

    @classmethod
    def tearDownClass(cls):
        """Deletes the containers, then stops zunvmd (class cleanups run after this)."""
        try:
            cls.delete_all()
        finally:
            cls.daemon.stop()

    @classmethod
    def delete_all(cls):
        for c in cls.api("GET", "/v1/containers")[1].get("containers", []):
            cls.api("DELETE", "/v1/containers/%s?force=true" % c["uuid"])
        wait_for(lambda: not cls.api("GET", "/v1/containers")[1].get("containers"), 120, "cleanup")

    def wait_running(self, name):
        """The container's view once Running with no task; fails at once on Error."""
        def check():
            code, c = self.api("GET", "/v1/containers/" + name)
            if c["status"] == "Error":
                self.fail("%s went to Error: %s\n%s" % (name, c.get("status_reason"),
                                                        "".join(self.daemon.output[-30:])))
            return c if c["status"] == "Running" and not c.get("task_state") else None
        return wait_for(check, self.BOOT, name + " Running")

    def exec(self, name, cmd):
        """(exit code, output) of `cmd` run in the container."""
        code, r = self.api("POST", "/v1/containers/%s/execute?run=true&command=%s" %
                           (name, urllib.parse.quote(cmd)))
        self.assertEqual(code, 200, r)
        return r["exit_code"], r["output"]
