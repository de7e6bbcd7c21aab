#!/usr/bin/env bash
# The proxy's soak (issue 14, findings 1-3): one hostile client on 127.0.0.1 against
# `crossgate proxy` (release build, upstream mode, --jsonp, every other flag at its default) while
# a normal client on 127.0.0.2 sends GET /fast every 50 ms, each on a fresh connection, given up
# after 5 s; the proxy's VmRSS is read from /proc every 100 ms (its open descriptors every
# 500 ms). Attacks, each for the given seconds against a fresh proxy and a fresh upstream
# (Node.js, soak.mjs: /slow answers after 1 s, /big is a 10 MiB JSON document, anything else at
# once):
#
#   none        the baseline: the normal client alone
#   h2          HTTP/2 fan-out: 100 connections (h2c, prior knowledge) x 200 streams of GET /slow
#   slowloris   8,600 connections opened over 10 s, each sending one byte of a request head every
#               2-5 s, never finishing it
#   idle        the proxy under a 1,024-descriptor limit (soft and hard), 1,100 idle connections
#   jsonp       40 x GET /big?callback=cb (10 MiB wrapped) in flight at once
#
# A connection or a request the proxy refuses is opened again after a moment (see soak.mjs), so
# that each attack keeps its concurrency without turning into a request-rate flood.
#
# Targets: 99% of the normal client's requests answered 2xx in under 1 s, and the proxy's
# resident memory under 300 MiB (under 200 MiB for jsonp). The table's p50, p99 and max are of
# every request's time, a failure counted at its time (a timeout at 5 s). Everything listens on and connects to
# loopback only. Not a test: nothing in CI runs it (it takes minutes and two whole cores).
#
# Usage: bench/proxy/soak.sh [seconds per attack, 10 to 600, default 30] [attack …, default all]
# CROSSGATE=path/to/crossgate skips the build and soaks that binary. Writes
# bench/proxy/out/soak.md; keeps every log in a temporary directory (printed at the end); exits 1
# when a target is missed, after printing the end of that proxy's log.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
root="$(cd ../.. && pwd)"
all=(none h2 slowloris idle jsonp)
usage() {
  echo "soak: usage: soak.sh [seconds per attack, a whole number from 10 to 600] [attack …: ${all[*]}] (got '$*')" >&2
  exit 2
}
seconds="${1:-30}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] && [ "$seconds" -ge 10 ] && [ "$seconds" -le 600 ] || usage "$*"
attacks=("${@:2}")
[ ${#attacks[@]} -gt 0 ] || attacks=("${all[@]}")
for attack in "${attacks[@]}"; do
  [[ " ${all[*]} " == *" $attack "* ]] || usage "$*"
done
command -v node >/dev/null 2>&1 || { echo "soak: needs Node.js 20 or later (node)" >&2; exit 2; }

# The attacker holds thousands of sockets: every process here may open as many descriptors as the
# hard limit allows (the proxy as well; the idle attack's proxy lowers its own to 1,024).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 20000 ]; then
  echo "soak: only $(ulimit -n) descriptors per process (hard limit $(ulimit -Hn)): the attackers and the upstream may run out before the proxy does" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/crossgate-soak.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "soak: logs in $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${CROSSGATE:-}" ]; then
  crossgate="$CROSSGATE"
else
  echo "soak: building crossgate (release)" >&2
  (cd "$root" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build -q --release --locked -p crossgate-cli)
  crossgate="$root/target/release/crossgate"
fi
commit="$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
what="crossgate at commit $commit (release build)"
[ -n "${CROSSGATE:-}" ] && what="the binary $CROSSGATE (soak.sh at commit $commit)"

# The first line of FILE matching REGEX, waited for (bounded: 10 s).
await_line() {
  local file="$1" regex="$2" line
  for _ in $(seq 1 100); do
    line="$(grep -o -m1 -E "$regex" "$file" 2>/dev/null || true)"
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  echo "soak: no '$regex' in $file:" >&2
  tail -n 20 "$file" >&2
  exit 1
}

stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

failed=0
rows=()
notes=()
# soak NAME KIND RSS_TARGET_MIB [NOFILE]: one attack against a fresh upstream and proxy.
soak() {
  local name="$1" kind="$2" target="$3" nofile="${4:-}"
  local log="$work/$kind"
  echo "soak: $name ($seconds s)" >&2
  node soak.mjs upstream 1000 $((10 * 1024 * 1024 - 1024)) > "$log.upstream.out" 2> "$log.upstream.err" &
  local up_pid=$!
  pids+=("$up_pid")
  local up
  up="$(await_line "$log.upstream.out" '^port [0-9]+' | cut -d' ' -f2)"
  (
    [ -n "$nofile" ] && ulimit -n "$nofile"
    exec "$crossgate" proxy --upstream "http://127.0.0.1:$up" --allow-origin http://localhost:5173 \
      --jsonp --listen 127.0.0.1:0
  ) > "$log.proxy.out" 2> "$log.proxy.err" &
  local px_pid=$!
  pids+=("$px_pid")
  local px
  px="$(await_line "$log.proxy.out" 'on http://127\.0\.0\.1:[0-9]+' | sed 's/.*://')"
  node soak.mjs ready "$px"
  node soak.mjs watch "$px" "$px_pid" "$seconds" "$log.json" &
  local watch_pid=$!
  # The attacker at a lower priority: it stands for another machine, and must not starve the
  # normal client's own timing of CPU (the proxy and the upstream run as usual).
  nice -n 10 node soak.mjs attack "$kind" "$px" "$seconds" > "$log.attack.out" 2> "$log.attack.err" &
  local attack_pid=$!
  pids+=("$watch_pid" "$attack_pid")
  wait "$attack_pid" || true
  wait "$watch_pid"
  stop "$px_pid"
  stop "$up_pid"
  local emfile row
  emfile="$(grep -c 'Too many open files' "$log.proxy.err" || true)"
  if row="$(node soak.mjs row "$name" "$log.json" "$emfile" "$target")"; then
    rows+=("$row")
  else
    rows+=("$row")
    failed=1
    echo "soak: $name missed a target; the end of the proxy's log ($log.proxy.err):" >&2
    tail -n 15 "$log.proxy.err" >&2
  fi
  notes+=("- $name: $(cat "$log.attack.out")")
}

for attack in "${attacks[@]}"; do
  case "$attack" in
    none) soak "none (baseline)" none 300 ;;
    h2) soak "1. HTTP/2 fan-out" h2 300 ;;
    slowloris) soak "2. slowloris" slowloris 300 ;;
    idle) soak "2. idle, 1,024 fds" idle 300 1024 ;;
    jsonp) soak "3. JSONP 40 x 10 MiB" jsonp 200 ;;
  esac
done

mkdir -p "$here/out"
{
  echo "# crossgate proxy: soak"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $seconds s per attack, $what; Node.js $(node --version); descriptor limit $(ulimit -n) (hard $(ulimit -Hn))."
  echo
  echo "| attack | normal requests | answered | non-2xx | failed | p50 ms | p99 ms | max ms | proxy max RSS MiB (HWM) | proxy max fds | EMFILE lines | result |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "What each attacker saw:"
  echo
  printf '%s\n' "${notes[@]}"
} > "$here/out/soak.md"
cat "$here/out/soak.md"
exit "$failed"
