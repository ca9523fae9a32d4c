#!/bin/bash
# `cmake --install` of the release build into a temp DESTDIR places every file an operator
# needs, and what it installs works: the binary runs, the unit points at it and passes
# `systemd-analyze verify`, and an installed zunvmd finds the installed guest image by itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
dest=$(mktemp -d /tmp/zunvm-install-XXXXXX)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$dest"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR=$dest cmake --install "$build" --prefix /usr/local >/dev/null
p=$dest/usr/local
for f in bin/zunvmd lib/systemd/system/zunvmd.service share/zunvm/zunvm.conf.sample \
         share/doc/zunvm/operator.md share/doc/zunvm/zun-driver.md \
         share/zunvm/guest/vmlinux share/zunvm/guest/initramfs.cpio; do
  [[ -s "$p/$f" ]] || fail "$f not installed"
done
"$p/bin/zunvmd" --help 2>&1 | grep -q 'usage: zunvmd' || fail "installed zunvmd --help"
unit=$p/lib/systemd/system/zunvmd.service
grep -qx 'ExecStart=/usr/local/bin/zunvmd --config-file /etc/zun/zunvm.conf' "$unit" || fail "ExecStart"
grep -qx 'KillMode=process' "$unit" || fail "KillMode"
# verify resolves ExecStart, so check a copy that points into DESTDIR.
sed "s|/usr/local/bin/zunvmd|$p/bin/zunvmd|" "$unit" > "$dest/zunvmd.service"
out=$(systemd-analyze verify "$dest/zunvmd.service" 2>&1) || fail "systemd-analyze: $out"
[[ -z "$out" ]] || fail "systemd-analyze: $out"

# The installed zunvmd (libvirt driver by default) starts with no [guest] options: it takes
# the guest image from <prefix>/share/zunvm/guest. It is never asked to boot anything.
mkdir -p "$dest/state"
"$p/bin/zunvmd" --state-dir "$dest/state" --port 0 --virt-type qemu > "$dest/out" 2>&1 &
pid=$!
deadline=$((SECONDS + 30))
until grep -q 'zunvmd listening on' "$dest/out"; do
  kill -0 "$pid" 2>/dev/null || fail "installed zunvmd exited: $(cat "$dest/out")"
  ((SECONDS < deadline)) || fail "installed zunvmd did not start: $(cat "$dest/out")"
  sleep 0.1
done
echo "install: all files in place, unit verified, installed zunvmd serves with its own guest image"
