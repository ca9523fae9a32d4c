#!/usr/bin/env bash
# Pull + unpack of a ~100 MB, 4-layer image from a local registry: `zunvmd pull-image` (fetch,
# verify every digest, unpack the layers, build the image's ext4 root disk) against the pair a
# user would otherwise run, `skopeo copy docker://... dir:` + `tar -xzf` of each layer, in one
# run, alternating, 3 rounds; prints the medians and the ratio.
# Needs: build/zunvmd, docker-registry, skopeo (scripts/setup.sh installs them). All traffic
# is on 127.0.0.1. usage: bench/image_pull_bench.sh [BUILD_DIR] [MB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
mb=${2:-100}
work=$(mktemp -d)
reg_pid=
cleanup() { [[ -n "$reg_pid" ]] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:%s\n' "$work" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done

# The image: 4 layers of $mb/4 MB each (half random, half text, so gzip has something to do).
img="$work/img"
mkdir -p "$img"
diff_ids=()
layers=()
for i in 1 2 3 4; do
  d="$work/layer$i"
  mkdir -p "$d/data$i"
  per=$((mb * 1024 / 4 / 8))  # KiB per file, 8 files
  for f in 1 2 3 4; do head -c "${per}K" /dev/urandom > "$d/data$i/rand$f"; done
  for f in 1 2 3 4; do (yes "layer $i line of text for the compressor $f" || true) | head -c "${per}K" > "$d/data$i/text$f"; done
  tar --sort=name --mtime=@0 --numeric-owner -C "$d" -cf "$img/layer$i.tar" .
  diff_ids+=("\"sha256:$(sha256sum "$img/layer$i.tar" | cut -d' ' -f1)\"")
  layers+=("\"layer$i.tar\"")
  rm -rf "$d"
done
ids=$(IFS=,; echo "${diff_ids[*]}")
ls=$(IFS=,; echo "${layers[*]}")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$ids" > "$img/config.json"
printf '[{"Config":"config.json","RepoTags":["bench/big:1"],"Layers":[%s]}]' "$ls" > "$img/manifest.json"
tar -C "$img" -cf "$work/big.tar" .
rm -rf "$img"
ref="127.0.0.1:$port/bench/big:1"
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://$ref"
rm -f "$work/big.tar"

now() { date +%s.%N; }
ours=() pair=()
for round in 1 2 3; do
  rm -rf "$work/state"
  t0=$(now)
  "$build/zunvmd" pull-image --state-dir "$work/state" "$ref" > /dev/null
  t1=$(now)
  ours+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/dir" "$work/root" && mkdir -p "$work/root"
  t0=$(now)
  skopeo copy --quiet --src-tls-verify=false "docker://$ref" "dir:$work/dir"
  for blob in $(/usr/bin/python3 -c 'import json,sys; print(" ".join(l["digest"].split(":")[1] for l in json.load(open(sys.argv[1]))["layers"]))' "$work/dir/manifest.json"); do
    tar -xzf "$work/dir/$blob" -C "$work/root"
  done
  t1=$(now)
  pair+=("$(echo "$t1 - $t0" | bc)")
  echo "round $round: zunvmd pull-image ${ours[-1]} s, skopeo copy + tar -x ${pair[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
mo=$(median "${ours[@]}")
mp=$(median "${pair[@]}")
echo "image: ${mb} MB in 4 layers (gzip on the wire: $(du -sh "$work/registry" | cut -f1))"
printf 'median: zunvmd pull-image %.2f s (fetch, verify, unpack, ext4 disk), skopeo+tar %.2f s, ratio %.2f\n' "$mo" "$mp" "$(echo "$mo / $mp" | bc -l)"
