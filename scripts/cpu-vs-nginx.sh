#!/usr/bin/env bash
# CPU time per proxied request: Sluice against nginx. A thin wrapper over the
# bench harness (`sluice-bench run`), so this figure and the ones in
# BENCHMARKS.md come from one method, the harness's:
#
#   - Sluice and nginx (one worker) each pinned to a CPU of their own, the
#     harness's origin stub and load generator on the others (bench/affinity.go);
#   - both loaded over the same window, time-sliced (the load switches
#     gateway every 50 ms), so the machine's drift hits both alike
#     (bench/timesliced.go);
#   - CPU read per thread, in nanoseconds, from /proc/<pid>/task/<tid>/schedstat
#     of each gateway's whole process tree (bench/procstat.go): 10 ms ticks
#     from /proc/<pid>/stat are too coarse for a ratio near 1;
#   - medians of the repetitions and their ratio sluice/nginx, printed in the
#     harness's markdown report with the command line that produced it.
#
#   bash scripts/cpu-vs-nginx.sh                          # or: make cpu-vs-nginx
#   REPS=3 DURATION=1s SCENARIO=full-chain bash scripts/cpu-vs-nginx.sh
#
# Knobs (environment):
#   SCENARIO    harness scenario, `sluice-bench scenarios` lists them; anon-1k-log
#               against anon-1k gives the access log's cost      (anon-1k)
#   REPS        time-sliced repetitions                           (8)
#   DURATION    measured window of each repetition, a duration    (2s)
#   WARMUP      unrecorded warmup of each repetition, a duration  (400ms)
#   CPUPROFILE_DIR  write a sluice CPU profile per scenario here  (unset: none)
#   SLUICE_BIN  sluice binary to measure      (built from this tree into a temp dir)
#   SLUICE_BENCH_BIN  sluice-bench binary to run (built from this tree into a temp dir)
#   OUT         keep results.json and the report here             (temp dir, removed)
#   TIME_LIMIT  seconds before the harness gives up               (900)
#
# The knobs of the script's former load generator (REQUESTS, CONNS, SIZE,
# ACCESS_LOG, CPU_GW, CPU_LOAD, BIND, CPUPROFILE, GOGC) are refused with a
# pointer to their replacement rather than silently ignored: the harness uses
# 64 connections, the scenario's response size and the affinity plan above.
#
# Needs Linux, Go and nginx (installed with bench/peers/install.sh when missing
# and running as root). Everything listens on loopback only; the harness stops
# every process it starts.
set -euo pipefail

die() { echo "cpu-vs-nginx: $*" >&2; exit 1; }
log() { echo "cpu-vs-nginx: $*" >&2; }

declare -A retired=(
    [REQUESTS]="runs are timed: set DURATION (a duration such as 2s)"
    [CONNS]="the harness uses the preset's 64 connections"
    [SIZE]="the response size is the scenario's: set SCENARIO (anon-1k, anon-16k, anon-256k)"
    [ACCESS_LOG]="compare SCENARIO=anon-1k-log with SCENARIO=anon-1k"
    [CPU_GW]="the harness pins the gateway itself (bench/affinity.go)"
    [CPU_LOAD]="the harness pins the load generator itself (bench/affinity.go)"
    [BIND]="the harness listens on 127.0.0.1"
    [CPUPROFILE]="set CPUPROFILE_DIR (one profile per scenario)"
    [GOGC]="the harness runs the gateway with Go's default GOGC, as in BENCHMARKS.md"
)
for v in "${!retired[@]}"; do
    [ -z "${!v:-}" ] || die "$v is no longer a knob: ${retired[$v]}"
done

SCENARIO=${SCENARIO:-anon-1k}
REPS=${REPS:-8}
DURATION=${DURATION:-2s}
WARMUP=${WARMUP:-400ms}
CPUPROFILE_DIR=${CPUPROFILE_DIR:-}
OUT=${OUT:-}
TIME_LIMIT=${TIME_LIMIT:-900}

isdur() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?(ms|s|m)$ ]]; }
[[ "$REPS" =~ ^[0-9]+$ ]] && [ "$REPS" -gt 0 ] || die "REPS must be a positive integer, got '$REPS'"
[[ "$TIME_LIMIT" =~ ^[0-9]+$ ]] && [ "$TIME_LIMIT" -gt 0 ] || die "TIME_LIMIT must be a positive integer (seconds)"
# A bare number would be ambiguous (seconds? requests?), so a unit is required.
isdur "$DURATION" || die "DURATION must be a duration such as 2s or 500ms, got '$DURATION'"
isdur "$WARMUP" || die "WARMUP must be a duration such as 400ms, got '$WARMUP'"
[[ "$SCENARIO" =~ ^[a-z0-9-]+$ ]] || die "SCENARIO must be one scenario name, got '$SCENARIO'"
[ "$(uname -s)" = Linux ] || die "needs Linux (/proc, sched_setaffinity)"
command -v go >/dev/null || die "needs Go"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    [ "$(id -u)" -eq 0 ] || die "nginx is missing; install it with: bash bench/peers/install.sh"
    log "installing the bench peers"
    timeout 600 bash bench/peers/install.sh >&2
fi

tmp=$(mktemp -d /tmp/cpu-vs-nginx.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$tmp/out}

# `make cpu-vs-nginx` passes the binaries it just built; run by hand, the
# script builds both from this tree so it never measures a stale binary.
if [ -z "${SLUICE_BENCH_BIN:-}" ]; then
    log "building sluice-bench"
    go build -trimpath -o "$tmp/sluice-bench" ./cmd/sluice-bench
    SLUICE_BENCH_BIN=$tmp/sluice-bench
fi
if [ -z "${SLUICE_BIN:-}" ]; then
    log "building sluice"
    go build -trimpath -o "$tmp/sluice" ./cmd/sluice
    SLUICE_BIN=$tmp/sluice
fi
[ -x "$SLUICE_BENCH_BIN" ] || die "SLUICE_BENCH_BIN '$SLUICE_BENCH_BIN' is not executable"
[ -x "$SLUICE_BIN" ] || die "SLUICE_BIN '$SLUICE_BIN' is not executable"

args=(run -preset full -scenarios "$SCENARIO" -peers nginx -no-direct -reference nginx
    -no-capacity -no-profiles -reps "$REPS" -warmup "$WARMUP" -duration "$DURATION"
    -gateway "$SLUICE_BIN" -out "$out" -max-time "${TIME_LIMIT}s")
[ -n "$CPUPROFILE_DIR" ] && args+=(-cpuprofile-dir "$CPUPROFILE_DIR")

cmdline="SCENARIO=$SCENARIO REPS=$REPS DURATION=$DURATION WARMUP=$WARMUP"
[ -n "$CPUPROFILE_DIR" ] && cmdline+=" CPUPROFILE_DIR=$CPUPROFILE_DIR"
cmdline+=" bash scripts/cpu-vs-nginx.sh"

# The harness prints its markdown report on stdout and its progress on
# stderr; the report's CPU column and its ratio to nginx are the figure.
"$SLUICE_BENCH_BIN" "${args[@]}"
echo
echo "Command: \`$cmdline\` (sluice-bench ${args[*]})"
[ -z "$OUT" ] || log "results: $OUT/results.json"
