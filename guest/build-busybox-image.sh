#!/usr/bin/env bash
# Builds `busybox:latest` as a `docker save` archive from Debian's busybox-static (one layer:
# guest/busybox-tree.sh; config: Cmd ["sh"], PATH), so `openstack appcontainer run busybox
# echo hi` works on a machine with no registry. Deterministic (fixed times, sorted names).
# usage: guest/build-busybox-image.sh OUT.tar   (idempotent: rebuilt only when inputs change)
set -euo pipefail
out=${1:?usage: build-busybox-image.sh OUT.tar}
here=$(cd "$(dirname "$0")" && pwd)
if [[ -f "$out" && "$out" -nt /bin/busybox && "$out" -nt "$0" && "$out" -nt "$here/busybox-tree.sh" ]]; then exit 0; fi
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/busybox-tree.sh" "$work/root"
mkdir -p "$work/img/layer"
tar --sort=name --mtime=@0 --numeric-owner --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/root" -cf "$work/img/layer/layer.tar" .
diff_id=sha256:$(sha256sum "$work/img/layer/layer.tar" | cut -d' ' -f1)
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["$diff_id"]}}
JSON
cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
cp "$work/config.json" "$work/img/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["busybox:latest"],"Layers":["layer/layer.tar"]}]\n' "$cfg" > "$work/img/manifest.json"
tar --sort=name --mtime=@0 --numeric-owner -C "$work/img" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "busybox image: $out (image id sha256:$cfg)"
