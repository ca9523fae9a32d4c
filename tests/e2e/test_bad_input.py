#!/usr/bin/python3
"""Table-driven hostile input against a real zunvmd: every case must get the expected 4xx with
Zun's error envelope, never a 500, a hang or a crash. Requests are sent as raw bytes over a
socket so that malformed paths, headers and bodies reach the server exactly as written; a few
cases also go through curl, the way a person would send them.
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, wait_for  # noqa: E402

MAX_BODY = 65536
V = b"OpenStack-API-Version: container 1.40\r\n"
JSON = b"Content-Type: application/json\r\n"


def raw_request(port, method, path, headers=b"", body=b"", timeout=20):
    """Sends one HTTP/1.1 request, returns (status, headers dict, body bytes)."""
    req = (method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
           headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode(errors="replace")
    return status, hdrs, rest


# (name, method, path, extra headers, body, expected status, expected error code or None)
CASES = [
    # malformed JSON
    ("json truncated", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox"', 400, "container.invalid-value"),
    ("json garbage", b"POST", b"/v1/containers", V + JSON, b"\x00\x01\x02", 400, None),
    ("json array body", b"POST", b"/v1/containers", V + JSON, b'["busybox"]', 400, "container.schema-validation-error"),
    ("json deep nesting", b"POST", b"/v1/containers", V + JSON, b"[" * 5000 + b"]" * 5000, 400, None),
    ("patch not json", b"PATCH", b"/v1/containers/x", V + JSON, b"name=x", 400, None),
    # wrong types
    ("image number", b"POST", b"/v1/containers", V + JSON, b'{"image": 42}', 400, "container.schema-validation-error"),
    ("memory object", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "memory": {}}', 400, "container.schema-validation-error"),
    ("memory huge", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "memory": 1e400}', 400, None),
    ("cpu negative", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "cpu": -1}', 400, "container.invalid-value"),
    ("command not list", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "command": "ls"}', 400, "container.schema-validation-error"),
    ("env values numbers", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "environment": {"A": 1}}', 400, "container.schema-validation-error"),
    ("unknown key", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "x": 1}', 400, "container.schema-validation-error"),
    ("restart policy junk", b"POST", b"/v1/containers", V + JSON, b'{"image": "busybox", "restart_policy": "always"}', 400, "container.schema-validation-error"),
    ("wrong content type", b"POST", b"/v1/containers", V + b"Content-Type: text/plain\r\n", b'{"image": "busybox"}', 415, "container.unsupported-media-type"),
    # invalid UTF-8
    ("utf8 in body", b"POST", b"/v1/containers", V + JSON, b'{"image": "busy\xff\xfebox"}', 400, None),
    ("utf8 in path", b"GET", b"/v1/containers/%ff%fe", V, b"", 400, None),
    ("utf8 in query", b"GET", b"/v1/containers?name=%c3%28", V, b"", 400, None),
    # cpprestsdk refuses a request line that is not a valid URI before zunvmd sees it, with a
    # plain-text 400 (see docs/api.md): the one 4xx without the envelope.
    ("raw high bytes in path", b"GET", b"/v1/containers/\xc3\x28", V, b"", 400, "plain"),
    # bad query values
    ("limit zero", b"GET", b"/v1/containers?limit=0", V, b"", 400, None),
    ("limit text", b"GET", b"/v1/containers?limit=ten", V, b"", 400, None),
    ("limit overflow", b"GET", b"/v1/containers?limit=999999999999999999999", V, b"", 400, None),
    ("sort dir", b"GET", b"/v1/containers?sort_dir=up", V, b"", 400, None),
    ("sort key injection", b"GET", b"/v1/containers?sort_key=id%3BDROP%20TABLE%20containers", V, b"", 400, None),
    ("unknown filter", b"GET", b"/v1/containers?colour=blue", V, b"", 400, None),
    ("bad marker", b"GET", b"/v1/containers?marker=nope", V, b"", 404, None),
    ("run not bool", b"POST", b"/v1/containers?run=perhaps", V + JSON, b'{"image": "busybox"}', 400, None),
    ("bad escape", b"GET", b"/v1/containers?name=%zz", V, b"", 400, None),
    ("nul in query", b"GET", b"/v1/containers?name=a%00b", V, b"", 400, None),
    # garbage microversion headers
    ("version too new", b"GET", b"/v1/containers", b"OpenStack-API-Version: container 1.41\r\n", b"", 406, None),
    ("version zero", b"GET", b"/v1/containers", b"OpenStack-API-Version: container 1.0\r\n", b"", 406, None),
    ("version garbage", b"GET", b"/v1/containers", b"OpenStack-API-Version: \x01\x02garbage\r\n", b"", (400, 406), None),
    ("version other service", b"GET", b"/v1/containers", b"OpenStack-API-Version: compute 2.1\r\n", b"", 406, None),
    ("version non numeric", b"GET", b"/v1/containers", b"OpenStack-API-Version: container 1.x\r\n", b"", 406, None),
    ("version huge", b"GET", b"/v1/containers", b"OpenStack-API-Version: container 1.99999999999999999999\r\n", b"", 406, None),
    ("route not in version", b"POST", b"/v1/containers/x/rename?name=y", V, b"", 406, None),
    # path tricks
    ("dot dot", b"GET", b"/v1/containers/../hosts", V, b"", (400, 404), None),
    ("encoded dot dot", b"GET", b"/v1/containers/%2e%2e/hosts", V, b"", 404, None),
    ("encoded slash", b"GET", b"/v1/containers/a%2fb", V, b"", 404, None),
    ("very long name", b"GET", b"/v1/containers/" + b"a" * 8000, V, b"", 404, None),
    ("unknown route", b"GET", b"/v1/nothing/here", V, b"", 404, "container.not-found"),
    ("wrong method", b"PUT", b"/v1/containers", V, b"", 405, "container.method-not-allowed"),
    ("delete collection", b"DELETE", b"/v1/containers", V, b"", 405, None),
    ("unknown container action", b"POST", b"/v1/containers/x/explode", V, b"", 404, None),
    # action parameters
    ("stop bad timeout", b"POST", b"/v1/containers/x/stop?timeout=-5", V, b"", (400, 404), None),
    ("kill bad signal", b"POST", b"/v1/containers/x/kill?signal=SIGNOPE", V, b"", (400, 404), None),
    ("exec no command", b"POST", b"/v1/containers/x/execute", V, b"", (400, 404), None),
    # oversized body
    ("body too large", b"POST", b"/v1/containers", V + JSON, b'{"image": "' + b"a" * (MAX_BODY + 10) + b'"}', 413, "container.request-entity-too-large"),
]


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Zunvmd(config_text="[api]\nmax_body_bytes = %d\n" % MAX_BODY).start()
        # A running container to aim actions at.
        status, _, body = raw_request(cls.daemon.port, b"POST", b"/v1/containers?run=true",
                                      V + JSON, b'{"name": "target", "image": "busybox", "command": ["sleep", "inf"]}')
        assert status == 202, body

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def check(self, name, method, path, headers, body, want, code):
        status, hdrs, payload = raw_request(self.daemon.port, method, path, headers, body)
        wanted = want if isinstance(want, tuple) else (want,)
        self.assertIn(status, wanted, "%s: got %d %r" % (name, status, payload[:300]))
        self.assertLess(status, 500, name)
        if code == "plain":
            self.assertIn(b"invalid", payload, name)
            return
        if status >= 400 and payload:
            doc = json.loads(payload)
            err = doc["errors"][0]
            self.assertEqual(err["status"], status, name)
            self.assertTrue(err["code"].startswith("container."), name)
            self.assertTrue(err["title"], name)
            if code:
                self.assertEqual(err["code"], code, name)
            self.assertTrue(hdrs.get("x-openstack-request-id", "").startswith("req-"), name)

    def test_table(self):
        for case in CASES:
            with self.subTest(case[0]):
                self.check(*case)
        # After all of that the daemon still serves and still holds its container.
        status, _, body = raw_request(self.daemon.port, b"GET", b"/v1/containers/target", V)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], "target")
        self.assertIsNone(self.daemon.proc.poll())

    def test_actions_on_real_container(self):
        wait_for(lambda: json.loads(raw_request(self.daemon.port, b"GET", b"/v1/containers/target", V)[2])["status"] == "Running",
                 30, "target running")
        for name, path, want in [
            ("timeout negative", b"/v1/containers/target/stop?timeout=-1", 400),
            ("timeout text", b"/v1/containers/target/stop?timeout=soon", 400),
            ("signal unknown", b"/v1/containers/target/kill?signal=SIGFOO", 400),
            ("exec unbalanced quote", b"/v1/containers/target/execute?command=%22echo", 400),
            ("exec empty", b"/v1/containers/target/execute?command=", 400),
            ("exec run not bool", b"/v1/containers/target/execute?command=ls&run=yes", 400),
            ("resize zero", b"/v1/containers/target/resize?w=0&h=10", 400),
            ("put archive bad base64", b"/v1/containers/target/put_archive?path=/tmp", 400),
            ("put archive relative", b"/v1/containers/target/put_archive?path=tmp", 400),
        ]:
            with self.subTest(name):
                body = b'{"data": "***"}' if b"put_archive" in path else b""
                self.check(name, b"POST", path, V + JSON, body, want, None)
        for name, path, want in [
            ("logs since garbage", b"/v1/containers/target/logs?since=yesterday", 400),
            ("logs stdout garbage", b"/v1/containers/target/logs?stdout=perhaps", 400),
            ("archive no path", b"/v1/containers/target/get_archive", 400),
            ("archive missing file", b"/v1/containers/target/get_archive?path=/no/such", 404),
        ]:
            with self.subTest(name):
                self.check(name, b"GET", path, V, b"", want, None)

    def test_connection_close_is_said_in_the_answer(self):
        """A request with `Connection: close` gets `Connection: close` back (a pooling client,
        like tempest's urllib3, must not reuse the socket the server closes); without it the
        connection stays open for the next request."""
        status, hdrs, _ = raw_request(self.daemon.port, b"GET", b"/v1", V)
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("connection", "").lower(), "close")
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=20) as s:
            f = s.makefile("rb")
            for _ in range(2):  # two requests on one keep-alive connection
                s.sendall(b"GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assertIn(b" 200 ", f.readline())
                length = 0
                for line in iter(f.readline, b"\r\n"):
                    k, _, v = line.partition(b":")
                    self.assertNotEqual((k.strip().lower(), v.strip().lower()), (b"connection", b"close"))
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                f.read(length)

    def test_with_curl(self):
        url = "http://127.0.0.1:%d" % self.daemon.port
        p = subprocess.run(["curl", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}",
                            "-H", "OpenStack-API-Version: container 1.40",
                            "-H", "Content-Type: application/json",
                            "-d", '{"image": "busybox", "memory": "lots"}', url + "/v1/containers"],
                           capture_output=True, text=True, timeout=30)
        body, _, code = p.stdout.rpartition("\n")
        self.assertEqual(code, "400")
        self.assertEqual(json.loads(body)["errors"][0]["code"], "container.schema-validation-error")
        p = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", url + "/v1/containers/nosuch"],
                           capture_output=True, text=True, timeout=30)
        body, _, code = p.stdout.rpartition("\n")
        self.assertEqual(code, "404")
        self.assertEqual(json.loads(body)["errors"][0]["title"], "Container nosuch could not be found.")

    def test_auth_token_strategy(self):
        d = Zunvmd(config_text="[api]\nauth_strategy = token\nauth_tokens = s3cret,other\n").start()
        try:
            status, _, body = raw_request(d.port, b"GET", b"/v1/containers", V)
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(body)["errors"][0]["status"], 401)
            status, _, _ = raw_request(d.port, b"GET", b"/v1/containers", V + b"X-Auth-Token: wrong\r\n")
            self.assertEqual(status, 401)
            status, _, _ = raw_request(d.port, b"GET", b"/v1/containers", V + b"X-Auth-Token: s3cret\r\n")
            self.assertEqual(status, 200)
            status, _, _ = raw_request(d.port, b"GET", b"/", b"")  # version discovery is public
            self.assertEqual(status, 200)
            p = subprocess.run(["/usr/bin/openstack", "--os-auth-type", "admin_token", "--os-token", "other",
                                "--os-endpoint", "http://127.0.0.1:%d/v1" % d.port, "appcontainer", "list"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            d.cleanup()

    def test_tls(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                            "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
            d = Zunvmd(config_text="[api]\nssl_cert_file = %s\nssl_key_file = %s\n" % (cert, key)).start()
            try:
                p = subprocess.run(["curl", "-s", "--cacert", cert, "-w", "\n%{http_code}",
                                    "https://127.0.0.1:%d/v1/containers" % d.port],
                                   capture_output=True, text=True, timeout=30)
                body, _, code = p.stdout.rpartition("\n")
                self.assertEqual(code, "200", p.stderr)
                self.assertEqual(json.loads(body), {"containers": [], "next": None})
                plain = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                        "http://127.0.0.1:%d/v1/containers" % d.port],
                                       capture_output=True, text=True, timeout=30)
                self.assertNotEqual(plain.stdout, "200")  # no plain HTTP on a TLS port
                self.console_over_tls(d, cert)
            finally:
                d.cleanup()

    def console_over_tls(self, d, cert):
        """The console listener shares the API's certificate: wss:// URLs, a session through TLS."""
        import ssl
        import urllib.request
        import websocket
        self.assertTrue(d.console_url.startswith("wss://127.0.0.1:"), d.console_url)
        ctx = ssl.create_default_context(cafile=cert)
        hdrs = {"OpenStack-API-Version": "container 1.40", "Content-Type": "application/json"}

        def call(method, path, body=None):
            req = urllib.request.Request("https://127.0.0.1:%d%s" % (d.port, path), method=method, headers=hdrs,
                                         data=json.dumps(body).encode() if body is not None else None)
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return json.loads(r.read() or b"null")

        c = call("POST", "/v1/containers?run=true",
                 {"image": "busybox", "command": ["sleep", "1000"], "interactive": True, "tty": True})
        wait_for(lambda: call("GET", "/v1/containers/" + c["uuid"])["status"] == "Running", what="Running")
        url = call("GET", "/v1/containers/%s/attach" % c["uuid"])
        self.assertTrue(url.startswith("wss://"), url)
        ws = websocket.create_connection(url, subprotocols=["binary", "base64"], timeout=30,
                                         sslopt={"ca_certs": cert})
        try:
            ws.send_binary(b"over tls\r")
            got = b""
            while b"over tls" not in got:
                got += ws.recv()
        finally:
            ws.close()
        # Plain ws:// on the TLS console port gets no websocket.
        with self.assertRaises(Exception):
            websocket.create_connection(url.replace("wss://", "ws://"), timeout=10)

    def test_refuses_open_console_without_tls(self):
        d = Zunvmd(config_text="[console]\nhost = 0.0.0.0\n")
        with self.assertRaises(RuntimeError) as ctx:
            d.start()
        d.cleanup()
        self.assertIn("allow_insecure_bind", str(ctx.exception))

    def test_refuses_open_bind_without_auth(self):
        d = Zunvmd(extra_args=["--host-ip", "0.0.0.0"])
        with self.assertRaises(RuntimeError) as ctx:
            d.start()
        d.cleanup()
        self.assertIn("auth", str(ctx.exception))


class IdleClientsTest(unittest.TestCase):
    """Hundreds of idle and half-sent connections must not starve a new client. zunvmd starts
    with a soft limit of 256 open files (as a login shell might give it) and a hard one of 4096:
    it raises the soft limit at start, so 600 held connections still leave room."""

    HELD = 600

    def test_new_clients_are_served_while_hundreds_of_connections_idle(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.HELD + 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        daemon = Zunvmd(prefix=["prlimit", "--nofile=256:4096"]).start()
        held = []
        try:
            with open("/proc/%d/limits" % daemon.proc.pid) as f:
                limit = [line.split() for line in f if line.startswith("Max open files")][0]
            self.assertEqual(limit[3:5], ["4096", "4096"], "the soft limit is raised to the hard one")
            heads = [b"",  # connected, nothing sent
                     b"GET /v1/containers HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never end
                     b"POST /v1/containers HTTP/1.1\r\nHost: 127.0.0.1\r\n" + V + JSON +
                     b"Content-Length: 1000\r\n\r\n{\"ima"]  # the body never comes
            for i in range(self.HELD):
                s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
                if heads[i % 3]:
                    s.sendall(heads[i % 3])
                held.append(s)
            # New clients, one after another and a few at once: each is answered within seconds.
            for i in range(10):
                status, _, body = raw_request(daemon.port, b"GET", b"/v1/containers", V, timeout=10)
                self.assertEqual(status, 200, body[:200])
            status, _, body = raw_request(daemon.port, b"POST", b"/v1/containers", V + JSON,
                                          b'{"image": "busybox", "command": ["true"]}', timeout=10)
            self.assertEqual(status, 202, body[:200])
            results = []
            threads = [threading.Thread(target=lambda: results.append(
                raw_request(daemon.port, b"GET", b"/v1/containers", V, timeout=10)[0])) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(results, [200] * 8)
            # The held connections were not dropped meanwhile: one of them can still finish.
            held[1].sendall(V + b"Connection: close\r\n\r\n")
            held[1].settimeout(10)
            self.assertTrue(held[1].recv(64).startswith(b"HTTP/1.1 200"))
        finally:
            for s in held:
                s.close()
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
