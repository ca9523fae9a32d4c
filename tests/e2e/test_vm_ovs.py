#!/usr/bin/python3
"""OpenStack mode end to end against real VMs and a real Open vSwitch: zunvmd with
[network] ovs_bridge plugs the Neutron ports a create passes (as the Zun driver passes them)
into that bridge the way Nova does, with the port id as the OVS interface id. Without Neutron
here the test plays its part: it makes the port ids, MACs and addresses, and the bridge is a
plain learning switch (the Neutron OVS agent would program it by those interface ids).

The bridge uses the userspace datapath (no openvswitch kernel module here). All traffic stays
between the two containers on the test's own bridge. Run for VMs and for trusted (runc)
containers, whose tap is the host end of a veth into the container's namespace.
"""
import os
import random
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import VmApi, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def vsctl(*args):
    return subprocess.run(["ovs-vsctl", "--timeout=30"] + list(args), check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


class VmOvsTest(VmApi, unittest.TestCase):
    RUNTIME = None  # the default (kata); RuncOvsTest plugs trusted containers the same way

    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "guest", "start-ovs.sh")], check=True, timeout=120)
        cls.bridge = "zvbr%04x" % random.randrange(0x10000)
        vsctl("add-br", cls.bridge, "--", "set", "bridge", cls.bridge, "datapath_type=netdev")
        cls.addClassCleanup(subprocess.run, ["ovs-vsctl", "--timeout=30", "--if-exists", "del-br", cls.bridge],
                            timeout=60)
        cls.net = str(uuid.uuid4())
        cls.subnet = str(uuid.uuid4())
        cls.prefix = "10.%d.%d" % (random.randrange(200, 250), random.randrange(1, 250))
        cls.start_vm_daemon("zvo-", "[DEFAULT]\nexecute_timeout = 20\n[network]\novs_bridge = %s\n" % cls.bridge)

    def port(self, host):
        """A Neutron port as the Zun driver passes it (made up here, as Neutron would)."""
        return {"network": self.net, "port": str(uuid.uuid4()),
                "mac_address": "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3)),
                "fixed_ips": [{"ip_address": "%s.%d" % (self.prefix, host), "cidr": self.prefix + ".0/24",
                               "gateway_ip": self.prefix + ".1", "subnet_id": self.subnet}],
                "mtu": 1450, "dns_nameservers": [self.prefix + ".53"], "preserve_on_delete": False}

    def run_container(self, name, port):
        body = {"name": name, "image": "busybox", "command": ["sleep", "1000"], "nets": [port]}
        if self.RUNTIME:
            body["runtime"] = self.RUNTIME
        code, c = self.api("POST", "/v1/containers?run=true", body)
        self.assertEqual(code, 202, c)

    def test_neutron_ports_plug_into_ovs_and_reach_each_other(self):
        p1, p2 = self.port(11), self.port(12)
        self.run_container("o1", p1)
        self.run_container("o2", p2)
        o1 = self.wait_running("o1")
        self.wait_running("o2")
        # Zun's addresses shape, keyed by the Neutron network, with the port and subnet.
        self.assertEqual(o1["addresses"], {self.net: [{"addr": self.prefix + ".11", "version": 4,
                                                        "port": p1["port"], "subnet_id": self.subnet,
                                                        "preserve_on_delete": False}]})
        # On the bridge as Nova plugs a port: tap<11 of the port id>, iface-id = the port id.
        tap = "tap" + p1["port"][:11]
        self.assertIn(tap, vsctl("list-ports", self.bridge).split())
        ids = vsctl("get", "Interface", tap, "external_ids")
        self.assertIn('iface-id="%s"' % p1["port"], ids)
        self.assertIn('attached-mac="%s"' % p1["mac_address"], ids)
        # The guest has the port's MAC, address, MTU, route and nameserver.
        rc, out = self.exec("o1", "ip addr")
        self.assertIn(p1["mac_address"], out)
        self.assertIn(self.prefix + ".11/24", out)
        self.assertIn("mtu 1450", out)
        self.assertIn("default via %s.1" % self.prefix, self.exec("o1", "ip route")[1])
        self.assertIn("nameserver %s.53\n" % self.prefix, self.exec("o1", "cat /etc/resolv.conf")[1])
        rc, out = self.exec("o1", "ping -c 1 -W 10 %s.12" % self.prefix)
        self.assertEqual(rc, 0, out)
        # Delete unplugs the port from the bridge.
        code, _ = self.api("DELETE", "/v1/containers/o2?force=true")
        self.assertEqual(code, 204)
        wait_for(lambda: self.api("GET", "/v1/containers/o2")[0] == 404, 120, "o2 deleted")
        wait_for(lambda: "tap" + p2["port"][:11] not in vsctl("list-ports", self.bridge).split(), 30,
                 "the port to leave the bridge")


class RuncOvsTest(VmOvsTest):
    """The same for runtime runc: the port's tap is the host end of the container's veth."""
    RUNTIME = "runc"


if __name__ == "__main__":
    unittest.main(verbosity=2)
