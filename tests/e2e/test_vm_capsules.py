#!/usr/bin/python3
"""Capsules end to end on real VMs (issue 21): the real `openstack capsule` CLI and curl against
zunvmd with the libvirt driver. One template: an init container writes a page into a shared
volume, an httpd serves it from there (read-only), a client fetches it over localhost and logs
it. One VM holds all three; the members are containers to the API (logs, exec, 409 on delete
alone); a killed member is restarted by the capsule's policy in the same VM; zunvmd is SIGKILLed
and restarted and the capsule is adopted; the delete leaves no domain, disk, tap or address.
A failing init container fails its capsule with a reason. Template errors are 400s.

Two VM boots. Needs what test_vm_cli.py needs (scripts/test.sh prepares it).
"""
import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, curl_api, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

OPENSTACK = "/usr/bin/openstack"
VIRSH = ["virsh", "-c", "qemu:///system"]
BOOT = 150

# The README's example: docs/examples/web-capsule.yaml.
WEB_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "examples", "web-capsule.yaml")


class VmCapsulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = vm_state_dir("zcap-")
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt",
                            config_text="[DEFAULT]\nexecute_timeout = 20\n").start(timeout=60)

    @classmethod
    def tearDownClass(cls):
        try:
            for c in cls.api("GET", "/v1/capsules")[1].get("capsules", []):
                cls.api("DELETE", "/v1/capsules/%s" % c["uuid"])
            wait_for(lambda: not cls.api("GET", "/v1/capsules")[1].get("capsules"), 120, "cleanup")
        finally:
            cls.daemon.stop()
            remove_vm_state(cls.state)

    @classmethod
    def api(cls, method, path, body=None):
        return curl_api(cls.daemon.url, method, path, body)

    def osc(self, *args):
        cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.daemon.url + "/v1"] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        if p.returncode != 0:
            self.fail("%s failed (%d): %s %s\n--- zunvmd:\n%s" % (" ".join(args), p.returncode, p.stdout,
                                                              p.stderr, "".join(self.daemon.output[-40:])))
        return p.stdout

    def capsule(self, ident):
        code, c = self.api("GET", "/v1/capsules/" + ident)
        return c if code == 200 else {"status": "gone(%d)" % code}

    def wait_capsule(self, ident, status):
        def check():
            c = self.capsule(ident)
            if c["status"] == "Error" and status != "Error":
                self.fail("capsule %s went to Error: %s\n%s" % (ident, c.get("status_reason"),
                                                              "".join(self.daemon.output[-40:])))
            return c if c["status"] == status else None
        return wait_for(check, BOOT, "capsule %s %s" % (ident, status))

    def domains(self):
        out = subprocess.run(VIRSH + ["list", "--all", "--name"], capture_output=True, text=True).stdout
        return [d for d in out.split() if d.startswith("zunvm-")]

    def logs(self, uuid):
        code, text = self.api("GET", "/v1/containers/%s/logs" % uuid)
        if code == 409:  # Restarting: Zun has no logs then
            return ""
        self.assertEqual(code, 200, text)
        return text if isinstance(text, str) else json.dumps(text)

    def test_1_web_capsule_through_the_cli(self):
        before = set(self.domains())
        created = json.loads(self.osc("capsule", "create", "--file", WEB_FILE, "-f", "json"))
        uuid = created["uuid"]
        c = self.wait_capsule(uuid, "Running")
        self.assertEqual(c["name"], "web")
        self.assertEqual(c["labels"], {"app": "web"})
        self.assertEqual(c["restart_policy"], {"Name": "always", "MaximumRetryCount": "0"})
        self.assertEqual((c["cpu"], c["memory"]), (1.0, "256"))
        init, (httpd, client) = c["init_containers"], c["containers"]
        self.assertEqual(len(init), 1)
        self.assertEqual(init[0]["restart_policy"], {"Name": "on-failure", "MaximumRetryCount": "10"})
        for m in init + [httpd, client]:
            self.assertTrue(m["name"].startswith("capsule-web-"), m["name"])
        self.assertEqual(client["command"][:2], ["sh", "-c"])  # args appended to the command
        self.assertEqual(len(client["command"]), 3)
        self.assertEqual(client["environment"], {"ROLE": "client"})
        self.assertEqual(httpd["ports"], [8080])
        # One VM for the three of them, sharing one address.
        self.assertEqual(len(set(self.domains()) - before), 1)
        addrs = [a["addr"] for net in c["addresses"].values() for a in net]
        self.assertEqual(len(addrs), 1)
        # The init container ran to completion first and wrote the page the httpd serves; the
        # client fetched it over localhost.
        self.assertEqual(self.api("GET", "/v1/containers/" + init[0]["uuid"])[1]["status"], "Stopped")
        wait_for(lambda: "hello-from-init" in self.logs(client["uuid"]), 60, "the client's log")
        # The client exits 7 once after its fetch: the capsule's policy (always) runs it again
        # in the same VM (its writable disk kept), and it fetches the page a second time.
        wait_for(lambda: self.logs(client["uuid"]).count("hello-from-init") >= 2, 90, "the client's restart")
        wait_for(lambda: self.api("GET", "/v1/containers/" + client["uuid"])[1]["status"] == "Running", 60, "client back")
        self.assertEqual(len(set(self.domains()) - before), 1)
        # Members are containers: listed with their capsule only, exec works, each has its own
        # root and PID namespace but the capsule's hostname and network.
        listed = [x["uuid"] for x in self.api("GET", "/v1/containers")[1]["containers"]]
        self.assertNotIn(httpd["uuid"], listed)
        code, r = self.api("POST", "/v1/containers/%s/execute?run=true" % client["uuid"],
                           {"command": "sh -c 'hostname; ps -o pid,comm | grep -c httpd; wget -qO- localhost:8080'"})
        self.assertEqual(code, 200, r)
        lines = r["output"].split()
        self.assertEqual(lines[0], "web")
        self.assertEqual(lines[1], "0", "the client sees the httpd's processes: %r" % r["output"])
        self.assertIn("hello-from-init", r["output"])
        code, r = self.api("POST", "/v1/containers/%s/execute?run=true" % httpd["uuid"],
                           {"command": "sh -c 'echo x > /www/other'"})
        self.assertNotEqual(r["exit_code"], 0, "the read-only mount took a write")
        code, top = self.api("GET", "/v1/containers/%s/top" % httpd["uuid"])
        self.assertEqual(code, 200, top)
        self.assertIn("httpd", json.dumps(top))
        self.assertNotIn("wget", json.dumps(top))  # its own PID namespace
        code, stats = self.api("GET", "/v1/containers/%s/stats" % client["uuid"])
        self.assertEqual(code, 200, stats)
        self.assertEqual(self.api("DELETE", "/v1/containers/" + httpd["uuid"])[0], 409)
        # zunvmd SIGKILLed and restarted: the capsule and its members are adopted as they were.
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start(timeout=60)
        c = self.wait_capsule(uuid, "Running")
        self.assertEqual([m["status"] for m in c["containers"]], ["Running", "Running"])
        code, r = self.api("POST", "/v1/containers/%s/execute?run=true" % client["uuid"],
                           {"command": "wget -qO- localhost:8080"})
        self.assertIn("hello-from-init", r["output"])
        # The CLI lists and shows it; delete leaves nothing behind.
        self.assertIn(uuid, self.osc("capsule", "list", "-f", "value", "-c", "uuid"))
        self.assertIn("web", self.osc("capsule", "show", uuid, "-f", "value", "-c", "name"))
        self.osc("capsule", "delete", uuid)
        wait_for(lambda: self.api("GET", "/v1/capsules/" + uuid)[0] == 404, 120, "capsule gone")
        # (libvirt forgets a domain that powered itself off a moment after qemu exits)
        wait_for(lambda: set(self.domains()) == before, 30, "the capsule's domain gone")
        self.assertEqual(self.api("GET", "/v1/containers/" + client["uuid"])[0], 404)
        self.assertEqual(os.listdir(os.path.join(self.state, "volumes")), [])
        leftovers = [n for n in os.listdir(os.path.join(self.state, "images")) if n.endswith(".ext4") and
                     any(m["uuid"] in n for m in init + [httpd, client])] if os.path.isdir(
            os.path.join(self.state, "images")) else []
        self.assertEqual(leftovers, [])
        held = subprocess.run(["sqlite3", os.path.join(self.state, "zunvm.sqlite"),
                               "SELECT count(*) FROM ip_allocations WHERE container_uuid = '%s'" % uuid],
                              capture_output=True, text=True).stdout.strip()
        self.assertEqual(held, "0", "the capsule's address is still allocated")
        taps = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        for port in (a["port"] for net in c["addresses"].values() for a in net):
            self.assertNotIn("zv" + port[:11], taps)

    def test_2_a_failing_init_container_fails_the_capsule(self):
        tpl = {"kind": "capsule", "metadata": {"name": "broken"},
               "spec": {"restartPolicy": "Never",
                        "initContainers": [{"image": "busybox", "command": ["sh", "-c", "exit 3"]}],
                        "containers": [{"image": "busybox", "command": ["sleep", "1000"]}]}}
        code, c = self.api("POST", "/v1/capsules", {"template": tpl})
        self.assertEqual(code, 202, c)
        c = self.wait_capsule(c["uuid"], "Error")
        self.assertIn("Init container capsule-broken-", c["status_reason"])
        self.assertIn("exit code 3", c["status_reason"])
        self.assertEqual(c["containers"][0]["status"], "Error")
        self.assertEqual(self.api("DELETE", "/v1/capsules/" + c["uuid"])[0], 204)
        wait_for(lambda: self.api("GET", "/v1/capsules/" + c["uuid"])[0] == 404, 120, "capsule gone")

    def test_3_template_errors_are_400(self):
        ok = {"image": "busybox", "command": ["true"]}
        bad = {
            "no spec": {"kind": "capsule", "metadata": {}},
            "no metadata": {"kind": "capsule", "spec": {"containers": [ok]}},
            "wrong kind": {"kind": "pod", "metadata": {}, "spec": {"containers": [ok]}},
            "unknown key": {"kind": "capsule", "metadata": {}, "spec": {"containers": [dict(ok, colour="red")]}},
            "duplicate names": {"kind": "capsule", "metadata": {},
                                "spec": {"containers": [dict(ok, name="aa"), dict(ok, name="aa")]}},
            "init with ports": {"kind": "capsule", "metadata": {},
                                "spec": {"containers": [ok],
                                         "initContainers": [dict(ok, ports=[{"containerPort": 80}])]}},
            "1000 containers": {"kind": "capsule", "metadata": {}, "spec": {"containers": [ok] * 1000}},
            "no containers": {"kind": "capsule", "metadata": {}, "spec": {"containers": []}},
        }
        before = len(self.api("GET", "/v1/capsules")[1]["capsules"])
        for what, tpl in bad.items():
            code, r = self.api("POST", "/v1/capsules", {"template": tpl})
            self.assertEqual(code, 400, "%s: %s" % (what, r))
            self.assertTrue(r["errors"][0]["detail"], what)
        self.assertEqual(len(self.api("GET", "/v1/capsules")[1]["capsules"]), before)  # nothing was made


if __name__ == "__main__":
    unittest.main(verbosity=2)
