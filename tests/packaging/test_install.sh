#!/bin/bash
# `cmake --install` of a build tree into a temp DESTDIR places every file an operator needs,
# and what it installs works: the binary runs, the unit points at it and passes
# `systemd-analyze verify`, and an installed zunvmd finds the installed guest image by itself
# (never asked to boot anything). usage: test_install.sh [BUILD_DIR]   (default build/)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
t=$(mktemp -d /tmp/zunvm-install-XXXXXX)
chmod 0711 "$t"  # QEMU's user must reach the state dir below it: zunvmd refuses to start otherwise
dest=$t/root  # DESTDIR; logs and scratch files in $t
pid=
# zunvmd leaves its sandboxes' root (state/oci) a private bind mount of itself: undone first.
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  awk -v t="$t/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR=$dest cmake --install "$build" --prefix /usr/local > "$t/install.out" 2>&1 ||
  fail "cmake --install: $(cat "$t/install.out")"
p=$dest/usr/local
for f in bin/zunvmd lib/systemd/system/zunvmd.service share/zunvm/zunvm.conf.sample \
         share/doc/zunvm/operator.md share/doc/zunvm/zun-driver.md; do
  [[ -s "$p/$f" ]] || fail "$f not installed"
done
cmp -s "$root/etc/zun/zunvm.conf.sample" "$p/share/zunvm/zunvm.conf.sample" || fail "conf sample differs"
# The guest image and the busybox archive are built by scripts, not CMake: installed when built,
# and a clear message when the image is not.
for f in vmlinux initramfs.cpio; do
  if [[ -s "$root/build/guest/$f" ]]; then
    cmp -s "$root/build/guest/$f" "$p/share/zunvm/guest/$f" || fail "guest $f not installed"
  else
    grep -q "guest image file .*$f is not built" "$t/install.out" || fail "no message for guest $f"
  fi
done
if [[ -s "$root/build/images/busybox.tar" ]]; then
  [[ -s "$p/share/zunvm/images/busybox.tar" ]] || fail "busybox.tar not installed"
fi
# Everything installed is under the prefix (DESTDIR honoured), nothing elsewhere.
[[ "$(ls -A "$dest")" == usr ]] || fail "files outside the prefix: $(ls -A "$dest")"

"$p/bin/zunvmd" --help 2>&1 | grep -q 'usage: zunvmd' || fail "installed zunvmd --help"
unit=$p/lib/systemd/system/zunvmd.service
grep -qx 'ExecStart=/usr/local/bin/zunvmd --config-file /etc/zun/zunvm.conf' "$unit" || fail "ExecStart"
grep -qx 'Type=simple' "$unit" || fail "Type"
grep -qx 'Restart=on-failure' "$unit" || fail "Restart"
grep -qx 'KillMode=process' "$unit" || fail "KillMode (the VMs must outlive zunvmd)"
grep -q '^After=.*libvirtd.service' "$unit" || fail "After=libvirtd"
grep -q '^Wants=.*libvirtd.service' "$unit" || fail "Wants=libvirtd"
grep -qx 'Documentation=file:///usr/local/share/doc/zunvm/operator.md' "$unit" || fail "Documentation"
if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart, so check a copy that points into DESTDIR.
  sed "s|/usr/local/bin/zunvmd|$p/bin/zunvmd|" "$unit" > "$t/zunvmd.service"
  out=$(systemd-analyze verify "$t/zunvmd.service" 2>&1) || fail "systemd-analyze: $out"
  [[ -z "$out" ]] || fail "systemd-analyze: $out"
else
  echo "systemd-analyze not installed: unit not verified"
fi

# The installed zunvmd (libvirt driver by default) with no [guest] options takes the guest
# image from <prefix>/share/zunvm/guest when it is there; it needs libvirtd to start.
if [[ ! -s "$p/share/zunvm/guest/vmlinux" ]]; then
  echo "install: files in place (guest image not built: its lookup not checked)"
  exit 0
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "install: files in place (libvirtd not running: the installed zunvmd's start not checked)"
  exit 0
fi
mkdir -p "$t/state"
"$p/bin/zunvmd" --state-dir "$t/state" --port 0 --virt-type qemu > "$t/out" 2>&1 &
pid=$!
deadline=$((SECONDS + 60))
until grep -q 'zunvmd listening on' "$t/out"; do
  kill -0 "$pid" 2>/dev/null || fail "installed zunvmd exited: $(cat "$t/out")"
  ((SECONDS < deadline)) || fail "installed zunvmd did not start: $(cat "$t/out")"
  sleep 0.1
done
grep -q "guest kernel $p/share/zunvm/guest/vmlinux, initrd $p/share/zunvm/guest/initramfs.cpio" "$t/out" ||
  fail "installed zunvmd does not use the installed guest image: $(cat "$t/out")"
echo "install: all files in place, unit verified, installed zunvmd serves with its own guest image"
