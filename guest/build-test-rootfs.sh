#!/usr/bin/env bash
# Builds the root filesystem the VM tests and benchmarks run containers from: an ext4 image
# (made with mkfs.ext4 -d, no loop mount) holding Debian's static busybox with a link per
# applet, /etc/passwd and /etc/group with root, nobody and a uid-1000 user, and the usual empty
# directories. It stands in for an image's layers until images are unpacked (issue 4).
# usage: guest/build-test-rootfs.sh OUTFILE   (idempotent: rebuilt only if busybox is newer)
set -euo pipefail
out=${1:?usage: build-test-rootfs.sh OUTFILE}
if [[ -f "$out" && "$out" -nt /bin/busybox && "$out" -nt "$0" && "$out" -nt "$(dirname "$0")/busybox-tree.sh" ]]; then exit 0; fi
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
"$(dirname "$0")/busybox-tree.sh" "$tree"
tmp="$out.tmp.$$"
rm -f "$tmp"
mkfs.ext4 -q -F -L zunvm-rootfs -d "$tree" "$tmp" 64M
mv "$tmp" "$out"
echo "test rootfs: $out ($(du -h "$out" | cut -f1) used of 64M)"
