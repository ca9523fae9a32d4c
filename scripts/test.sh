#!/usr/bin/env bash
# Runs the whole test suite: set-up if needed (Debian packages, both builds), then every test
# (unit, end-to-end with the real openstack CLI, a real VM booting the guest image, the fuzzer)
# under AddressSanitizer + UBSan, and the unit
# tests again on the release build that run.sh serves. Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" --no-build
"$root/scripts/build.sh" --asan
# The guest image (static agent from the release build; the minimal kernel, cached by its
# config outside the checkout: ~5 min the first time), the fallback image with Debian's kernel
# that the *_debian VM tests boot, and libvirtd for the VM tests.
"$root/guest/build-kernel.sh" "$root/build/guest-kernel"
ZUNVM_GUEST_KERNEL="$root/build/guest-kernel" "$root/guest/build-image.sh" "$root/build/zunvm-agent" "$root/build/guest"
"$root/guest/build-test-rootfs.sh" "$root/build/guest/test-rootfs.ext4"
"$root/guest/build-image.sh" "$root/build/zunvm-agent" "$root/build/guest-debian"
"$root/guest/build-test-rootfs.sh" "$root/build/guest-debian/test-rootfs.ext4"
"$root/guest/start-libvirt.sh"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}

echo "== ASan/UBSan build: all tests"
ctest --test-dir "$root/build-asan" --output-on-failure -j 2 --timeout 900
if [[ -n "${ZUNVM_ZUN_SRC:-}" ]]; then
  echo "== the Zun driver against the real Zun in $ZUNVM_ZUN_SRC (and zun-compute's Manager)"
  (cd "$root" && ZUNVMD="$root/build-asan/zunvmd" PYTHONDONTWRITEBYTECODE=1 \
     /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python)
fi
if [[ -n "${ZUNVM_TEMPEST_PLUGIN_SRC:-}" ]]; then
  echo "== Zun's API tests (zun-tempest-plugin in $ZUNVM_TEMPEST_PLUGIN_SRC) against zunvmd, real Keystone and VMs"
  ZUNVMD="$root/build-asan/zunvmd" "$root/tests/tempest/run.sh"
fi
echo "== release build: unit tests"
ctest --test-dir "$root/build" --output-on-failure -j 2 -E '^(e2e|fuzz|integration)_' --timeout 300
