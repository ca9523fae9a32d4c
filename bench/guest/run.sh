#!/usr/bin/env bash
# Guest image boot/exec benchmark: compiles the floor /init (marker_init.c), builds the floor
# initramfs (the production tree from build/guest/initramfs.root with /init replaced) in
# build/bench-guest/, then runs guest_bench.py (extra arguments are passed on to it).
# Needs: build/guest from guest/build-image.sh, a running libvirtd (qemu:///system), root.
# usage: bench/guest/run.sh [--boots N] [--execs N] [--calls N] [--cmdline STR] ...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
guest=${ZUNVM_GUEST_DIR:-$root/build/guest}
out=${ZUNVM_BENCH_DIR:-$root/build/bench-guest}

for f in vmlinux initramfs.cpio kernel.version initramfs.root/init initramfs.root/lib/modules/modules.order; do
  [[ -e "$guest/$f" ]] || { echo "missing $guest/$f: run guest/build-image.sh first" >&2; exit 1; }
done
mkdir -p "$out"
chmod 0755 "$out"  # qemu (libvirt-qemu) reads the floor initramfs from here

gcc -static -O2 -Wall -Wextra -o "$out/marker_init" "$root/bench/guest/marker_init.c"

floor="$out/floor.root"
rm -rf "$floor"
cp -a "$guest/initramfs.root" "$floor"
install -m 0755 "$out/marker_init" "$floor/init"
strip "$floor/init" 2>/dev/null || true  # build-image.sh strips the agent the same way
# Same archive format as build-image.sh: uncompressed newc, sorted paths.
(cd "$floor" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out/initramfs-floor.cpio.tmp"
mv "$out/initramfs-floor.cpio.tmp" "$out/initramfs-floor.cpio"
chmod 0644 "$out/initramfs-floor.cpio"

exec /usr/bin/python3 "$root/bench/guest/guest_bench.py" \
  --guest-dir "$guest" --floor-initrd "$out/initramfs-floor.cpio" \
  --results "$out/results.json" "$@"
