#!/usr/bin/env bash
# Builds the guest image into OUTDIR (default build/guest): Debian 12's kernel as an
# uncompressed PVH vmlinux (no XZ decompression at boot: ~5 s saved under TCG) and an
# uncompressed initramfs whose /init is the static zunvm-agent plus exactly the virtio/ext4/
# overlay modules it loads, in dependency order (/lib/modules/modules.order).
# The kernel package is fetched with `apt-get download` and unpacked with `dpkg -x`: nothing
# is installed on the host. Idempotent: the .deb and the outputs are reused.
# With ZUNVM_GUEST_KERNEL=DIR (guest/build-kernel.sh's output: vmlinux, kernel.version) the
# image gets that kernel instead, everything built in: the initramfs holds the agent alone.
# usage: guest/build-image.sh AGENT_BINARY [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
agent=${1:?usage: build-image.sh AGENT_BINARY [OUTDIR]}
out=${2:-$root/build/guest}
mkdir -p "$out"
work="$out/work"

if [[ -n "${ZUNVM_GUEST_KERNEL:-}" ]]; then
  kdir=$ZUNVM_GUEST_KERNEL
  [[ -f "$kdir/vmlinux" && -f "$kdir/kernel.version" ]] || { echo "no vmlinux/kernel.version in $kdir" >&2; exit 1; }
  cmp -s "$kdir/vmlinux" "$out/vmlinux" 2>/dev/null || { cp "$kdir/vmlinux" "$out/vmlinux.tmp" && mv -f "$out/vmlinux.tmp" "$out/vmlinux"; }
  rootfs="$out/initramfs.root"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{dev,proc,sys,run,tmp}
  install -m 0755 "$agent" "$rootfs/init"
  strip "$rootfs/init" 2>/dev/null || true
  (cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out/initramfs.cpio.tmp"
  mv -f "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
  cp "$kdir/kernel.version" "$out/kernel.version"
  echo "built: $(cat "$kdir/kernel.version")" > "$out/vmlinux.source"
  echo "guest image: $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)), $out/initramfs.cpio ($(du -h "$out/initramfs.cpio" | cut -f1)), kernel $(cat "$out/kernel.version") (built in, no modules)"
  exit 0
fi

# The kernel ABI linux-image-amd64 points at today, e.g. 6.1.0-56-amd64.
abi_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[[ -n "$abi_pkg" ]] || { apt-get update -q >/dev/null; abi_pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1); }
kver=${abi_pkg#linux-image-}
deb=$(ls "$out"/"$abi_pkg"_*.deb 2>/dev/null | head -1 || true)
if [[ -z "$deb" ]]; then
  (cd "$out" && apt-get download "$abi_pkg" >/dev/null 2>&1) || { apt-get update -q >/dev/null; (cd "$out" && apt-get download "$abi_pkg"); }
  deb=$(ls "$out"/"$abi_pkg"_*.deb | head -1)
fi

# vmlinux.source says which kernel $out/vmlinux is (this .deb's, or a built one).
if [[ ! -f "$out/vmlinux" || "$deb" -nt "$out/vmlinux" || "$(cat "$out/vmlinux.source" 2>/dev/null)" != "$(basename "$deb")" ]]; then
  rm -rf "$work" && mkdir -p "$work"
  dpkg -x "$deb" "$work/pkg"
  depmod -b "$work/pkg" "$kver"
  # vmlinuz is a bzImage holding an XZ stream: decompress from its magic (trailing data is fine).
  vmlinuz="$work/pkg/boot/vmlinuz-$kver"
  off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  [[ -n "$off" ]] || { echo "no XZ stream in $vmlinuz" >&2; exit 1; }
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc 2>/dev/null > "$work/vmlinux" || true
  file "$work/vmlinux" | grep -q 'ELF 64-bit' || { echo "extracting vmlinux failed" >&2; exit 1; }
  mv "$work/vmlinux" "$out/vmlinux"
  basename "$deb" > "$out/vmlinux.source"
fi

# The modules the agent needs, with their dependencies, deepest first.
mods=(virtio_pci virtio_mmio virtio_console virtio_blk virtio_net virtio-rng crc32c_generic ext4 overlay)
moddir=$(ls -d "$work"/pkg/lib/modules/* 2>/dev/null | head -1)
if [[ -z "$moddir" ]]; then
  rm -rf "$work" && mkdir -p "$work" && dpkg -x "$deb" "$work/pkg" && depmod -b "$work/pkg" "$kver"
  moddir=$(ls -d "$work"/pkg/lib/modules/* | head -1)
fi
order=()
visit() {  # module path relative to moddir: its dependencies first, each once
  local m=$1 d line
  for d in "${order[@]}"; do [[ "$d" == "$m" ]] && return 0; done
  line=$(grep -E "^$m:" "$moddir/modules.dep")
  for d in ${line#*:}; do visit "$d"; done
  order+=("$m")
}
for name in "${mods[@]}"; do
  line=$(grep -E "/$name\.ko(\.xz)?:" "$moddir/modules.dep" || true)
  [[ -n "$line" ]] || { echo "module $name not in $kver" >&2; exit 1; }
  visit "${line%%:*}"
done

rootfs="$out/initramfs.root"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{dev,proc,sys,run,tmp,lib/modules}
install -m 0755 "$agent" "$rootfs/init"
strip "$rootfs/init" 2>/dev/null || true
: > "$rootfs/lib/modules/modules.order"
for m in "${order[@]}"; do
  base=$(basename "$m")
  case "$base" in
    *.xz) xz -dc "$moddir/$m" > "$rootfs/lib/modules/${base%.xz}"; base=${base%.xz} ;;
    *) cp "$moddir/$m" "$rootfs/lib/modules/$base" ;;
  esac
  echo "$base" >> "$rootfs/lib/modules/modules.order"
done
# Written aside and renamed: VMs booting meanwhile read either the old or the new file whole.
(cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out/initramfs.cpio.tmp"
mv -f "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$kver" > "$out/kernel.version"
echo "guest image: $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)), $out/initramfs.cpio ($(du -h "$out/initramfs.cpio" | cut -f1)), kernel $kver, modules: $(tr '\n' ' ' < "$rootfs/lib/modules/modules.order")"
