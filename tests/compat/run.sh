#!/usr/bin/env bash
# Runs compat.js (Google's own Cloud Tasks client in REST mode) against a
# local-mode catchup-jobs: started here on a free loopback port with a fresh
# SQLite database, no cloud configuration and no network for Google's keys,
# so every push is verified with the local signing key. CJ_BIN names the
# binary (meson sets it). Dependencies come from package-lock.json
# (scripts/test.sh runs `npm ci` first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${CJ_BIN:?CJ_BIN must name the catchup-jobs binary}
root=${CJ_SOURCE_ROOT:-$here/../..}

command -v node >/dev/null || { echo "compat: node is not installed" >&2; exit 1; }
if [ ! -d "$here/node_modules/@google-cloud/tasks" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

dir=$(mktemp -d)
pid=""
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

(cd "$dir" && exec env -i PATH="$PATH" PORT="$port" DATABASE_URL="sqlite:$dir/catchup.db" \
  CONFIG_DIR="$root/config" OIDC_JWKS_URL="http://127.0.0.1:9/certs" LOG_LEVEL=info \
  "$bin" serve >"$dir/server.log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
CJ_PORT=$port CJ_PROJECT=local CJ_LOCATION=local CJ_AUDIENCE="http://127.0.0.1:$port" \
  CJ_EMAIL=local-tasks@catchup-jobs.local node "$here/compat.js" || status=$?
if [ $status -ne 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -40 "$dir/server.log"
fi
exit $status
