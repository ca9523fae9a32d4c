#!/usr/bin/python3
"""Runs Zun's own API tests (zun-tempest-plugin, source in $ZUNVM_TEMPEST_PLUGIN_SRC) with
Debian's tempest against zunvmd: a real Keystone on 127.0.0.1 (tests/e2e/keystone_proc.py) whose
catalog names zunvmd as service type `container`, zunvmd with `auth_strategy = keystone`, the
libvirt driver (real VMs) and a local docker-registry as its docker.io mirror, filled with
busybox under the names the tests use (`cirros:latest`, `nginx`, `alpine`). Tempest reaches
both through pre-provisioned accounts (a member of one project, the admin).

One tempest run per microversion (`[container_service] min/max_microversion`): 1.1 and 1.19
run TestContainerLegacy, 1.40 TestContainer and TestService. Tests that need Neutron, Cinder or
Glance are excluded (tests/tempest/excluded.txt, with reasons); tests that fail for a reason
written down in tests/tempest/known-failures.txt are reported as such. Prints the table of
every test at every version and exits 1 when a test fails that is not a known failure, or a
known failure passes (then the list is out of date).

usage: run_tempest.py [--versions 1.1,1.19,1.40] [--filter REGEX] [--keep] [--report WORKDIR]
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from keystone_proc import ADMIN_PASSWORD, Keystone, free_port, json_request  # noqa: E402
from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir, wait_for  # noqa: E402

PYTHON = "/usr/bin/python3"
PRIMARY = ("tempest-member", "tempest-member-secret", "tempest-project")
SERVICE = ("zunvm", "zunvm-secret", "service")
# The images Zun's tests name, each busybox with the command its real image would run (cirros's
# is /sbin/init, which runs until stopped: a sleep loop stands in for it).
IMAGES = {"cirros:latest": ["sh", "-c", "while :; do sleep 3600; done"],
          "nginx:latest": ["httpd", "-f", "-p", "80", "-h", "/"],
          "alpine:latest": ["sh"]}


def read_list(name):
    """[(regex, reason)] of tests/tempest/NAME: one regex per line, `# reason` after it."""
    out = []
    with open(os.path.join(HERE, name)) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            regex, _, reason = line.partition("#")
            out.append((regex.strip(), reason.strip()))
    return out


def image_archive(busybox_tar, out, name, cmd):
    """A docker-save archive of busybox's layer with `cmd` as its command, tagged `name`."""
    with tarfile.open(busybox_tar) as src:
        files = {m.name.lstrip("./"): src.extractfile(m).read() for m in src if m.isfile()}
    manifest = json.loads(files["manifest.json"])
    config = json.loads(files[manifest[0]["Config"]])
    config["config"]["Cmd"] = cmd
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest[0].update(Config=config_name, RepoTags=[name])
    with tarfile.open(out, "w") as dst:
        for path, data in ((config_name, config_bytes), ("manifest.json", json.dumps(manifest).encode()),
                           *((p, files[p]) for p in manifest[0]["Layers"])):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


class Registry:
    """Debian's docker-registry on a free loopback port, storage under `work`."""

    def __init__(self, work):
        self.dir = os.path.join(work, "registry")
        os.makedirs(self.dir)
        self.addr = "127.0.0.1:%d" % free_port()
        conf = os.path.join(self.dir, "registry.yml")
        with open(conf, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s/data\nhttp:\n  addr: %s\n" % (self.dir, self.addr))
        self.log = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def push(self, archive, name):
        def pushed():
            return subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                                   "docker-archive:" + archive,
                                   "docker://%s/library/%s" % (self.addr, name)],
                                  capture_output=True).returncode == 0
        wait_for(pushed, 60, "a push of %s to docker-registry" % name)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def plugin_dist_info(src, work):
    """The plugin's tempest entry point (its setup.cfg) as installed metadata, which tempest's
    plugin manager (stevedore) reads: the plugin runs from its source tree, uninstalled."""
    info = os.path.join(work, "dist", "zun_tempest_plugin-0.0.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: zun-tempest-plugin\nVersion: 0.0.0\n")
    text = open(os.path.join(src, "setup.cfg")).read()
    m = re.search(r"tempest\.test_plugins\s*=\s*\n\s*(\S+\s*=\s*\S+)", text)
    if not m:
        raise RuntimeError("no tempest.test_plugins entry point in %s/setup.cfg" % src)
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        f.write("[tempest.test_plugins]\n%s\n" % m.group(1))
    return os.path.dirname(info)


def tempest_conf(path, keystone, version_range, work):
    lo, hi = version_range
    with open(path, "w") as f:
        f.write(f"""[DEFAULT]
log_file = {work}/tempest.log
[oslo_concurrency]
lock_path = {work}/locks
[auth]
use_dynamic_credentials = false
test_accounts_file = {work}/accounts.yaml
default_credentials_domain_name = Default
admin_username = admin
admin_password = {ADMIN_PASSWORD}
admin_project_name = admin
admin_domain_name = Default
[identity]
uri_v3 = {keystone.url}
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = false
[service_available]
zun = true
neutron = false
cinder = false
glance = false
nova = false
swift = false
[container_service]
min_microversion = {lo}
max_microversion = {hi}
wait_timeout = 240
""")
    with open(os.path.join(work, "accounts.yaml"), "w") as f:
        f.write("- username: '%s'\n  password: '%s'\n  project_name: '%s'\n  roles: ['member']\n"
                "- username: 'admin'\n  password: '%s'\n  project_name: 'admin'\n  roles: ['admin']\n"
                % (PRIMARY[0], PRIMARY[1], PRIMARY[2], ADMIN_PASSWORD))


# (min, max) microversion of the tempest configuration that runs the suite at each version:
# a test class runs at max(its own minimum, the configured minimum).
RANGES = {"1.1": ("1.1", "1.19"), "1.19": ("1.19", "1.19"), "1.40": ("1.40", "1.40")}


def run_version(version, src, dist, keystone, work, filter_regex):
    """{test name: (status, note)} of one tempest run at `version`."""
    vdir = os.path.join(work, "v" + version)
    os.makedirs(os.path.join(vdir, "locks"))
    tempest_conf(os.path.join(vdir, "tempest.conf"), keystone, RANGES[version], vdir)
    with open(os.path.join(vdir, ".stestr.conf"), "w") as f:
        f.write("[DEFAULT]\ntest_path=%s/zun_tempest_plugin/tests/tempest/api\ntop_dir=%s\n" % (src, src))
    excluded = os.path.join(vdir, "excluded.txt")
    with open(excluded, "w") as f:
        f.writelines(r + "\n" for r, _ in read_list("excluded.txt"))
    env = dict(os.environ, PYTHONPATH="%s:%s" % (src, dist), PYTHON=PYTHON,
               TEMPEST_CONFIG_DIR=vdir, TEMPEST_CONFIG="tempest.conf", PYTHONDONTWRITEBYTECODE="1")
    print("== tempest at %s" % version, flush=True)
    subprocess.run([PYTHON, "-m", "stestr", "run", "--concurrency", "1", "--exclude-list", excluded,
                    filter_regex], cwd=vdir, env=env)
    return last_results(vdir, env)


def last_results(vdir, env=None):
    """The results of the last stestr run in `vdir`; RuntimeError when there are none (the
    plugin did not load, the configuration is wrong, or the filter matched nothing): a run
    that tested nothing must not pass."""
    last = subprocess.run([PYTHON, "-m", "stestr", "last", "--subunit"], cwd=vdir, env=env,
                          capture_output=True)
    results = parse_subunit(last.stdout) if last.returncode in (0, 1) else {}
    if not results:
        raise RuntimeError("no test results in %s: %s" % (vdir, last.stderr.decode(errors="replace")[-2000:]))
    return results


# Zun's suite deletes every container in tearDown with `stop=True`, which Zun's API takes from
# 1.12 on (zun/api/controllers/v1/containers.py, delete: api_utils.version_check('stop',
# '1.12')): below 1.12 every test that made a container fails there, whatever its body did.
TEARDOWN_STOP = "Invalid param stop because current request version is"


def parse_subunit(stream):
    """{test name: (status, note)}: status success, fail, skip, or teardown-only (the test's
    body passed; only its tearDown's refused `stop` failed)."""
    import subunit
    import testtools
    tests = []
    case = subunit.ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout")
    result = testtools.StreamToDict(tests.append)
    result.startTestRun()
    case.run(result)
    result.stopTestRun()
    out = {}
    for t in tests:
        name = re.sub(r"\[.*\]$", "", t["id"]).replace("zun_tempest_plugin.tests.tempest.api.", "")
        details = {k: v.as_text() for k, v in t["details"].items()}
        tracebacks = [v for k, v in details.items() if k.startswith("traceback")]
        status, note = t["status"], ""
        if status == "skip":
            if name.startswith("setUpClass"):
                continue  # a class outside this run's microversion range
            note = details.get("reason", "")
            if "out of the configuration range" in note:
                status, note = "n/a", ""  # the test's microversions exclude this run's
        elif status == "fail":
            if tracebacks and all(", in tearDown" in tb and TEARDOWN_STOP in tb for tb in tracebacks):
                status = "teardown-only"
            else:
                body = [tb for tb in tracebacks if TEARDOWN_STOP not in tb] or tracebacks
                note = failure_line(body[0]) if body else ""
        out[name] = (status, note)
    return out


def failure_line(traceback):
    """The exception line of a traceback (and tempest's `Details:` line after it)."""
    lines = traceback.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Code|Failure)\b", lines[i]):
            text = " ".join(lines[i:i + 2] if i + 1 < len(lines) and lines[i + 1].startswith("Details") else lines[i:i + 1])
            return text[:200]
    return lines[-1][:200] if lines else ""


def short(name):
    return name.split(".", 1)[1] if "." in name else name


def report(versions, results, known):
    """The markdown table and the list of unexpected outcomes."""
    names = sorted({n for r in results.values() for n in r})
    lines = ["| test | " + " | ".join(versions) + " | note |",
             "| --- |" + " --- |" * len(versions) + " --- |"]
    unexpected = []
    mark = {"success": "pass", "skip": "skip", "teardown-only": "pass¹", "n/a": "–"}
    for n in names:
        notes, cells = [], []
        for v in versions:
            status, note = results[v].get(n, (None, ""))
            reason = next((why for rx, why in known if re.search(rx, "%s@%s" % (short(n), v))), None)
            cell = mark.get(status, status or "–")
            if status == "fail" and reason:
                cell = "fail²"
                notes.append("%s: %s" % (v, reason))
            elif status == "fail":
                cell = "FAIL"
                notes.append("%s: %s" % (v, note))
                unexpected.append("%s at %s: %s" % (n, v, note))
            elif reason and status in ("success", "teardown-only"):
                unexpected.append("%s at %s passes but is listed in known-failures.txt" % (n, v))
            elif status == "skip" and note and note not in notes:
                notes.append(note)
            cells.append(cell)
        if all(c == "–" for c in cells):
            continue  # outside every run's microversions
        lines.append("| %s | %s | %s |" % (short(n), " | ".join(cells), "; ".join(notes)))
    for rx, _ in known:
        if not any(re.search(rx, "%s@%s" % (short(n), v)) for n in names for v in versions):
            lines.append("(known-failures.txt entry `%s` matched no test of this run)" % rx)
    lines.append("")
    lines.append("¹ the test passed; its tearDown failed: it deletes with `stop=True`, which Zun's API "
                 "takes from 1.12 (zun/api/controllers/v1/containers.py, "
                 "`api_utils.version_check('stop', '1.12')`), and zunvmd answers as Zun (400).")
    lines.append("² a known failure (tests/tempest/known-failures.txt), with its reason.")
    for v in versions:
        counts = {}
        for status, _ in results[v].values():
            counts[status] = counts.get(status, 0) + 1
        lines.append("")
        lines.append("%s: %s" % (v, ", ".join("%d %s" % (c, s) for s, c in sorted(counts.items()))))
    lines.append("")
    lines.append("Excluded (not run):")
    lines += ["- `%s`: %s" % (r.replace("\\b", ""), why) for r, why in read_list("excluded.txt")]
    return "\n".join(lines), unexpected


def cleanup_containers(daemon, keystone):
    """Deletes every container (as the admin, all projects): a run that left some (a tearDown
    refused) must not slow the next one down."""
    token = keystone.admin_token()
    hdrs = {"OpenStack-API-Version": "container 1.40"}
    status, _, body = json_request("GET", daemon.url + "/v1/containers?all_projects=True", None, token, hdrs)
    for c in (body or {}).get("containers", []) if status == 200 else []:
        json_request("DELETE", daemon.url + "/v1/containers/%s?force=True&all_projects=True" % c["uuid"],
                     None, token, hdrs)
    wait_for(lambda: not json_request("GET", daemon.url + "/v1/containers?all_projects=True", None, token,
                                      hdrs)[2].get("containers"), 300, "every container deleted")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", default="1.1,1.19,1.40")
    ap.add_argument("--filter", default="zun_tempest_plugin.tests.tempest.api")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, results)")
    ap.add_argument("--report", metavar="WORKDIR",
                    help="only print the table again from a kept work dir's results")
    args = ap.parse_args()
    versions = args.versions.split(",")
    if args.report:
        results = {v: last_results(os.path.join(args.report, "v" + v)) for v in versions}
        table, unexpected = report(versions, results, read_list("known-failures.txt"))
        print(table + ("\n\nunexpected:\n  " + "\n  ".join(unexpected) if unexpected else ""))
        return 1 if unexpected else 0
    src = os.environ.get("ZUNVM_TEMPEST_PLUGIN_SRC")
    if not src or not os.path.exists(os.path.join(src, "zun_tempest_plugin", "tests", "tempest", "plugin.py")):
        sys.exit("set ZUNVM_TEMPEST_PLUGIN_SRC to a checkout of openstack/zun-tempest-plugin")
    for v in versions:
        if v not in RANGES:
            sys.exit("unsupported version %s (one of %s)" % (v, ", ".join(RANGES)))

    work = tempfile.mkdtemp(prefix="zunvm-tempest-")
    print("tempest work dir: %s" % work, flush=True)
    registry = keystone = daemon = state = None
    try:
        dist = plugin_dist_info(src, work)
        state = vm_state_dir("zunvm-tempest-")
        registry = Registry(work)
        for name, cmd in IMAGES.items():
            archive = image_archive(os.path.join(state, "busybox.tar"),
                                    os.path.join(work, name.split(":")[0] + ".tar"), name, cmd)
            registry.push(archive, name)
        keystone = Keystone().setup().start()
        keystone.user(*SERVICE[:3], "service")
        keystone.user(*PRIMARY, "member")
        daemon = Zunvmd(state_dir=state, driver="libvirt", config_text=(
            "[api]\nauth_strategy = keystone\n"
            "[keystone_authtoken]\nauth_url = %s\nusername = %s\npassword = %s\nproject_name = %s\n"
            "[image]\nregistry_mirrors = docker.io=%s\n"
            % (keystone.url, SERVICE[0], SERVICE[1], SERVICE[2], registry.addr))).start(timeout=60)
        keystone.register_endpoint("container", "zun", daemon.url + "/v1")
        results = {}
        for v in versions:
            results[v] = run_version(v, src, dist, keystone, work, args.filter)
            cleanup_containers(daemon, keystone)
        table, unexpected = report(versions, results, read_list("known-failures.txt"))
        with open(os.path.join(work, "results.md"), "w") as f:
            f.write(table + "\n")
        print("\n" + table)
        if unexpected:
            print("\nunexpected:\n  " + "\n  ".join(unexpected))
            print("zunvmd log (last lines):\n" + "".join(daemon.output[-40:]))
            return 1
        return 0
    finally:
        if daemon:
            daemon.stop()
            with open(os.path.join(work, "zunvmd.log"), "w") as f:
                f.writelines(daemon.output)
        if state:
            remove_vm_state(state)
        if keystone:
            keystone.cleanup()
        if registry:
            registry.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
