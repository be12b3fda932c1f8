#!/usr/bin/env bash
# The scale-out soak, full run: three catchup-jobs instances (release build,
# cloud mode) sharing the Upstash test server over redis-server and one
# PostgreSQL, behind nginx round-robin on loopback; a Cloud Tasks-like
# driver delivers TASKS tasks (retries on each queue's backoff x 0.25, 5 %
# duplicate deliveries) while one instance is SIGKILLed and restarted every
# SECONDS_BETWEEN_KILLS. Prints the figures and the checks; exits 0 when no
# task was lost, no effect repeated and every failure left a dead letter.
#
#   bench/soak/run.sh [TASKS] [SECONDS_BETWEEN_KILLS]     (100000, 30)
#   SOAK_RATE=N     new tasks per second (default 200, so that kills land
#                   all through the run; 0: as fast as they go)
#   SOAK_LOGS=DIR   keep the instances' and nginx's logs there
#   SOAK_ARGS="…"   more soak_driver options (bench/soak/driver.c)
#
# The run is cut off after 20 minutes. Every process it starts is ended on
# exit, also when the driver itself dies (the trap below).
set -euo pipefail
cd "$(dirname "$0")/../.."
tasks="${1:-100000}"
every="${2:-30}"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "the soak needs nginx (apt-get install nginx)" >&2
  exit 2
fi
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null

work=$(mktemp -d)
driver=""
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  if [ -n "$driver" ]; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # What a driver that died left running: the process groups it listed.
  if [ -s "$work/pids" ]; then
    while read -r p; do
      kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done <"$work/pids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export SOAK_PID_FILE="$work/pids"
export CJ_BIN="$PWD/build-bench/catchup-jobs" CJ_SOURCE_ROOT="$PWD"
export CJ_FIXTURE_UPSTASH_SERVER="$PWD/build-bench/tests/upstash_server"
export CJ_FIXTURE_FAKE_MESSAGING="$PWD/build-bench/tests/fake_messaging"
args=(--tasks "$tasks" --kill-every "$every" --rate "${SOAK_RATE:-200}" --abort-after 1200)
[ -n "${SOAK_LOGS:-}" ] && args+=(--keep-logs "$SOAK_LOGS")
# shellcheck disable=SC2206
[ -n "${SOAK_ARGS:-}" ] && args+=(${SOAK_ARGS})

build-bench/tests/soak_driver "${args[@]}" &
driver=$!
status=0
wait "$driver" || status=$?
driver=""
exit "$status"
