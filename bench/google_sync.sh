#!/usr/bin/env bash
# Benchmark of the Google data jobs through the real server in local mode:
# a full google-contacts-sync of 5,000 contacts and a full calendar-sync of
# 2,000 events (each event with 2 attendees among the contacts), against the
# Google fake (tests/fixtures/fake_google_apis), on SQLite or PostgreSQL.
#
#   bench/google_sync.sh [sqlite|postgres]
# postgres: a throwaway cluster is created in a temporary directory (as the
# postgres user when run as root), or BENCH_DATABASE_URL is used.
# Reports per job: wall time (task created → job completed, from the log),
# server CPU, peak RSS of the server, and database statements per item
# (catchup_jobs_upstream_duration_seconds_count{upstream="database"} from
# /metrics, which counts every statement, BEGIN and COMMIT).
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
contacts=5000
events=2000

[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
bin="$PWD/build-bench/catchup-jobs"
fake="$PWD/build-bench/tests/fake_google_apis"

work=$(mktemp -d)
chmod 755 "$work"
pids=()
pgbin=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  if [ -n "$pgbin" ]; then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
    else "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

db_url="sqlite:$work/data/catchup.db"
if [ "$backend" = postgres ]; then
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    db_url="$BENCH_DATABASE_URL"
  else
    pgbin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort | tail -1)
    pgport=$(free_port)
    as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    mkdir -p "$work/pg" && [ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
    as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U bench >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -o "-p $pgport -k $work/pg -c fsync=off" -w start >/dev/null
    as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U bench catchup
    db_url="postgresql://bench@127.0.0.1:$pgport/catchup"
  fi
fi

gport=$(free_port)
"$fake" --port "$gport" --client-id bench-client --client-secret bench-secret >"$work/fake.log" 2>&1 &
pids+=($!)
g="http://127.0.0.1:$gport"
for _ in $(seq 1 100); do curl -fs "$g/__control/stats" >/dev/null 2>&1 && break; sleep 0.05; done
ctl() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$g/__control/$1" >/dev/null; }
now=$(date +%s)
ctl accounts '{"refreshToken":"rt-bench"}'
ctl contacts "{\"refreshToken\":\"rt-bench\",\"generate\":{\"count\":$contacts}}"
ctl events "{\"refreshToken\":\"rt-bench\",\"generate\":{\"count\":$events,\"start\":$((now - 60 * 86400)),\"step\":1800,\"attendees\":[\"contact1@example.com\",\"contact2@example.com\"]}}"

port=$(free_port)
mkdir -p "$work/config"
cp config/queues.json "$work/config/"
echo '{"schedules": []}' >"$work/config/schedules.json"
env_list=(PATH="$PATH" PORT="$port" CONFIG_DIR="$work/config" DATABASE_URL="$db_url"
  OIDC_JWKS_URL="http://127.0.0.1:9/certs" LOG_LEVEL=info
  GOOGLE_CLIENT_ID=bench-client GOOGLE_CLIENT_SECRET=bench-secret
  GOOGLE_OAUTH_TOKEN_URL="$g/token" GOOGLE_PEOPLE_API_URL="$g" GOOGLE_CALENDAR_API_URL="$g")
(cd "$work" && exec env -i "${env_list[@]}" "$bin" serve >"$work/server.log" 2>&1) &
pid=$!
pids+=("$pid")
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
cli() { (cd "$work" && env -i "${env_list[@]}" "$bin" "$@"); }
# The user, without the initial syncs (each job below is measured alone).
cli user add --email bench@example.com --id bench-user --google-refresh-token rt-bench >/dev/null 2>"$work/add.err" || { cat "$work/add.err" >&2; exit 1; }
completed_count() { grep -c "job $1 completed" "$work/server.log" || true; }
# user add enqueues the initial syncs: let them finish, then measure runs
# with "full": true.
for _ in $(seq 1 600); do
  [ "$(completed_count google-contacts-sync)" -ge 1 ] && [ "$(completed_count calendar-sync)" -ge 1 ] && break
  sleep 0.1
done

statements() {
  curl -fs "http://127.0.0.1:$port/metrics" |
    awk '/^catchup_jobs_upstream_duration_seconds_count\{upstream="database"/ {s += $2} END {print s + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

measure() { # type payload items label
  local before ticks0 st0 t0 t1 ticks1 st1
  before=$(completed_count "$1")
  ticks0=$(cpu_ticks); st0=$(statements); t0=$(date +%s.%N)
  cli enqueue "$1" "$2" >/dev/null
  while [ "$(completed_count "$1")" -le "$before" ]; do sleep 0.02; done
  t1=$(date +%s.%N); ticks1=$(cpu_ticks); st1=$(statements)
  python3 - "$4" "$t0" "$t1" "$ticks0" "$ticks1" "$hz" "$st0" "$st1" "$3" <<'PY'
import sys
label, t0, t1, c0, c1, hz, s0, s1, n = sys.argv[1:]
wall = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz); st = float(s1) - float(s0)
print(f"{label}: wall {wall:.2f} s, server CPU {cpu:.2f} s, {st:.0f} database calls ({st/int(n):.2f} per item)")
PY
  grep "job $1 completed" "$work/server.log" | tail -1 |
    python3 -c 'import json, sys; print("  " + json.loads(sys.stdin.read())["message"])'
}

echo "backend: $backend"
measure google-contacts-sync '{"userId":"bench-user","full":true}' "$contacts" "contacts sync of $contacts"
measure calendar-sync '{"userId":"bench-user","full":true}' "$events" "calendar sync of $events events"
echo "peak RSS of the server: $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
