#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running (machines without systemd) and waits
# until qemu:///system answers. Idempotent. libvirtd runs under guest/subreaper.py, which
# reaps the daemonized qemu processes at once: with a lazily reaping PID 1, libvirtd otherwise
# waits about a minute on every domain start and stop.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
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
