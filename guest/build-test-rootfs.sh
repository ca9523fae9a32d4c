#!/usr/bin/env bash
# Builds the root filesystem the VM tests and benchmarks run containers from: an ext4 image
# (made with mkfs.ext4 -d, no loop mount) holding Debian's static busybox with a link per
# applet, /etc/passwd and /etc/group with root, nobody and a uid-1000 user, and the usual empty
# directories. It stands in for an image's layers until images are unpacked (issue 4).
# usage: guest/build-test-rootfs.sh OUTFILE   (idempotent: rebuilt only if busybox is newer)
set -euo pipefail
out=${1:?usage: build-test-rootfs.sh OUTFILE}
busybox=/bin/busybox
[[ -x "$busybox" ]] || { echo "$busybox missing: apt-get install busybox-static" >&2; exit 1; }
if [[ -f "$out" && "$out" -nt "$busybox" && "$out" -nt "$0" ]]; then exit 0; fi
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,etc,tmp,proc,sys,dev,root,home/user,var/tmp}
chmod 1777 "$tree/tmp" "$tree/var/tmp"
install -m 0755 "$busybox" "$tree/bin/busybox"
for applet in $("$busybox" --list); do
  [[ "$applet" == busybox ]] || ln -sf busybox "$tree/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$tree/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' > "$tree/etc/group"
printf '127.0.0.1 localhost\n' > "$tree/etc/hosts"
: > "$tree/etc/resolv.conf"
echo zunvm-test > "$tree/etc/hostname"
chown 1000:1000 "$tree/home/user"
tmp="$out.tmp.$$"
rm -f "$tmp"
mkfs.ext4 -q -F -L zunvm-rootfs -d "$tree" "$tmp" 64M
mv "$tmp" "$out"
echo "test rootfs: $out ($(du -h "$out" | cut -f1) used of 64M)"
