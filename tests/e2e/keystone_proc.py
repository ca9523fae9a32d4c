"""A real Keystone (Debian's python3-keystone) on 127.0.0.1 for tests: SQLite backend, fernet
tokens, `keystone-manage db_sync` + `bootstrap`, its public WSGI application served by the
wsgiref server of `keystone-wsgi-public` on a free port, in a temp dir. Uses only the standard
library to talk to it, as a program would.
"""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ADMIN_PASSWORD = "admin-secret"


def json_request(method, url, body=None, token=None, headers=None, timeout=60):
    """One JSON request as a program would make it: (status, headers, parsed body, its text when
    not JSON, or None when empty)."""
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("X-Auth-Token", token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, data = e.code, e.headers, e.read()
    if not data:
        return status, hdrs, None
    try:
        return status, hdrs, json.loads(data)
    except ValueError:
        return status, hdrs, data.decode(errors="replace")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Keystone:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zunvm-keystone-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/v3" % self.port
        self.conf = os.path.join(self.dir, "keystone.conf")
        self.proc = None

    def setup(self):
        with open(self.conf, "w") as f:
            f.write("[DEFAULT]\nuse_stderr = true\n"
                    "[database]\nconnection = sqlite:///%s/keystone.db\n"
                    "[token]\nprovider = fernet\nexpiration = 3600\n"
                    "[fernet_tokens]\nkey_repository = %s/fernet-keys\n"
                    "[fernet_receipts]\nkey_repository = %s/fernet-receipts\n"
                    "[credential]\nkey_repository = %s/credential-keys\n" % ((self.dir,) * 4))
        manage = ["keystone-manage", "--config-file", self.conf]
        for step in (["db_sync"],
                     ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
                     ["credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
                     ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                      "--bootstrap-admin-url", self.url, "--bootstrap-public-url", self.url,
                      "--bootstrap-internal-url", self.url, "--bootstrap-region-id", "RegionOne"]):
            p = subprocess.run(manage + step, capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                raise RuntimeError("keystone-manage %s: %s" % (step[0], p.stdout + p.stderr))
        # WAL: the server's threads read while one writes (else "database is locked" -> 500).
        db = sqlite3.connect(os.path.join(self.dir, "keystone.db"))
        db.execute("PRAGMA journal_mode=WAL")
        db.close()
        return self

    def start(self, timeout=60):
        self._log = open(os.path.join(self.dir, "keystone.log"), "a")
        self.proc = subprocess.Popen(
            ["keystone-wsgi-public", "--host", "127.0.0.1", "--port", str(self.port), "--",
             "--config-file", self.conf], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url, timeout=2).read()
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None:
                    raise RuntimeError("keystone exited: " + self.log())
                time.sleep(0.2)
        raise RuntimeError("keystone did not answer on %s: %s" % (self.url, self.log()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def cleanup(self):
        self.stop()
        if not os.environ.get("ZUNVM_KEEP_KEYSTONE"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "keystone.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # --- the identity API ------------------------------------------------------------------
    def call(self, method, path, body=None, token=None, headers=None):
        """(status, headers, parsed body or None)."""
        return json_request(method, self.url + path, body, token, headers)

    def token(self, user, password, project):
        status, headers, body = self.call("POST", "/auth/tokens", {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        if status != 201:
            raise RuntimeError("token for %s: %s %s" % (user, status, body))
        return headers["X-Subject-Token"], body["token"]

    def admin_token(self):
        return self.token("admin", ADMIN_PASSWORD, "admin")[0]

    def _id(self, kind, name, body):
        """Creates `kind` (projects, users, roles) named `name`, or finds it; returns its id."""
        admin = self.admin_token()
        status, _, found = self.call("GET", "/%s?name=%s" % (kind, name), token=admin)
        if status == 200 and found[kind]:
            return found[kind][0]["id"]
        status, _, made = self.call("POST", "/" + kind, {kind[:-1]: body}, token=admin)
        if status != 201:
            raise RuntimeError("create %s %s: %s %s" % (kind, name, status, made))
        return made[kind[:-1]]["id"]

    def project(self, name):
        return self._id("projects", name, {"name": name, "domain_id": "default"})

    def user(self, name, password, project, role):
        """A user with `role` on `project` (both made when missing); returns the user's id."""
        pid = self.project(project)
        uid = self._id("users", name, {"name": name, "password": password, "domain_id": "default"})
        rid = self._id("roles", role, {"name": role})
        status, _, body = self.call("PUT", "/projects/%s/users/%s/roles/%s" % (pid, uid, rid),
                                    token=self.admin_token())
        if status not in (200, 201, 204):
            raise RuntimeError("role assignment: %s %s" % (status, body))
        return uid

    def register_endpoint(self, service_type, name, url):
        """A service of `service_type` in the catalog with a public endpoint at `url`."""
        status, _, made = self.call("POST", "/services", {"service": {"type": service_type, "name": name}},
                                    token=self.admin_token())
        if status != 201:
            raise RuntimeError("service: %s %s" % (status, made))
        sid = made["service"]["id"]
        status, _, body = self.call("POST", "/endpoints", {"endpoint": {
            "service_id": sid, "interface": "public", "url": url, "region_id": "RegionOne"}},
            token=self.admin_token())
        if status != 201:
            raise RuntimeError("endpoint: %s %s" % (status, body))
