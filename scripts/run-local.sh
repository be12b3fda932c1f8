#!/usr/bin/env bash
# Starts catchup-jobs locally (local mode: no cloud configuration needed).
# Installs missing build packages with apt-get, builds, and runs the server
# on http://127.0.0.1:${PORT:-8080}. Any configuration variable (README) can
# be set in the environment first. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc pkg-config meson ninja-build python3 ca-certificates
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libjwt-dev libssl-dev
  libpq-dev libsqlite3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -d build-local ] || meson setup build-local -Dtests=false --buildtype=release >/dev/null
ninja -C build-local >/dev/null
exec ./build-local/catchup-jobs serve
