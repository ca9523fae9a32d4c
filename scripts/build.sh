#!/usr/bin/env bash
# Configures and builds the tree: build/ (RelWithDebInfo, what run.sh serves) and, with
# --asan, build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer, what test.sh tests).
# Incremental and safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

build() {  # dir, extra cmake args...
  local dir=$1; shift
  if [[ ! -f "$root/$dir/build.ninja" ]]; then
    cmake -S "$root" -B "$root/$dir" -G Ninja "$@"
  fi
  cmake --build "$root/$dir" -j "$jobs"
}

build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [[ "${1:-}" == "--asan" ]]; then
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DZUNVM_SANITIZE=ON
fi
