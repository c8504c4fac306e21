#!/usr/bin/env bash
# Read/write system calls and CPU per proxied request of one or more Sluice
# binaries, alternating binary by binary, round by round (issue 16). Each
# gateway runs with GOMAXPROCS=1 pinned to the last CPU, the origin stub and
# the closed-loop load (64 connections) on the others, on a config rendered
# by `sluice-bench render` for the scenario. CPU comes from every thread's
# /proc/<pid>/task/*/schedstat, system calls from /proc/<pid>/io (syscr,
# syscw: every read(2)/write(2)-like call, those that found nothing
# included).
#
#   BINS="old=/tmp/sluice-old new=bin/sluice" bash scripts/syscalls-ab.sh
#   SCENARIO=anon-16k N=20000 ROUNDS=5 BINS=... bash scripts/syscalls-ab.sh
#
# Knobs: BINS (label=path ...), SCENARIO (anon-1k), N requests per round
# (30000), ROUNDS (3), PORT (18080: gateway; +1 origin, +2 admin),
# SLUICE_BENCH_BIN (bin/sluice-bench). Loopback only; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=${BINS:-"sluice=bin/sluice"}
SCENARIO=${SCENARIO:-anon-1k}
N=${N:-30000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}
SB=${SLUICE_BENCH_BIN:-bin/sluice-bench}
cpus=$(nproc)
target=$((cpus - 1))
harness="0-$((cpus > 1 ? cpus - 2 : 0))"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
"$SB" render -scenario "$SCENARIO" -out "$tmp" -listen "127.0.0.1:$PORT" -origin "127.0.0.1:$((PORT + 1))" \
	-admin "127.0.0.1:$((PORT + 2))" >/dev/null
path=$(awk -F'"' '/^path = / {print $2; exit}' "$tmp/sluice.toml" | sed 's/{rest:\*}/x/')
url="http://127.0.0.1:$PORT${path}?size=$( [ "$SCENARIO" = anon-16k ] && echo 16384 || echo 1024 )"
taskset -c "$harness" "$SB" origin -listen "127.0.0.1:$((PORT + 1))" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
cpu() { local t=0 f; for f in /proc/"$1"/task/*/schedstat; do t=$((t + $(cut -d' ' -f1 "$f"))); done; echo "$t"; }
io() { awk '/^syscr|^syscw/ {printf "%s ", $2}' /proc/"$1"/io; }
echo "scenario $SCENARIO, $url, $N requests per round, gateway on CPU $target"
for r in $(seq "$ROUNDS"); do
	for lb in $BINS; do
		label=${lb%%=*} bin=${lb#*=}
		GOMAXPROCS=1 taskset -c "$target" "$bin" run -config "$tmp/sluice.toml" >/dev/null 2>&1 &
		p=$!
		pids+=("$p")
		for _ in $(seq 50); do curl -fs "http://127.0.0.1:$((PORT + 2))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
		taskset -c "$harness" "$SB" load -url "$url" -c 64 -d 1s >/dev/null
		c0=$(cpu "$p"); read -r r0 w0 <<<"$(io "$p")"
		taskset -c "$harness" "$SB" load -url "$url" -c 64 -n "$N" -d 60s >/dev/null
		c1=$(cpu "$p"); read -r r1 w1 <<<"$(io "$p")"
		kill "$p"; wait "$p" 2>/dev/null || true
		awk -v l="$label" -v r="$r" -v n="$N" -v c="$((c1 - c0))" -v rd="$((r1 - r0))" -v wr="$((w1 - w0))" \
			'BEGIN { printf "round %d %-10s %7.2f µs CPU/req  %5.2f reads/req  %5.2f writes/req\n", r, l, c / n / 1000, rd / n, wr / n }'
	done
done
