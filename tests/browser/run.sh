#!/usr/bin/env bash
# Runs the operator console's browser tests (console.test.js): Debian's
# chromium driven by playwright-core (package-lock.json; scripts/test.sh runs
# `npm ci` first), against the built binary copied into a temporary directory
# with a copy of config/ beside it. The binary, node and chromium run in a
# private mount namespace where the source tree (build directory included) is
# hidden under an empty tmpfs, which proves the console's files are embedded
# in the binary; where a namespace cannot be made the run says so and goes on
# from the copies alone. Screenshots land in <build>/browser-shots/.
# Exit 77 (skipped) only when chromium is not installed and cannot be.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${CJ_BIN:?CJ_BIN must name the catchup-jobs binary}
root=$(cd "${CJ_SOURCE_ROOT:-$here/../..}" && pwd)
build=$(cd "$(dirname "$bin")" && pwd)
shots="$build/browser-shots"

chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "browser: installing chromium"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >/dev/null) || true
    chromium=$(command -v chromium || true)
  fi
  if [ -z "$chromium" ]; then
    echo "browser: chromium is not installed and cannot be installed here: skipped"
    exit 77
  fi
fi
command -v node >/dev/null || { echo "browser: node is not installed" >&2; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

tmp=$(mktemp -d)
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/bin" "$tmp/tests" "$tmp/shots"
cp "$bin" "$tmp/bin/catchup-jobs"
cp -r "$root/config" "$tmp/config"
cp "$here/console.test.js" "$here/package.json" "$tmp/tests/"
# A binary built with the sanitizers reports leaks at exit (the tests check
# the server's exit status); the suppressions of system libraries come along.
cp "$root/tests/lsan.supp" "$tmp/lsan.supp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0"
cp -r "$here/node_modules" "$tmp/tests/node_modules"

run_tests() {
  (cd "$tmp/tests" && CJ_TEST_BIN="$tmp/bin/catchup-jobs" CJ_TEST_CONFIG="$tmp/config" \
    CJ_TEST_WORK="$tmp" CJ_SHOTS="$tmp/shots" CJ_HIDDEN_ROOT="${1:-}" CHROMIUM="$chromium" \
    HOME="$tmp" node --test --test-concurrency=1 console.test.js)
}

status=0
if unshare -m true 2>/dev/null; then
  echo "browser: the source tree $root is hidden from the binary under test"
  export -f run_tests
  export tmp chromium
  # shellcheck disable=SC2016 # $1 expands in the inner bash, as meant
  unshare -m bash -c 'mount -t tmpfs -o size=1m none "$1" && run_tests "$1"' _ "$root" || status=$?
else
  echo "browser: no private mount namespace here: running from the copies in $tmp only"
  run_tests "" || status=$?
fi
rm -rf "$shots"
mkdir -p "$shots"
cp "$tmp"/shots/*.png "$shots/" 2>/dev/null || true
echo "browser: screenshots in $shots"
exit $status
