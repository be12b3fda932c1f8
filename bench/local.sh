#!/usr/bin/env bash
# Benchmark of local mode end to end: tasks created over the embedded Cloud
# Tasks' REST API (wrk, 32 connections) → stored in SQLite → dispatched by
# the embedded dispatcher → POST /jobs/ping on the same server (token check,
# local idempotency store, handler) → deleted. Five queues with raised rate
# limits (Cloud Tasks caps one queue at 500 dispatches/s). While wrk runs, a
# probe creates one task every 50 ms and reads its completion time from the
# server's log, for create→completion latency.
#
#   bench/local.sh [CREATE_SECONDS]
# Reports: tasks created, create requests/s, end-to-end tasks/s (completed
# over the time from the first create to the last completion), server CPU
# per task, peak RSS, probe latency p50/p99. bench/README.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"

command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
queues="ping-queue,token-refresh-queue,calendar-sync-queue,google-contacts-sync-queue,adaptive-sync-queue"
mkdir -p "$work/config"
python3 - "$work/config" "$queues" <<'PY'
import json, sys
d, names = sys.argv[1], sys.argv[2].split(",")
q = json.load(open("config/queues.json"))
for n in names:
    q[n]["rateLimits"] = {"maxDispatchesPerSecond": 500, "maxConcurrentDispatches": 100}
json.dump(q, open(d + "/queues.json", "w"))
json.dump({"schedules": []}, open(d + "/schedules.json", "w"))
PY

bin="$PWD/build-bench/catchup-jobs"
(cd "$work" && exec env -i PATH="$PATH" PORT="$port" CONFIG_DIR="$work/config" \
  OIDC_JWKS_URL="http://127.0.0.1:9/certs" LOG_LEVEL=info \
  "$bin" serve >"$work/server.log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
completed() {
  curl -fs "http://127.0.0.1:$port/metrics" |
    awk '/^catchup_jobs_requests_total\{type="ping",outcome="completed"\}/ {print $2}' |
    awk '{s += $1} END {print s + 0}'
}
ticks0=$(cpu_ticks)
start=$(date +%s.%N)

# The probe: one named task every 50 ms while wrk runs.
BENCH_PORT=$port python3 - "$duration" >"$work/probes" <<'PY' &
import json, os, sys, time, urllib.request
port, dur = os.environ["BENCH_PORT"], float(sys.argv[1])
end = time.time() + dur
i = 0
while time.time() < end:
    name = "probe-%d-%d" % (i, int(time.time() * 1e6))
    body = {"task": {"name": "projects/local/locations/local/queues/ping-queue/tasks/" + name,
                     "httpRequest": {"url": "http://127.0.0.1:%s/jobs/ping" % port,
                                     "httpMethod": "POST", "body": "e30=",
                                     "oidcToken": {"serviceAccountEmail": "local-tasks@catchup-jobs.local",
                                                   "audience": "http://127.0.0.1:%s" % port}}}}
    req = urllib.request.Request("http://127.0.0.1:%s/v2/projects/local/locations/local/queues/ping-queue/tasks" % port,
                                 data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t0 = time.time()
    urllib.request.urlopen(req).read()
    print(name, t0)
    i += 1
    time.sleep(0.05)
PY
probe=$!

BENCH_PORT=$port BENCH_QUEUES=$queues wrk -t2 -c32 -d"${duration}s" --latency \
  -s bench/emulator_create.lua "http://127.0.0.1:$port" >"$work/wrk.txt"
wait "$probe"
sent=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
refused=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
created=$((sent - ${refused:-0}))
[ "${refused:-0}" -eq 0 ] || echo "warning: $refused creates were refused" >&2
probes=$(wc -l <"$work/probes")
total=$((created + probes))

# Wait for every task to complete (bounded).
for _ in $(seq 1 600); do
  [ "$(completed)" -ge "$total" ] && break
  sleep 0.2
done
done_n=$(completed)
ticks1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
last=$(python3 - "$work/server.log" <<'PY'
import json, sys, datetime
last = 0
for line in open(sys.argv[1]):
    if '"answered: completed"' in line or 'answered: completed' in line:
        t = json.loads(line)["time"]
        last = max(last, datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())
print(last)
PY
)
latency=$(python3 - "$work/server.log" "$work/probes" <<'PY'
import json, sys, datetime
done = {}
for line in open(sys.argv[1]):
    if "answered: completed" in line and "probe-" in line:
        o = json.loads(line)
        t = datetime.datetime.strptime(o["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        done[o.get("taskName")] = t
lat = sorted((done[n] - float(t0)) * 1000 for n, t0 in (l.split() for l in open(sys.argv[2])) if n in done)
if not lat:
    print("n/a n/a 0")
else:
    print("%.1f %.1f %d" % (lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], len(lat)))
PY
)
read -r p50 p99 nprobe <<<"$latency"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

python3 - "$start" "$last" "$done_n" "$total" "$((ticks1 - ticks0))" "$hz" "$rss" "$p50" "$p99" "$nprobe" "$work/wrk.txt" <<'PY'
import sys, re
start, last, done, total, ticks, hz, rss, p50, p99, n, wrkf = sys.argv[1:]
start, last, done, total, ticks, hz = float(start), float(last), int(done), int(total), int(ticks), int(hz)
wrk = open(wrkf).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)
print("tasks created:        %d (%d by wrk at %s creates/s, plus probes)" % (total, total - int(n or 0), rps))
print("tasks completed:      %d" % done)
print("end to end:           %.0f tasks/s (first create to last completion, %.1f s)" % (done / (last - start), last - start))
print("server CPU per task:  %.0f us" % (ticks / hz / max(done, 1) * 1e6))
print("peak RSS:             %.1f MB" % (int(rss) / 1024))
print("create->completion:   p50 %s ms, p99 %s ms (%s probes)" % (p50, p99, n))
PY
