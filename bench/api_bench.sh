#!/usr/bin/env bash
# API throughput of zunvmd (fake driver) against a bare cpprestsdk listener answering a fixed
# body (bench/fixed_listener.cc), both measured with wrk in the same run on 127.0.0.1.
# Prints the machine, the date and a table; asserts nothing about speed (it fails only when
# something does not work: a server does not start or dies, a setup request fails).
#
# usage: bench/api_bench.sh [BUILD_DIR]      (default: <repo>/build)
#   DURATION=10       seconds per wrk case (5 cases, so about 5*DURATION s plus setup)
#   CONNECTIONS=16    wrk connections (wrk -t2 -c$CONNECTIONS)
#   CONTAINERS=100    containers created before the GET cases (the list case returns them all)
#   FIXED_LISTENER=   path of the fixed_listener binary (default: $BUILD_DIR/fixed_listener)
#   KEEP=1            keep the temporary directory (zunvmd state, logs, raw wrk output)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
duration=${DURATION:-10}
conns=${CONNECTIONS:-16}
zunvmd=$build/zunvmd-fake   # zunvmd with the fake driver (a test build)
fixed_bin=${FIXED_LISTENER:-$build/fixed_listener}
threads=4        # zunvmd's default [api] threads; the fixed listener gets the same pool size
containers=${CONTAINERS:-100}  # created before the GET cases; the list case returns all of them

die() { echo "api_bench: $*" >&2; exit 1; }
[[ $duration =~ ^[1-9][0-9]*$ && $duration -le 600 ]] || die "DURATION must be 1-600 (seconds)"
[[ $containers =~ ^[1-9][0-9]*$ && $containers -le 5000 ]] || die "CONTAINERS must be 1-5000"
[[ $conns =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive number"
command -v wrk >/dev/null || die "wrk is missing (Debian: apt-get install -y wrk)"
command -v curl >/dev/null || die "curl is missing"
[[ -x $zunvmd ]] || die "$zunvmd not found: build the project first"
[[ -x $fixed_bin ]] || die "$fixed_bin not found: build the fixed_listener target first"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
mkdir "$tmp/state"
zpid="" fpid=""
stop() {  # pid: SIGTERM, up to 10 s to exit, then SIGKILL
  local pid=$1 deadline=$((SECONDS + 10))
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "api_bench: pid $pid ignored SIGTERM for 10 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$fpid"
  stop "$zpid"
  if [[ ${KEEP:-0} == 1 || $rc -ne 0 ]]; then
    echo "api_bench: logs and state kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
wait_for_line() {  # file, ERE, pid: polls until the line shows up (deadline 30 s)
  local deadline=$((SECONDS + 30))
  until grep -qsE "$2" "$1"; do
    kill -0 "$3" 2>/dev/null || { cat "$1" "$1.err" >&2 2>/dev/null; die "pid $3 exited before printing '$2'"; }
    ((SECONDS < deadline)) || { cat "$1" "$1.err" >&2 2>/dev/null; die "timed out waiting for '$2' in $1"; }
    sleep 0.05
  done
}
alive() {  # fail loudly if a server died during the run
  kill -0 "$zpid" 2>/dev/null ||
    { tail -n 30 "$tmp/zunvmd.out.err" >&2; die "zunvmd died during '$1' (log tail above)"; }
  kill -0 "$fpid" 2>/dev/null ||
    { tail -n 30 "$tmp/fixed.out.err" >&2; die "fixed_listener died during '$1'"; }
}

# --- servers -------------------------------------------------------------------------------
# The state sync loop is switched off so that it cannot fire in the middle of a case.
printf '[DEFAULT]\nsync_container_state_interval = 0\n' >"$tmp/zunvm.conf"
ZUNVM_FAKE_DRIVER_MEMORY_ONLY=1 "$zunvmd" --config-file "$tmp/zunvm.conf" --state-dir "$tmp/state" --driver fake --host-ip 127.0.0.1 --port 0 \
  >"$tmp/zunvmd.out" 2>"$tmp/zunvmd.out.err" &
zpid=$!
wait_for_line "$tmp/zunvmd.out" '^zunvmd listening on http://127\.0\.0\.1:[0-9]+' "$zpid"
port=$(sed -nE 's|^zunvmd listening on http://127\.0\.0\.1:([0-9]+).*|\1|p' "$tmp/zunvmd.out" | head -n1)
api="http://127.0.0.1:$port"

fport=$(free_port)
"$fixed_bin" "$fport" "$threads" >"$tmp/fixed.out" 2>"$tmp/fixed.out.err" &
fpid=$!
wait_for_line "$tmp/fixed.out" 'listening' "$fpid"
fixed="http://127.0.0.1:$fport"

# --- setup: 100 containers through the API ---------------------------------------------------
hdr=(-H 'OpenStack-API-Version: container 1.40' -H 'Content-Type: application/json')
create_body='{"image":"busybox","command":["sleep","inf"]}'
request() {  # method, url, [body] -> prints "<http code>\n<body>" (never fails on HTTP errors)
  local args=(-sS --max-time 10 -X "$1" "${hdr[@]}" -o "$tmp/resp" -w '%{http_code}')
  [[ $# -ge 3 ]] && args+=(-d "$3")
  local code
  code=$(curl "${args[@]}" "$2") || code="curl-failed"
  printf '%s\n' "$code"
  cat "$tmp/resp" 2>/dev/null || true
}
one=""
for ((i = 1; i <= containers; i++)); do
  out=$(request POST "$api/v1/containers" "$create_body")
  code=${out%%$'\n'*}
  [[ $code == 202 ]] || die "create #$i: HTTP $code: ${out#*$'\n'}"
  [[ -n $one ]] && continue
  one=$(/usr/bin/python3 -c 'import json,sys;print(json.loads(sys.stdin.read().split("\n",1)[1])["uuid"])' <<<"$out") ||
    die "create #$i: no uuid in the answer: ${out#*$'\n'}"
done
out=$(request GET "$api/v1/containers/$one")
[[ ${out%%$'\n'*} == 200 ]] || die "GET /v1/containers/$one: ${out}"
out=$(request GET "$api/v1/containers")
[[ ${out%%$'\n'*} == 200 ]] || die "GET /v1/containers: ${out}"
listed=$(/usr/bin/python3 -c 'import json,sys;print(len(json.loads(sys.stdin.read().split("\n",1)[1])["containers"]))' <<<"$out")
[[ $listed == "$containers" ]] || die "GET /v1/containers lists $listed containers, expected $containers"
list_bytes=$(($(printf '%s' "${out#*$'\n'}" | wc -c)))
out=$(request GET "$fixed/")
fixed_bytes=$(($(printf '%s' "${out#*$'\n'}" | wc -c)))

# --- wrk cases -------------------------------------------------------------------------------
# wrk prints latencies as 812.00us / 2.13ms / 1.02s; the table shows them all in ms.
run_wrk() {  # key, url, lua script
  local raw="$tmp/wrk.$1.txt"
  timeout $((duration + 60)) wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s --latency \
    -s "$root/bench/$3" "$2" >"$raw" 2>&1 || { cat "$raw" >&2; die "wrk failed for $1"; }
  alive "$1"
  res[$1]=$(awk '
    function ms(v) {
      if (v ~ /us$/) return sprintf("%.2f", v / 1000)
      if (v ~ /ms$/) return sprintf("%.2f", v + 0)
      if (v ~ /s$/)  return sprintf("%.2f", v * 1000)
      if (v ~ /m$/)  return sprintf("%.2f", v * 60000)
      return "?"
    }
    /Requests\/sec:/ {rps = $2}
    /^ +50%/ {p50 = ms($2)}
    /^ +99%/ {p99 = ms($2)}
    /Non-2xx or 3xx responses:/ {bad = $NF}
    /Socket errors:/ {gsub(",", ""); err = $4 + $6 + $8 + $10}
    END {printf "%s %s %s %d %d\n", (rps == "" ? 0 : rps), (p50 == "" ? "?" : p50),
                (p99 == "" ? "?" : p99), bad, err}' "$raw")
}
declare -A res
run_wrk fixed_get "$fixed/v1/containers/$one" get.lua
run_wrk get_one "$api/v1/containers/$one" get.lua
run_wrk get_list "$api/v1/containers" get.lua
run_wrk fixed_post "$fixed/v1/containers" create.lua
# The storage floor of (c): two fsync'ed commits per create in a plain loop, on the state dir's
# filesystem, just before the create case.
floor=$(/usr/bin/python3 "$root/bench/sqlite_floor.py" "$tmp" "$duration") || die "bench/sqlite_floor.py failed"
run_wrk create "$api/v1/containers" create.lua   # last: it adds thousands of containers

# --- report ----------------------------------------------------------------------------------
rule() { local s; printf -v s '%*s' "$1" ''; printf '%s' "${s// /-}"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# zunvm API bench"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cpus, ${cpu:-unknown cpu}, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "setup:   zunvmd $rev (fake driver, [api] threads $threads) vs fixed_listener ($threads threads," \
  "$fixed_bytes byte body); wrk -t2 -c$conns -d${duration}s on 127.0.0.1, same 2 cores as the servers"
awk -v l="${load_before%% *}" 'BEGIN {exit !(l > 1.0)}' &&
  echo "WARNING: the machine was busy before the run (1-min load ${load_before%% *}); numbers are noisier than usual"
echo "data:    $containers containers before the GET cases (list answer $list_bytes bytes)"
echo
printf '| %-28s | %9s | %8s | %8s | %-26s | %7s | %6s |\n' \
  case "req/s" "p50 ms" "p99 ms" "ratio vs fixed listener" non-2xx errors
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(rule 30)" "$(rule 10):" "$(rule 9):" "$(rule 9):" \
  "$(rule 28)" "$(rule 8):" "$(rule 7):"
row() {  # label, key, key of the fixed-listener case with the same method
  local rps p50 p99 bad err base ratio
  read -r rps p50 p99 bad err <<<"${res[$2]}"
  read -r base _ <<<"${res[$3]}"
  ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "n/a"}')
  [[ $2 == "$3" ]] && ratio="1 (baseline)"
  printf '| %-28s | %9.0f | %8s | %8s | %-26s | %7s | %6s |\n' "$1" "$rps" "$p50" "$p99" "$ratio" "$bad" "$err"
}
row "(a) GET one container" get_one fixed_get
row "(b) GET list, $containers items" get_list fixed_get
row "(c) POST create" create fixed_post
row "(d) fixed listener GET" fixed_get fixed_get
row "(e) fixed listener POST" fixed_post fixed_post
read -r create_rps _ <<<"${res[create]}"
echo
echo "storage floor of (c): $floor creates/s (two fsync'ed SQLite commits per create, WAL, synchronous=FULL," \
  "~1 KB rows, one thread: bench/sqlite_floor.py on the state dir's filesystem)"
echo "(c) against that floor: $(awk -v a="$create_rps" -v b="$floor" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "n/a"}')"
echo
echo "zunvmd log: $(grep -c ' error \| critical ' "$tmp/zunvmd.out.err" || true) error and" \
  "$(grep -c ' warning ' "$tmp/zunvmd.out.err" || true) warning lines during the run"
