#!/usr/bin/env bash
# The proxy load benchmark (crossgate proxy issue): in one run, on this machine, with wrk from
# Debian, everything on 127.0.0.1:
#
#   upstream alone        nginx serving a small JSON answer and a 1 MiB file (the upstream of all)
#   nginx CORS proxy      nginx in front of it: add_header … always, OPTIONS answered 204,
#                         keep-alive to the upstream
#   cors-anywhere         npm's cors-anywhere 0.4.4 (Node.js, one thread: that is how it runs)
#   crossgate upstream    `crossgate proxy --upstream …` (release build)
#   crossgate anywhere    `crossgate proxy` (anywhere mode, private targets allowed for the bench)
#
# Cases: proxied GET, preflight, a 1 MiB body. Proxies get 2 worker threads (nginx
# worker_processes 2; crossgate's runtime has one thread per core, 2 here). Then the 1 GiB
# streaming test: crossgate's peak resident memory before and after relaying 1 GiB.
#
# Usage: bench/proxy/run.sh [seconds per case, default 10] [rounds, default 1]
# Writes bench/proxy/out/results.md: one table per round (on two shared cores a server's rate
# moves by ±10% between runs of the same binary, so a comparison wants more than one).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=nginx.sh
source ./nginx.sh
here="$(pwd)"
root="$(cd ../.. && pwd)"
seconds="${1:-10}"
rounds="${2:-1}"
for number in "$seconds" "$rounds"; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "bench: usage: run.sh [seconds per case] [rounds], both whole numbers above 0 (got '$number')" >&2; exit 2; }
done
out="$here/out"
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  [ -f "$work/ng.pid" ] && kill "$(cat "$work/ng.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  echo "bench: installing wrk and nginx (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
[ -d node_modules/cors-anywhere ] || npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
  || npm install --no-audit --no-fund --loglevel=error
echo "bench: building crossgate (release)" >&2
(cd "$root" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build -q --release --locked -p crossgate-cli)
crossgate="$root/target/release/crossgate"

UP=18080 NG=18081 CA=18082 CX=18083 CY=18084
ORIGIN="http://localhost:5173"
mkdir -p "$work/files" "$work/logs"
head -c $((1024 * 1024)) /dev/urandom > "$work/files/1m.bin"
truncate -s 1G "$work/files/1g.bin"

upstream_conf "$UP" "$work" > "$work/up.conf"
cors_proxy_conf "$NG" "$UP" "$ORIGIN" "$work" 2 > "$work/ng.conf"
nginx -c "$work/up.conf" -p "$work"
nginx -c "$work/ng.conf" -p "$work"
node cors-anywhere.js "$CA" > "$work/logs/ca.log" 2>&1 & pids+=($!)
ca_pid=$!
"$crossgate" proxy --upstream "http://127.0.0.1:$UP" --allow-origin "$ORIGIN" --allow-methods PUT \
  --allow-headers content-type --max-response-body 0 --listen "127.0.0.1:$CX" > "$work/logs/cx.out" 2> "$work/logs/cx.err" & pids+=($!)
cx_pid=$!
"$crossgate" proxy --listen "127.0.0.1:$CY" --allow-private --allow-port "$UP" --rate-per-ip 0 \
  --rate-per-origin 0 --rate-per-target 0 --max-response-body 0 > "$work/logs/cy.out" 2> "$work/logs/cy.err" & pids+=($!)
cy_pid=$!

# Ready when each answers (a bounded wait, polling, not a sleep for correctness).
wait_for() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2; exit 1
}
for url in "http://127.0.0.1:$UP/small" "http://127.0.0.1:$NG/small" \
  "http://127.0.0.1:$CA/http://127.0.0.1:$UP/small" "http://127.0.0.1:$CX/small" \
  "http://127.0.0.1:$CY/http://127.0.0.1:$UP/small"; do
  wait_for "$url"
done

# Every proxy must answer correctly before it is timed.
check() {
  local name="$1" url="$2"
  local got
  got="$(curl -s -D - -o /dev/null -H "Origin: $ORIGIN" "$url" | tr -d '\r' | grep -i '^access-control-allow-origin:' || true)"
  [ -n "$got" ] || { echo "bench: $name gave no Access-Control-Allow-Origin" >&2; exit 1; }
}
check nginx "http://127.0.0.1:$NG/small"
check cors-anywhere "http://127.0.0.1:$CA/http://127.0.0.1:$UP/small"
check crossgate-upstream "http://127.0.0.1:$CX/small"
check crossgate-anywhere "http://127.0.0.1:$CY/http://127.0.0.1:$UP/small"

# CPU time (user + system, clock ticks) of every thread of the processes given.
ticks() {
  local total=0 stat
  for pid in "$@"; do
    for stat in /proc/"$pid"/task/*/stat; do
      # Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces here.
      total=$((total + $(awk '{print $14 + $15}' "$stat" 2>/dev/null || echo 0)))
    done
  done
  echo "$total"
}

# wrk, 2 threads, against a server whose processes are $SERVER_PIDS; prints "rps p99_ms errors
# cpu_us_per_request" (the server's CPU time over the run divided by the requests it answered).
run_wrk() {
  local connections="$1"; shift
  local log before after
  before="$(ticks $SERVER_PIDS)"
  log="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" 2>&1)"
  after="$(ticks $SERVER_PIDS)"
  local rps p99 errors requests cpu
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$log")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$log")"
  errors="$(awk '/Non-2xx or 3xx responses/ {print $NF} /Socket errors/ {print "socket-errors"}' <<<"$log" | paste -sd, -)"
  requests="$(awk '/requests in/ {print $1}' <<<"$log")"
  cpu="$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }')"
  echo "${rps:-0} ${p99:-?} ${errors:-0} $cpu"
}

# The processes serving each row: nginx's workers, node, crossgate.
server_pids() {
  case "$1" in
    upstream) pgrep -P "$(cat "$work/up.pid")" | paste -sd' ' - ;;
    nginx) pgrep -P "$(cat "$work/ng.pid")" | paste -sd' ' - ;;
    cors-anywhere) echo "$ca_pid" ;;
    crossgate-upstream) echo "$cx_pid" ;;
    crossgate-anywhere) echo "$cy_pid" ;;
  esac
}

declare -A target_small=(
  [upstream]="http://127.0.0.1:$UP/small"
  [nginx]="http://127.0.0.1:$NG/small"
  [cors-anywhere]="http://127.0.0.1:$CA/http://127.0.0.1:$UP/small"
  [crossgate-upstream]="http://127.0.0.1:$CX/small"
  [crossgate-anywhere]="http://127.0.0.1:$CY/http://127.0.0.1:$UP/small"
)
declare -A target_big=(
  [upstream]="http://127.0.0.1:$UP/files/1m.bin"
  [nginx]="http://127.0.0.1:$NG/files/1m.bin"
  [cors-anywhere]="http://127.0.0.1:$CA/http://127.0.0.1:$UP/files/1m.bin"
  [crossgate-upstream]="http://127.0.0.1:$CX/files/1m.bin"
  [crossgate-anywhere]="http://127.0.0.1:$CY/http://127.0.0.1:$UP/files/1m.bin"
)
order=(upstream nginx cors-anywhere crossgate-upstream crossgate-anywhere)

{
  echo "# crossgate proxy: load benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2, ${seconds} s per case, $rounds round(s); $(nginx -v 2>&1 | sed 's/.*: //'), cors-anywhere 0.4.4 on Node.js $(node --version)."
} > "$out/results.md"
for round in $(seq 1 "$rounds"); do
  {
    echo
    [ "$rounds" -gt 1 ] && echo "Round $round:" && echo
    echo "| server | GET req/s | GET p99 | GET CPU µs/req | preflight req/s | preflight p99 | 1 MiB req/s | 1 MiB p99 | non-2xx |"
    echo "|---|---|---|---|---|---|---|---|---|"
  } >> "$out/results.md"
  for name in "${order[@]}"; do
    echo "bench: round $round, $name" >&2
    SERVER_PIDS="$(server_pids "$name")"
    read -r get_rps get_p99 get_err get_cpu < <(run_wrk 64 -H "Origin: $ORIGIN" "${target_small[$name]}")
    if [ "$name" = upstream ]; then
      pre_rps="—" pre_p99="—" pre_err=0
    else
      read -r pre_rps pre_p99 pre_err _ < <(run_wrk 64 -s preflight.lua "${target_small[$name]}")
    fi
    read -r big_rps big_p99 big_err _ < <(run_wrk 16 -H "Origin: $ORIGIN" "${target_big[$name]}")
    echo "| $name | $get_rps | $get_p99 | $get_cpu | $pre_rps | $pre_p99 | $big_rps | $big_p99 | $get_err/$pre_err/$big_err |" >> "$out/results.md"
  done
done

# 1 GiB through crossgate (upstream mode): peak resident memory before and after.
hwm() { awk '/VmHWM/ {print $2}' "/proc/$cx_pid/status"; }
before="$(hwm)"
bytes="$(curl -s -o /dev/null -w '%{size_download}' -H "Origin: $ORIGIN" "http://127.0.0.1:$CX/files/1g.bin")"
after="$(hwm)"
{
  echo
  echo "1 GiB streamed through crossgate (upstream mode): $bytes bytes; peak resident memory $((before / 1024)) MiB before, $((after / 1024)) MiB after (growth $(((after - before) / 1024)) MiB; target under 20 MiB)."
} >> "$out/results.md"
cat "$out/results.md"
