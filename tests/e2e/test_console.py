#!/usr/bin/python3
"""End to end: the console listener of a real zunvmd (fake sandbox driver, so no VM) against
real clients and hostile ones.

The fake driver's consoles are echoing terminals: an interactive exec echoes its input, answers
a line `stty size` with `<rows> <cols>` and ends with code N on a line `exit N`; attaching to a
running interactive container echoes its stdin to every attached client. Clients: websocket-client
(what python-zunclient uses), raw sockets speaking RFC 6455 by hand (for what a polite client
never sends), and docker-py against the Docker API subset Zun's proxy uses.
"""
import base64
import concurrent.futures
import itertools
import json
import os
import re
import select
import socket
import struct
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, api_request, wait_for  # noqa: E402

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MIB = 1 << 20
NAMES = itertools.count(1)


# ---- raw RFC 6455, client side ------------------------------------------------------------------

def frame(opcode, payload, fin=True, masked=True, rsv=0):
    """One client frame (masked, as RFC 6455 requires of clients, unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    # XOR with the repeated key, quickly for big payloads.
    reps = key * (n // 4 + 1)
    masked_payload = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big") if n else b""
    return head + key + masked_payload


class RawConn:
    """A socket after a (raw) handshake; reads server frames."""

    def __init__(self, sock, status, headers, rest):
        self.sock, self.status, self.headers, self.buf = sock, status, headers, rest

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the server")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk

    def read_frame(self, timeout=10):
        """(opcode, payload) of the next server frame (servers do not mask)."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "a server frame is masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def read_close(self, timeout=10):
        """The close code and reason of the server's close frame, skipping data frames before it."""
        deadline = time.monotonic() + timeout
        while True:
            op, payload = self.read_frame(max(0.1, deadline - time.monotonic()))
            if op == 8:
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def read_until(self, needle, timeout=10):
        """Data frames joined until `needle` is in them."""
        deadline = time.monotonic() + timeout
        got = b""
        while needle not in got:
            op, payload = self.read_frame(max(0.1, deadline - time.monotonic()))
            if op == 8:
                raise AssertionError("closed (%r) before %r; got %r" % (payload, needle, got))
            got += payload
        return got

    def closed_by_server(self, timeout=10):
        """True once the server has closed the TCP connection (EOF or reset)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
        return False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def bye(ws):
    """Closes a websocket-client connection and its socket, whatever state it is in."""
    ws.close(timeout=2)
    ws.shutdown()


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.port, u.path + ("?" + u.query if u.query else "")


def raw_request(port, request, timeout=10):
    """Sends `request` bytes to the console port; returns a RawConn with the response head
    parsed (the body, if any, left in .buf)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request)
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("no response head: %r" % buf)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return RawConn(s, status, headers, rest)


def ws_handshake(url, protocols=None, extra_headers=(), upgrade=True):
    """A websocket handshake by hand to a ws:// URL; RawConn with status and headers."""
    port, target = split_url(url)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % target, "Host: 127.0.0.1:%d" % port]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                  "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    lines += list(extra_headers)
    conn = raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    conn.key = key
    return conn


# ---- the daemon's side --------------------------------------------------------------------------

def console_sockets(pid, port):
    """The TCP sockets zunvmd holds open on its console port, the listener excluded: one per
    console connection it has not let go."""
    by_inode = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local_port = int(parts[1].rsplit(":", 1)[1], 16)
                    state, inode = parts[3], parts[9]
                    if local_port == port and state != "0A":  # 0A: LISTEN
                        by_inode[inode] = state
        except FileNotFoundError:
            pass
    n = 0
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m and m.group(1) in by_inode:
            n += 1
    return n


def memory_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Under ASan freed memory sits in a quarantine (256 MiB by default) before it is reused,
        # which test_11's memory bound would count as growth: keep it small for this daemon.
        if "ASAN_OPTIONS" in os.environ:
            os.environ["ASAN_OPTIONS"] += ":quarantine_size_mb=8:thread_local_quarantine_size_kb=256"
        cls.daemon = Zunvmd().start()
        cls.cport = int(cls.daemon.console_url.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def tearDown(self):
        # Whatever a test did to the listener, zunvmd must still be there.
        self.assertIsNone(self.daemon.proc.poll(), "zunvmd exited:\n" + self.zunvmd_output())

    def zunvmd_output(self):
        return "".join(self.daemon.output[-60:])

    # ---- the REST API ----

    @classmethod
    def api(cls, method, path, body=None):
        """(HTTP status, parsed JSON or None)."""
        return api_request(cls.daemon.url, method, path, body, timeout=30)

    def assert_handshake(self, status, url, protocols=None, msg=None, upgrade=True):
        """A handshake to `url` that must be answered `status` (a refusal); closed after."""
        conn = ws_handshake(url, protocols, upgrade=upgrade)
        self.assertEqual(conn.status, status, msg)
        conn.close()

    def container(self, interactive=True, tty=True, command=("sh",)):
        """A new running container; returns its uuid."""
        name = "con%d" % next(NAMES)
        code, c = self.api("POST", "/v1/containers?run=true",
                           {"name": name, "image": "busybox", "command": list(command),
                            "interactive": interactive, "tty": tty})
        self.assertEqual(code, 202, c)
        wait_for(lambda: self.api("GET", "/v1/containers/" + c["uuid"])[1]["status"] == "Running", 30,
                 name + " Running")
        return c["uuid"]

    def attach_url(self, uuid):
        code, url = self.api("GET", "/v1/containers/%s/attach" % uuid)
        self.assertEqual(code, 200, url)
        self.assertRegex(url, r"^ws://127\.0\.0\.1:%d/v1/console/containers/%s/attach\?ticket=[0-9a-f]{64}$"
                         % (self.cport, uuid))
        return url

    def new_exec(self, uuid, command="sh"):
        """(exec_id, proxy_url) of a new interactive exec instance, not started."""
        code, r = self.api("POST", "/v1/containers/%s/execute?command=%s&interactive=true&run=false"
                           % (uuid, urllib.parse.quote(command)))
        self.assertEqual(code, 200, r)
        self.assertIsNone(r["output"])
        self.assertIsNone(r["exit_code"])
        self.assertRegex(r["exec_id"], HEX64)
        self.assertRegex(r["proxy_url"], r"^ws://127\.0\.0\.1:%d/v1/console/containers/%s/exec/%s\?ticket=[0-9a-f]{64}$"
                         % (self.cport, uuid, r["exec_id"]))
        return r["exec_id"], r["proxy_url"]

    def exec_resize(self, uuid, exec_id, w, h):
        return self.api("POST", "/v1/containers/%s/execute_resize?exec_id=%s&w=%d&h=%d" % (uuid, exec_id, w, h))

    # ---- websocket-client ----

    def ws(self, url, subprotocols=("binary", "base64")):
        """Connects as python-zunclient does."""
        return websocket.create_connection(url, timeout=10, skip_utf8_validation=True,
                                           subprotocols=list(subprotocols) if subprotocols else None)

    def read_until(self, ws, needle, timeout=10):
        """Data from `ws` until `needle` is in it (bytes)."""
        deadline = time.monotonic() + timeout
        got = b""
        while needle not in got:
            ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                op, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                raise AssertionError("timed out waiting for %r; got %r" % (needle, got))
            if op == websocket.ABNF.OPCODE_CLOSE:
                raise AssertionError("closed (%r) before %r; got %r" % (data, needle, got))
            if op in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                got += data if isinstance(data, bytes) else data.encode()
        return got

    def read_close(self, ws, timeout=10):
        """(code, reason) of the server's close frame; data before it is skipped."""
        deadline = time.monotonic() + timeout
        while True:
            ws.settimeout(max(0.1, deadline - time.monotonic()))
            fr = ws.recv_frame()  # as is: recv_data_frame would answer a close (and may hit EPIPE)
            if fr.opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", fr.data[:2])[0], fr.data[2:].decode()

    def attached(self, ws):
        """Waits until an attach client is attached: its own keystrokes come back (a console's
        guest calls run in order, so the echo comes after its watch began). The 101 comes
        before that, so output right after the handshake may precede the attach."""
        marker = ("attached-%d" % next(NAMES)).encode()
        ws.send_binary(marker + b"\r")
        self.read_until(ws, marker + b"\r")
        return ws

    def assert_console_works(self, uuid=None):
        """A new exec console opens and round-trips."""
        uuid = uuid or self.container()
        _, url = self.new_exec(uuid)
        ws = self.ws(url)
        try:
            ws.send_binary(b"still-alive\r")
            self.read_until(ws, b"still-alive\r\r\n")
        finally:
            bye(ws)

    def wait_no_console_sockets(self, timeout=30):
        wait_for(lambda: console_sockets(self.daemon.proc.pid, self.cport) == 0, timeout,
                 "zunvmd to let every console connection go")

    # ---- round trips ----

    def test_01_exec_round_trip(self):
        uuid = self.container()
        exec_id, url = self.new_exec(uuid)
        # Sized before it starts: the size applies at the start.
        self.assertEqual(self.exec_resize(uuid, exec_id, 123, 45), (200, None))
        ws = self.ws(url)
        self.assertEqual(ws.getsubprotocol(), "binary")
        self.assertEqual(ws.getheaders().get("sec-websocket-protocol"), "binary")
        ws.send_binary(b"echo hi\r")
        self.assertEqual(self.read_until(ws, b"echo hi\r\r\n"), b"echo hi\r\r\n")
        ws.send_binary(b"stty size\r")
        self.assertIn(b"45 123\r\n", self.read_until(ws, b"45 123\r\n"))
        # Resized live.
        self.assertEqual(self.exec_resize(uuid, exec_id, 90, 20), (200, None))
        ws.send_binary(b"stty size\r")
        self.read_until(ws, b"20 90\r\n")
        # Keystrokes one by one, as a terminal sends them.
        for ch in b"stty size\r":
            ws.send_binary(bytes([ch]))
        self.read_until(ws, b"stty size\r\r\n20 90\r\n")
        # A ping is answered.
        ws.ping(b"are-you-there")
        ws.settimeout(10)
        op, fr = ws.recv_data_frame(control_frame=True)
        self.assertEqual((op, fr.data), (websocket.ABNF.OPCODE_PONG, b"are-you-there"))
        # The process ends: a close frame with 1000, then the server closes the connection.
        ws.send_binary(b"exit 3\r")
        code, reason = self.read_close(ws)
        self.assertEqual(code, 1000)
        self.assertIn("3", reason)
        ws.sock.settimeout(10)
        self.assertEqual(ws.sock.recv(100), b"")
        bye(ws)
        # The instance is gone: resizing it is a 400 (what the CLI tolerates), as for any unknown id.
        code, _ = self.exec_resize(uuid, exec_id, 80, 24)
        self.assertEqual(code, 400)
        self.assertEqual(self.exec_resize(uuid, "0" * 64, 80, 24)[0], 400)
        self.assertEqual(self.exec_resize(uuid, "nonsense", 80, 24)[0], 400)

    def test_02_attach_round_trip_and_two_clients(self):
        uuid = self.container()
        a = self.attached(self.ws(self.attach_url(uuid)))
        b = self.attached(self.ws(self.attach_url(uuid)))
        self.assertEqual(a.getsubprotocol(), "binary")
        self.assertEqual(self.api("POST", "/v1/containers/%s/resize?w=100&h=30" % uuid), (200, None))
        a.send_binary(b"typed-in-a\r")
        self.read_until(a, b"typed-in-a")
        self.read_until(b, b"typed-in-a")
        b.send_binary(b"typed-in-b\r")
        self.read_until(a, b"typed-in-b")
        self.read_until(b, b"typed-in-b")
        # One detaches: the other goes on, the container keeps running.
        bye(a)
        b.send_binary(b"after-detach\r")
        self.read_until(b, b"after-detach")
        self.assertEqual(self.api("GET", "/v1/containers/" + uuid)[1]["status"], "Running")
        # The container stops: the console ends with a close frame (1000).
        code, _ = self.api("POST", "/v1/containers/%s/stop" % uuid)
        self.assertEqual(code, 202)
        code, _ = self.read_close(b, timeout=30)
        self.assertEqual(code, 1000)
        bye(b)
        # No console for a container that is not running, nor for one that is not interactive.
        wait_for(lambda: self.api("GET", "/v1/containers/" + uuid)[1]["status"] == "Stopped", 30, "Stopped")
        code, err = self.api("GET", "/v1/containers/%s/attach" % uuid)
        self.assertIn(code, (400, 409), err)
        plain = self.container(interactive=False, tty=False, command=("sleep", "1000"))
        code, err = self.api("GET", "/v1/containers/%s/attach" % plain)
        self.assertEqual(code, 400, err)
        code, err = self.api("POST", "/v1/containers/%s/resize?w=80&h=24" % plain)
        self.assertEqual(code, 400, err)

    def test_03_exec_ends_when_its_container_is_deleted(self):
        uuid = self.container()
        _, url = self.new_exec(uuid)
        ws = self.ws(url)
        ws.send_binary(b"x\r")
        self.read_until(ws, b"x\r\r\n")
        code, _ = self.api("DELETE", "/v1/containers/%s?force=true" % uuid)
        self.assertEqual(code, 204)
        # It ends: a close frame, or at least the connection goes.
        try:
            self.read_close(ws, timeout=30)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            pass
        bye(ws)

    # ---- tickets ----

    def test_04_tickets(self):
        a, b = self.container(), self.container()
        good = self.attach_url(a)
        base, _, ticket = good.partition("?ticket=")
        # Made up, missing, empty: 401 before any upgrade.
        for url in (base + "?ticket=" + "ab" * 32, base + "?ticket=nothex", base, base + "?ticket="):
            conn = ws_handshake(url, ["binary"])
            self.assertEqual(conn.status, 401, url)
            self.assertNotIn("sec-websocket-accept", conn.headers)
            conn.close()
        # At another container's door: 403, and the ticket is still its owner's.
        other = good.replace(a, b)
        self.assert_handshake(403, other, ["binary"])
        # A plain GET (no upgrade) is refused (400) and uses nothing up either.
        self.assert_handshake(400, good, upgrade=False)
        ws = self.ws(good)
        ws.send_binary(b"own-door\r")
        self.read_until(ws, b"own-door")
        bye(ws)
        # Used once: 401 the second time.
        self.assert_handshake(401, good, ["binary"])
        with self.assertRaises(websocket.WebSocketBadStatusException) as cm:
            self.ws(good)
        self.assertEqual(cm.exception.status_code, 401)

        # Exec tickets are bound to their exec instance.
        e1, u1 = self.new_exec(a)
        e2, u2 = self.new_exec(a)
        t1 = u1.partition("?ticket=")[2]
        for wrong in (u2.partition("?")[0] + "?ticket=" + t1,                     # another exec
                      good.partition("?")[0] + "?ticket=" + t1,                   # the attach
                      u1.partition("?")[0].replace(a, b) + "?ticket=" + t1):      # another container
            self.assert_handshake(403, wrong, ["binary"], wrong)
        # An attach ticket does not open an exec.
        self.assert_handshake(403, u1.partition("?")[0] + "?ticket=" + self.attach_url(a).partition("?ticket=")[2], ["binary"])
        # An exec id nobody made.
        self.assert_handshake(403, base.replace("/attach", "/exec/" + "cd" * 32) + "?ticket=" + t1, ["binary"])
        ws1 = self.ws(u1)
        ws1.send_binary(b"one\r")
        self.read_until(ws1, b"one\r\r\n")
        bye(ws1)
        self.assert_handshake(401, u1, ["binary"])
        # Unknown paths on the console listener.
        self.assert_handshake(404, base.replace("/attach", "/nothing") + "?ticket=" + t1, ["binary"])
        # A malformed query is the client's error, as on the API's port.
        self.assert_handshake(400, base + "?ticket=%zz", ["binary"])
        ws2 = self.ws(u2)
        ws2.send_binary(b"exit\r")
        self.assertEqual(self.read_close(ws2)[0], 1000)
        bye(ws2)

    # ---- the handshake ----

    def test_05_subprotocols(self):
        uuid = self.container()
        # None offered (Zun's proxy): accepted, no protocol header, binary frames out, and
        # text or binary frames in.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url)
        self.assertEqual(conn.status, 101)
        self.assertNotIn("sec-websocket-protocol", conn.headers)
        self.assertEqual(conn.headers["sec-websocket-accept"],
                         base64.b64encode(__import__("hashlib").sha1(
                             (conn.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode())
        conn.send(frame(1, b"as-text\r"))
        conn.send(frame(2, b"as-binary\r"))
        op, _ = conn.read_frame()
        self.assertEqual(op, 2)
        conn.read_until(b"as-binary\r\r\n")
        conn.close()
        # The same with websocket-client and no subprotocols.
        _, url = self.new_exec(uuid)
        ws = self.ws(url, subprotocols=None)
        self.assertIsNone(ws.getsubprotocol())
        ws.send(b"wsclient-none\r")
        self.read_until(ws, b"wsclient-none\r\r\n")
        bye(ws)
        # Only others offered: 400, and the ticket is not used up by that.
        _, url = self.new_exec(uuid)
        self.assert_handshake(400, url, ["chat"])
        self.assert_handshake(400, url, ["chat", "superchat"])
        # binary preferred whatever the order.
        conn = ws_handshake(url, ["chat", "base64", "binary"])
        self.assertEqual((conn.status, conn.headers.get("sec-websocket-protocol")), (101, "binary"))
        conn.close()
        # base64: text frames of base64 both ways.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["base64"])
        self.assertEqual((conn.status, conn.headers.get("sec-websocket-protocol")), (101, "base64"))
        conn.send(frame(1, base64.b64encode(b"b64 \xff\x00 in\r")))
        got = b""
        while b"in\r\r\n" not in got:
            op, payload = conn.read_frame()
            self.assertEqual(op, 1)
            got += base64.b64decode(payload)
        self.assertEqual(got, b"b64 \xff\x00 in\r\r\n")
        # Not base64 under base64: a protocol error.
        conn.send(frame(1, b"%%% not base64 %%%"))
        self.assertEqual(conn.read_close()[0], 1002)
        conn.close()
        # Bad handshakes: wrong version, short key.
        _, url = self.new_exec(uuid)
        port, target = split_url(url)
        for bad in ("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: %s" % base64.b64encode(b"k" * 16).decode(),
                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ="):
            conn = raw_request(port, ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                      "%s\r\n\r\n" % (target, bad)).encode())
            self.assertEqual(conn.status, 400, bad)
            conn.close()
        # A POST is no console.
        conn = raw_request(port, ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % target).encode())
        self.assertEqual(conn.status, 405)
        conn.close()
        # The ticket survived all of that.
        ws = self.ws(url)
        ws.send_binary(b"survived\r")
        self.read_until(ws, b"survived")
        bye(ws)

    def test_06_frames_sent_with_the_handshake(self):
        # A client that pipelines its first frame right behind the handshake.
        uuid = self.container()
        _, url = self.new_exec(uuid)
        port, target = split_url(url)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
               % (target, key)).encode() + frame(2, b"early bird\r")
        conn = raw_request(port, req)
        self.assertEqual(conn.status, 101)
        conn.read_until(b"early bird\r\r\n")
        conn.close()

    # ---- hostile frames ----

    def test_07_message_too_big(self):
        uuid = self.container()
        # One 2 MiB frame: refused from its header with 1009.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["binary"])
        self.assertEqual(conn.status, 101)
        big = frame(2, b"A" * (2 * MIB))
        try:
            conn.send(big[:64 << 10])
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(conn.read_close()[0], 1009)
        self.assertTrue(conn.closed_by_server())
        conn.close()
        # The same with websocket-client sending all of it.
        _, url = self.new_exec(uuid)
        ws = self.ws(url)
        try:
            ws.send_binary(b"B" * (2 * MIB))
        except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
            pass
        try:
            code, _ = self.read_close(ws)
            self.assertEqual(code, 1009)
        except (ConnectionResetError, websocket.WebSocketConnectionClosedException):
            # The server closed with our unread bytes in its buffer (a reset may overtake the
            # close frame): the raw case above has checked the code.
            pass
        bye(ws)
        # 2 MiB in 32 fragments of 64 KiB: the message size counts, not the frame's.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["binary"])
        chunk = b"C" * (64 << 10)
        sent = 0
        for i in range(32):
            r, _, _ = select.select([conn.sock], [], [], 0)
            if r:
                break
            try:
                conn.send(frame(2 if i == 0 else 0, chunk, fin=(i == 31)))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        self.assertGreater(sent, 15)  # up to 1 MiB was taken
        self.assertEqual(conn.read_close()[0], 1009)
        conn.close()
        # Exactly 1 MiB is fine (and echoed whole).
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["binary"])
        conn.send(frame(2, b"D" * (MIB - 1) + b"\r"))
        got = conn.read_until(b"\r\r\n", timeout=30)
        self.assertEqual(got.count(b"D"), MIB - 1)
        conn.close()
        self.assert_console_works(uuid)

    def test_08_invalid_utf8_text_frame(self):
        # Zun's proxy sends keystrokes as text frames of any bytes: accepted. A `base64`
        # client attached beside shows the exact bytes reached the process; the `binary` client
        # gets them as U+FFFD (python-zunclient decodes every frame as UTF-8 on its own).
        uuid = self.container()
        a = self.attached(self.ws(self.attach_url(uuid)))
        b64 = ws_handshake(self.attach_url(uuid), ["base64"])
        self.assertEqual(b64.status, 101)
        b64.send(frame(1, base64.b64encode(b"b64-attached\r")))
        got = b""
        while b"b64-attached\r" not in got:
            op, payload = b64.read_frame()
            got += base64.b64decode(payload)
        self.read_until(a, b"b64-attached\r")
        a.send(b"\xff\xfe", opcode=websocket.ABNF.OPCODE_TEXT)
        a.send(b"<end>\r", opcode=websocket.ABNF.OPCODE_TEXT)
        self.assertEqual(self.read_until(a, b"<end>\r"), "\ufffd\ufffd".encode() + b"<end>\r")
        got = b""
        while b"<end>\r" not in got:
            op, payload = b64.read_frame()
            self.assertEqual(op, 1)
            got += base64.b64decode(payload)
        self.assertEqual(got, b"\xff\xfe<end>\r")
        # A character cut between two messages arrives whole to the binary client.
        a.send_binary("é".encode()[:1])
        a.send_binary("é".encode()[1:] + b"<end2>")
        got = self.read_until(a, b"<end2>")
        self.assertEqual(got.decode("utf-8"), "é<end2>")
        bye(a)
        b64.close()

    def test_09_protocol_violations(self):
        uuid = self.container()
        cases = [
            ("unmasked", frame(2, b"x", masked=False)),
            ("reserved opcode", frame(3, b"x")),
            ("reserved bits", frame(2, b"x", rsv=0x40)),
            ("fragmented ping", frame(9, b"x", fin=False)),
            ("long ping", frame(9, b"p" * 126)),
            ("stray continuation", frame(0, b"x")),
            ("new message inside a fragmented one", frame(2, b"a", fin=False) + frame(2, b"b")),
        ]
        for what, data in cases:
            _, url = self.new_exec(uuid)
            conn = ws_handshake(url, ["binary"])
            self.assertEqual(conn.status, 101)
            conn.send(data)
            try:
                code, _ = conn.read_close()
            except EOFError:
                self.fail("%s: closed without a close frame" % what)
            self.assertEqual(code, 1002, what)
            self.assertTrue(conn.closed_by_server(), what)
            conn.close()
        # A client close: answered with a close, then the connection ends.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["binary"])
        conn.send(frame(8, struct.pack("!H", 1000) + b"bye"))
        self.assertEqual(conn.read_close()[0], 1000)
        self.assertTrue(conn.closed_by_server())
        conn.close()
        # A 64-bit length with the top bit set.
        _, url = self.new_exec(uuid)
        conn = ws_handshake(url, ["binary"])
        conn.send(bytes([0x82, 0xFF]) + b"\xff" * 8 + os.urandom(4))
        self.assertIn(conn.read_close()[0], (1002, 1009))
        conn.close()
        self.assert_console_works(uuid)

    def test_10_garbage_instead_of_a_handshake(self):
        uuid = self.container()
        garbage = [
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(200),  # a TLS ClientHello
            b"GARBAGE\r\n\r\n",
            b"\x00" * 64 + b"\r\n\r\n",
            os.urandom(4096) + b"\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /v1/console/containers/x/attach?ticket=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (20 << 10) + b"\r\n\r\n",  # header too large
            b"A" * (40 << 10),  # no line end at all
            b"POST /v1.26/exec/x/start HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
        ]
        for g in garbage:
            conn = raw_request(self.cport, g)
            self.assertIsNotNone(conn.status, g[:40])
            self.assertTrue(400 <= conn.status < 500, (conn.status, g[:40]))
            conn.close()
        # Half a request, then gone; or nothing at all, then gone.
        for partial in (b"GET /v1/console/containers/", b""):
            s = socket.create_connection(("127.0.0.1", self.cport), timeout=10)
            s.sendall(partial)
            s.close()
        self.assertEqual(self.api("GET", "/v1/containers")[0], 200)
        self.wait_no_console_sockets()
        self.assert_console_works(uuid)

    # ---- slow and greedy clients ----

    def test_11_clients_that_never_read_are_dropped(self):
        # Bound: 4 clients flooding at once may cost zunvmd less than 64 MiB of RSS at the peak
        # (each may have 4 MiB of output waiting, plus copies on the way), and a second round
        # must not add to what the first left (nothing kept per dropped client).
        uuid = self.container()
        pid = self.daemon.proc.pid
        rss_before = memory_kib(pid, "VmRSS")
        # Lines, not one endless line: the fake terminal keeps the current line in memory.
        chunk = (b"z" * 1023 + b"\r") * 64

        def flood(url):
            """Sends 64 KiB messages (echoed back) without reading, until zunvmd drops the
            connection; returns the bytes sent."""
            conn = ws_handshake(url, ["binary"])
            assert conn.status == 101, conn.status
            conn.sock.settimeout(20)  # a send stuck this long: zunvmd neither reads nor closes
            sent = 0
            try:
                while sent < 256 * MIB:
                    conn.send(frame(2, chunk))
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return sent
            except socket.timeout:
                raise AssertionError("zunvmd stopped reading a flooding client without closing it "
                                     "(%d bytes sent)" % sent)
            finally:
                conn.close()
            raise AssertionError("a client that never reads was not dropped after %d bytes" % sent)

        rss_after = []
        for _ in range(2):
            urls = [self.new_exec(uuid)[1] for _ in range(4)]
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                sent = list(pool.map(flood, urls))
            for n in sent:
                self.assertGreater(n, 4 * MIB)  # what zunvmd holds for a client, and then some
            self.wait_no_console_sockets()
            rss_after.append(memory_kib(pid, "VmRSS"))
        peak = memory_kib(pid, "VmHWM") - rss_before
        self.assertLess(peak, 64 * 1024, "zunvmd's peak RSS grew by %d KiB for 4 flooding clients" % peak)
        self.assertLess(rss_after[1] - rss_after[0], 16 * 1024,
                        "zunvmd's RSS after 2 rounds of 4 dropped clients: %r KiB (before: %d)" % (rss_after, rss_before))

        # Attach: one client stops reading while another types a lot and reads its echo. The
        # slow one is dropped; the fast one is not held up.
        slow = ws_handshake(self.attach_url(uuid), ["binary"])
        self.assertEqual(slow.status, 101)
        slow.send(frame(2, b"slow-attached\r"))
        slow.read_until(b"slow-attached\r")  # attached; it reads nothing more from here on
        fast = self.attached(self.ws(self.attach_url(uuid)))
        pushed = received = 0
        fast.settimeout(20)
        while pushed < 16 * MIB:
            fast.send_binary(chunk)
            pushed += len(chunk)
            while received < pushed:
                op, data = fast.recv_data()
                self.assertEqual(op, websocket.ABNF.OPCODE_BINARY)
                received += len(data)
        self.assertEqual(received, pushed)
        wait_for(lambda: console_sockets(pid, self.cport) == 1, 30, "the slow attach client to be dropped")
        self.assertTrue(slow.closed_by_server(timeout=30))
        fast.send_binary(b"fast-still-here\r")
        self.read_until(fast, b"fast-still-here")
        bye(fast)
        slow.close()
        peak = memory_kib(pid, "VmHWM") - rss_before
        self.assertLess(peak, 64 * 1024, "zunvmd's peak RSS grew by %d KiB" % peak)
        self.wait_no_console_sockets()
        self.assert_console_works(uuid)

    def test_12_fifty_concurrent_consoles(self):
        uuids = [self.container() for _ in range(10)]
        urls = []
        for u in uuids:
            for _ in range(4):
                urls.append(self.new_exec(u)[1])
            urls.append(self.attach_url(u))
        self.assertEqual(len(urls), 50)
        conns = [self.ws(u) for u in urls]
        try:
            self.assertEqual(console_sockets(self.daemon.proc.pid, self.cport), 50)

            def round_trip(i):
                word = ("round-trip-%02d" % i).encode()
                conns[i].send_binary(word + b"\r")
                self.read_until(conns[i], word, timeout=30)
                return i

            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                self.assertEqual(sorted(pool.map(round_trip, range(50))), list(range(50)))
        finally:
            for c in conns:
                bye(c)
        self.wait_no_console_sockets()

    def test_13_connection_limit(self):
        # 256 console connections at most; the next one is told 503 and nothing is used up.
        uuid = self.container()
        _, url = self.new_exec(uuid)
        self.wait_no_console_sockets()
        idle = []
        try:
            for _ in range(256):
                idle.append(socket.create_connection(("127.0.0.1", self.cport), timeout=10))
            wait_for(lambda: console_sockets(self.daemon.proc.pid, self.cport) == 256, 30, "256 connections")
            self.assert_handshake(503, url, ["binary"])
            idle.pop().close()
            wait_for(lambda: console_sockets(self.daemon.proc.pid, self.cport) == 255, 30, "255 connections")
            ws = self.ws(url)
            ws.send_binary(b"the-256th\r")
            self.read_until(ws, b"the-256th")
            bye(ws)
        finally:
            for s in idle:
                s.close()
        self.wait_no_console_sockets()

    # ---- Docker's API subset (Zun's wsproxy talks to it as to a Docker daemon) ----

    def test_14_docker_api(self):
        import docker
        base = "127.0.0.1:%d" % self.cport
        conn = raw_request(self.cport, b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(conn.status, 200)
        body = conn.buf
        while len(body) < int(conn.headers["content-length"]):
            body += conn.sock.recv(4096)
        self.assertEqual(json.loads(body)["ApiVersion"], "1.26")
        conn.close()

        client = docker.APIClient(base_url="tcp://" + base, timeout=20)
        self.assertEqual(client.version()["ApiVersion"], "1.26")
        self.assertTrue(client.ping())
        uuid = self.container()
        exec_id, url = self.new_exec(uuid)
        client.exec_resize(exec_id, height=33, width=77)  # before the start: applies at the start
        sock = client.exec_start(exec_id, socket=True, tty=True)
        raw = sock._sock if hasattr(sock, "_sock") else sock
        raw.settimeout(10)

        def read_until(needle):
            got = b""
            deadline = time.monotonic() + 10
            while needle not in got:
                self.assertLess(time.monotonic(), deadline, "waiting for %r; got %r" % (needle, got))
                chunk = raw.recv(4096)
                self.assertTrue(chunk, "EOF before %r; got %r" % (needle, got))
                got += chunk
            return got
        raw.sendall(b"stty size\r")
        self.assertEqual(read_until(b"33 77\r\n"), b"stty size\r\r\n33 77\r\n")
        client.exec_resize(exec_id, height=40, width=100)
        raw.sendall(b"stty size\r")
        read_until(b"40 100\r\n")
        # Raw bytes both ways (no UTF-8 repair on Docker's stream).
        raw.sendall(b"\xff\xfe\r")
        read_until(b"\xff\xfe\r\r\n")
        # Started once: a second start, or its websocket ticket, finds nothing.
        with self.assertRaises(docker.errors.NotFound):
            client.exec_start(exec_id, socket=True, tty=True)
        self.assert_handshake(401, url, ["binary"])
        with self.assertRaises(docker.errors.APIError):
            client.exec_resize("f" * 64, height=10, width=10)
        with self.assertRaises(docker.errors.APIError):
            client.exec_resize(exec_id, height=0, width=10)
        raw.sendall(b"exit 4\r")
        read_until(b"exit 4\r\r\n")
        deadline = time.monotonic() + 10
        while raw.recv(4096):
            self.assertLess(time.monotonic(), deadline, "the stream did not end with the process")
        sock.close()
        # An exec started by its websocket cannot be started through Docker's API.
        exec_id, url = self.new_exec(uuid)
        ws = self.ws(url)
        with self.assertRaises(docker.errors.NotFound):
            client.exec_start(exec_id, socket=True, tty=True)
        ws.send_binary(b"exit\r")
        self.assertEqual(self.read_close(ws)[0], 1000)
        bye(ws)
        with self.assertRaises(docker.errors.NotFound):
            client.exec_start("0" * 64, socket=True, tty=True)
        client.close()

    # TODO(zunvmd): the console listener has no handshake timeout. A connection that never
    # sends a complete HTTP request is held for ever (seen: still open after 90 s), so anyone
    # who can reach the port can take all 256 slots (test_13) with idle sockets and lock every
    # console out until they choose to leave; no ticket is needed for that. Expected: closed
    # within some seconds (Beast's suggested websocket handshake timeout is 30 s). Remove
    # expectedFailure once zunvmd times idle handshakes out.
    def test_15_idle_connections_are_dropped(self):
        idle = socket.create_connection(("127.0.0.1", self.cport), timeout=10)
        partial = socket.create_connection(("127.0.0.1", self.cport), timeout=10)
        partial.sendall(b"GET /v1/console/containers/")
        try:
            for s in (idle, partial):
                s.settimeout(40)
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    self.fail("a connection without a complete request was still open after 40 s")
                except ConnectionResetError:
                    data = b""
                self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data)
        finally:
            idle.close()
            partial.close()

    # ---- and after all that ----

    def test_99_still_serving(self):
        self.assertEqual(self.api("GET", "/v1/containers")[0], 200)
        self.wait_no_console_sockets()
        uuid = self.container()
        self.assert_console_works(uuid)
        ws = self.ws(self.attach_url(uuid))
        ws.send_binary(b"last\r")
        self.read_until(ws, b"last")
        bye(ws)
        self.wait_no_console_sockets()


if __name__ == "__main__":
    unittest.main(verbosity=2)
