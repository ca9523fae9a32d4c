#!/usr/bin/python3
"""End to end: the state directory's filesystem fills up under a running zunvmd (fake driver).

The state dir is on its own tmpfs, big enough for zunvmd's start-up check (256 MiB free), with
a few containers made; then a filler file takes every free block, as another program filling
the disk would. While it is full every request is answered: reads (list, show, logs) as before,
and what must write (create, rename, start, stop, delete) a 409 with Zun's error envelope, code
`container.no-space-left`, naming the state dir; no 5xx, no crash, no record changed. The
filler goes, and the same requests succeed without restarting zunvmd; the database passes
`PRAGMA integrity_check`, and a restarted zunvmd finds every container as it was left.
"""
import errno
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, api_request, wait_for  # noqa: E402

FS_SIZE = "300m"  # over the 256 MiB the start-up check wants free


class StateDirFullTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zfull-")
        self.addCleanup(os.rmdir, self.tmp)
        os.chmod(self.tmp, 0o711)  # mkdtemp's 0700 would stop a state dir below it
        self.mnt = os.path.join(self.tmp, "fs")
        os.mkdir(self.mnt, 0o711)
        self.addCleanup(os.rmdir, self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0711" % FS_SIZE, "tmpfs", self.mnt],
                       check=True, timeout=30)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt], timeout=30)
        self.state = os.path.join(self.mnt, "state")
        self.filler = os.path.join(self.mnt, "filler")
        self.daemon = Zunvmd(state_dir=self.state, driver="fake")
        self.addCleanup(self.daemon.cleanup)  # SIGKILL if still running; the dir goes with the mount
        self.daemon.start()

    # -- helpers ---------------------------------------------------------------------------

    def api(self, method, path, body=None):
        code, doc = api_request(self.daemon.url, method, path, body)
        self.assertLess(code, 500, "%s %s: %d %r\n--- zunvmd:\n%s" % (method, path, code, doc,
                                                                     "".join(self.daemon.output[-30:])))
        if code >= 400:  # Zun's error envelope
            err = doc["errors"][0]
            self.assertEqual(err["status"], code, doc)
            self.assertTrue(err["code"].startswith("container."), doc)
            self.assertTrue(err["title"] and err["detail"], doc)
        return code, doc

    def refused_for_space(self, method, path, body=None):
        """The request is refused with 409 container.no-space-left naming the state dir."""
        self.fill()  # what zunvmd freed meanwhile (a temporary file, say) is taken again
        code, doc = self.api(method, path, body)
        self.assertEqual(code, 409, "%s %s: %r" % (method, path, doc))
        err = doc["errors"][0]
        self.assertEqual(err["code"], "container.no-space-left", doc)
        self.assertIn("No space left", err["detail"])
        self.assertIn(self.state, err["detail"])
        self.assertIsNone(self.daemon.proc.poll(), "zunvmd died")
        return err

    def fill(self):
        """Appends to the filler until the filesystem refuses a single byte more."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * (1 << 20)
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[:len(chunk) // 2]
        finally:
            os.close(fd)
        st = os.statvfs(self.mnt)
        self.assertEqual(st.f_bavail, 0)

    def show(self, name):
        code, c = self.api("GET", "/v1/containers/" + name)
        self.assertEqual(code, 200, c)
        return c

    def settled(self, name, status):
        def check():
            c = self.show(name)
            return c if c["status"] == status and not c.get("task_state") else None
        return wait_for(check, 20, "%s %s" % (name, status))

    def create(self, name, command, run=False):
        code, c = self.api("POST", "/v1/containers" + ("?run=true" if run else ""),
                           {"name": name, "image": "busybox", "command": command})
        self.assertEqual(code, 202, c)
        return self.settled(name, "Running" if run and command[-1] == "inf" else
                            "Stopped" if run else "Created")

    def names(self):
        code, doc = self.api("GET", "/v1/containers")
        self.assertEqual(code, 200, doc)
        return {c["name"]: c for c in doc["containers"]}

    def integrity(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.state, "zunvm.sqlite"), uri=True)
        try:
            return db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()

    # -- the scenario ----------------------------------------------------------------------

    def test_full_state_dir_refuses_writes_serves_reads_and_recovers(self):
        running = self.create("running", ["sleep", "inf"], run=True)
        created = self.create("created", ["sleep", "inf"])
        victim = self.create("victim", ["sleep", "inf"])
        talker = self.create("talker", ["echo", "said before the disk filled"], run=True)
        wait_for(lambda: "said before" in (self.api("GET", "/v1/containers/talker/logs")[1] or ""), 20,
                 "talker's log")
        before = self.names()

        self.fill()
        # Reads work as before.
        self.assertEqual(set(self.names()), set(before))
        self.assertEqual(self.show("running")["status"], "Running")
        code, text = self.api("GET", "/v1/containers/talker/logs")
        self.assertEqual(code, 200)
        self.assertIn("said before the disk filled", text)
        # What must write is refused, and changes nothing.
        self.refused_for_space("POST", "/v1/containers", {"name": "new", "image": "busybox"})
        self.refused_for_space("POST", "/v1/containers?run=true",
                               {"name": "new-run", "image": "busybox", "command": ["sleep", "inf"]})
        self.refused_for_space("PATCH", "/v1/containers/created", {"name": "renamed"})
        self.refused_for_space("PATCH", "/v1/containers/created", {"memory": "256"})
        self.refused_for_space("POST", "/v1/containers/created/start")
        self.refused_for_space("POST", "/v1/containers/running/stop")
        self.refused_for_space("POST", "/v1/containers/running/reboot")
        self.refused_for_space("DELETE", "/v1/containers/victim")
        self.refused_for_space("DELETE", "/v1/containers/running?force=true")
        now = self.names()
        self.assertEqual(set(now), set(before))
        for name, c in now.items():
            self.assertEqual((c["uuid"], c["status"], c.get("task_state"), c["memory"]),
                             (before[name]["uuid"], before[name]["status"], before[name].get("task_state"),
                              before[name]["memory"]), name)
        code, text = self.api("GET", "/v1/containers/talker/logs")
        self.assertEqual((code, text.count("said before the disk filled")), (200, 1))
        self.assertIsNone(self.daemon.proc.poll(), "zunvmd died")

        # Space returns: the same requests succeed, without a restart.
        os.unlink(self.filler)
        self.assertEqual(self.integrity(), [("ok",)])
        self.create("new", ["sleep", "inf"])
        self.create("new-run", ["sleep", "inf"], run=True)
        code, c = self.api("PATCH", "/v1/containers/created", {"name": "renamed"})
        self.assertEqual((code, c["name"]), (200, "renamed"))
        self.assertEqual(self.api("POST", "/v1/containers/renamed/start")[0], 202)
        self.settled("renamed", "Running")
        self.assertEqual(self.api("POST", "/v1/containers/running/stop")[0], 202)
        self.settled("running", "Stopped")
        self.assertEqual(self.api("DELETE", "/v1/containers/victim")[0], 204)
        wait_for(lambda: "victim" not in self.names(), 20, "victim deleted")
        after = self.names()
        self.assertEqual(set(after), {"running", "renamed", "talker", "new", "new-run"})
        self.assertEqual(after["running"]["uuid"], running["uuid"])
        self.assertEqual(after["renamed"]["uuid"], created["uuid"])
        self.assertEqual(after["talker"]["uuid"], talker["uuid"])
        self.assertNotIn(victim["uuid"], {c["uuid"] for c in after.values()})

        # A restarted zunvmd finds everything as it was left.
        self.assertEqual(self.daemon.stop(), 0)
        self.assertEqual(self.integrity(), [("ok",)])
        self.daemon.start()
        again = self.names()
        self.assertEqual({n: (c["uuid"], c["status"]) for n, c in again.items()},
                         {n: (c["uuid"], c["status"]) for n, c in after.items()})
        code, text = self.api("GET", "/v1/containers/talker/logs")
        self.assertEqual((code, text.count("said before the disk filled")), (200, 1))


if __name__ == "__main__":
    unittest.main()
