#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/, one after another, each for a
# set time from its committed seed corpus and with its dictionary, and
# prints per target: executions, edges (cov) and features (ft) at the start
# (the seeds) and at the end, and crashes.
#
#   scripts/fuzz.sh [--merge] [--runs N] [SECONDS] [TARGET...]
#
#   SECONDS   per target (default 60)
#   TARGET    oidc, router, ... (default: every target built)
#   --runs N  stop a target after N executions if that comes first
#   --merge   afterwards, add the inputs that found new coverage to
#             tests/fuzz/corpus/<target>/ (libFuzzer -merge=1); otherwise
#             the run works on a temporary copy and the corpus is untouched
#
# Builds build-fuzz/ first if needed (clang, -Dfuzz=true). One target runs
# at a time on one core (-jobs is not used). A crash stops that target; its
# input is kept in build-fuzz/fuzz-artifacts/, the log in
# build-fuzz/fuzz-logs/<target>.log, and the script exits 1 at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

merge=0
runs=-1
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --merge) merge=1 ;;
    --runs) runs="${2:?--runs needs a count}"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    [0-9]*) seconds="$1" ;;
    -*) echo "usage: scripts/fuzz.sh [--merge] [--runs N] [SECONDS] [TARGET...]" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false >/dev/null
fi
ninja -C build-fuzz -j2 >/dev/null

bindir=build-fuzz/tests/fuzz
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$bindir"/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] && targets+=("${f##*/fuzz_}")
  done
fi

# The dictionary of a target: JWT pieces for tokens, cron fields for cron,
# all three for whole requests, JSON for the rest.
dict_for() {
  case "$1" in
    oidc) echo tests/fuzz/jwt.dict ;;
    cron) echo tests/fuzz/cron.dict ;;
    router) cat tests/fuzz/json.dict tests/fuzz/jwt.dict tests/fuzz/http.dict >"$work/router.dict"
            echo "$work/router.dict" ;;
    *) echo tests/fuzz/json.dict ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}

logs=build-fuzz/fuzz-logs
artifacts=build-fuzz/fuzz-artifacts
mkdir -p "$logs" "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "#123 INITED cov: 842 ft: 1130 ..." -> the value after key on the line.
field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" | tail -1; }
count() { find "$1" -maxdepth 1 -type f | wc -l; }

failed=0
printf '%-12s %12s %9s %15s %17s %8s %7s\n' target executions exec/s "cov start->end" "ft start->end" corpus crashes
for t in "${targets[@]}"; do
  bin=$bindir/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "no target $t; built: $(find "$bindir" -maxdepth 1 -type f -name 'fuzz_*' -printf '%f ')" >&2
    exit 2
  fi
  corpus=$work/corpus-$t
  mkdir -p "$corpus"
  if [ -d "tests/fuzz/corpus/$t" ]; then
    cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  fi
  log=$logs/$t.log
  before=$(count "$artifacts")
  set +e
  "$bin" "$corpus" -max_total_time="$seconds" -runs="$runs" -timeout=25 -print_final_stats=1 \
    -dict="$(dict_for "$t")" -artifact_prefix="$artifacts/$t-" >"$log" 2>&1
  rc=$?
  set -e
  crashes=$(( $(count "$artifacts") - before ))
  if [ $rc -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # died without leaving an input (e.g. killed)
  fi
  start=$(grep -m1 -E '[[:space:]]INITED ' "$log" || true)
  end=$(grep -E '[[:space:]](DONE|pulse|NEW|REDUCE|RELOAD) ' "$log" | tail -1 || true)
  [ -n "$end" ] || end=$start
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-12s %12s %9s %15s %17s %8s %7s\n' "$t" "${execs:-?}" "${speed:-?}" \
    "$(echo "$start" | field cov)->$(echo "$end" | field cov)" \
    "$(echo "$start" | field ft)->$(echo "$end" | field ft)" \
    "$(echo "$end" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    failed=1
    echo "--- $t failed (log: $log); last lines:" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|deadly|abort' "$log" | tail -8 >&2 || tail -20 "$log" >&2
  fi
  if [ $merge -eq 1 ]; then
    mkdir -p "tests/fuzz/corpus/$t"
    n0=$(count "tests/fuzz/corpus/$t")
    "$bin" -merge=1 "tests/fuzz/corpus/$t" "$corpus" >"$logs/$t.merge.log" 2>&1
    echo "merged into tests/fuzz/corpus/$t: $n0 -> $(count "tests/fuzz/corpus/$t") files"
  fi
  rm -rf "$corpus"
done
exit $failed
