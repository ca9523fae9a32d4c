#!/usr/bin/python3
"""End to end with the real `openstack appcontainer` CLI (Debian's python3-openstackclient and
python3-zunclient) against a real zunvmd binary (fake sandbox driver, real SQLite state).

Every command a user types is run as a subprocess exactly as a user would type it.
"""
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, wait_for  # noqa: E402

OPENSTACK = "/usr/bin/openstack"


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Zunvmd().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def osc(self, *args, check=True, fmt_json=False):
        args = list(args)
        if fmt_json:  # options go before positional arguments (run's command takes the rest)
            words = 2 if args[0] in ("host", "action", "image", "service") else 1
            args[words:words] = ["-f", "json"]
        cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.daemon.url + "/v1",
               "appcontainer"] + args
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("OS_"):
                del env[k]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if check and p.returncode != 0:
            self.fail("%s failed (%d): %s %s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        if fmt_json:
            return json.loads(p.stdout)
        return p

    def zunclient(self):
        from zunclient import client
        return client.Client("1.40", endpoint_override=self.daemon.url + "/v1", auth_token="x")

    def show(self, name):
        return self.osc("show", name, fmt_json=True)

    def wait_status(self, name, status, timeout=30):
        wait_for(lambda: self.show(name)["status"] == status, timeout, "%s %s" % (name, status))

    def test_1_run_logs_exec_and_lifecycle(self):
        out = self.osc("run", "--name", "web", "busybox", "sleep", "infinity", fmt_json=True)
        self.assertEqual(out["status"], "Creating")
        self.assertEqual(out["command"], ["sleep", "infinity"])
        self.wait_status("web", "Running")

        listing = self.osc("list", fmt_json=True)
        self.assertIn("web", [c["name"] for c in listing])

        p = self.osc("exec", "web", "echo", "hi", "there")
        self.assertEqual(p.stdout.strip(), "hi there")
        p = self.osc("exec", "web", "sh", "-c", "exit 3", check=False)
        self.assertEqual(p.returncode, 3)

        # `appcontainer top` itself crashes in python3-zunclient 4.5 whatever the server says
        # (it does `print("%-20s") % title`), so top is checked through the same client library.
        top = self.zunclient().containers.top("web")
        self.assertEqual(top["Titles"][:2], ["UID", "PID"])
        self.assertIn("sleep infinity", [p[-1] for p in top["Processes"]])
        stats = self.osc("stats", "web")
        self.assertIn("MEM LIMIT(MiB)", stats.stdout)

        self.osc("set", "--cpu", "2", "--memory", "256", "web")
        shown = self.show("web")
        self.assertEqual(shown["memory"], "256")
        self.assertEqual(float(shown["cpu"]), 2.0)

        self.osc("pause", "web")
        self.wait_status("web", "Paused")
        self.assertIn("(paused)", self.show("web")["status_detail"])
        self.osc("unpause", "web")
        self.wait_status("web", "Running")

        self.osc("stop", "web")
        self.wait_status("web", "Stopped")
        self.assertTrue(self.show("web")["status_detail"].startswith("Exited("))
        self.osc("start", "web")
        self.wait_status("web", "Running")
        self.osc("restart", "web")
        self.wait_status("web", "Running")

        self.osc("kill", "--signal", "SIGTERM", "web")
        self.wait_status("web", "Stopped")
        self.assertTrue(self.show("web")["status_detail"].startswith("Exited(143)"))

        actions = self.osc("action", "list", "web", fmt_json=True)
        names = [a["action"] for a in actions]
        for expected in ("create", "stop", "start", "reboot", "kill", "pause", "unpause"):
            self.assertIn(expected, names)

        self.osc("delete", "web")
        wait_for(lambda: self.osc("show", "web", check=False).returncode != 0, 30, "web deleted")
        gone = self.osc("show", "web", check=False)
        self.assertIn("could not be found", gone.stderr)

    def test_2_echo_output_in_logs(self):
        self.osc("run", "--name", "echoer", "busybox", "sh", "-c", "echo hello; echo oops >&2")
        self.wait_status("echoer", "Stopped")
        logs = self.osc("logs", "echoer").stdout
        self.assertIn("hello", logs)
        self.assertIn("oops", logs)
        only_out = self.osc("logs", "--stdout", "echoer").stdout
        self.assertIn("hello", only_out)
        self.assertNotIn("oops", only_out)
        self.osc("delete", "echoer")

    def test_7_images_import_list_run_delete(self):
        # busybox:latest built from busybox-static, imported with the zunvmd sub-command into the
        # running daemon's state dir, then seen and used through the real CLI.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        archive = os.path.join(self.daemon.state_dir, "busybox.tar")
        subprocess.run([os.path.join(root, "guest", "build-busybox-image.sh"), archive], check=True,
                       capture_output=True, timeout=300)
        from zunvmd_proc import binary
        imp = subprocess.run([binary(), "import-image", "--state-dir",
                              self.daemon.state_dir, archive], capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        self.assertIn("imported busybox:latest sha256:", imp.stdout)
        images = self.osc("image", "list", fmt_json=True)
        self.assertEqual([(i["repo"], i["tag"]) for i in images], [("busybox", "latest")])
        shown = self.osc("image", "show", "busybox", fmt_json=True)
        self.assertTrue(shown["image_id"].startswith("sha256:"))
        # No command given: the image's Cmd (sh) is used. Its Env goes to the process, not into
        # the container's `environment`, which shows what the caller gave (as Zun's does).
        out = self.osc("run", "--name", "imgdefaults", "busybox", fmt_json=True)
        self.assertEqual(out["command"], ["sh"])
        self.assertEqual(out["environment"], {})
        # In use: refused with the error envelope's message.
        # (the CLI reports a failed delete but exits 0)
        busy = self.osc("image", "delete", shown["uuid"], check=False)
        self.assertIn("in use", busy.stdout + busy.stderr)
        self.assertEqual(len(self.osc("image", "list", fmt_json=True)), 1)
        self.osc("delete", "--force", "imgdefaults")
        wait_for(lambda: self.osc("show", "imgdefaults", check=False).returncode != 0, 30, "imgdefaults gone")
        self.osc("image", "delete", shown["uuid"])
        self.assertEqual(self.osc("image", "list", fmt_json=True), [])

    def test_3_cp_both_ways(self):
        self.osc("run", "--name", "files", "busybox", "sleep", "infinity")
        self.wait_status("files", "Running")
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "greeting.txt")
            with open(src, "w") as f:
                f.write("hello from the host\n")
            self.osc("cp", src, "files:/tmp")
            p = self.osc("exec", "files", "cat", "/tmp/greeting.txt")
            self.assertEqual(p.stdout.strip(), "hello from the host")
            back = os.path.join(tmp, "back")
            os.mkdir(back)
            self.osc("cp", "files:/tmp/greeting.txt", back)
            with open(os.path.join(back, "greeting.txt")) as f:
                self.assertEqual(f.read(), "hello from the host\n")
        self.osc("delete", "--stop", "files")

    def test_4_hosts(self):
        hosts = self.osc("host", "list", fmt_json=True)
        self.assertEqual(len(hosts), 1)
        host = self.osc("host", "show", hosts[0]["hostname"], fmt_json=True)
        self.assertGreaterEqual(int(host["cpus"]), 1)
        self.assertGreater(int(host["mem_total"]), 0)
        self.assertIn("kata", host["runtimes"])
        self.assertEqual(host["kernel_version"], os.uname().release)

    def test_5_errors_are_clean(self):
        p = self.osc("show", "nosuch", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Container nosuch could not be found. (HTTP 404)", p.stderr)
        self.osc("run", "--name", "busy", "busybox", "sleep", "infinity")
        self.wait_status("busy", "Running")
        p = self.osc("start", "busy", check=False)
        self.assertIn("409", p.stdout + p.stderr)
        self.osc("delete", "--force", "busy")

    def test_6_state_survives_restart(self):
        self.osc("run", "--name", "durable", "--label", "tier=web", "busybox", "sleep", "infinity")
        self.wait_status("durable", "Running")
        self.osc("run", "--name", "finished", "busybox", "echo", "kept")
        self.wait_status("finished", "Stopped")
        before = self.show("durable")
        self.daemon.restart()
        after = self.show("durable")
        self.assertEqual(after["uuid"], before["uuid"])
        self.assertEqual(after["status"], "Running")
        self.assertEqual(after["labels"], {"tier": "web"})
        self.assertEqual(self.osc("exec", "durable", "echo", "still").stdout.strip(), "still")
        self.assertIn("kept", self.osc("logs", "finished").stdout)
        actions = self.osc("action", "list", "durable", fmt_json=True)
        self.assertIn("create", [a["action"] for a in actions])
        self.osc("delete", "--stop", "durable")
        self.osc("delete", "finished")


if __name__ == "__main__":
    unittest.main(verbosity=2)
