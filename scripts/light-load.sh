#!/usr/bin/env bash
# CPU per request at light load (issue 16 build point 3): one or more Sluice
# binaries and nginx (one worker) on the anon-1k job, each offered a bounded
# open-loop rate well below capacity, interleaved repetition by repetition so
# the machine's drift hits them alike. Also CPU per second with no load.
#
#   bash scripts/light-load.sh
#   RATES="1620 4050" REPS=7 BINS="before=/tmp/sluice-old after=/tmp/sluice-new" bash scripts/light-load.sh
#
# Method (the harness's where it applies):
#   - every gateway runs with GOMAXPROCS=1, pinned with taskset to the last
#     allowed CPU; origin stub and load generator run on the others
#     (bench/affinity.go);
#   - CPU is read per thread in nanoseconds from /proc/<pid>/task/*/schedstat
#     before and after each measured window (nginx: its worker), and divided
#     by the requests completed in it; context switches (voluntary and not,
#     /proc/<pid>/task/*/status) likewise: at light load they are the cost;
#   - each repetition: 1 s unmeasured at the rate (connections open, pools
#     warm), then DURATION measured, 256 connections (the harness's open-loop
#     setting); ratios are taken per repetition against nginx's repetition,
#     and the median of those is printed.
#
# Knobs (environment):
#   RATES     offered rates, req/s (1620 4050: a fifth and a half of the
#             8 100 req/s nginx sustained in BENCHMARKS.md's capacity search)
#   REPS      interleaved repetitions per rate                      (5)
#   DURATION  measured window per repetition                        (3s)
#   IDLE      seconds of the no-load reading, 0 to skip             (10)
#   BINS      label=path of sluice binaries (built from this tree as "sluice")
#   SLUICE_BENCH_BIN  sluice-bench binary (built from this tree)
#
# Needs Linux, Go, taskset, python3, and nginx for the reference (skipped when
# missing). Loopback only; every process the script starts is stopped at exit.
set -euo pipefail

RATES=${RATES:-"1620 4050"}
REPS=${REPS:-5}
DURATION=${DURATION:-3s}
IDLE=${IDLE:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/sluice-light-load.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${SLUICE_BENCH_BIN:-}" ]; then
	SLUICE_BENCH_BIN=$work/sluice-bench
	go build -C "$root" -o "$SLUICE_BENCH_BIN" ./cmd/sluice-bench
fi
if [ -z "${BINS:-}" ]; then
	go build -C "$root" -o "$work/sluice" ./cmd/sluice
	BINS="sluice=$work/sluice"
fi

# CPU plan: the gateways get the last allowed CPU, the harness the rest.
mapfile -t cpus < <(python3 -c 'import os; print("\n".join(map(str, sorted(os.sched_getaffinity(0)))))')
if [ "${#cpus[@]}" -ge 2 ]; then
	target="taskset -c ${cpus[-1]}"
	harness="taskset -c $(IFS=,; echo "${cpus[*]:0:${#cpus[@]}-1}")"
else
	target="" harness=""
	echo "one CPU: nothing pinned, gateways and harness share it" >&2
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "not ready: $1" >&2
	exit 1
}

origin=127.0.0.1:$(free_port)
$harness "$SLUICE_BENCH_BIN" origin -listen "$origin" >"$work/origin.log" 2>&1 &
pids+=($!)
path="/anon/item?size=1024"
wait_ready "http://$origin/item?size=1024"

labels=() tpids=() urls=()
for b in $BINS; do
	label=${b%%=*} bin=${b#*=}
	port=$(free_port) admin=127.0.0.1:$(free_port)
	"$SLUICE_BENCH_BIN" render -scenario anon-1k -out "$work/$label" -listen "127.0.0.1:$port" -origin "$origin" -admin "$admin" >/dev/null
	(cd "$work/$label" && exec env GOMAXPROCS=1 $target "$bin" run -config sluice.toml >gw.log 2>&1) &
	pids+=($!)
	labels+=("$label") tpids+=($!) urls+=("http://127.0.0.1:$port$path")
	wait_ready "http://$admin/readyz"
done
if command -v nginx >/dev/null; then
	port=$(free_port)
	"$SLUICE_BENCH_BIN" render -scenario anon-1k -out "$work/nginx" -listen "127.0.0.1:$port" -origin "$origin" >/dev/null
	$target nginx -c "$work/nginx/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
	pids+=($!)
	wait_ready "http://127.0.0.1:$port$path"
	worker=$(pgrep -P "${pids[-1]}" | head -1)
	pids+=("$worker")
	labels+=(nginx) tpids+=("$worker") urls+=("http://127.0.0.1:$port$path")
else
	echo "nginx not installed: no reference" >&2
fi

# cpu_csw PID: nanoseconds on CPU and context switches, all threads.
cpu_csw() {
	local ns=0 sw=0 a v n
	for t in /proc/"$1"/task/*; do
		read -r a _ <"$t/schedstat"
		v=$(awk '/^voluntary_ctxt_switches/{print $2}' "$t/status")
		n=$(awk '/^nonvoluntary_ctxt_switches/{print $2}' "$t/status")
		ns=$((ns + a)) sw=$((sw + v + n))
	done
	echo "$ns $sw"
}

rows=$work/rows
for rate in $RATES; do
	for rep in $(seq "$REPS"); do
		for i in "${!labels[@]}"; do
			$harness "$SLUICE_BENCH_BIN" load -url "${urls[$i]}" -rate "$rate" -d 1s -warmup 0 -c 256 >/dev/null
			read -r c0 s0 < <(cpu_csw "${tpids[$i]}")
			n=$($harness "$SLUICE_BENCH_BIN" load -url "${urls[$i]}" -rate "$rate" -d "$DURATION" -warmup 0 -c 256 -json |
				python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["completed"] if not r["errors"] else 0)')
			read -r c1 s1 < <(cpu_csw "${tpids[$i]}")
			echo "$rate $rep ${labels[$i]} $n $((c1 - c0)) $((s1 - s0))" >>"$rows"
		done
	done
done
if [ "$IDLE" -gt 0 ]; then
	for i in "${!labels[@]}"; do
		read -r c0 s0 < <(cpu_csw "${tpids[$i]}")
		idle_start[i]=$c0 idle_sw[i]=$s0
	done
	sleep "$IDLE"
	for i in "${!labels[@]}"; do
		read -r c1 s1 < <(cpu_csw "${tpids[$i]}")
		echo "idle 0 ${labels[$i]} $IDLE $((c1 - idle_start[i])) $((s1 - idle_sw[i]))" >>"$rows"
	done
fi

python3 - "$rows" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
rates = sorted({r[0] for r in rows if r[0] != "idle"}, key=int)
labels = list(dict.fromkeys(r[2] for r in rows))
print("| rate req/s | target | CPU µs/req | switches/req | CPU vs nginx (median of per-rep ratios) |")
print("|--:|---|--:|--:|--:|")
for rate in rates:
    per = {}
    for r in rows:
        if r[0] == rate and int(r[3]) > 0:
            per.setdefault(r[2], {})[r[1]] = (int(r[4]) / int(r[3]) / 1e3, int(r[5]) / int(r[3]))
    ref = per.get("nginx", {})
    for lb in labels:
        v = per.get(lb, {})
        if not v:
            continue
        ratios = [v[k][0] / ref[k][0] for k in v if k in ref]
        ratio = f"{st.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})" if lb != "nginx" and ratios else "—"
        print(f"| {rate} | {lb} | {st.median(x[0] for x in v.values()):.1f} | {st.median(x[1] for x in v.values()):.2f} | {ratio} |")
for r in rows:
    if r[0] == "idle":
        print(f"idle {r[2]}: {int(r[4]) / 1e3 / int(r[3]):.0f} µs CPU per second, {int(r[5]) / int(r[3]):.1f} switches per second")
PY
