#!/usr/bin/env bash
# Builds the minimal guest kernel (guest/kernel/zunvm.config over `make tinyconfig`, x86_64,
# everything built in) from Debian's linux-source-6.1 and copies its vmlinux (a PVH-bootable
# ELF: direct kernel boot, no decompressor) with its config and release to OUTDIR, where
# `ZUNVM_GUEST_KERNEL=OUTDIR guest/build-image.sh AGENT IMAGEDIR` picks them up.
# The build is cached outside the checkout, keyed by the fragment, this script and the source
# package's version: ${ZUNVM_CACHE_DIR:-/var/cache/zunvm}/kernel-<key>/{vmlinux,config,
# kernel.version}. A cached kernel is only copied (seconds); a build takes ~5 minutes on 2
# cores. Builds run under a lock in a temporary directory renamed into place at the end, so an
# interrupted or concurrent run never leaves a half kernel; the next run removes the leftovers.
# usage: guest/build-kernel.sh [OUTDIR]   (default build/guest-kernel)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
self="$root/guest/build-kernel.sh"
out=${1:-$root/build/guest-kernel}
frag="$root/guest/kernel/zunvm.config"
need=()
for p in linux-source-6.1 bc bison flex libelf-dev libssl-dev make gcc xz-utils; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || {
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key=$( (cat "$frag" "$self"; echo "$srcver") | sha256sum | cut -c1-16)
cache_root=${ZUNVM_CACHE_DIR:-/var/cache/zunvm}
cache=$cache_root/kernel-$key
mkdir -p "$cache_root"

if [[ ! -f "$cache/vmlinux" ]]; then
  exec 9>"$cache_root/kernel.lock"
  flock 9  # one build at a time: a second run waits, then finds the kernel cached
fi
if [[ ! -f "$cache/vmlinux" ]]; then
  rm -rf "$cache_root"/kernel-*.tmp*  # what interrupted builds left (we hold the lock)
  tmp=$(mktemp -d "$cache.tmp.XXXXXX") && chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  start=$SECONDS
  echo "guest kernel: building linux-source-6.1 $srcver with $frag in $tmp (a few minutes)" >&2
  tar -xaf /usr/src/linux-source-6.1.tar.xz -C "$tmp"
  src="$tmp/linux-source-6.1"
  make -C "$src" -s ARCH=x86_64 tinyconfig >/dev/null
  (cd "$src" && scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null &&
    make -s ARCH=x86_64 olddefconfig >/dev/null)
  # Every line of the fragment must hold in the result: kconfig drops an option whose
  # dependencies are missing without a word.
  bad=$(grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)' "$frag" | while IFS= read -r line; do
    if [[ "$line" == "# "* ]]; then
      opt=${line#\# }; opt=${opt%% *}
      ! grep -qE "^$opt=[ym]" "$src/.config" || echo "$line"
    else
      grep -qxF -- "$line" "$src/.config" || echo "$line"
    fi
  done)
  [[ -z "$bad" ]] || { echo "guest kernel config: not taken:"$'\n'"$bad" >&2; exit 1; }
  make -C "$src" -s ARCH=x86_64 -j"$(nproc)" vmlinux
  strip --strip-debug -o "$tmp/vmlinux" "$src/vmlinux"
  cp "$src/.config" "$tmp/config"
  make -C "$src" -s ARCH=x86_64 kernelrelease > "$tmp/kernel.version"
  rm -rf "$src"
  mv "$tmp" "$cache"
  trap - EXIT
  echo "guest kernel: built in $((SECONDS - start)) s" >&2
fi
mkdir -p "$out"
for f in vmlinux config kernel.version; do
  cmp -s "$cache/$f" "$out/$f" 2>/dev/null || { cp "$cache/$f" "$out/$f.tmp" && mv -f "$out/$f.tmp" "$out/$f"; }
done
echo "guest kernel: $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)), $(cat "$out/kernel.version"), cached in $cache"
