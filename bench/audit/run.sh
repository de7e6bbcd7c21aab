#!/usr/bin/env bash
# The audit benchmark, in one command: CORScanner and `crossgate audit` on the same zoo of CORS
# endpoints on 127.0.0.1, in the same run; then the table (stdout and bench/audit/RESULTS.md).
#
#   bash bench/audit/run.sh
#
# Steps: the venv with CORScanner (bench/audit/.venv, made if missing: pip install corscanner),
# the release build of crossgate-cli, then the measured part — in a network namespace of its own
# with only a loopback interface when `unshare -n` works (root), so that nothing can leave the
# machine whatever a scanner tries; BENCH_NO_NETNS=1 skips that (the Python network guard and
# --resolve still keep every connection on 127.0.0.1). Outputs go to bench/audit/out/.
#
# Knobs: CROSSGATE_SRC (a checkout to build crossgate from, default this one: e.g. a clean
# `git worktree` of a commit while others edit crates/ here), CONCURRENCY (default 50, CORScanner's own default thread count, used for both),
# BENCH_POLITE=0 skips the extra timing of crossgate at its default politeness (--concurrency 8
# --rate 20/s per host).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$HERE/out"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
SRC=$(cd "${CROSSGATE_SRC:-$ROOT}" && pwd)  # the checkout crossgate is built from
BIN="${CARGO_TARGET_DIR:-$SRC/target}/release/crossgate"
CONCURRENCY=${CONCURRENCY:-50}
COMMAND="bash bench/audit/run.sh"

if [ "${1:-}" != "--measure" ]; then
    # 1. CORScanner in a venv (the only step that needs the package index).
    if ! [ -x "$PY" ] || ! "$PY" -c 'import CORScanner, tldextract, gevent, requests' 2>/dev/null; then
        echo "== venv: pip install corscanner==0.9.7 into $VENV" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check 'corscanner==0.9.7'
    fi
    # 2. crossgate, release build.
    echo "== cargo build --release -p crossgate-cli" >&2
    (cd "$SRC" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} cargo build --release --quiet -p crossgate-cli)
    if ! "$BIN" audit --help >/dev/null 2>&1; then
        echo "run.sh: $BIN has no 'audit' subcommand yet" >&2
        exit 2
    fi
    # 3. The measured part, isolated from every network but loopback when possible.
    if [ -z "${BENCH_NO_NETNS:-}" ] && unshare -n true 2>/dev/null && command -v ip >/dev/null; then
        exec unshare -n env BENCH_NETNS="a network namespace with only loopback (unshare -n)" \
            bash "$HERE/run.sh" --measure
    fi
    exec env BENCH_NETNS="the host's network (no namespace): loopback kept by the guards" \
        bash "$HERE/run.sh" --measure
fi

# ---------------------------------------------------------------------------------------------
# --measure: zoo, CORScanner, crossgate, compare.
if [ "${BENCH_NETNS:-}" != "${BENCH_NETNS#a network namespace}" ]; then
    ip link set lo up
fi
rm -rf "$OUT"
mkdir -p "$OUT"

stats() {  # the zoo's request counts since the last call (and reset)
    "$PY" - "$PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/__stats", headers={"Host": "zoo.control"})
print(c.getresponse().read().decode())
EOF
}

# The zoo, stopped whatever happens.
coproc ZOO { exec "$PY" "$HERE/zoo.py" --dir "$OUT" --ready-stdout 2>"$OUT/zoo.log"; }
ZOO_PID=$ZOO_PID
cleanup() { kill "$ZOO_PID" 2>/dev/null || true; wait "$ZOO_PID" 2>/dev/null || true; }
trap cleanup EXIT
if ! read -r -t 60 -u "${ZOO[0]}" READY PORT || [ "$READY" != READY ]; then
    echo "run.sh: the zoo did not start" >&2
    cat "$OUT/zoo.log" >&2
    exit 2
fi
N=$(wc -l <"$OUT/urls.txt")
echo "== zoo: $N endpoints on 127.0.0.1:$PORT (${BENCH_NETNS})" >&2
RESOLVE=()
while read -r host; do
    RESOLVE+=(--resolve "$host:$PORT:127.0.0.1")
done < <("$PY" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["endpoints"]))' "$OUT/truth.json")
stats >/dev/null

# CORScanner.
echo "== CORScanner (gevent pool of $CONCURRENCY) on $N URLs" >&2
CS_CMD=".venv/bin/python run_corscanner.py --truth out/truth.json --urls out/urls.txt --out out/corscanner.json --threads $CONCURRENCY"
TIMEFORMAT='%3R %3U %3S'  # bash's `time`: wall, user and system CPU seconds
{ time "$PY" "$HERE/run_corscanner.py" --truth "$OUT/truth.json" --urls "$OUT/urls.txt" \
    --out "$OUT/corscanner.json" --threads "$CONCURRENCY" 2>"$OUT/corscanner.log"; } 2>"$OUT/corscanner.time"
read -r CS_WALL CS_USER CS_SYS <"$OUT/corscanner.time"
CS_STATS=$(stats)
tail -1 "$OUT/corscanner.log" >&2

# crossgate.
CG_ARGS=(audit --input "$OUT/urls.txt" --cacert "$OUT/ca.pem" --json --timeout 5
         --concurrency "$CONCURRENCY" --rate 1000000/s)
CG_CMD="crossgate audit --input out/urls.txt --resolve HOST:$PORT:127.0.0.1 (×$N) --cacert out/ca.pem --json --timeout 5 --concurrency $CONCURRENCY --rate 1000000/s"
echo "== crossgate audit (--concurrency $CONCURRENCY, no rate limit) on $N URLs" >&2
set +e
{ time "$BIN" "${CG_ARGS[@]}" "${RESOLVE[@]}" >"$OUT/crossgate.json" 2>"$OUT/crossgate.log"; } 2>"$OUT/crossgate.time"
CG_RC=$?
set -e
read -r CG_WALL CG_USER CG_SYS <"$OUT/crossgate.time"
CG_STATS=$(stats)
if [ "$CG_RC" -gt 1 ] || ! "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$OUT/crossgate.json"; then
    echo "run.sh: crossgate audit exited $CG_RC; its output:" >&2
    tail -20 "$OUT/crossgate.log" >&2
    [ "$CG_RC" -gt 1 ] && [ -s "$OUT/crossgate.json" ] || exit 2
fi
echo "crossgate: exit $CG_RC in $CG_WALL s" >&2

# crossgate at its default politeness, for the record (not in the ratio).
POLITE_WALL=null
POLITE_STATS=null
if [ "${BENCH_POLITE:-1}" != 0 ]; then
    echo "== crossgate audit at its defaults (--concurrency 8 --rate 20/s per host)" >&2
    set +e
    { time "$BIN" audit --input "$OUT/urls.txt" --cacert "$OUT/ca.pem" --json --timeout 5 "${RESOLVE[@]}" \
        >"$OUT/crossgate-defaults.json" 2>"$OUT/crossgate-defaults.log"; } 2>"$OUT/crossgate-defaults.time"
    set -e
    read -r POLITE_WALL _ _ <"$OUT/crossgate-defaults.time"
    POLITE_STATS=$(stats)
fi

# The record of the run, then the table.
"$PY" - "$OUT/run.json" <<EOF
import json, os, platform, subprocess, sys
def sh(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, cwd="$SRC").stdout.strip()
    except OSError:
        return "?"
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = "?"
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
dirty = sh("git", "status", "--porcelain", "--", "crates", "Cargo.lock", "Cargo.toml")
rev = sh("git", "rev-parse", "--short=12", "HEAD") + (" (+ uncommitted changes in crates/)" if dirty else "")
polite = json.loads('''$POLITE_STATS''') if "$POLITE_WALL" != "null" else None
run = {
    "meta": {
        "date": sh("date", "-u", "+%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "mem": mem,
        "os": platform.platform(), "python": platform.python_version(),
        "crossgate_version": sh("$BIN", "--version").replace("crossgate ", ""),
        "git_rev": rev, "command": "$COMMAND", "netns": "$BENCH_NETNS", "port": $PORT,
    },
    "corscanner": {"wall_seconds": $CS_WALL, "cpu_seconds": $CS_USER + $CS_SYS, "command": """$CS_CMD""",
                   "requests": json.loads('''$CS_STATS''')["requests"], "zoo": json.loads('''$CS_STATS''')},
    "crossgate": {"wall_seconds": $CG_WALL, "cpu_seconds": $CG_USER + $CG_SYS, "command": """$CG_CMD""", "exit": $CG_RC,
                  "requests": json.loads('''$CG_STATS''')["requests"], "zoo": json.loads('''$CG_STATS''')},
    "crossgate_defaults": None if polite is None else {"wall_seconds": $POLITE_WALL, "requests": polite["requests"]},
}
json.dump(run, open(sys.argv[1], "w"), indent=1)
EOF
"$PY" "$HERE/compare.py" --dir "$OUT" --port "$PORT" --results "$HERE/RESULTS.md"
