# shellcheck shell=bash
# Sourced by bench/run.sh and bench/floor.sh: builds the release tree
# (build-bench/), then starts what a ping job talks to, on free loopback
# ports: redis-server, the Upstash-compatible test server over it, and a
# JWKS endpoint serving the key that signed BENCH_TOKENS push tokens
# ($work/tokens.txt). Sets work, pids (stopped on exit), token,
# redis_port, upstash_port, jwks_port, and port() for more free ports.

command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(port); upstash_port=$(port); jwks_port=$(port)
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
build-bench/tests/upstash_server --port "$upstash_port" --redis-port "$redis_port" --token "$token" >/dev/null &
pids+=($!)
AUD=https://bench.a.run.app EMAIL=tasks@bench.iam.gserviceaccount.com \
  build-bench/tests/bench_tool mint "$work" "${BENCH_TOKENS:-1}"
(cd "$work" && exec python3 -m http.server "$jwks_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
sleep 0.5
