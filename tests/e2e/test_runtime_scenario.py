#!/usr/bin/python3
"""End to end: one CLI scenario, the same for every kind of runtime (docs/runtimes.md): `kata`
(a VM per container) and `runc` (host processes under runc, conmon as the monitor). The real
`openstack appcontainer` CLI and the API drive a real zunvmd: run with a published port, logs,
exec with exit codes, cp both ways, top and stats, pause, stop/start (the files stay, each run
logs once), kill, networking on zunvmd's networks (the same network reachable, another network
and zunvmd's API port not; attach and detach), update, commit, restart policy, healthchecks,
volumes, the escape table, zunvmd SIGKILLs (the container runs on and its log is not repeated;
killed during a create, a stop and a delete nothing is left), and delete (no mounts, loop
devices, namespaces or directories left).

Usage: test_runtime_scenario.py [RuntimeKataTest|RuntimeRuncTest ...] (all by default).
Needs libvirtd and build/guest for kata; runc, crun and conmon for runc (scripts/test.sh).
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vm_security as vm_security  # noqa: E402  (the escape table)
from zunvmd_proc import VmApi, wait_for  # noqa: E402
from zunvmd_proc import osc as run_osc  # noqa: E402

BOOT = 120  # seconds a VM create may take here (TCG, 2 cores shared with other tests)
PAGE = "mkdir -p /www && echo page-of-$R > /www/index.html && echo hello-$R && echo oops-$R >&2 && " \
       "exec httpd -f -p 80 -h /www"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def loops_under(path):
    out = []
    for dev in os.listdir("/sys/block"):
        try:
            with open("/sys/block/%s/loop/backing_file" % dev) as f:
                if f.read().strip().startswith(path):
                    out.append(dev)
        except OSError:
            pass
    return out


def netns_list():
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return {line.split()[0] for line in p.stdout.splitlines() if line.strip()}


class Scenario(VmApi):
    """The scenario; subclasses set RUNTIME. Numbered tests share one daemon and container."""

    RUNTIME = None

    @classmethod
    def setUpClass(cls):
        cls.start_vm_daemon("zrs-", "[DEFAULT]\nexecute_timeout = 20\n")
        cls.port = free_port()

    def osc(self, *args, check=True):
        return run_osc(self, self.daemon, *args, check=check)

    def wait_status(self, name, status):
        def check():
            code, c = self.api("GET", "/v1/containers/" + name)
            if code == 200 and c["status"] == "Error" and status != "Error":
                self.fail("%s went to Error: %s\n%s" % (name, c.get("status_reason"),
                                                        "".join(self.daemon.output[-30:])))
            return c if code == 200 and c["status"] == status and not c.get("task_state") else None
        return wait_for(check, BOOT, "%s %s" % (name, status))

    def page(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % self.port, timeout=10) as r:
                return r.read().decode()
        except OSError:
            return None

    def run_web(self, name, nets=None):
        body = {"name": name, "image": "busybox", "runtime": self.RUNTIME, "command": ["sh", "-c", PAGE],
                "environment": {"R": self.RUNTIME}}
        if nets:
            body["nets"] = nets
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)
        return c

    # ---- the scenario ----

    def test_1_run_logs_exec_and_port(self):
        r = self.RUNTIME
        body = {"name": "web", "image": "busybox", "runtime": r, "command": ["sh", "-c", PAGE],
                "environment": {"R": r}, "exposed_ports": {"80/tcp": {"host_port": self.port}}}
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)
        c = self.wait_status("web", "Running")
        self.assertEqual(c["runtime"], r)
        if r.startswith("kata"):
            self.assertTrue(c["guest_kernel"])
        else:
            self.assertFalse(c.get("guest_kernel"))
        self.assertEqual(wait_for(self.page, 60, "the published page"), "page-of-%s\n" % r)
        logs = wait_for(lambda: (lambda out: out if "oops-" in out else None)(self.osc("logs", "web").stdout),
                        30, "both streams in the log")
        self.assertEqual(logs.count("hello-%s\n" % r), 1, logs)
        self.assertEqual(self.osc("logs", "web", "--stderr").stdout.strip(), "oops-" + r)
        self.assertEqual(self.exec("web", "sh -c 'echo in-$R; exit 3'"), (3, "in-%s\n" % r))
        out = self.osc("exec", "web", "sh", "-c", "hostname; id -u").stdout
        # Docker's hostname: the container id's first 12 hex digits.
        self.assertEqual(out.split()[:2], [c["uuid"].replace("-", "")[:12], "0"])

    def test_2_cp_both_ways_top_stats_pause(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "note.txt")
            with open(src, "w") as f:
                f.write("copied-in\n")
            self.osc("cp", src, "web:/tmp/")
            self.assertEqual(self.exec("web", "cat /tmp/note.txt"), (0, "copied-in\n"))
            self.osc("cp", "web:/www/index.html", tmp)
            with open(tmp + "/index.html") as f:
                self.assertEqual(f.read(), "page-of-%s\n" % self.RUNTIME)
        code, top = self.api("GET", "/v1/containers/web/top")
        self.assertEqual(code, 200, top)
        self.assertIn("PID", top["Titles"])
        self.assertTrue(any("httpd" in " ".join(p) for p in top["Processes"]), top)
        code, stats = self.api("GET", "/v1/containers/web/stats")
        self.assertEqual(code, 200, stats)
        self.assertGreater(stats["MEM USAGE(MiB)"], 0, stats)
        self.assertEqual(self.api("POST", "/v1/containers/web/pause")[0], 202)
        self.wait_status("web", "Paused")
        self.assertIsNone(self.page())
        self.assertEqual(self.api("POST", "/v1/containers/web/unpause")[0], 202)
        self.wait_status("web", "Running")
        self.assertEqual(wait_for(self.page, 30, "the page after unpause"), "page-of-%s\n" % self.RUNTIME)

    def test_3_stop_start_keeps_files_and_logs_each_run_once(self):
        self.osc("stop", "web")
        self.wait_status("web", "Stopped")
        self.osc("start", "web")
        self.wait_status("web", "Running")
        self.assertEqual(self.exec("web", "cat /tmp/note.txt"), (0, "copied-in\n"))
        logs = wait_for(lambda: (lambda o: o if o.count("hello-") == 2 else None)(self.osc("logs", "web").stdout),
                        30, "the second run's log")
        self.assertEqual(logs.count("hello-%s\n" % self.RUNTIME), 2, logs)
        self.assertEqual(wait_for(self.page, 60, "the page after a restart"), "page-of-%s\n" % self.RUNTIME)

    def test_4_zunvmd_sigkill_container_runs_on_log_not_repeated(self):
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        c = self.wait_status("web", "Running")
        self.assertEqual(c["runtime"], self.RUNTIME)
        self.assertEqual(self.exec("web", "cat /tmp/note.txt"), (0, "copied-in\n"))
        self.assertEqual(wait_for(self.page, 60, "the page after zunvmd's restart"), "page-of-%s\n" % self.RUNTIME)
        logs = self.osc("logs", "web").stdout
        self.assertEqual(logs.count("hello-%s\n" % self.RUNTIME), 2, logs)

    def test_5_network_peer_reachable_api_port_not(self):
        self.run_web("peer")
        peer = self.wait_status("peer", "Running")
        web = self.api("GET", "/v1/containers/web")[1]
        [(net, [a])] = [(n, lst) for n, lst in web["addresses"].items()]
        [peer_addr] = [x["addr"] for x in peer["addresses"][net]]
        # busybox's wget crashes on this image's static glibc: nc speaks HTTP instead.
        get = "sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 10 %s %d'"
        rc, out = self.exec("peer", get % (a["addr"], 80))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out.endswith("\r\n\r\npage-of-%s\n" % self.RUNTIME), out)
        rc, out = self.exec("web", "ping -c 1 -W 10 " + peer_addr)
        self.assertEqual(rc, 0, out)
        gateway = a["addr"].rsplit(".", 2)[0] + ".0.1"
        rc, out = self.exec("peer", get % (gateway, self.daemon.port))
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("HTTP/1.", out)
        # Another network is isolated from this one.
        self.run_web("stranger", nets=[{"network": "other"}])
        self.wait_status("stranger", "Running")
        rc, out = self.exec("stranger", "ping -c 1 -W 3 " + a["addr"])
        self.assertNotEqual(rc, 0, out)
        # kill: the signal ends the main process; its code is 128+signal.
        self.osc("kill", "--signal", "SIGKILL", "stranger")
        stopped = self.wait_status("stranger", "Stopped")
        self.assertIn("Exited(137)", stopped["status_detail"])

    def test_5b_network_attach_detach_and_update(self):
        # stranger (stopped by test_5's kill) comes back; web joins its network live, then leaves.
        self.osc("start", "stranger")
        stranger = self.wait_status("stranger", "Running")
        [(other, [s_addr])] = list(stranger["addresses"].items())
        code, r = self.api("POST", "/v1/containers/web/network_attach?network=" + other)
        self.assertEqual(code, 200, r)
        web = self.api("GET", "/v1/containers/web")[1]
        [new] = [a["addr"] for a in web["addresses"][other]]
        wait_for(lambda: new + "/" in self.exec("web", "ip -4 addr")[1], 60, "the new NIC")
        rc, out = self.exec("web", "ping -c 1 -W 10 " + s_addr["addr"])
        self.assertEqual(rc, 0, out)
        code, r = self.api("POST", "/v1/containers/web/network_detach?network=" + other)
        self.assertEqual(code, 202, r)
        wait_for(lambda: new + "/" not in self.exec("web", "ip -4 addr")[1], 60, "the NIC to leave")
        # New limits: live, or at the next start; either way the record has them.
        self.osc("set", "--memory", "300", "web")
        self.assertEqual(wait_for(lambda: (lambda c: c if c["memory"] == "300" and not c.get("task_state") else None)(
            self.api("GET", "/v1/containers/web")[1]), 60, "the update")["status"], "Running")

    def test_6_commit_then_run_the_image(self):
        p = self.osc("commit", "web", "scenario-%s:v1" % self.RUNTIME)
        self.assertEqual(p.returncode, 0)
        body = {"name": "from-commit", "image": "scenario-%s:v1" % self.RUNTIME, "runtime": self.RUNTIME,
                "command": ["cat", "/tmp/note.txt"]}
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)
        self.wait_status("from-commit", "Stopped")
        self.assertEqual(self.osc("logs", "from-commit").stdout.strip(), "copied-in")

    def test_6b_restart_policy_and_healthcheck(self):
        r = self.RUNTIME
        self.osc("run", "--name", "flaky", "--runtime", r, "--restart", "on-failure:2", "busybox",
                 "sh", "-c", "echo attempt; exit 3")

        def settled():
            code, c = self.api("GET", "/v1/containers/flaky")
            logs = self.osc("logs", "flaky", check=False).stdout  # 409 while it is Creating
            return c if c["status"] == "Stopped" and logs.count("attempt") >= 3 else None
        done = wait_for(settled, 3 * BOOT, "two restarts")
        self.assertIn("Exited(3)", done["status_detail"])
        self.assertEqual(self.osc("logs", "flaky").stdout.count("attempt"), 3)
        self.osc("run", "--name", "steady", "--runtime", r, "--healthcheck",
                 "cmd=test -f /tmp/ok,interval=1,retries=2,timeout=10", "busybox", "sleep", "1000")
        self.wait_status("steady", "Running")
        detail = lambda: self.api("GET", "/v1/containers/steady")[1]["status_detail"]  # noqa: E731
        wait_for(lambda: "(unhealthy)" in detail(), 60, "unhealthy")
        self.osc("exec", "steady", "touch", "/tmp/ok")
        wait_for(lambda: "(healthy)" in detail(), 60, "healthy")

    def test_6c_volumes_survive_stop_start(self):
        r = self.RUNTIME
        self.osc("run", "--name", "vols", "--runtime", r, "--mount", "source=vol-%s,destination=/data" % r,
                 "--mount", "size=1,destination=/scratch", "busybox", "sleep", "100000")
        self.wait_status("vols", "Running")
        self.assertEqual(self.exec("vols", "sh -c 'echo kept > /data/f && echo tmp > /scratch/t && sync'")[0], 0)
        rc, out = self.exec("vols", "grep -E \" /(data|scratch) \" /proc/mounts")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r" /data ext4 rw")
        self.osc("stop", "vols")
        self.wait_status("vols", "Stopped")
        self.osc("start", "vols")
        self.wait_status("vols", "Running")
        self.assertEqual(self.exec("vols", "cat /data/f /scratch/t"), (0, "kept\ntmp\n"))
        # A second writer of the same volume is refused.
        p = self.osc("run", "--name", "second", "--runtime", r, "--mount", "source=vol-%s,destination=/d" % r,
                     "busybox", "true", check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("in use", p.stderr)

    def test_7_escape_table(self):
        """build/escape-probe (tests/e2e/test_vm_security.py) in a default container: every
        attempt on the kernel is refused (by the guest kernel's container rules in a VM, by the
        host's seccomp filter, capabilities, namespaces and read-only mounts under runc), and
        PID 1 is the container's own init, not the host's."""
        if not os.path.exists(vm_security.PROBE):
            self.skipTest("build/escape-probe is not built")
        code, c = self.api("POST", "/v1/containers?run=true", {"name": "probe", "image": "busybox",
                                                               "runtime": self.RUNTIME, "command": ["sleep", "3600"]})
        self.assertEqual(code, 202, c)
        self.wait_status("probe", "Running")
        code, r = self.api("POST", "/v1/containers/probe/put_archive?path=/", {"data": vm_security.probe_archive()})
        self.assertEqual(code, 200, r)
        code, out = self.exec("probe", "/escape-probe")
        self.assertEqual(code, 0, out)
        got = vm_security.probe_table(out)
        want = {row: expected[0] for row, expected in vm_security.TABLE.items() if row in vm_security.HOST_ROWS}
        wrong = {row: (got.get(row), w) for row, w in want.items() if got.get(row) != w}
        self.assertEqual(wrong, {}, "row: (answered, expected)\n" + out)
        code, out = self.exec("probe", "sh -c 'tr \"\\0\" \"\\n\" < /proc/1/environ'")
        self.assertEqual(code, 0, out)
        self.assertIn("HOSTNAME=" + c["uuid"].replace("-", "")[:12], out.split("\n"))

    def test_8_delete_leaves_nothing(self):
        uuids = [c["uuid"] for c in self.api("GET", "/v1/containers")[1]["containers"]]
        for name in ("web", "peer", "from-commit", "probe", "flaky", "steady", "vols", "stranger"):
            self.osc("delete", "--force", name)
        wait_for(lambda: not self.api("GET", "/v1/containers")[1]["containers"], 120, "all deleted")
        # The sandboxes' root stays a private bind mount of itself while zunvmd's host runs.
        self.assertEqual([m for m in mounts_under(self.state) if m != self.state + "/oci"], [])
        self.assertEqual(loops_under(self.state), [])
        self.assertFalse([n for n in netns_list() if n.startswith("zvc-") and any(n[4:] in u.replace("-", "")
                                                                                   for u in uuids)])
        for sub in ("oci", "sandboxes"):
            left = [u for u in uuids if os.path.exists(os.path.join(self.state, sub, u))]
            self.assertEqual(left, [], sub)
        self.assertIsNone(self.page())


    def assert_no_trace(self, uuid):
        self.assertEqual([m for m in mounts_under(self.state) if m != self.state + "/oci"], [])
        self.assertEqual(loops_under(self.state), [])
        for sub in ("oci", "sandboxes"):
            self.assertFalse(os.path.exists(os.path.join(self.state, sub, uuid)), sub)
        self.assertNotIn("zvc-" + uuid.replace("-", "")[:12], netns_list())

    def test_9_zunvmd_sigkill_during_create_stop_and_delete_leaks_nothing(self):
        # Killed right after a create was accepted: whatever step it reached, the next zunvmd
        # settles it (Running, or Error for a create it cannot finish), and delete leaves nothing.
        code, c = self.api("POST", "/v1/containers?run=true", {"name": "halfway", "image": "busybox",
                                                               "runtime": self.RUNTIME, "command": ["sleep", "1000"]})
        self.assertEqual(code, 202, c)
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        wait_for(lambda: self.api("GET", "/v1/containers/halfway")[1]["status"] in ("Running", "Error"), BOOT,
                 "halfway settled")
        self.osc("delete", "--force", "halfway")
        wait_for(lambda: self.api("GET", "/v1/containers/halfway")[0] == 404, 120, "halfway deleted")
        self.assert_no_trace(c["uuid"])
        # sh as PID 1 ignores SIGTERM: the stop waits out its timeout while zunvmd is killed; the
        # next zunvmd adopts the container. Killed right after accepting a delete: it finishes it.
        self.osc("run", "--name", "stubborn", "--runtime", self.RUNTIME, "busybox", "sh", "-c",
                 "while true; do sleep 1; done")
        c = self.wait_status("stubborn", "Running")
        self.osc("stop", "--timeout", "60", "stubborn")
        wait_for(lambda: self.api("GET", "/v1/containers/stubborn")[1].get("task_state") == "container_stopping",
                 30, "stopping")
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        self.wait_status("stubborn", "Running")
        self.assertEqual(self.exec("stubborn", "echo adopted"), (0, "adopted\n"))
        code, _ = self.api("DELETE", "/v1/containers/stubborn?force=true")
        self.assertEqual(code, 204)
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        wait_for(lambda: self.api("GET", "/v1/containers/stubborn")[0] == 404, 120, "stubborn deleted")
        self.assert_no_trace(c["uuid"])


class RuntimeRuncTest(Scenario, unittest.TestCase):
    RUNTIME = "runc"


class RuntimeKataTest(Scenario, unittest.TestCase):
    RUNTIME = "kata"


if __name__ == "__main__":
    unittest.main(verbosity=2)
