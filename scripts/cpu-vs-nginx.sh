#!/usr/bin/env bash
# CPU time per proxied request: Sluice against nginx, same origin, same load,
# same run. Each gateway is pinned to CPU $CPU_GW (default 0), the load
# generator and the origin to CPU $CPU_LOAD (default 1); a gateway's CPU is
# utime+stime from /proc/<pid>/stat (all threads of the sluice process; the
# single worker of nginx) over a fixed number of requests. Repetitions are
# interleaved (sluice, nginx, sluice, nginx, ...) so drift on a shared machine
# hits both alike, and the medians and their ratio are printed as a markdown
# table with the command line that produced them.
#
#   bash scripts/cpu-vs-nginx.sh                 # or: make cpu-vs-nginx
#   REQUESTS=100000 REPS=5 GOGC=200 bash scripts/cpu-vs-nginx.sh
#
# Knobs (environment):
#   REQUESTS   requests per measured run                        (200000)
#   CONNS      keep-alive client connections                    (50)
#   REPS       measured runs per gateway                        (3)
#   SIZE       response body bytes                              (1024)
#   WARMUP     requests per gateway before measuring            (20000)
#   GOGC       GOGC for the sluice process only                 (unset: Go's 100)
#   ACCESS_LOG 1 gives sluice an access log to a file; the ratio of a run
#              with it over one without (nginx the same reference in
#              both) is the log's CPU cost                      (unset: off)
#   CPUPROFILE write a sluice CPU profile here and print its top 15 (unset: none)
#   SLUICE_BIN sluice binary to measure                         (built from this tree)
#   BIND       loopback address everything listens on           (127.0.0.1)
#   CPU_GW, CPU_LOAD  cores for the gateway / load+origin       (0, 1)
#   TIME_LIMIT seconds before the whole script gives up         (900)
#
# Needs Linux, taskset, Go, two cores; installs nginx-light with apt-get when
# nginx is missing and it runs as root. Every process it starts is stopped on
# exit; nothing listens beyond loopback.
set -euo pipefail

REQUESTS=${REQUESTS:-200000}
CONNS=${CONNS:-50}
REPS=${REPS:-3}
SIZE=${SIZE:-1024}
WARMUP=${WARMUP:-20000}
SLUICE_GOGC=${GOGC:-}
CPUPROFILE=${CPUPROFILE:-}
ACCESS_LOG=${ACCESS_LOG:-}
BIND=${BIND:-127.0.0.1}
CPU_GW=${CPU_GW:-0}
CPU_LOAD=${CPU_LOAD:-1}
TIME_LIMIT=${TIME_LIMIT:-900}
# GOGC applies to sluice alone: the Go toolchain, the origin and the load
# generator keep their defaults.
unset GOGC

die() { echo "cpu-vs-nginx: $*" >&2; exit 1; }
log() { echo "cpu-vs-nginx: $*" >&2; }
isint() { [[ "$1" =~ ^[0-9]+$ ]]; }

for v in REQUESTS CONNS REPS SIZE WARMUP CPU_GW CPU_LOAD TIME_LIMIT; do
    isint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"
done
[ "$REQUESTS" -gt 0 ] && [ "$REPS" -gt 0 ] && [ "$CONNS" -gt 0 ] || die "REQUESTS, REPS and CONNS must be > 0"
[[ "$BIND" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "refusing non-loopback BIND '$BIND' (want 127.x.y.z)"
[ -z "$SLUICE_GOGC" ] || [ "$SLUICE_GOGC" = off ] || isint "$SLUICE_GOGC" || die "GOGC must be an integer or 'off'"
[ "$(uname -s)" = Linux ] || die "needs Linux (/proc, taskset)"
command -v taskset >/dev/null || die "needs taskset (util-linux)"
command -v go >/dev/null || die "needs Go"
ncpu=$(nproc --all)
[ "$CPU_GW" -lt "$ncpu" ] && [ "$CPU_LOAD" -lt "$ncpu" ] && [ "$CPU_GW" -ne "$CPU_LOAD" ] ||
    die "needs two distinct cores (CPU_GW=$CPU_GW CPU_LOAD=$CPU_LOAD, $ncpu cores)"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

nginx_bin=$(command -v nginx 2>/dev/null || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || true
if [ -z "$nginx_bin" ]; then
    [ "$(id -u)" -eq 0 ] || die "nginx is missing; install nginx-light (apt-get install nginx-light)"
    log "installing nginx-light"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq >/dev/null
    timeout 300 apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
    # A package that started its own service would take port 80 and CPU.
    if [ -f /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
    nginx_bin=/usr/sbin/nginx
fi
[ -x "$nginx_bin" ] || die "nginx not found after installing"

tmp=$(mktemp -d /tmp/cpu-vs-nginx.XXXXXX)
pids=()        # every process started, stopped by cleanup in reverse order
watchdog=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$watchdog" ]; then
        pkill -TERM -P "$watchdog" 2>/dev/null || true # its sleep
        kill "$watchdog" 2>/dev/null || true
    fi
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        # Bounded: a process that ignores SIGTERM for 10 s is killed.
        for _ in $(seq 100); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The watchdog's own stderr is silenced (bash would report its sleep being
# stopped by cleanup); its message goes to the script's stderr on fd 3.
(exec 3>&2 2>/dev/null; sleep "$TIME_LIMIT" && echo "cpu-vs-nginx: time limit of ${TIME_LIMIT}s reached" >&3 && kill -TERM $$) &
watchdog=$!
disown "$watchdog" # no job-control notice when cleanup stops it

# free_port prints a loopback port nothing answers on, outside the kernel's
# ephemeral range so outgoing connections cannot take it meanwhile.
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/$BIND/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    die "no free port found"
}

# cpu_ticks prints utime+stime of a process, in clock ticks. The command name
# may hold spaces, so fields are counted after its closing parenthesis.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# wait_ready sends single requests until one succeeds (10 s at most).
wait_ready() {
    local addr=$1 name=$2 pid=$3
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start; see its log above"
        if "$tmp/loadgen" -addr "$addr" -path "/warm?size=$SIZE" -size "$SIZE" -n 1 -c 1 -q \
            -timeout 2s -request-timeout 1s >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    die "$name at $addr not ready within 10s"
}

log "building sluice, the origin and the load generator"
SLUICE_BIN_GIVEN=${SLUICE_BIN:-}
if [ -z "${SLUICE_BIN:-}" ]; then
    go build -trimpath -o "$tmp/sluice" ./cmd/sluice
    SLUICE_BIN=$tmp/sluice
fi
[ -x "$SLUICE_BIN" ] || die "SLUICE_BIN '$SLUICE_BIN' is not executable"
go build -trimpath -o "$tmp/loadgen" ./scripts/loadgen
go build -trimpath -o "$tmp/origin" ./scripts/origin

# The origin, on the load generator's core.
taskset -c "$CPU_LOAD" "$tmp/origin" -addr "$BIND:0" >"$tmp/origin.out" 2>"$tmp/origin.err" &
pids+=($!)
origin_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$tmp/origin.out" 2>/dev/null && break; sleep 0.05; done
origin_addr=$(awk '/^listening /{print $2; exit}' "$tmp/origin.out")
[ -n "$origin_addr" ] || { cat "$tmp/origin.err" >&2; die "the origin did not start"; }

# Sluice: one API proxying everything to the origin.
start_sluice() {
    sluice_port=$(free_port)
    local admin_port
    admin_port=$(free_port)
    cat >"$tmp/sluice.toml" <<EOF
[server]
listen = ["$BIND:$sluice_port"]
admin_listen = "$BIND:$admin_port"
watch_config = false

[[backends]]
name = "origin"
targets = [{ url = "http://$origin_addr" }]

[[groups]]
name = "bench"

[[groups.apis]]
name = "all"
methods = ["GET"]
path = "/{rest:*}"
backend = "origin"
EOF
    if [ "$ACCESS_LOG" = 1 ]; then
        printf '\n[access_log]\n[[access_log.sinks]]\ntype = "file"\npath = "%s"\n' "$tmp/access.log" >>"$tmp/sluice.toml"
    fi
    local args=(run -config "$tmp/sluice.toml" -log-level warn)
    [ -n "$CPUPROFILE" ] && args+=(-cpuprofile "$CPUPROFILE")
    local envs=()
    [ -n "$SLUICE_GOGC" ] && envs+=("GOGC=$SLUICE_GOGC")
    taskset -c "$CPU_GW" env "${envs[@]}" "$SLUICE_BIN" "${args[@]}" 2>"$tmp/sluice.log" &
    pids+=($!)
    sluice_pid=$!
    sleep 0.2
    if ! kill -0 "$sluice_pid" 2>/dev/null; then cat "$tmp/sluice.log" >&2; return 1; fi
}
start_sluice || start_sluice || die "sluice did not start"
wait_ready "$BIND:$sluice_port" sluice "$sluice_pid"

# nginx: the master on the gateway core; its one worker inherits the pinning.
start_nginx() {
    nginx_port=$(free_port)
    mkdir -p "$tmp/nginx"
    sed -e "s#@DIR@#$tmp/nginx#g" -e "s#@LISTEN@#$BIND:$nginx_port#g" -e "s#@ORIGIN@#$origin_addr#g" \
        scripts/nginx-peer.conf.tmpl >"$tmp/nginx/nginx.conf"
    taskset -c "$CPU_GW" "$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/nginx-error.log" \
        -c "$tmp/nginx/nginx.conf" 2>>"$tmp/nginx/stderr" &
    pids+=($!)
    nginx_pid=$!
    sleep 0.3
    if ! kill -0 "$nginx_pid" 2>/dev/null; then cat "$tmp/nginx/stderr" "$tmp/nginx/nginx-error.log" >&2; return 1; fi
}
start_nginx || start_nginx || die "nginx did not start"
wait_ready "$BIND:$nginx_port" nginx "$nginx_pid"
workers=$(pgrep -P "$nginx_pid" || true)
[ "$(echo "$workers" | wc -w)" -eq 1 ] || die "want exactly one nginx worker, found: $workers"
nginx_worker=$workers

load() { # addr n -> "requests errors seconds rps"
    taskset -c "$CPU_LOAD" "$tmp/loadgen" -addr "$1" -path "/bench?size=$SIZE" -size "$SIZE" \
        -n "$2" -c "$CONNS" -q -timeout 300s
}

log "warming up ($WARMUP requests each)"
load "$BIND:$sluice_port" "$WARMUP" >/dev/null
load "$BIND:$nginx_port" "$WARMUP" >/dev/null

hz=$(getconf CLK_TCK)
declare -A us rps
for ((r = 1; r <= REPS; r++)); do
    for gw in sluice nginx; do
        if [ "$gw" = sluice ]; then addr=$BIND:$sluice_port pid=$sluice_pid; else addr=$BIND:$nginx_port pid=$nginx_worker; fi
        before=$(cpu_ticks "$pid")
        out=$(load "$addr" "$REQUESTS") || die "$gw run $r failed: $out"
        after=$(cpu_ticks "$pid")
        read -r n errs secs rate <<<"$out"
        [ "$errs" -eq 0 ] && [ "$n" -eq "$REQUESTS" ] || die "$gw run $r: $n requests, $errs errors"
        v=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$REQUESTS" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
        us[$gw]="${us[$gw]:-} $v"
        rps[$gw]="${rps[$gw]:-} $rate"
        log "run $r $gw: $v CPU-µs/request, $rate req/s (${secs}s)"
    done
done

# median FORMAT: the median of the numbers on stdin, printf-formatted.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="$1" '{a[NR]=$1} END{if (NR%2) printf f, a[(NR+1)/2]; else printf f, (a[NR/2]+a[NR/2+1])/2}'; }
s_med=$(echo "${us[sluice]}" | median %.2f)
n_med=$(echo "${us[nginx]}" | median %.2f)
s_rps=$(echo "${rps[sluice]}" | median %.0f)
n_rps=$(echo "${rps[nginx]}" | median %.0f)
ratio=$(awk -v a="$s_med" -v b="$n_med" 'BEGIN{printf "%.2f", a / b}')
runs() { echo "$1" | sed 's/^ //; s/ /, /g'; }

cmdline="REQUESTS=$REQUESTS CONNS=$CONNS REPS=$REPS SIZE=$SIZE WARMUP=$WARMUP"
[ -n "$SLUICE_GOGC" ] && cmdline+=" GOGC=$SLUICE_GOGC"
[ -n "$CPUPROFILE" ] && cmdline+=" CPUPROFILE=$CPUPROFILE"
[ -n "$ACCESS_LOG" ] && cmdline+=" ACCESS_LOG=$ACCESS_LOG"
[ -n "$SLUICE_BIN_GIVEN" ] && cmdline+=" SLUICE_BIN=$SLUICE_BIN"
cmdline+=" bash scripts/cpu-vs-nginx.sh"

echo
echo "CPU time per proxied request, $REQUESTS GET requests per run over $CONNS keep-alive connections," \
    "$SIZE-byte responses, gateway pinned to CPU $CPU_GW, load generator and origin to CPU $CPU_LOAD," \
    "$REPS interleaved runs each (median). sluice GOGC=${SLUICE_GOGC:-100 (default)}."
echo
echo "| gateway | CPU µs/request (median) | runs | req/s (median) |"
echo "|---|---:|---|---:|"
echo "| sluice ($("$SLUICE_BIN" version | awk '{print $2}')) | $s_med | $(runs "${us[sluice]}") | $s_rps |"
echo "| nginx ($("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), 1 worker) | $n_med | $(runs "${us[nginx]}") | $n_rps |"
echo "| **ratio sluice/nginx** | **$ratio** | | |"
echo
if [ "$ACCESS_LOG" = 1 ]; then
    echo "Sluice had written $(wc -l <"$tmp/access.log") access-log records to its file (the last second's batch may still be in flight)."
fi
echo "Command: \`$cmdline\`"
echo "Machine: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $ncpu cores, Linux $(uname -r), $(go version | awk '{print $3}')."

if [ -n "$CPUPROFILE" ]; then
    # Stop sluice now so it writes the profile, then show where its time went.
    kill -TERM "$sluice_pid"
    for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$sluice_pid" 2>/dev/null || true
    echo
    echo "sluice CPU profile ($CPUPROFILE), top 15 by flat time:"
    echo '```'
    go tool pprof -top -nodecount=15 "$SLUICE_BIN" "$CPUPROFILE" 2>/dev/null | sed -n '1,25p'
    echo '```'
fi
