#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running (machines without systemd) and waits
# until qemu:///system answers. Idempotent. libvirtd runs under guest/subreaper.py, which
# reaps the daemonized qemu processes at once: with a lazily reaping PID 1, libvirtd otherwise
# waits about a minute on every domain start and stop.
#
# Without udev, /dev/kvm keeps the kernel's root:root 0600. libvirt then sees KVM in its qemu
# capability probe but not as the qemu user when it starts a domain ("KVM was enabled when
# probing ... but it is not available now") and re-probes qemu on every start: about 11 s per
# domain here. Giving /dev/kvm the owner and mode Debian's udev rules give it (root:kvm 0660)
# keeps the probe valid: `virsh create` then takes 0.3 s. (zunvm uses domain type qemu on
# machines where nested KVM hangs; this only makes libvirt's view consistent.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -c /dev/kvm ]] && getent group kvm >/dev/null && [[ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ]]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
pgrep -x virtlogd >/dev/null || virtlogd -d
if ! pgrep -x libvirtd >/dev/null; then
  # Detached from this shell: the daemon must outlive the script.
  setsid -f /usr/bin/python3 "$here/subreaper.py" libvirtd </dev/null >/dev/null 2>&1
fi
for _ in $(seq 1 300); do
  virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "libvirtd did not answer on qemu:///system" >&2
exit 1
