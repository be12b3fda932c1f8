#!/usr/bin/env bash
# The ping path against its floor, in one run: the release build of
# catchup-jobs (cloud mode, default log level, SQLite) and bench/floor.c (a
# bare libmicrohttpd handler making the same two kept-alive Upstash calls,
# no token check) both serve POST /jobs/ping through the same Upstash test
# server and redis-server, driven by wrk at 64 connections in alternating
# rounds. Reports per server: requests/s, p50/p99, CPU per job (user+sys
# ticks from /proc across the measured rounds), peak RSS (VmHWM) at 64
# connections, and for catchup-jobs the start: exec to the first accepted
# TCP connection, to the first 200 from GET /health/live and to the first
# 200 from /health/ready, over STARTS runs with a reachable JWKS.
#
#   bench/floor.sh [SECONDS_PER_ROUND] [ROUNDS] [STARTS]   (defaults 10 3 20)
#   PERF_OUT=DIR bench/floor.sh   also records DIR/product.data, DIR/floor.data
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
rounds="${2:-3}"
starts="${3:-20}"

# shellcheck source=bench/upstream.sh
source bench/upstream.sh
app_port=$(port); floor_port=$(port)

# Cloud mode, as on Cloud Run; nothing but Upstash and the JWKS is called.
key=$(head -c 32 /dev/urandom | base64)
export USE_CLOUD_TASKS=true GCP_PROJECT_ID=bench GCP_REGION=us-central1 \
  TOKEN_ENCRYPTION_KEY="$key" \
  CLOUD_TASKS_API_URL=http://127.0.0.1:9 GCE_METADATA_HOST=127.0.0.1:9 \
  PORT=$app_port BIND_ADDRESS=127.0.0.1 \
  OIDC_JWKS_URL="http://127.0.0.1:$jwks_port/jwks.json" \
  UPSTASH_REDIS_REST_URL="http://127.0.0.1:$upstash_port" UPSTASH_REDIS_REST_TOKEN="$token" \
  CLOUD_RUN_URL=https://bench.a.run.app SERVICE_ACCOUNT_EMAIL=tasks@bench.iam.gserviceaccount.com \
  DATABASE_URL="sqlite:$work/catchup.db" CONFIG_DIR="$PWD/config"
unset LOG_LEVEL

build-bench/catchup-jobs migrate >/dev/null 2>&1
accepted=() live=() ready=()
for _ in $(seq "$starts"); do
  read -r a l r < <(build-bench/tests/bench_tool startup "http://127.0.0.1:$app_port/health/live" \
    "http://127.0.0.1:$app_port/health/ready" build-bench/catchup-jobs serve)
  accepted+=("$a"); live+=("$l"); ready+=("$r")
done

build-bench/catchup-jobs serve >"$work/server.log" 2>&1 &
product=$!
pids+=("$product")
build-bench/tests/bench_floor --port "$floor_port" --upstash "http://127.0.0.1:$upstash_port" \
  --token "$token" &
floor=$!
pids+=("$floor")
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$app_port/health/ready" >/dev/null 2>&1 && break
  sleep 0.05
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A ticks_used=([product]=0 [floor]=0) jobs=([product]=0 [floor]=0) p50=() p99=() rps=() round_cpu=()
run() { # NAME PID PORT SECONDS [warm-up: not measured]
  local before after out summary perf_pid=""
  before=$(cpu "$2")
  if [ -n "${PERF_OUT:-}" ] && [ -z "${5:-}" ]; then
    perf record -F 2000 ${PERF_CALLGRAPH:+-g} -p "$2" -o "$PERF_OUT/$1.data" -- sleep "$4" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$(TOKENS_FILE="$work/tokens.txt" wrk -t2 -c64 -d"$4s" --latency -s bench/ping.lua "http://127.0.0.1:$3")
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  after=$(cpu "$2")
  summary=$(echo "$out" | grep '^requests=')
  if [ "$(echo "$summary" | grep -o 'non2xx_or_errors=[0-9]*' | cut -d= -f2)" != 0 ]; then
    echo "$1: answers other than 200: $summary" >&2
    exit 1
  fi
  [ -n "${5:-}" ] && return 0
  local n
  n=$(echo "$summary" | grep -o 'requests=[0-9]*' | cut -d= -f2)
  ticks_used[$1]=$(( ${ticks_used[$1]} + after - before ))
  jobs[$1]=$(( ${jobs[$1]} + n ))
  round_cpu[$1]+="$(( (after - before) * 1000000 / ticks / (n > 0 ? n : 1) )) "
  p50[$1]+="$(echo "$summary" | grep -o 'p50_us=[0-9]*' | cut -d= -f2) "
  p99[$1]+="$(echo "$summary" | grep -o 'p99_us=[0-9]*' | cut -d= -f2) "
  rps[$1]+="$(echo "$summary" | grep -o 'rps=[0-9]*' | cut -d= -f2) "
}
[ -z "${PERF_OUT:-}" ] || mkdir -p "$PERF_OUT"

# Warm-up (connection pools, the verified-token cache), not measured.
run product "$product" "$app_port" 2 warm-up
run floor "$floor" "$floor_port" 2 warm-up
for _ in $(seq "$rounds"); do
  run product "$product" "$app_port" "$duration"
  run floor "$floor" "$floor_port" "$duration"
done

per_job() { echo $(( ${ticks_used[$1]} * 1000000 / ticks / (${jobs[$1]} > 0 ? ${jobs[$1]} : 1) )); }
pc=$(per_job product); fc=$(per_job floor)
for n in product floor; do
  pid=$product; [ $n = floor ] && pid=$floor
  echo "$n: jobs=${jobs[$n]} rps=[${rps[$n]% }] p50_us=[${p50[$n]% }] p99_us=[${p99[$n]% }]" \
    "cpu_us_per_job=$(per_job $n)" \
    "peak_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" \
    "($(awk '/RssAnon|RssFile|Threads/ {printf "%s%s ", $1, $2}' "/proc/$pid/status" | sed 's/ $//'))"
done
echo "cpu_ratio=$(awk -v p="$pc" -v f="$fc" 'BEGIN { printf "%.2f", p / f }') (all rounds)"
# The machine is shared: each product round is compared with the floor
# round right after it, and the median of those ratios is reported too.
ratios=$(paste -d' ' <(echo "${round_cpu[product]}" | tr ' ' '\n' | sed '/^$/d') \
  <(echo "${round_cpu[floor]}" | tr ' ' '\n' | sed '/^$/d') |
  awk '{printf "%.2f\n", $1 / $2}' | sort -n | tr '\n' ' ')
echo "per_round_cpu_us: product [${round_cpu[product]% }] floor [${round_cpu[floor]% }]"
echo "per_round_ratio: median $(echo "$ratios" | tr ' ' '\n' | sed '/^$/d' |
  awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ($ratios)"
sorted() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {printf "median %s, max %s", a[int((NR+1)/2)], a[NR]}'; }
echo "start_to_first_accept_ms: $(echo "${accepted[*]}" | sorted) (${accepted[*]})"
echo "start_to_live_200_ms: $(echo "${live[*]}" | sorted) (${live[*]})"
echo "start_to_ready_ms: $(echo "${ready[*]}" | sorted) (${ready[*]})"
echo "log_lines=$(wc -l <"$work/server.log")"
