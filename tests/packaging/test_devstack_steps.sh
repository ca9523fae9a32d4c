#!/bin/bash
# Runs the devstack plugin's steps (devstack/lib/zunvm) outside devstack, into temp dirs:
# packages (apt only if missing), build (incremental), guest image, install to a temp prefix,
# the Zun driver into a temp pip target (entry points seen from there), zunvm.conf (the
# sample's comments kept, set twice without duplicates) and zun.conf, start (the libvirt
# driver, libvirtd started if absent, a free port, polled with a deadline), token auth, the
# busybox import, stop (process gone), clean. Creates no container, so boots no VM; runs beside
# other tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d /tmp/zunvm-devstack-XXXXXX)
chmod 0711 "$t"  # QEMU's user must reach the state dir below it: zunvmd refuses to start otherwise
cleanup() { stop_zunvm >/dev/null 2>&1 || true; rm -rf "$t"; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$t/run/zunvm.log" "$t/log/zunvmd.log"; do
    if [[ -f "$f" ]]; then sed "s|^|$f: |" "$f" >&2; fi
  done
  exit 1
}
step() { echo "--- $* ($SECONDS s)"; }

export ZUNVM_SOURCE_DIR=$root ZUNVM_PREFIX=$t/prefix ZUNVM_CONF_DIR=$t/etc
export ZUNVM_STATE_DIR=$t/state ZUNVM_RUN_DIR=$t/run ZUNVM_CONTAINER_DRIVER=libvirt
export ZUNVM_VIRT_TYPE=qemu ZUN_CONF=$t/etc/zun.conf ZUNVM_PIP_TARGET=$t/pylib
export ZUNVM_HOSTNAME=devstack-test ZUNVM_LOG_FILE=$t/log/zunvmd.log
ZUNVM_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZUNVM_PORT
# shellcheck source=devstack/lib/zunvm
source "$root/devstack/lib/zunvm"
for f in iniset run_process stop_process is_service_enabled; do
  declare -F "$f" >/dev/null || fail "stand-in $f not defined"
done
is_service_enabled zunvm || fail "settings did not enable zunvm"

step packages
install_zunvm_packages
step "build, guest image, install to $ZUNVM_PREFIX"
install_zunvm
for f in bin/zunvmd share/zunvm/guest/vmlinux share/zunvm/guest/initramfs.cpio \
         share/zunvm/images/busybox.tar lib/systemd/system/zunvmd.service; do
  [[ -s "$ZUNVM_PREFIX/$f" ]] || fail "install: $f"
done

step "Zun driver into $ZUNVM_PIP_TARGET"
before=$(ls -A "$root/python")
install_zunvm_driver
[[ "$(ls -A "$root/python")" == "$before" ]] || fail "pip left files in python/"
# Metadata only: the driver module needs Zun, which is not installed here.
PYTHONPATH=$ZUNVM_PIP_TARGET /usr/bin/python3 - "$ZUNVM_PIP_TARGET" <<'PY' || fail "driver entry points"
import sys
from importlib.metadata import entry_points
target = sys.argv[1]
for group in ('zun.container.driver', 'zun.capsule.driver'):
    eps = [e for e in entry_points(group=group) if e.name == 'zunvm']
    assert len(eps) == 1, (group, eps)
    assert eps[0].value == 'zunvm_zun.driver:ZunvmDriver', eps[0]
    assert str(eps[0].dist.locate_file('')).startswith(target), eps[0].dist.locate_file('')
PY
[[ -f "$ZUNVM_PIP_TARGET/zunvm_zun/driver.py" ]] || fail "driver module not installed"

step configure
configure_zunvm
configure_zun_for_zunvm
configure_zunvm  # again: same token, no option twice (zunvmd refuses that at start)
conf=$ZUNVM_CONF
token=$(sed -n 's/^auth_tokens *= *//p' "$conf")
[[ ${#token} -ge 32 ]] || fail "no token in zunvm.conf"
[[ $(stat -c %a "$conf") == 600 ]] || fail "zunvm.conf is not 0600"
grep -q '^# zunvm.conf.sample' "$conf" || fail "the sample's comments were lost"
/usr/bin/python3 - "$conf" "$ZUN_CONF" "$token" "$ZUNVM_PORT" "$ZUNVM_PREFIX" "$ZUNVM_STATE_DIR" <<'PY' || fail "zunvm.conf / zun.conf"
import collections, configparser, os, sys
conf, zun_conf, token, port, prefix, state = sys.argv[1:7]
seen = collections.Counter()
section = None
for line in open(conf):
    if line.startswith('['):
        section = line.strip()
    elif line[:1].isalpha():
        seen[(section, line.split('=')[0].strip())] += 1
assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1]
cp = configparser.RawConfigParser(inline_comment_prefixes=(' ;',))
cp.read(conf)
want = {('DEFAULT', 'state_dir'): state, ('DEFAULT', 'container_driver'): 'libvirt',
        ('DEFAULT', 'host'): 'devstack-test', ('api', 'port'): port,
        ('DEFAULT', 'log_file'): os.path.dirname(state) + '/log/zunvmd.log',
        ('api', 'auth_strategy'): 'token', ('api', 'auth_tokens'): token,
        ('libvirt', 'virt_type'): 'qemu',
        ('guest', 'kernel'): prefix + '/share/zunvm/guest/vmlinux',
        ('guest', 'initrd'): prefix + '/share/zunvm/guest/initramfs.cpio'}
for (s, o), v in want.items():
    assert cp.get(s, o) == v, (s, o, cp.get(s, o), v)
zc = configparser.RawConfigParser()
zc.read(zun_conf)
assert zc.get('DEFAULT', 'container_driver') == 'zunvm'
assert zc.get('DEFAULT', 'capsule_driver') == 'zunvm'
assert zc.get('zunvm', 'api_url') == 'http://127.0.0.1:%s' % port
assert zc.get('zunvm', 'auth_token') == token
PY

step "start on port $ZUNVM_PORT"
start_zunvm  # returns once GET /v1/hosts answers (wait_for_zunvm: deadline, no fixed sleep)
pid=$(cat "$ZUNVM_RUN_DIR/zunvm.pid")
_zunvm_alive "$pid" || fail "zunvmd not running"
url=http://127.0.0.1:$ZUNVM_PORT
v1=$(curl -fsS -H "X-Auth-Token: $token" "$url/v1") || fail "GET /v1"
grep -q '"id"' <<< "$v1" || fail "GET /v1: $v1"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/containers")
[[ $code == 401 ]] || fail "no token: $code, want 401"
hosts=$(curl -fsS -H "X-Auth-Token: $token" -H "OpenStack-API-Version: container 1.40" "$url/v1/hosts")
grep -q '"hostname":"devstack-test"' <<< "$hosts" || fail "hosts: $hosts"
# zunvmd's own log went to [DEFAULT] log_file, not to stderr.
grep -q "zunvmd serving on $url" "$ZUNVM_LOG_FILE" || fail "no start line in log_file $ZUNVM_LOG_FILE"
! grep -q 'zunvmd serving on' "$ZUNVM_RUN_DIR/zunvm.log" || fail "zunvmd logged to stderr too"
import_zunvm_images
images=$(curl -fsS -H "X-Auth-Token: $token" "$url/v1/images")
grep -q '"repo":"busybox"' <<< "$images" || fail "busybox not imported: $images"

step stop
stop_zunvm
! _zunvm_alive "$pid" || fail "zunvmd still running"
[[ ! -e "$ZUNVM_RUN_DIR/zunvm.pid" ]] || fail "pid file left"
curl -s -o /dev/null "$url/v1" && fail "port $ZUNVM_PORT still answers"
cleanup_zunvm
[[ ! -e "$ZUNVM_CONF" && ! -e "$ZUNVM_STATE_DIR" ]] || fail "cleanup"
echo "devstack steps: packages, build, install, driver, config, start, token auth, images, stop, clean ($SECONDS s)"
