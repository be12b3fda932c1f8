#!/usr/bin/env bash
# Benchmark of POST /webhooks/google-calendar under a flood of pushes on one
# channel: local mode, SQLite, wrk with 2 threads and 16 connections. Every
# push authenticates the channel (token hash, constant-time compare), reads
# it, and claims the 30-second bucket; one push per bucket creates the
# calendar-sync task (in the embedded Cloud Tasks), the others are answered
# "coalesced" from the database. Message numbers interleave between wrk's
# threads, so part of the pushes are replays ("ignored").
#
#   bench/webhook.sh [SECONDS]
# Reports: pushes/s, p50/p99, server CPU per push, peak RSS, and how many
# calendar-sync tasks were created. bench/README.md records them.
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
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/config"
cp config/queues.json "$work/config/"
echo '{"schedules": []}' >"$work/config/schedules.json"
bin="$PWD/build-bench/catchup-jobs"
(cd "$work" && exec env -i PATH="$PATH" PORT="$port" CONFIG_DIR="$work/config" \
  OIDC_JWKS_URL="http://127.0.0.1:9/certs" LOG_LEVEL=warning \
  "$bin" serve >"$work/server.log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

# A user and an active channel, written as webhook-health-check would.
read -r channel token < <(python3 - "$work/data/catchup.db" <<'PY'
import hashlib, secrets, sqlite3, sys, time, uuid
db = sqlite3.connect(sys.argv[1], timeout=10)
now = int(time.time())
cid, tok = str(uuid.uuid4()), secrets.token_urlsafe(32)
db.execute("INSERT INTO users (id, email, created_at, updated_at) VALUES ('bench', 'b@example.com', ?, ?)", (now, now))
db.execute("INSERT INTO webhook_channels (id, user_id, calendar_id, resource_id, token_hash, expiration, status, created_at, updated_at) "
           "VALUES (?, 'bench', 'primary', 'bench-resource', ?, ?, 'active', ?, ?)",
           (cid, hashlib.sha256(tok.encode()).hexdigest(), now + 604800, now, now))
db.commit()
print(cid, tok)
PY
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
metric() {
  curl -fs "http://127.0.0.1:$port/metrics" | awk -v m="$1" 'index($0, m " ") == 1 {print $2}' | head -1
}
ticks0=$(cpu_ticks)
CHANNEL_ID=$channel CHANNEL_TOKEN=$token wrk -t2 -c16 -d"${duration}s" --latency \
  -s bench/webhook.lua "http://127.0.0.1:$port" >"$work/wrk.txt"
ticks1=$(cpu_ticks)
sent=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
hz=$(getconf CLK_TCK)
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "pushes:               $sent in ${duration} s (${non2xx:-0} not 2xx)"
echo "pushes/s:             $rps (p50 $p50, p99 $p99)"
echo "by result:            enqueued $(metric 'catchup_jobs_webhook_pushes_total{result="enqueued"}'), coalesced $(metric 'catchup_jobs_webhook_pushes_total{result="coalesced"}'), stale $(metric 'catchup_jobs_webhook_pushes_total{result="stale"}')"
echo "calendar-sync creates: $(metric 'catchup_jobs_enqueue_total{type="calendar-sync",result="created"}')"
python3 -c "print('server CPU per push:  %.0f us' % (($ticks1 - $ticks0) / $hz / max($sent, 1) * 1e6))"
echo "peak RSS:             $((rss / 1024)) MB"
