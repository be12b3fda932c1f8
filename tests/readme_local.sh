#!/usr/bin/env bash
# Runs the README's local quick start exactly as written (the lines between
# its quickstart markers), from the repository's directory, and checks what
# it printed: the enqueued ping completed in the log within a second, the
# delayed task is listed by the embedded Cloud Tasks, /admin answered the
# local token. Needs port 8080 free (the README's port).
set -euo pipefail
cd "$(dirname "$0")/.."

block=$(awk '/<!-- quickstart:begin/ {on = 1; next} /<!-- quickstart:end/ {on = 0}
  on && !/^```/' README.md)
[ -n "$block" ] || { echo "README has no quickstart block"; exit 1; }
if curl -fs http://127.0.0.1:8080/health/live >/dev/null 2>&1; then
  echo "port 8080 is taken: the quick start cannot run here"
  exit 1
fi

out=$(mktemp)
status=0
# The README's lines, then this test's cleanup: stop the server they started.
bash -c "set -e
$block
kill \$! 2>/dev/null; wait \$! 2>/dev/null || true" >"$out" 2>&1 || status=$?
echo "--- what the quick start printed ---"
cat "$out"
fail() { echo "readme_local: $1"; exit 1; }
[ $status -eq 0 ] || fail "the quick start exited $status"
grep -q '^projects/local/locations/local/queues/ping-queue/tasks/' "$out" || fail "no task name from enqueue"
grep -q 'answered: completed' "$out" || fail "the ping did not complete within a second"
grep -q '"tasks":\[{"name":"projects/local/locations/local/queues/ping-queue/tasks/' "$out" ||
  fail "the delayed task is not listed"
grep -q '"deadLetters":' "$out" || fail "/admin/dead-letters did not answer"
rm -f "$out"
echo "readme_local: the quick start ran as written"
