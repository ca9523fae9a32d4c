#!/bin/bash
# Runs the devstack plugin's steps (devstack/lib/zunvm) outside devstack, into temp dirs:
# packages (apt only if missing), build (incremental), guest image, install to a temp prefix,
# the Zun driver into a temp pip target, zunvm.conf and zun.conf, start (fake sandboxes, a
# free port), a token-checked API, the busybox import, stop. Needs no VM.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d /tmp/zunvm-devstack-XXXXXX)
cleanup() { stop_zunvm 2>/dev/null || true; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

export ZUNVM_SOURCE_DIR=$root ZUNVM_PREFIX=$t/prefix ZUNVM_CONF_DIR=$t/etc
export ZUNVM_STATE_DIR=$t/state ZUNVM_CONTAINER_DRIVER=fake ZUNVM_VIRT_TYPE=qemu
export ZUN_CONF=$t/etc/zun.conf ZUNVM_PIP_TARGET=$t/pylib ZUNVM_HOSTNAME=devstack-test
ZUNVM_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZUNVM_PORT
# shellcheck source=devstack/lib/zunvm
source "$root/devstack/lib/zunvm"

install_zunvm_packages
install_zunvm
[[ -x "$ZUNVM_PREFIX/bin/zunvmd" && -s "$ZUNVM_PREFIX/share/zunvm/guest/vmlinux" ]] || fail "install"
install_zunvm_driver
PYTHONPATH=$ZUNVM_PIP_TARGET /usr/bin/python3 - <<'PY' || fail "driver entry points"
from importlib.metadata import entry_points
for group in ('zun.container.driver', 'zun.capsule.driver'):
    eps = {e.name: e.value for e in entry_points(group=group)}
    assert eps.get('zunvm') == 'zunvm_zun.driver:ZunvmDriver', (group, eps)
PY
[[ -f "$ZUNVM_PIP_TARGET/zunvm_zun/driver.py" ]] || fail "driver module not installed"

configure_zunvm
configure_zun_for_zunvm
configure_zunvm  # idempotent: the token stays
token=$(sed -n 's/^auth_tokens *= *//p' "$ZUNVM_CONF")
[[ ${#token} -ge 32 ]] || fail "no token in zunvm.conf"
[[ $(stat -c %a "$ZUNVM_CONF") == 600 ]] || fail "zunvm.conf is not 0600"
/usr/bin/python3 - "$ZUN_CONF" "$token" "$ZUNVM_PORT" <<'PY' || fail "zun.conf"
import configparser, sys
cp = configparser.RawConfigParser()
cp.read(sys.argv[1])
assert cp.get('DEFAULT', 'container_driver') == 'zunvm'
assert cp.get('DEFAULT', 'capsule_driver') == 'zunvm'
assert cp.get('zunvm', 'api_url') == 'http://127.0.0.1:%s' % sys.argv[3]
assert cp.get('zunvm', 'auth_token') == sys.argv[2]
PY

start_zunvm
url=http://127.0.0.1:$ZUNVM_PORT
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/containers")
[[ $code == 401 ]] || fail "no token: $code, want 401"
hosts=$(curl -fsS -H "X-Auth-Token: $token" -H "OpenStack-API-Version: container 1.40" "$url/v1/hosts")
grep -q '"hostname":"devstack-test"' <<< "$hosts" || fail "hosts: $hosts"
import_zunvm_images
images=$(curl -fsS -H "X-Auth-Token: $token" "$url/v1/images")
grep -q '"repo":"busybox"' <<< "$images" || fail "busybox not imported: $images"

pid=$(cat "$ZUNVM_STATE_DIR/zunvm.pid")
stop_zunvm
! kill -0 "$pid" 2>/dev/null || fail "zunvmd still running"
cleanup_zunvm
[[ ! -e "$ZUNVM_CONF" && ! -e "$ZUNVM_STATE_DIR" ]] || fail "cleanup"
echo "devstack steps: packages, build, install, driver, config, start, token auth, images, stop, clean"
