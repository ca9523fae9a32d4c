#!/usr/bin/env bash
# API throughput of zunvmd (fake driver) against a bare cpprestsdk listener answering a fixed
# body, measured in the same run with wrk on 127.0.0.1. Prints a table; asserts nothing.
# usage: bench/api_bench.sh [BUILD_DIR]   (DURATION=10 seconds per case, CONNECTIONS=16)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
duration=${DURATION:-10}
conns=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/setup.sh" >&2; exit 2; }

state=$(mktemp -d)
out=$(mktemp)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state" "$out"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_for_line() {  # file, regex: polls until the line appears (deadline 30 s)
  local deadline=$((SECONDS + 30))
  until grep -qsE "$2" "$1"; do
    ((SECONDS < deadline)) || { echo "timed out waiting for $2" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}

"$build/zunvmd" --state-dir "$state" --port 0 --config-file <(printf '[DEFAULT]\nsync_container_state_interval = 0\n') >"$out" 2>"$state/zunvmd.err" &
pids+=($!)
wait_for_line "$out" 'listening on'
port=$(sed -nE 's/.*listening on http:\/\/[^:]+:([0-9]+).*/\1/p' "$out")
api="http://127.0.0.1:$port"

fixed_port=$(free_port)
fixed_out="$state/fixed.out"
"$build/fixed_listener" "$fixed_port" 4 >"$fixed_out" &
pids+=($!)
wait_for_line "$fixed_out" 'listening'
fixed="http://127.0.0.1:$fixed_port"

hdr=(-H 'OpenStack-API-Version: container 1.40' -H 'Content-Type: application/json')
one=""
for i in $(seq 1 100); do
  uuid=$(curl -sf "${hdr[@]}" -d '{"image": "busybox", "command": ["sleep", "inf"]}' "$api/v1/containers" |
         /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)["uuid"])')
  [[ -n "$one" ]] || one=$uuid
done

run_wrk() {  # url, lua -> "req/s p50 p99"
  wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$root/bench/$2" "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    / Non-2xx/ {bad=$NF}
    END {printf "%s %s %s %s\n", rps, p50, p99, (bad == "" ? 0 : bad)}'
}

declare -A res
res[fixed_get]=$(run_wrk "$fixed/v1/containers/x" get.lua)
res[get_one]=$(run_wrk "$api/v1/containers/$one" get.lua)
res[get_list]=$(run_wrk "$api/v1/containers" get.lua)
res[fixed_post]=$(run_wrk "$fixed/v1/containers" create.lua)
res[create]=$(run_wrk "$api/v1/containers" create.lua)

echo "# zunvm API bench — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), wrk -t2 -c$conns -d${duration}s"
printf '| %-34s | %10s | %9s | %9s | %8s | %-22s |\n' case "req/s" p50 p99 non-2xx "ratio vs fixed listener"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..24})"
row() {  # name, key, base key
  read -r rps p50 p99 bad <<<"${res[$2]}"
  read -r base _ _ _ <<<"${res[$3]}"
  ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  printf '| %-34s | %10s | %9s | %9s | %8s | %-22s |\n' "$1" "$rps" "$p50" "$p99" "$bad" "$ratio"
}
row "fixed listener GET (floor)" fixed_get fixed_get
row "GET one container" get_one fixed_get
row "GET list of 100 containers" get_list fixed_get
row "fixed listener POST (floor)" fixed_post fixed_post
row "POST create (fake driver)" create fixed_post
