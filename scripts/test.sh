#!/usr/bin/env bash
# Runs every test of catchup-jobs on a Debian 12 machine: installs what is
# missing (apt-get), builds with meson/ninja, runs the whole suite.
#
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer (build-san/;
#                                the soak, browser and README suites run only in build/)
#   scripts/test.sh --fuzz N     also runs each libFuzzer target for N seconds from its seed
#                                corpus (scripts/fuzz.sh, build-fuzz/)
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(gcc pkg-config meson ninja-build python3 ca-certificates tzdata binutils
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libjwt-dev libssl-dev check
  libpq-dev libsqlite3-dev libhiredis-dev redis-server postgresql shellcheck
  clang libclang-rt-14-dev curl nginx chromium)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

mode=normal
fuzz_seconds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) mode=sanitize ;;
    --fuzz) fuzz_seconds="${2:?--fuzz needs seconds}"; shift ;;
    *) echo "usage: scripts/test.sh [--sanitize] [--fuzz SECONDS]" >&2; exit 2 ;;
  esac
  shift
done

install_missing
# Node.js for the compatibility test with Google's own Cloud Tasks client
# (tests/compat/, its dependencies pinned in package-lock.json).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing: nodejs npm"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d tests/compat/node_modules/@google-cloud/tasks ]; then
  echo "installing tests/compat's npm packages (npm ci)"
  (cd tests/compat && npm ci --no-audit --no-fund >/dev/null)
fi
# playwright-core drives Debian's chromium in the operator console's browser
# tests (tests/browser/, pinned in package-lock.json).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing tests/browser's npm packages (npm ci)"
  (cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
fi

dir=build
opts=()
if [ "$mode" = sanitize ]; then
  dir=build-san
  opts=(-Dsanitizers=true)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
fi

if [ -d "$dir" ]; then
  meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
  meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir"

# Under the sanitizers the system-level suites are left out: the soak
# (three instances under SIGKILL for a minute), the browser test and the
# README's quick start exercise no C code that the unit and integration
# tests do not already run under the sanitizers.
skip=()
[ "$mode" = sanitize ] && skip=(--no-suite soak --no-suite browser --no-suite readme)

set +e
# Most tests wait on timers and child processes, not the CPU: four at a
# time keep two cores busy.
meson test -C "$dir" --print-errorlogs --num-processes 4 "${skip[@]}"
status=$?
set -e
log="$dir/meson-logs/testlog.json"
if [ -f "$log" ]; then
  passed=$(grep -c '"result": "OK"' "$log" || true)
  failed=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR)"' "$log" || true)
  echo "tests ($mode): $passed passed, $failed failed"
fi
[ $status -eq 0 ] || exit $status

if [ "$fuzz_seconds" -gt 0 ]; then
  if [ -d build-fuzz ]; then
    CC=clang meson setup --reconfigure build-fuzz -Dfuzz=true -Dtests=false >/dev/null
  else
    CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false >/dev/null
  fi
  ninja -C build-fuzz
  # Each target from a temporary copy of its committed seed corpus, with
  # its dictionary (scripts/fuzz.sh); a crash fails the run.
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
