#!/usr/bin/env bash
# STYLE.md "One clock": business time comes from src/clock.* only. This
# check lists every read of the wall clock in src/ and handlers/ and fails
# on one that is not in the list below, each entry saying why real time is
# right there. Monotonic reads (timeouts, latencies) are allowed anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

# file: why it reads real (wall) time rather than the business clock
allowed=(
  "src/timeutil.c"     # the wall clock itself
  "src/clock.c"        # business time = wall clock + offset
  "src/log.c"          # log timestamps are real time
  "src/auth.c"         # token lifetimes are judged on real time (SPEC §5.4)
  "src/gauth.c"        # access-token expiry, Google's clock
  "src/idempotency.c"  # done:{unix} stamps beside Redis TTLs, real time
  "src/lease.c"        # the same stamp, retried in the background
  "src/migrate.c"      # when a migration was applied
  "src/local_keys.c"   # token iat/exp, real time
  "src/idem_local.c"   # completed keys expire like Redis TTLs, real time
  "src/http_server.c"  # the Date header of an answer written past libmicrohttpd
)

bad=0
while IFS= read -r hit; do
  file=${hit%%:*}
  ok=0
  for a in "${allowed[@]}"; do
    [ "$file" = "$a" ] && ok=1
  done
  if [ $ok -eq 0 ]; then
    echo "wall-clock read outside src/clock.*: $hit"
    bad=1
  fi
done < <(grep -rnE 'time_wall|gettimeofday|CLOCK_REALTIME|[^_a-z]time\((NULL|0)\)' src handlers \
  --include='*.c' | grep -v '^src/[a-z_]*\.c:[0-9]*:\s*\*' || true)

if [ $bad -ne 0 ]; then
  echo "read business time with clock_now()/clock_now_s() (src/clock.h), or add the file above with the reason"
  exit 1
fi
echo "clock use: every wall-clock read is in an allowed file"
