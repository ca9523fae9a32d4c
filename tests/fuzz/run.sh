#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and runs each for a
# bounded time (FUZZ_SECONDS, default 10) from its seed corpus (tests/fuzz/seeds/<target>/).
# Exit status is libFuzzer's: non-zero on a crash, a leak or a sanitizer report.
# Usage: tests/fuzz/run.sh [OUT_DIR] [TARGET...]   (default: every target)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-fuzz}
shift || true
seconds=${FUZZ_SECONDS:-10}
mkdir -p "$out"
# Each target with the sources and libraries it needs: every parser of outside input.
base="common/status.cc common/strings.cc"
declare -A sources=(
  [agent_frames_fuzz]="common/status.cc common/base64.cc agent/protocol/frame.cc agent/protocol/message.cc agent/protocol/fields.cc agent/protocol/ops.cc"
  [ws_frames_fuzz]="common/status.cc common/base64.cc rest/ws_frame.cc"
  [api_input_fuzz]="$base image/reference.cc rest/create_schema.cc rest/query.cc rest/microversion.cc model/container.cc common/base64.cc common/ids.cc common/ipv4.cc common/shlex.cc common/config.cc common/runtime_config.cc common/timefmt.cc"
  [registry_fuzz]="$base image/manifest.cc image/reference.cc image/auth_challenge.cc"
  [archive_fuzz]="$base image/reference.cc image/manifest.cc image/archive_import.cc image/blob_store.cc image/layer_unpack.cc common/tar_extract.cc common/fs_at.cc common/sha256.cc"
)
declare -A libs=([agent_frames_fuzz]="-lcrypto" [ws_frames_fuzz]="-lcrypto" [api_input_fuzz]="-lcrypto -linih -luuid"
                 [registry_fuzz]="" [archive_fuzz]="-lcrypto -larchive")
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(agent_frames_fuzz ws_frames_fuzz api_input_fuzz registry_fuzz archive_fuzz)
for target in "${targets[@]}"; do
  read -r -a src <<<"${sources[$target]}"
  bin="$out/$target"
  # Rebuilt when the target, a source or any header of the tree is newer than the binary.
  newest=$(cd "$root" && ls -t "tests/fuzz/$target.cc" "${src[@]}" ./*/*.h ./*/*/*.h | head -1)
  if [[ ! -x "$bin" || "$root/$newest" -nt "$bin" ]]; then
    # shellcheck disable=SC2086
    (cd "$root" && clang++ -std=c++20 -O1 -g -I. -Werror -Wall \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      "tests/fuzz/$target.cc" "${src[@]}" -o "$bin" ${libs[$target]})
  fi
  corpus="$out/$target.corpus"
  mkdir -p "$corpus"
  cp -n "$root"/tests/fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "== $target: $seconds s"
  "$bin" -max_total_time="$seconds" -max_len=70000 -timeout=10 -rss_limit_mb=2048 "$corpus"
done
