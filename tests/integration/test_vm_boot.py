#!/usr/bin/python3
"""A real VM (libvirt, domain type qemu/TCG here) boots the built guest image, and zunvm-agent
as PID 1 answers over the virtio-serial channel: the handshake reports the guest's kernel (not
the host's), an exec in the guest returns its output and exit code, and `shutdown` powers the
VM off so the transient domain disappears.

Needs the image from guest/build-image.sh (ZUNVM_GUEST_DIR, default build/guest) and a running
libvirtd (guest/start-libvirt.sh); scripts/test.sh provides both.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST = os.environ.get("ZUNVM_GUEST_DIR", os.path.join(ROOT, "build", "guest"))
VIRSH = ["virsh", "-c", "qemu:///system"]
CMDLINE = ("console=ttyS0 quiet cryptomgr.notests tsc=reliable no_timer_check "
           "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 audit=0 "
           "rcupdate.rcu_expedited=1 random.trust_cpu=on")


def domain_xml(name, workdir, kernel=None, initrd=None, cmdline=CMDLINE, memory_mib=256, vcpus=1):
    """The minimal domain: direct kernel boot, console to a file, the agent channel on a unix
    socket in `workdir`. bench/guest/guest_bench.py boots the same one with other initrds."""
    from xml.sax.saxutils import escape as e
    kernel = kernel or os.path.join(GUEST, "vmlinux")
    initrd = initrd or os.path.join(GUEST, "initramfs.cpio")
    return f"""<domain type='qemu'>
  <name>{e(name)}</name>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <vcpu>{int(vcpus)}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{e(kernel)}</kernel>
    <initrd>{e(initrd)}</initrd>
    <cmdline>{e(cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{e(workdir)}/console.log'/><target port='0'/></serial>
    <channel type='unix'>
      <source mode='bind' path='{e(workdir)}/agent.sock'/>
      <target type='virtio' name='org.zunvm.agent.0'/>
    </channel>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"""


PROTOCOL_VERSION = 2


def encode_request(rid, op, body):
    """A request frame of the agent protocol (docs/agent-protocol.md): length, layout byte 1, JSON."""
    payload = b"\x01" + json.dumps({"v": PROTOCOL_VERSION, "kind": "req", "id": rid, "op": op,
                                     "body": body}).encode()
    return struct.pack(">I", len(payload)) + payload


def decode_payload(payload):
    """A frame's payload as the message dict, its binary attachment (if any) under "data"."""
    if payload[:1] == b"\x01":
        return json.loads(payload[1:])
    if payload[:1] == b"\x02" and len(payload) >= 5:
        n = struct.unpack(">I", payload[1:5])[0]
        msg = json.loads(payload[5:5 + n])
        msg["data"] = payload[5 + n:]
        return msg
    raise ValueError("bad agent payload")


class Channel:
    """Minimal client of the agent protocol (length-prefixed frames)."""

    def __init__(self, path, deadline):
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.sock.settimeout(max(1.0, deadline - time.monotonic()))
        self.buf = b""
        self.next_id = 1

    def send(self, op, body):
        self.sock.sendall(encode_request(self.next_id, op, body))
        self.next_id += 1

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    msg = decode_payload(self.buf[4:4 + n])
                    self.buf = self.buf[4 + n:]
                    return msg
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("agent channel closed")
            self.buf += data


class VmBootTest(unittest.TestCase):
    def setUp(self):
        for f in ("vmlinux", "initramfs.cpio", "kernel.version"):
            self.assertTrue(os.path.exists(os.path.join(GUEST, f)), "guest image missing: run guest/build-image.sh")
        self.workdir = tempfile.mkdtemp(prefix="zunvm-vm-")
        os.chmod(self.workdir, 0o777)  # qemu (libvirt-qemu) creates the socket here
        self.name = "zunvm-test-" + uuid.uuid4().hex[:12]

    def tearDown(self):
        subprocess.run(VIRSH + ["destroy", self.name], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def domain_exists(self):
        return subprocess.run(VIRSH + ["domstate", self.name], capture_output=True).returncode == 0

    def test_boot_hello_exec_shutdown(self):
        xml = os.path.join(self.workdir, "dom.xml")
        with open(xml, "w") as f:
            f.write(domain_xml(self.name, self.workdir))
        t0 = time.monotonic()
        subprocess.run(VIRSH + ["create", xml], check=True, capture_output=True, timeout=180)
        ch = Channel(os.path.join(self.workdir, "agent.sock"), time.monotonic() + 180)
        ch.send("hello", {"version": PROTOCOL_VERSION})
        hello = ch.recv()
        ready = time.monotonic() - t0
        self.assertEqual(hello["kind"], "resp")
        with open(os.path.join(GUEST, "kernel.version")) as f:
            guest_kernel = f.read().strip()
        self.assertEqual(hello["body"]["kernel"], guest_kernel)
        self.assertNotEqual(hello["body"]["kernel"], os.uname().release)
        self.assertTrue(hello["body"]["boot_id"])

        # The production image holds only /init (no shell): run it as a plain process.
        ch.send("exec", {"exec_id": "e1", "argv": ["/init"]})
        out, code = b"", None
        while code is None:
            m = ch.recv()
            if m["kind"] == "resp":
                self.assertNotIn("error", m, m)
            elif m["op"] == "output":
                out += m["data"]
            elif m["op"] == "exit":
                code = m["body"]["exit_code"]
        self.assertEqual(code, 2)
        self.assertIn(b"usage: zunvm-agent", out)

        ch.send("exec", {"exec_id": "e2", "argv": ["/no/such/binary"]})
        resp = ch.recv()
        self.assertEqual(resp["error"]["code"], "NotFound")

        ch.send("shutdown", {})
        self.assertEqual(ch.recv()["op"], "shutdown")
        deadline = time.monotonic() + 120
        while self.domain_exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertFalse(self.domain_exists(), "the VM did not power off")
        print("agent ready %.1f s after virsh create started" % ready)


if __name__ == "__main__":
    unittest.main(verbosity=2)
