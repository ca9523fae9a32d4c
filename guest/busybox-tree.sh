#!/usr/bin/env bash
# Fills DIR with a tiny Linux root: Debian's static busybox with a link per applet,
# /etc/passwd and /etc/group (root, a uid-1000 user, nobody), hosts, resolv.conf, and the usual
# empty directories. Shared by the test disk and the busybox image.
# usage: guest/busybox-tree.sh DIR
set -euo pipefail
tree=${1:?usage: busybox-tree.sh DIR}
busybox=/bin/busybox
[[ -x "$busybox" ]] || { echo "$busybox missing: apt-get install busybox-static" >&2; exit 1; }
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
echo zunvm > "$tree/etc/hostname"
chown 1000:1000 "$tree/home/user"
