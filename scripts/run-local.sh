#!/usr/bin/env bash
# Starts catchup-jobs locally (local mode: no cloud configuration needed).
# Installs missing build packages with apt-get, builds a release binary into
# build-local/ (without the test suite, so only the runtime libraries' -dev
# packages are needed), and runs the server on
# http://127.0.0.1:${PORT:-8080}. Any configuration variable (README) can be
# set in the environment first. Stop it with Ctrl-C.
#
#   scripts/run-local.sh               install, build, serve
#   scripts/run-local.sh --build-only  install and build build-local/catchup-jobs only
#                                      (e.g. for deploy/queues.sh)
#
# Progress goes to stderr, one line per step; the server's JSON log lines go
# to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  -h | --help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: scripts/run-local.sh [--build-only]" >&2; exit 2 ;;
esac

say() { printf 'run-local: %s\n' "$*" >&2; }

# Runs a quiet step; shows its output only when it fails.
quiet() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    say "failed: $*"
    exit 1
  fi
}

# What the server links (meson.build's dependencies), the time zone files it
# reads (tzdata), and the toolchain.
# libjwt-dev, check and the rest are needed by the tests only (scripts/test.sh).
packages=(gcc libc6-dev pkg-config meson ninja-build python3 ca-certificates tzdata
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev
  libpq-dev libsqlite3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing with apt-get: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "build packages already installed"
fi

if [ ! -f build-local/build.ninja ]; then
  say "configuring build-local/ (meson, release, without tests)"
  rm -rf build-local
  quiet meson setup build-local -Dtests=false --buildtype=release
fi
say "building build-local/catchup-jobs (ninja)"
quiet ninja -C build-local

if [ "$build_only" = 1 ]; then
  say "built $PWD/build-local/catchup-jobs"
  exit 0
fi
host="${BIND_ADDRESS:-127.0.0.1}"
[[ "$host" == *:* ]] && host="[$host]"
say "starting catchup-jobs serve on http://$host:${PORT:-8080} (Ctrl-C stops it)"
exec ./build-local/catchup-jobs serve
