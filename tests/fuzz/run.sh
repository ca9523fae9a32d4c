#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and runs each for a
# bounded time (FUZZ_SECONDS, default 30) from its seed corpus. Exit status is libFuzzer's:
# non-zero on a crash, a leak or a sanitizer report.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
mkdir -p "$out"
# Each target with the sources it needs.
declare -A sources=(
  [agent_frames_fuzz]="common/status.cc common/base64.cc agent/protocol/frame.cc agent/protocol/message.cc agent/protocol/fields.cc agent/protocol/ops.cc"
  [ws_frames_fuzz]="common/status.cc common/base64.cc rest/ws_frame.cc"
)
declare -A libs=([agent_frames_fuzz]="-lcrypto" [ws_frames_fuzz]="-lcrypto")
for target in agent_frames_fuzz ws_frames_fuzz; do
  read -r -a src <<<"${sources[$target]}"
  bin="$out/$target"
  newest=$(cd "$root" && ls -t "tests/fuzz/$target.cc" "${src[@]}" agent/protocol/*.h rest/ws_frame.h | head -1)
  if [[ ! -x "$bin" || "$root/$newest" -nt "$bin" ]]; then
    # shellcheck disable=SC2086
    (cd "$root" && clang++ -std=c++20 -O1 -g -I. -Werror -Wall \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      "tests/fuzz/$target.cc" "${src[@]}" -o "$bin" ${libs[$target]})
  fi
  corpus="$out/$target.corpus"
  mkdir -p "$corpus"
  cp -n "$root"/tests/fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  "$bin" -max_total_time="$seconds" -max_len=70000 -timeout=10 -rss_limit_mb=2048 "$corpus"
done
