#!/usr/bin/env bash
# User-space instructions per request, crossgate's proxy against nginx as a CORS proxy, counted
# by valgrind's callgrind: a count that hardly depends on what else the machine is doing. It
# still moves by a few percent between runs of the same binary (how many requests each wake-up
# serves varies; 30.0k and 31.8k for a GET), against ±10% for wrk's requests per second on two
# shared cores: compare runs of the same length, and repeat them. It counts only user space: system calls and the
# kernel's share (about two thirds of a proxied GET's CPU time here) are `run.sh`'s to measure.
#
# Everything on 127.0.0.1: an nginx upstream, then each proxy in turn under callgrind (one worker:
# nginx with `master_process off`, crossgate as built, its threads counted together), loaded by
# wrk -t1 -c8 for a proxied GET and for a preflight. Startup is counted too (about 12M
# instructions for crossgate, a few hundred per request at the counts reached here).
#
# Usage: bench/proxy/instructions.sh [seconds per case, default 8]
# Writes bench/proxy/out/instructions.md, and leaves callgrind's files in bench/proxy/out/ for
# callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=nginx.sh
source ./nginx.sh
root="$(cd ../.. && pwd)"
mkdir -p out
seconds="${1:-8}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "instructions: usage: instructions.sh [seconds per case], a whole number above 0 (got '$seconds')" >&2; exit 2; }
work="$(mktemp -d)"
proxy_pid=""
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! need valgrind; then
  echo "instructions: installing wrk, nginx and valgrind (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light valgrind >/dev/null
fi
echo "instructions: building crossgate (release)" >&2
(cd "$root" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build -q --release --locked -p crossgate-cli)
crossgate="$root/target/release/crossgate"

UP=18180 NG=18181 CX=18183
ORIGIN="http://localhost:5173"
mkdir -p "$work/logs"
upstream_conf "$UP" "$work" > "$work/up.conf"
# The same CORS proxy as run.sh's, in one process in the foreground (callgrind follows it).
cors_proxy_conf "$NG" "$UP" "$ORIGIN" "$work" 1 foreground > "$work/ng.conf"
nginx -c "$work/up.conf" -p "$work"

wait_for() {
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "instructions: $1 never answered" >&2
  exit 1
}

# Runs "$@" (a proxy on $port) under callgrind, loads it with wrk (the rest of the arguments of
# measure), stops it (SIGINT for crossgate, SIGQUIT for nginx: both finish cleanly, and callgrind
# writes its counts), and prints instructions per request.
measure() {
  local name="$1" port="$2" stop="$3" case="$4"; shift 4
  local out="$PWD/out/$name.$case.callgrind"
  local load
  if [ "$case" = preflight ]; then load=(-s preflight.lua); else load=(-H "Origin: $ORIGIN"); fi
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" > "$work/logs/$name.out" 2> "$work/logs/$name.err" &
  proxy_pid=$!
  wait_for "http://127.0.0.1:$port/small"
  local requests
  requests="$(wrk -t1 -c8 -d"${seconds}s" "${load[@]}" "http://127.0.0.1:$port/small" | awk '/requests in/ {print $1}')"
  kill "-$stop" "$proxy_pid"
  wait "$proxy_pid" || true
  proxy_pid=""
  local total
  total="$(awk '/^(summary|totals):/ {print $2; exit}' "$out" 2>/dev/null || true)"
  if [ -z "$requests" ] || [ "$requests" = 0 ] || [ -z "$total" ]; then
    echo "instructions: $name ($case) gave no count (requests: '${requests}', instructions: '${total}'); its log: $work/logs/$name.err" >&2
    tail -n 5 "$work/logs/$name.err" >&2
    exit 1
  fi
  awk -v n="$requests" -v t="$total" -v name="$name" -v c="$case" \
    'BEGIN { printf "| %s | %s | %d | %.0f |\n", name, c, n, t / n }'
}

{
  echo "# crossgate proxy: user-space instructions per request (callgrind)"
  echo
  echo "$(date -u +%Y-%m-%d), $(valgrind --version), wrk -t1 -c8, ${seconds} s per case; $(nginx -v 2>&1 | sed 's/.*: //')."
  echo
  echo "| proxy | case | requests | instructions per request |"
  echo "|---|---|---|---|"
  for case in get preflight; do
    measure nginx "$NG" QUIT "$case" nginx -c "$work/ng.conf" -p "$work"
    measure crossgate "$CX" INT "$case" "$crossgate" proxy --upstream "http://127.0.0.1:$UP" \
      --allow-origin "$ORIGIN" --allow-methods PUT --allow-headers content-type \
      --max-response-body 0 --listen "127.0.0.1:$CX"
  done
} | tee out/instructions.md
