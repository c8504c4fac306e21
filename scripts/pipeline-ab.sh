#!/usr/bin/env bash
# CPU time per request of the BenchmarkPipeline* benchmarks, old commit
# against this tree, run alternately in one session. Wall-clock ns/op swings
# on a shared machine; the CPU the process used does much less. Per
# benchmark and pair: CPU(HI requests) - CPU(LO requests), divided by
# HI-LO, so set-up costs cancel; the pairs alternate old/new, new/old.
#
#   bash scripts/pipeline-ab.sh                # OLD=b8f7992 PAIRS=5
#   OLD=HEAD~10 PAIRS=3 bash scripts/pipeline-ab.sh
#
# Prints one line per benchmark: old and new medians (ns CPU per request)
# and the median of the per-pair new/old ratios with its range.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:-b8f7992}
PAIRS=${PAIRS:-5}
LO=${LO:-10000}
HI=${HI:-50000}
BENCHES=${BENCHES:-"BenchmarkPipeline BenchmarkPipelineKeyAuth BenchmarkPipelineJWT BenchmarkPipelineHMAC BenchmarkPipelineFullChain BenchmarkPipelineLogged"}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$OLD"
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./proxy/)
go test -c -o "$tmp/new.test" ./proxy/

# cpu BIN BENCH N: user+system seconds of one run.
cpu() {
  local t TIMEFORMAT='%U %S' # bash's own time: user and system seconds
  t=$( { time "$1" -test.run '^$' -test.bench "^$2\$" -test.benchtime "$3x" -test.cpu 1 >/dev/null 2>&1; } 2>&1 | tail -1)
  awk -v t="$t" 'BEGIN { split(t, a, " "); print a[1] + a[2] }'
}
per() { # BIN BENCH: ns of CPU per request
  local a b
  a=$(cpu "$1" "$2" "$LO"); b=$(cpu "$1" "$2" "$HI")
  awk -v a="$a" -v b="$b" -v lo="$LO" -v hi="$HI" 'BEGIN { printf "%.0f\n", (b - a) / (hi - lo) * 1e9 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cd proxy # the benchmarks read testdata relative to the package
for b in $BENCHES; do
  olds=() news=() ratios=()
  for ((i = 0; i < PAIRS; i++)); do
    if ((i % 2 == 0)); then o=$(per "$tmp/old.test" "$b"); n=$(per "$tmp/new.test" "$b")
    else n=$(per "$tmp/new.test" "$b"); o=$(per "$tmp/old.test" "$b"); fi
    olds+=("$o") news+=("$n")
    ratios+=("$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.3f\n", n / o }')")
  done
  mo=$(printf '%s\n' "${olds[@]}" | median); mn=$(printf '%s\n' "${news[@]}" | median)
  mr=$(printf '%s\n' "${ratios[@]}" | median)
  lo=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1); hi=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
  printf '%-28s old %6s  new %6s ns CPU/req  new/old %s (%s-%s)\n' "$b" "$mo" "$mn" "$mr" "$lo" "$hi"
done
