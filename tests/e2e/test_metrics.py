#!/usr/bin/python3
"""End to end: GET /metrics (docs/operator.md) scraped by a real Prometheus (Debian's, on
loopback, config written here) with zunvmd's token as a bearer token; a PromQL query over its
HTTP API sees the containers this test created, and the text parses with
python3-prometheus-client's parser. With real VMs, each sandbox's QEMU memory and CPU and the
boot histogram are in it.

Needs prometheus (scripts/setup.sh installs it); the VM class needs libvirtd and build/guest.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

TOKEN = "metrics-e2e-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, token=TOKEN):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("OpenStack-API-Version", "container 1.40")
    if token:
        req.add_header("X-Auth-Token", token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


class PrometheusScrapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Zunvmd(config_text="[api]\nauth_strategy = token\nauth_tokens = %s\n" % TOKEN).start()
        cls.addClassCleanup(cls.daemon.cleanup)
        cls.prom_dir = tempfile.mkdtemp(prefix="zunvm-prom-")
        cls.addClassCleanup(shutil.rmtree, cls.prom_dir, True)
        with open(os.path.join(cls.prom_dir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: zunvm\n    authorization:\n      type: Bearer\n"
                    "      credentials: %s\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    % (TOKEN, cls.daemon.port))
        cls.prom_port = free_port()
        cls.prom_log = open(os.path.join(cls.prom_dir, "prometheus.log"), "w")
        cls.addClassCleanup(cls.prom_log.close)
        cls.prom = subprocess.Popen(
            ["/usr/bin/prometheus", "--config.file", os.path.join(cls.prom_dir, "prometheus.yml"),
             "--storage.tsdb.path", os.path.join(cls.prom_dir, "data"),
             "--web.listen-address", "127.0.0.1:%d" % cls.prom_port],
            stdout=cls.prom_log, stderr=subprocess.STDOUT)
        cls.addClassCleanup(cls.prom.wait)
        cls.addClassCleanup(cls.prom.terminate)

    def promql(self, query):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (self.prom_port, urllib.parse.quote(query))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                answer = json.loads(r.read())
        except OSError:
            return None  # not up yet
        self.assertEqual(answer["status"], "success", answer)
        return answer["data"]["result"]

    def test_prometheus_sees_the_containers_made_here(self):
        base = self.daemon.url
        for i in range(3):
            code, text = call(base + "/v1/containers?run=true", "POST",
                              {"name": "m%d" % i, "image": "busybox", "command": ["sleep", "600"]})
            self.assertEqual(code, 202, text)
        code, text = call(base + "/v1/containers", "POST", {"name": "created-only", "image": "busybox"})
        self.assertEqual(code, 202, text)

        def running(n, status):
            r = self.promql('zunvm_containers{job="zunvm",status="%s",runtime="kata"}' % status)
            return r and float(r[0]["value"][1]) == n
        wait_for(lambda: running(3, "Running"), 90, "Prometheus sees 3 running containers")
        wait_for(lambda: running(1, "Created"), 30, "Prometheus sees 1 created container")
        up = self.promql('up{job="zunvm"}')
        self.assertEqual(up[0]["value"][1], "1")
        posts = self.promql('sum(zunvm_api_requests_total{route="/v1/containers",method="POST",status="202"})')
        self.assertEqual(float(posts[0]["value"][1]), 4)
        ok = self.promql('zunvm_container_operations_total{operation="run",outcome="ok"}')
        self.assertEqual(float(ok[0]["value"][1]), 3)

    def test_the_text_parses_with_the_python_client_and_needs_the_token(self):
        self.assertEqual(call(self.daemon.url + "/metrics", token=None)[0], 401)
        code, text = call(self.daemon.url + "/metrics")
        self.assertEqual(code, 200)
        fams = families(text)
        for name, kind in (("zunvm_api_requests", "counter"), ("zunvm_api_request_duration_seconds", "histogram"),
                           ("zunvm_containers", "gauge"), ("zunvm_process_resident_memory_bytes", "gauge"),
                           ("zunvm_process_threads", "gauge"), ("zunvm_process_open_fds", "gauge"),
                           ("zunvm_database_size_bytes", "gauge")):
            self.assertIn(name, fams)
            self.assertEqual(fams[name].type, kind, name)
        rss = fams["zunvm_process_resident_memory_bytes"].samples[0].value
        self.assertGreater(rss, 1 << 20)
        # Histogram buckets are cumulative and end at +Inf = _count.
        for f in fams.values():
            if f.type != "histogram":
                continue
            series = {}
            for s in f.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                series.setdefault(key, {})[s.name[len(f.name):] + s.labels.get("le", "")] = s.value
            for key, v in series.items():
                buckets = [v[k] for k in v if k.startswith("_bucket")]
                self.assertEqual(buckets, sorted(buckets), (f.name, key))
                self.assertEqual(v["_bucket+Inf"], v["_count"], (f.name, key))


class VmMetricsTest(unittest.TestCase):
    """A real VM: its QEMU's memory and CPU, and the boot histogram."""

    @classmethod
    def setUpClass(cls):
        cls.state = vm_state_dir("zmet-")
        cls.daemon = Zunvmd(state_dir=cls.state, driver="libvirt").start(timeout=60)

    @classmethod
    def tearDownClass(cls):
        try:
            for c in json.loads(call(cls.daemon.url + "/v1/containers", token=None)[1]).get("containers", []):
                call(cls.daemon.url + "/v1/containers/%s?force=true" % c["uuid"], "DELETE", token=None)
            wait_for(lambda: not json.loads(call(cls.daemon.url + "/v1/containers", token=None)[1])["containers"],
                     120, "cleanup")
        finally:
            cls.daemon.stop()
            remove_vm_state(cls.state)

    def test_a_sandbox_has_its_qemu_memory_cpu_and_boot_time(self):
        code, text = call(self.daemon.url + "/v1/containers?run=true", "POST",
                          {"name": "vm1", "image": "busybox", "command": ["sleep", "600"]}, token=None)
        self.assertEqual(code, 202, text)
        uuid = json.loads(text)["uuid"]

        def running():
            c = json.loads(call(self.daemon.url + "/v1/containers/" + uuid, token=None)[1])
            self.assertNotEqual(c["status"], "Error", c.get("status_reason"))
            return c["status"] == "Running"
        wait_for(running, 120, "vm1 Running")
        fams = families(call(self.daemon.url + "/metrics", token=None)[1])
        pss = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_memory_pss_bytes"].samples}
        rss = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_memory_rss_bytes"].samples}
        cpu = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_cpu_seconds"].samples}
        self.assertGreater(pss.get(uuid, 0), 10 << 20)
        self.assertGreaterEqual(rss[uuid], pss[uuid])
        self.assertGreater(cpu[uuid], 0)
        boots = [s for s in fams["zunvm_sandbox_boot_seconds"].samples
                 if s.name.endswith("_count") and s.labels["runtime"] == "kata"]
        self.assertEqual(sum(s.value for s in boots), 1)
        running_kata = [s for s in fams["zunvm_containers"].samples
                        if s.labels == {"status": "Running", "runtime": "kata"}]
        self.assertEqual(running_kata[0].value, 1)

    def test_b_trusted_containers_report_their_cgroup(self):
        """runc and crun containers are in the same sandbox families as the VMs: their processes'
        memory, their cgroup's CPU time."""
        uuids = {}
        for runtime in ("runc", "crun"):
            code, text = call(self.daemon.url + "/v1/containers?run=true", "POST",
                              {"name": "t-" + runtime, "image": "busybox", "runtime": runtime,
                               "command": ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 600"]},
                              token=None)
            self.assertEqual(code, 202, text)
            uuids[runtime] = json.loads(text)["uuid"]

        def sampled():
            fams = families(call(self.daemon.url + "/metrics", token=None)[1])
            cpu = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_cpu_seconds"].samples}
            return fams if all(cpu.get(u, 0) > 0 for u in uuids.values()) else None
        fams = wait_for(sampled, 120, "runc and crun containers sampled")
        pss = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_memory_pss_bytes"].samples}
        rss = {s.labels["sandbox"]: s.value for s in fams["zunvm_sandbox_memory_rss_bytes"].samples}
        for runtime, uuid in uuids.items():
            self.assertGreater(pss.get(uuid, 0), 0, runtime)
            self.assertGreaterEqual(rss[uuid], pss[uuid], runtime)
            self.assertLess(rss[uuid], 64 << 20, runtime)  # a shell, not a VM
        vms = [u for u in pss if u not in uuids.values()]
        self.assertEqual(len(vms), 1, "test_a's VM is in the same family")


if __name__ == "__main__":
    unittest.main(verbosity=2)
