#!/usr/bin/env bash
# Benchmark of the operator console's heaviest reads through the real server
# in local mode: GET /admin/sync-health over USERS users (every page of 500,
# and the first page of filter=problems), and /admin/overview, /admin/queues
# and /admin/schedules, on SQLite or PostgreSQL.
#
#   bench/admin.sh [sqlite|postgres] [USERS]      (default: sqlite 10000)
# postgres: a throwaway cluster is created in a temporary directory (as the
# postgres user when run as root), or BENCH_DATABASE_URL is used.
# The users are written straight into the database: every one with an ok
# Google account, contacts and primary-calendar sync state and a watch
# channel, except every 10th revoked, every 7th calendar overdue and every
# 5th channel missing (so about 40 % have a problem). Reports wall time per
# request (curl's time_total; median and max of the runs), the server's CPU
# for the whole walk, and its peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
users="${2:-10000}"

[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
bin="$PWD/build-bench/catchup-jobs"

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

port=$(free_port)
mkdir -p "$work/config"
cp config/queues.json config/schedules.json "$work/config/"
env_list=(PATH="$PATH" PORT="$port" CONFIG_DIR="$work/config" DATABASE_URL="$db_url"
  OIDC_JWKS_URL="http://127.0.0.1:9/certs" LOG_LEVEL=warning
  ENQUEUE_ALLOWED_EMAILS=bench@example.com)
cli() { (cd "$work" && env -i "${env_list[@]}" "$bin" "$@"); }
cli migrate >/dev/null

# The users, in one statement per table (both backends take this SQL).
now=$(date +%s)
seed=$(cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, email, created_at, updated_at)
SELECT 'user-' || CAST(i AS TEXT), 'user' || CAST(i AS TEXT) || '@example.com', 1, 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO google_accounts (user_id, status, token_expires_at, created_at, updated_at)
SELECT 'user-' || CAST(i AS TEXT), CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END,
       $now + 3000, 1, 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO sync_state (user_id, kind, last_sync_at, last_change_count, interval_seconds,
                        next_sync_at, updated_at)
SELECT 'user-' || CAST(i AS TEXT), 'contacts', $now - 600, 3, 3600, $now + 3000, 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO sync_state (user_id, kind, last_sync_at, last_change_count, interval_seconds,
                        next_sync_at, updated_at)
SELECT 'user-' || CAST(i AS TEXT), 'calendar:primary', $now - 600, 0, 3600,
       CASE WHEN i % 7 = 0 THEN $now - 9000 ELSE $now + 3000 END, 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO webhook_channels (id, user_id, calendar_id, token_hash, expiration, status,
                              last_notification_at, created_at, updated_at)
SELECT 'chan-' || CAST(i AS TEXT), 'user-' || CAST(i AS TEXT), 'primary', 'h', $now + 500000,
       'active', $now - 60, 1, 1 FROM n WHERE i % 5 <> 0;
SQL
)
if [ "$backend" = postgres ]; then
  psql -q -v ON_ERROR_STOP=1 "$db_url" <<<"$seed"
else
  sqlite3 "$work/data/catchup.db" <<<"$seed"
fi

(cd "$work" && exec env -i "${env_list[@]}" "$bin" serve >"$work/server.log" 2>&1) &
pid=$!
pids+=("$pid")
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
token=$(cli token --email bench@example.com)
base="http://127.0.0.1:$port"
get() { curl -fsS -H "Authorization: Bearer $token" -o "$work/out.json" -w '%{time_total}\n' "$base$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# Median and max in ms of the times (seconds) on stdin
stats() { python3 -c 'import sys, statistics as s; t=[float(x)*1000 for x in sys.stdin]; print(f"median {s.median(t):.1f} ms, max {max(t):.1f} ms ({len(t)} runs)")'; }

echo "backend: $backend, users: $users"
for path in /admin/overview /admin/queues "/admin/schedules?count=5"; do
  get "$path" >/dev/null # warm
  echo "GET $path: $(for _ in $(seq 1 20); do get "$path"; done | stats)"
done

# Every page of 500, following next.
ticks0=$(cpu_ticks)
cursor=""
pages=0
: >"$work/times"
while :; do
  get "/admin/sync-health?limit=500${cursor:+&cursor=$cursor}" >>"$work/times"
  pages=$((pages + 1))
  cursor=$(python3 -c 'import json; n = json.load(open("'"$work/out.json"'"))["next"]; print(n or "")')
  [ -n "$cursor" ] || break
done
ticks1=$(cpu_ticks)
echo "GET /admin/sync-health?limit=500, every page: $pages pages, per page $(stats <"$work/times")"
total=$(python3 -c 'import sys; print(f"{sum(float(x) for x in sys.stdin):.2f}")' <"$work/times")
python3 -c "print(f'  whole walk: {$total} s of requests, server CPU {($ticks1 - $ticks0) / $hz:.2f} s')"
echo "GET /admin/sync-health?filter=problems&limit=50 (first page): $(for _ in $(seq 1 10); do get '/admin/sync-health?filter=problems&limit=50'; done | stats)"
python3 -c 'import json; d = json.load(open("'"$work/out.json"'")); print("  first page: %d users, next %s" % (len(d["users"]), "set" if d["next"] else "null"))'
echo "peak RSS of the server: $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
