#!/usr/bin/env bash
# Builds the minimal guest kernel (guest/kernel/zunvm.config over `make tinyconfig`) from
# Debian's linux-source-6.1 and copies its vmlinux (PVH-bootable ELF) to OUTDIR.
# The build is cached outside the checkout, keyed by the fragment, this script and the source
# package's version: ${ZUNVM_CACHE_DIR:-/var/cache/zunvm}/kernel-<key>/{vmlinux,config,kernel.version}.
# A cached kernel is copied in seconds; a build takes ~10 minutes on 2 cores. An interrupted
# build leaves only a temporary directory that the next run replaces.
# usage: guest/build-kernel.sh [OUTDIR]   (default build/guest-kernel)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/guest-kernel}
frag="$root/guest/kernel/zunvm.config"
need=()
for p in linux-source-6.1 bc bison flex libelf-dev libssl-dev make gcc; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null || {
    apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key=$( (cat "$frag" "$0"; echo "$srcver") | sha256sum | cut -c1-16)
cache=${ZUNVM_CACHE_DIR:-/var/cache/zunvm}/kernel-$key
if [[ ! -f "$cache/vmlinux" ]]; then
  tmp="$cache.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xaf /usr/src/linux-source-6.1.tar.xz -C "$tmp"
  src="$tmp/linux-source-6.1"
  make -C "$src" -s ARCH=x86_64 tinyconfig >/dev/null
  (cd "$src" && scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null && make -s ARCH=x86_64 olddefconfig >/dev/null)
  # Every option of the fragment must have survived (a missing dependency drops it silently).
  missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$frag" | while read -r line; do grep -qx "$line" "$src/.config" || echo "$line"; done)
  [[ -z "$missing" ]] || { echo "guest kernel config: not taken: $missing" >&2; exit 1; }
  make -C "$src" -s ARCH=x86_64 -j"$(nproc)" vmlinux
  cp "$src/vmlinux" "$tmp/vmlinux.full"
  strip --strip-debug -o "$tmp/vmlinux" "$tmp/vmlinux.full" 2>/dev/null || mv "$tmp/vmlinux.full" "$tmp/vmlinux"
  cp "$src/.config" "$tmp/config"
  make -C "$src" -s kernelrelease > "$tmp/kernel.version"
  rm -rf "$src" "$tmp/vmlinux.full"
  rm -rf "$cache" && mv "$tmp" "$cache"
fi
mkdir -p "$out"
cp "$cache/vmlinux" "$out/vmlinux.tmp" && mv -f "$out/vmlinux.tmp" "$out/vmlinux"
cp "$cache/config" "$out/config"
cp "$cache/kernel.version" "$out/kernel.version"
echo "guest kernel: $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)), $(cat "$out/kernel.version"), cached in $cache"
