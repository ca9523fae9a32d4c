#!/usr/bin/env bash
# Runs the product: set-up if needed (Debian packages, build, the guest image, libvirtd and
# virtlogd), then zunvmd in the foreground on 127.0.0.1:9517 with its embedded defaults (the
# libvirt driver: one VM per container) and a local state dir (.zunvm-state/ in the checkout;
# override with ZUNVM_STATE_DIR). Extra arguments go to zunvmd, e.g.
#   scripts/run.sh --config-file etc/zun/zunvm.conf.sample --debug
# Domain type: qemu (TCG) unless ZUNVM_VIRT_TYPE=kvm — nested KVM hangs in early guest boot on
# the machines this is developed on; on a real KVM host use kvm (zunvmd's own default).
# Then: openstack --os-auth-type none --os-endpoint http://127.0.0.1:9517/v1 appcontainer run busybox echo hi
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
state=${ZUNVM_STATE_DIR:-$root/.zunvm-state}
# The guest image: the minimal kernel (built once, ~5 min, then cached by its config) and the agent.
"$root/guest/build-kernel.sh" "$root/build/guest-kernel"
ZUNVM_GUEST_KERNEL="$root/build/guest-kernel" "$root/guest/build-image.sh" "$root/build/zunvm-agent" "$root/build/guest"
# The second guest profile, runtime kata-debian: the same agent on Debian's kernel.
"$root/guest/build-image.sh" "$root/build/zunvm-agent" "$root/build/guest-debian"
"$root/guest/start-libvirt.sh"
# busybox:latest from Debian's busybox-static, so `appcontainer run busybox ...` works offline.
"$root/guest/build-busybox-image.sh" "$root/build/images/busybox.tar"
"$root/build/zunvmd" import-image --state-dir "$state" "$root/build/images/busybox.tar"
exec "$root/build/zunvmd" --state-dir "$state" --virt-type "${ZUNVM_VIRT_TYPE:-qemu}" \
  --pool-size "${ZUNVM_POOL_SIZE:-2}" "$@"
