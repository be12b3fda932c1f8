#!/usr/bin/env bash
# Benchmark: POST /jobs/ping with valid tokens and unique task names through
# the Upstash-compatible test server over a real redis-server, driven by wrk
# at 64 connections. Reports requests/s, p50/p99 latency, server CPU time per
# job (from /proc), peak RSS, and cold start (exec to first 200 from
# /health/ready). Figures go to stdout; bench/README.md records them.
#
#   bench/run.sh [DURATION_SECONDS] [TOKENS]
#     TOKENS=1    one token for all requests (verified-token cache hits)
#     TOKENS=5000 distinct tokens (each request pays a full RS256 verify
#                 until the cache holds them all)
#   PERF_OUT=perf.data bench/run.sh   also records a CPU profile of the server
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
ntokens="${2:-1}"

BENCH_TOKENS=$ntokens
# shellcheck source=bench/upstream.sh
source bench/upstream.sh
app_port=$(port)

export PORT=$app_port BIND_ADDRESS=127.0.0.1 LOG_LEVEL=warning \
  OIDC_JWKS_URL="http://127.0.0.1:$jwks_port/jwks.json" \
  UPSTASH_REDIS_REST_URL="http://127.0.0.1:$upstash_port" UPSTASH_REDIS_REST_TOKEN="$token" \
  CLOUD_RUN_URL=https://bench.a.run.app SERVICE_ACCOUNT_EMAIL=tasks@bench.iam.gserviceaccount.com \
  DATABASE_URL="sqlite:$work/catchup.db" CONFIG_DIR="$PWD/config"

cold=()
for _ in 1 2 3 4 5; do
  cold+=("$(build-bench/tests/bench_tool coldstart "http://127.0.0.1:$app_port/health/ready" build-bench/catchup-jobs serve)")
done

build-bench/catchup-jobs serve >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$app_port/health/ready" >/dev/null 2>&1 && break
  sleep 0.05
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# Warm-up (fills connection pools), not measured.
TOKENS_FILE="$work/tokens.txt" wrk -t2 -c64 -d2s -s bench/ping.lua "http://127.0.0.1:$app_port" >/dev/null
before=$(cpu)
if [ -n "${PERF_OUT:-}" ]; then
  perf record -F 499 -g -p "$server" -o "$PERF_OUT" -- sleep "$duration" >/dev/null 2>&1 &
fi
out=$(TOKENS_FILE="$work/tokens.txt" wrk -t2 -c64 -d"${duration}s" --latency -s bench/ping.lua "http://127.0.0.1:$app_port")
after=$(cpu)
summary=$(echo "$out" | grep '^requests=')
requests=$(echo "$summary" | grep -o "requests=[0-9]*" | cut -d= -f2)
cpu_us=$(( (after - before) * 1000000 / ticks ))
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
rss_detail=$(awk '/RssAnon|RssFile|Threads/ {printf "%s%s ", $1, $2}' "/proc/$server/status")
echo "$out" | sed -n '/Latency Distribution/,/99%/p'
echo "$summary"
echo "tokens=$ntokens duration=${duration}s"
echo "server_cpu_us_per_job=$(( cpu_us / (requests > 0 ? requests : 1) ))"
echo "peak_rss_kb=$rss_kb ($rss_detail)"
echo "cold_start_ms=${cold[*]}"
