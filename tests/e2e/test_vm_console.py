#!/usr/bin/python3
"""End to end against real VMs: interactive consoles through the real `openstack appcontainer`
CLI (python3-zunclient's websocket client), driven in real terminals: each CLI runs in a tmux
session (its own tmux server, -L), keys go in with send-keys and the screen comes back with
capture-pane, polled with deadlines.

(a) `run --interactive`: a prompt, commands, the terminal size and its changes, Ctrl-C, the
pty's name, `exit` ends the CLI and the container; (b) two `attach` sessions at once on one
container, one leaving; (c) `exec --interactive` beside them; (d) the logs keep what the tty
printed. All of it for a VM (kata) and for a trusted container (runc, RuncConsoleTest). Needs
libvirtd, the guest image in build/guest, busybox-static, runc, conmon and tmux.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, curl_api, remove_vm_state, vm_state_dir, wait_for  # noqa: E402
from test_console import console_sockets  # noqa: E402

OPENSTACK = "/usr/bin/openstack"
BOOT = 120  # seconds a container may take to be Running (TCG, shared cores)
SCREEN = 60  # seconds for an expected text to appear on a terminal (a CLI start is ~3 s)
PROMPT = re.compile(r"^/ # ", re.M)


class VmConsoleTest(unittest.TestCase):
    RUNTIME = None  # the default (kata); RuncConsoleTest runs the same under runc

    def rt(self):
        """The CLI's runtime option for this class's containers."""
        return ["--runtime", self.RUNTIME] if self.RUNTIME else []

    @classmethod
    def setUpClass(cls):
        cls.state = vm_state_dir("zvc-")
        cls.addClassCleanup(remove_vm_state, cls.state)
        cls.home = tempfile.mkdtemp(prefix="zvc-home-")
        cls.addClassCleanup(shutil.rmtree, cls.home, True)
        cls.tmux_socket = "zunvm-e2e-console-%d" % os.getpid()
        cls.addClassCleanup(cls.kill_tmux)
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt").start(timeout=60)
        # A server of our own, without any user configuration, with room for whole sessions.
        cls.tmux("-f", "/dev/null", "new-session", "-d", "-s", "keep", "sleep 86400")
        cls.tmux("set-option", "-g", "history-limit", "20000")
        cls.tmux_path = cls.tmux("display-message", "-p", "#{socket_path}").stdout.strip()

    @classmethod
    def tearDownClass(cls):
        try:
            for c in cls.api("GET", "/v1/containers")[1].get("containers", []):
                cls.api("DELETE", "/v1/containers/%s?force=true" % c["uuid"])
            wait_for(lambda: not cls.api("GET", "/v1/containers")[1].get("containers"), 120, "cleanup")
        finally:
            cls.daemon.stop()

    # ---- terminals ----

    @classmethod
    def tmux(cls, *args, check=True):
        return subprocess.run(["tmux", "-L", cls.tmux_socket] + list(args), capture_output=True, text=True,
                              timeout=30, check=check)

    @classmethod
    def kill_tmux(cls):
        cls.tmux("kill-server", check=False)
        if getattr(cls, "tmux_path", None):  # tmux leaves its socket file behind
            try:
                os.unlink(cls.tmux_path)
            except FileNotFoundError:
                pass

    def cli_line(self, *args):
        """A shell command line running the CLI as a user would, with no OS_* but ours."""
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + self.home, "LANG=C.UTF-8",
               "TERM=screen"]
        words = env + [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.daemon.url + "/v1",
                       "appcontainer"] + list(args)
        return " ".join(shlex.quote(w) for w in words)

    def terminal(self, name, width, height, *cli_args):
        """A tmux session `name` of width x height running the CLI; when the CLI ends the pane
        shows CLI-EXIT=<code> and stays."""
        self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                  self.cli_line(*cli_args) + "; echo CLI-EXIT=$?; exec sleep 86400")
        self.addCleanup(self.tmux, "kill-session", "-t", "=" + name, check=False)

    def screen(self, name):
        """Everything the terminal showed (its history too), wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "=%s:" % name).stdout

    def keys(self, name, text, enter=True):
        self.tmux("send-keys", "-t", "=%s:" % name, "-l", text)
        if enter:
            self.tmux("send-keys", "-t", "=%s:" % name, "Enter")

    def wait_screen(self, name, pattern, count=1, timeout=SCREEN):
        """The `count`-th match of `pattern` (a regex, multiline) on terminal `name`, waited for."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(name)
            found = list(rx.finditer(text))
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                self.fail("terminal %s: no %r (#%d) within %d s; the screen:\n%s\n--- zunvmd:\n%s"
                          % (name, pattern, count, timeout, text, "".join(self.daemon.output[-30:])))
            time.sleep(0.2)

    def matches(self, name, pattern):
        return len(re.findall(pattern, self.screen(name), re.M))

    def run_and_wait(self, name, command, pattern, timeout=SCREEN):
        """Types `command` + Enter and waits for a new match of `pattern`; returns it."""
        before = self.matches(name, pattern)
        self.keys(name, command)
        return self.wait_screen(name, pattern, before + 1, timeout)

    def stty_size(self, name):
        m = self.run_and_wait(name, "stty size", r"# stty size\s*\n(\d+) (\d+)\s*$")
        return int(m.group(1)), int(m.group(2))

    def wait_size(self, name, rows, cols, timeout=SCREEN):
        """`stty size` until it says rows cols (a resize reaches the guest asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            size = self.stty_size(name)
            if size == (rows, cols):
                return
            if time.monotonic() > deadline:
                self.fail("terminal %s: stty size stays %r, not %r\n%s" % (name, size, (rows, cols), self.screen(name)))
            time.sleep(0.5)

    def connected(self, name):
        """The CLI's banner, then Enter (as it asks) and a prompt."""
        self.wait_screen(name, r"press Enter to continue", timeout=BOOT + SCREEN)
        before = len(PROMPT.findall(self.screen(name)))
        self.keys(name, "")
        self.wait_screen(name, PROMPT.pattern, before + 1)

    # ---- the API ----

    @classmethod
    def api(cls, method, path, body=None):
        """curl, as a user would: (HTTP status, parsed JSON or text)."""
        return curl_api(cls.daemon.url, method, path, body)

    def osc(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        p = subprocess.run([OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.daemon.url + "/v1",
                            "appcontainer"] + list(args), capture_output=True, text=True, env=env, timeout=180)
        if check and p.returncode != 0:
            self.fail("%s failed (%d): %s %s\n--- zunvmd:\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                                              "".join(self.daemon.output[-40:])))
        return p

    def wait_consoles_closed(self):
        """zunvmd holds no console connection any more (every CLI that ended or was killed)."""
        port = int(self.daemon.console_url.rsplit(":", 1)[1])
        wait_for(lambda: console_sockets(self.daemon.proc.pid, port) == 0, 30, "zunvmd to close its consoles")

    def show(self, name):
        code, c = self.api("GET", "/v1/containers/" + name)
        return c if code == 200 else {"status": "gone(%d)" % code}

    def wait_status(self, name, status, timeout=BOOT):
        def check():
            c = self.show(name)
            if c["status"] == "Error" and status != "Error":
                self.fail("%s went to Error: %s" % (name, c.get("status_reason")))
            return c if c["status"] == status and not c.get("task_state") else None
        return wait_for(check, timeout, "%s %s" % (name, status))

    # ---- the tests ----

    def test_1_run_interactive(self):
        self.terminal("c1", 100, 30, "run", "--interactive", "--name", "c1", *self.rt(), "busybox", "sh")
        self.connected("c1")
        c = self.show("c1")
        self.assertEqual((c["status"], c["interactive"], c["tty"]), ("Running", True, True))

        self.run_and_wait("c1", "echo hi$((1+2))", r"^hi3\s*$")
        # The size of the terminal, and its changes (SIGWINCH -> the CLI -> resize -> the pty).
        self.assertEqual(self.stty_size("c1"), (30, 100))
        self.tmux("resize-window", "-t", "=c1:", "-x", "120", "-y", "40")
        self.wait_size("c1", 40, 120)
        self.tmux("resize-window", "-t", "=c1:", "-x", "90", "-y", "25")
        self.wait_size("c1", 25, 90)

        # Ctrl-C reaches the foreground process through the tty: the prompt is back at once.
        self.keys("c1", "sleep 100")
        self.wait_screen("c1", r"^/ # sleep 100\s*$")
        # Running (a ^C before it starts would only clear the line).
        wait_for(lambda: any("sleep 100" in row[-1] for row in self.api("GET", "/v1/containers/c1/top")[1]["Processes"]),
                 SCREEN, "sleep 100 running")
        prompts = len(PROMPT.findall(self.screen("c1")))
        t0 = time.monotonic()
        self.tmux("send-keys", "-t", "=c1:", "C-c")
        self.wait_screen("c1", PROMPT.pattern, prompts + 1, timeout=15)
        self.assertLess(time.monotonic() - t0, 15)
        self.run_and_wait("c1", "echo after$((1+1))", r"^after2\s*$")

        m = self.run_and_wait("c1", "tty", r"# tty\s*\n(/dev/pts/\d+)\s*$")
        self.assertEqual(m.group(1), "/dev/pts/0")

        # (d) What the tty printed is in the container's log.
        logs = self.osc("logs", "c1").stdout
        for printed in ("hi3", "25 90", "40 120", "after2", "/dev/pts/0"):
            self.assertIn(printed, logs)

        # exit: the shell ends, so do the container and the CLI.
        self.keys("c1", "exit")
        m = self.wait_screen("c1", r"CLI-EXIT=(\d+)", timeout=BOOT)
        self.assertEqual(m.group(1), "0", self.screen("c1"))
        stopped = self.wait_status("c1", "Stopped", 60)
        self.assertIn("Exited(0)", stopped["status_detail"])
        self.wait_consoles_closed()
        self.osc("delete", "c1")

    def test_2_two_attaches_and_an_exec(self):
        self.osc("create", "--interactive", "--name", "c2", *self.rt(), "busybox", "sh")
        self.wait_status("c2", "Created")
        self.osc("start", "c2")
        self.wait_status("c2", "Running")

        # (b) Two attach sessions at once: what one types, both see.
        self.terminal("a1", 80, 24, "attach", "c2")
        self.terminal("a2", 90, 25, "attach", "c2")
        self.wait_screen("a1", r"press Enter to continue")
        self.wait_screen("a2", r"press Enter to continue")
        self.connected("a1")
        self.run_and_wait("a1", "echo from-a$((0+1))", r"^from-a1\s*$")
        self.wait_screen("a2", r"^from-a1\s*$")
        self.run_and_wait("a2", "echo from-b$((1+1))", r"^from-b2\s*$")
        self.wait_screen("a1", r"^from-b2\s*$")

        # One detaches (its terminal goes away): the container runs on, the other goes on.
        port = int(self.daemon.console_url.rsplit(":", 1)[1])
        self.assertEqual(console_sockets(self.daemon.proc.pid, port), 2)
        self.tmux("kill-session", "-t", "=a1")
        wait_for(lambda: console_sockets(self.daemon.proc.pid, port) == 1, 30, "zunvmd to let a1's attach go")
        self.run_and_wait("a2", "echo still$((2*2))", r"^still4\s*$")
        self.assertEqual(self.show("c2")["status"], "Running")

        # (c) An interactive exec beside it: a new shell on a pty of the exec's own size.
        self.terminal("ex", 110, 35, "exec", "--interactive", "c2", "sh")
        self.wait_screen("ex", r"press Enter to continue")
        self.wait_screen("ex", PROMPT.pattern)
        m = self.run_and_wait("ex", "echo pid=$$", r"^pid=(\d+)\s*$")
        self.assertNotEqual(m.group(1), "1")
        self.assertEqual(self.stty_size("ex"), (35, 110))
        m = self.run_and_wait("ex", "tty", r"# tty\s*\n(/dev/pts/\d+)\s*$")
        self.assertNotEqual(m.group(1), "/dev/pts/0")  # the main process has that one
        self.tmux("resize-window", "-t", "=ex:", "-x", "70", "-y", "20")
        self.wait_size("ex", 20, 70)
        self.keys("ex", "exit")
        m = self.wait_screen("ex", r"CLI-EXIT=(\d+)")
        self.assertEqual(m.group(1), "0", self.screen("ex"))
        self.assertEqual(self.show("c2")["status"], "Running")
        # The attach is untouched by the exec.
        self.run_and_wait("a2", "echo alive$((3+4))", r"^alive7\s*$")
        self.assertNotIn("pid=", self.screen("a2"))

        # (d) The main process's tty output is in the log; the exec's is not.
        logs = self.osc("logs", "c2").stdout
        for printed in ("from-a1", "from-b2", "still4", "alive7"):
            self.assertIn(printed, logs)
        self.assertNotIn("pid=", logs)

        # exit in the remaining attach: the container stops and that CLI ends too.
        self.keys("a2", "exit")
        m = self.wait_screen("a2", r"CLI-EXIT=(\d+)", timeout=BOOT)
        self.assertEqual(m.group(1), "0", self.screen("a2"))
        self.wait_status("c2", "Stopped", 60)
        self.wait_consoles_closed()
        self.osc("delete", "c2")

    def test_3_a_client_that_never_reads(self):
        # An attach client that stops reading while the container prints ~15 MB on its tty:
        # the client is dropped (zunvmd holds at most 4 MiB for it; the kernel's socket buffers
        # take a few more, so the client's receive buffer is kept small), the process is not
        # held up, and the log has every line.
        import socket
        import websocket
        code, c = self.api("POST", "/v1/containers?run=true",
                           {"name": "c3", "image": "busybox", "interactive": True, "tty": True,
                            "command": ["sh", "-c", "read go; seq 1 2000000; echo seq-done; exec sleep 1000"],
                            **({"runtime": self.RUNTIME} if self.RUNTIME else {})})
        self.assertEqual(code, 202, c)
        self.wait_status("c3", "Running")
        code, url = self.api("GET", "/v1/containers/c3/attach")
        self.assertEqual(code, 200, url)
        ws = websocket.create_connection(url, timeout=30, subprotocols=["binary", "base64"],
                                         sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
        try:
            port = int(self.daemon.console_url.rsplit(":", 1)[1])
            ws.send_binary(b"go\r")
            wait_for(lambda: console_sockets(self.daemon.proc.pid, port) == 0, 300,
                     "zunvmd to drop the attach client that does not read")
            wait_for(lambda: "seq-done" in self.osc("logs", "--tail", "5", "c3").stdout, 300, "seq to finish")
        finally:
            ws.shutdown()
        numbers = [line.strip() for line in self.osc("logs", "c3").stdout.splitlines()]
        start = numbers.index("1")
        self.assertEqual(numbers[start:start + 2000000], [str(i) for i in range(1, 2000001)])
        self.assertEqual(numbers[start + 2000000], "seq-done")
        self.assertEqual(self.show("c3")["status"], "Running")
        self.osc("delete", "--force", "c3")


class RuncConsoleTest(VmConsoleTest):
    """The same consoles for a trusted container (runtime runc): conmon holds the main
    process's terminal, an exec -it is a foreground `runc exec -t` on a pty of zunvmd's."""
    RUNTIME = "runc"


if __name__ == "__main__":
    unittest.main(verbosity=2)
