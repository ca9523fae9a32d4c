#!/usr/bin/python3
"""End to end networking against real VMs: a real zunvmd (libvirt driver, domain type qemu
here) gives every container a NIC on its own networks (a network namespace with a bridge per
network, owned by zunvmd). Checks that containers on one network reach each other, that other
networks and the host's services are out of reach, addresses across a zunvmd restart, NIC
hot-plug, published ports (tcp and udp) and that delete frees addresses and ports.

All traffic stays on this machine: between the namespaces zunvmd made, and to 127.0.0.1.
Needs libvirtd, the guest image in build/guest and busybox-static (scripts/test.sh prepares them).
"""
import base64
import io
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import VmApi, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIRSH = ["virsh", "-c", "qemu:///system"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


class VmNetworkTest(VmApi, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_vm_daemon("zvn-", "[DEFAULT]\nexecute_timeout = 20\n"
                                    "[network]\ndns_nameservers = 10.77.0.53\ndns_search = zunvm.test\n")

    def run_container(self, name, command, **extra):
        body = {"name": name, "image": "busybox", "command": command}
        body.update(extra)
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)
        return c

    @staticmethod
    def addrs(c):
        return {net: [a["addr"] for a in lst] for net, lst in (c["addresses"] or {}).items()}

    # ---- tests (numbered: they share one daemon and its containers) ----

    def test_1_same_network_reaches_other_network_and_host_do_not(self):
        self.run_container("a1", ["sleep", "1000"])
        self.run_container("a2", ["sleep", "1000"])
        self.run_container("b1", ["sleep", "1000"], nets=[{"network": "other"}])
        a1, a2, b1 = (self.wait_running(n) for n in ("a1", "a2", "b1"))
        (net_a, [ip_a1]), = self.addrs(a1).items()
        (_, [ip_a2]), = self.addrs(a2).items()
        (net_b, [ip_b1]), = self.addrs(b1).items()
        self.assertNotEqual(net_a, net_b)
        # Each network is a namespace zunvmd made.
        self.assertIn("zvn-" + net_a.replace("-", "")[:8], namespaces())
        # The guest has the address zunvmd gave it, and its name resolves to it.
        rc, out = self.exec("a1", "ip -4 addr")
        self.assertIn(ip_a1 + "/", out)
        rc, out = self.exec("a1", "cat /etc/hosts")
        self.assertIn(ip_a1, out)
        rc, out = self.exec("a1", "cat /etc/resolv.conf")
        self.assertEqual(out, "nameserver 10.77.0.53\nsearch zunvm.test\n")
        rc, out = self.exec("a1", "ping -c 1 -W 10 " + ip_a2)
        self.assertEqual(rc, 0, out)
        rc, out = self.exec("b1", "ping -c 1 -W 3 " + ip_a1)
        self.assertNotEqual(rc, 0, out)
        # zunvmd's API is not reachable: not through the bridge's address, nor any route.
        gateway = ip_a1.rsplit(".", 2)[0] + ".0.1"
        rc, out = self.exec("a1", "wget -q -T 3 -O - http://%s:%d/" % (gateway, self.daemon.port))
        self.assertNotEqual(rc, 0, out)
        rc, out = self.exec("a1", "ip route")
        self.assertIn("default via " + gateway, out)

    def test_2_attach_and_detach_a_nic_while_running(self):
        code, r = self.api("POST", "/v1/containers/a1/network_attach?network=other")
        self.assertEqual(code, 200, r)
        c = self.api("GET", "/v1/containers/a1")[1]
        self.assertEqual(len(c["addresses"]), 2)
        net_b = self.addrs(self.api("GET", "/v1/containers/b1")[1])
        (net_b, [ip_b1]), = net_b.items()
        [ip_new] = self.addrs(c)[net_b]
        rc, out = self.exec("a1", "ip -4 addr")
        self.assertIn(ip_new + "/", out)
        rc, out = self.exec("a1", "ping -c 1 -W 10 " + ip_b1)
        self.assertEqual(rc, 0, out)
        code, r = self.api("POST", "/v1/containers/a1/network_detach?network=other")
        self.assertEqual(code, 202, r)
        self.assertEqual(len(self.api("GET", "/v1/containers/a1")[1]["addresses"]), 1)
        wait_for(lambda: ip_new + "/" not in self.exec("a1", "ip -4 addr")[1], 60, "the NIC to leave")

    def test_3_addresses_survive_a_zunvmd_restart(self):
        before = {n: self.addrs(self.api("GET", "/v1/containers/" + n)[1]) for n in ("a1", "a2", "b1")}
        self.daemon.restart()
        after = {n: self.addrs(self.api("GET", "/v1/containers/" + n)[1]) for n in ("a1", "a2", "b1")}
        self.assertEqual(before, after)
        (_, [ip_a2]), = after["a2"].items()
        rc, out = self.exec("a1", "ping -c 1 -W 10 " + ip_a2)
        self.assertEqual(rc, 0, out)

    def test_4_delete_frees_the_address_and_the_tap(self):
        a2 = self.api("GET", "/v1/containers/a2")[1]
        (net_a, [ip_a2]), = self.addrs(a2).items()
        tap = "zvt" + a2["addresses"][net_a][0]["port"].replace("-", "")[:12]
        netns = "zvn-" + net_a.replace("-", "")[:8]
        links = lambda: subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True).stdout
        self.assertIn(tap, links())
        code, _ = self.api("DELETE", "/v1/containers/a2?force=true")
        self.assertEqual(code, 204)
        wait_for(lambda: self.api("GET", "/v1/containers/a2")[0] == 404, 120, "a2 deleted")
        self.assertNotIn(tap, links())
        self.run_container("a3", ["sleep", "1000"], nets=[{"network": net_a, "v4-fixed-ip": ip_a2}])
        a3 = self.wait_running("a3")
        self.assertEqual(self.addrs(a3)[net_a], [ip_a2])

    def test_5_published_port_serves_httpd_on_loopback(self):
        port = free_port()
        script = ("mkdir -p /www && echo hello-from-a-vm > /www/index.html && "
                  "exec httpd -f -p 80 -h /www")
        self.run_container("web", ["sh", "-c", script], nets=[{"network": "other"}],
                           exposed_ports={"80/tcp": {"host_port": port}})
        web = self.wait_running("web")
        self.assertEqual(web["published_ports"],
                         [{"port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": port}])

        def page():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
                    return r.read().decode()
            except OSError:
                return None
        self.assertEqual(wait_for(page, 60, "the page"), "hello-from-a-vm\n")
        # A restarted zunvmd adopts the VM and publishes its port again.
        self.daemon.restart()
        self.assertEqual(wait_for(page, 60, "the page after a restart"), "hello-from-a-vm\n")
        # The port is taken while web runs: another create asking for it is refused.
        code, err = self.api("POST", "/v1/containers", {"image": "busybox", "name": "web2",
                                                         "exposed_ports": {"8080/tcp": {"host_port": port}}})
        self.assertEqual(code, 409, err)
        self.assertIn("already", err["errors"][0]["detail"])
        # Delete frees the published port.
        code, _ = self.api("DELETE", "/v1/containers/web?force=true")
        self.assertEqual(code, 204)
        wait_for(lambda: self.api("GET", "/v1/containers/web")[0] == 404, 120, "web deleted")
        # No listener is left. SO_REUSEADDR as any server sets it: the relay's side of the
        # page's connection may sit in TIME_WAIT on this port, which is not a listener.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()

    def test_6_published_udp_port_reaches_a_udp_server_in_the_vm(self):
        # busybox has no UDP server: a static echo server is compiled here and copied in.
        with tempfile.TemporaryDirectory() as tmp:
            exe = os.path.join(tmp, "udpecho")
            subprocess.run(["gcc", "-static", "-O2", "-o", exe,
                            os.path.join(ROOT, "tests", "e2e", "udp_echo.c")], check=True, timeout=120)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(exe, arcname="udpecho")
        port = free_port(socket.SOCK_DGRAM)
        self.run_container("udp", ["sh", "-c", "until [ -x /udpecho ]; do sleep 0.2; done; exec /udpecho 5300"],
                           nets=[{"network": "other"}], exposed_ports={"5300/udp": {"host_port": port}})
        self.wait_running("udp")
        code, r = self.api("POST", "/v1/containers/udp/put_archive?path=/",
                           {"data": base64.b64encode(buf.getvalue()).decode()})
        self.assertEqual(code, 200, r)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)

            def echoed():
                s.sendto(b"ping-udp", ("127.0.0.1", port))
                try:
                    return s.recvfrom(2048)[0]
                except socket.timeout:
                    return None
            self.assertEqual(wait_for(echoed, 60, "the udp echo"), b"echo:ping-udp")
        code, _ = self.api("DELETE", "/v1/containers/udp?force=true")
        self.assertEqual(code, 204)
        wait_for(lambda: self.api("GET", "/v1/containers/udp")[0] == 404, 120, "udp deleted")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))


if __name__ == "__main__":
    unittest.main(verbosity=2)
