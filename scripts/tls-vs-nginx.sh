#!/usr/bin/env bash
# TLS at the edge against nginx (issue 11, acceptance 4): the gateway's CPU
# time per unit of TLS work, Sluice and nginx in the same run, each pinned to
# CPU $CPU_GW (default 0), the load generator and the origin to CPU $CPU_LOAD
# (default 1), as scripts/cpu-vs-nginx.sh does. The load generator is
# `sluice-bench tls-load` (bench/tlsload.go), the origin `sluice-bench origin`,
# nginx's config bench/peers/nginx-tls.conf.tmpl. Three measurements, each
# interleaved (sluice, nginx, sluice, ...) and reported as medians:
#
#   keepalive  CPU per request over TLS keep-alive connections (1 KiB answers)
#   full       CPU per connection with a full handshake (ECDSA P-256
#              certificate, X25519, TLS 1.3), one request, close; and the
#              handshakes per second one core sustains at that cost
#   resumed    the same with session resumption (TLS 1.3 tickets)
#
#   bash scripts/tls-vs-nginx.sh
#   REQUESTS=50000 CONNECTIONS=3000 REPS=3 bash scripts/tls-vs-nginx.sh
#
# Knobs (environment):
#   REQUESTS     keep-alive requests per measured run             (100000)
#   CONNS        keep-alive client connections                    (50)
#   CONNECTIONS  connections per handshake run                    (5000)
#   HCONNS       concurrent connections in handshake runs         (16)
#   REPS         measured runs per gateway and measurement        (3)
#   SIZE         response body bytes                              (1024)
#   WARMUP       keep-alive requests per gateway before measuring (10000)
#   CPUPROFILE   write a sluice CPU profile here, print its top   (unset)
#   SLUICE_BIN        sluice binary to measure      (built from this tree into a temp dir)
#   SLUICE_BENCH_BIN  sluice-bench binary: load generator and origin (built likewise)
#   BIND         loopback address everything listens on           (127.0.0.1)
#   CPU_GW       core the gateways are pinned to                  (0)
#   CPU_LOAD     core the load generator and origin are pinned to (1)
#   TIME_LIMIT   seconds before the script gives up               (900)
#
# Needs Linux, taskset, Go, nginx with the ssl module (nginx-light has it),
# two cores. Every process it starts is stopped on exit; loopback only.
set -euo pipefail

REQUESTS=${REQUESTS:-100000}
CONNS=${CONNS:-50}
CONNECTIONS=${CONNECTIONS:-5000}
HCONNS=${HCONNS:-16}
REPS=${REPS:-3}
SIZE=${SIZE:-1024}
WARMUP=${WARMUP:-10000}
SLUICE_GOGC=${GOGC:-}
CPUPROFILE=${CPUPROFILE:-}
BIND=${BIND:-127.0.0.1}
CPU_GW=${CPU_GW:-0}
CPU_LOAD=${CPU_LOAD:-1}
TIME_LIMIT=${TIME_LIMIT:-900}
# GOGC applies to sluice alone: the Go toolchain, the origin and the load
# generator keep their defaults.
unset GOGC

die() { echo "tls-vs-nginx: $*" >&2; exit 1; }
log() { echo "tls-vs-nginx: $*" >&2; }
isint() { [[ "$1" =~ ^[0-9]+$ ]]; }

for v in REQUESTS CONNS CONNECTIONS HCONNS REPS SIZE WARMUP CPU_GW CPU_LOAD TIME_LIMIT; do
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

tmp=$(mktemp -d /tmp/tls-vs-nginx.XXXXXX)
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
(exec 3>&2 2>/dev/null; sleep "$TIME_LIMIT" && echo "tls-vs-nginx: time limit of ${TIME_LIMIT}s reached" >&3 && kill -TERM $$) &
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
        if "$SLUICE_BENCH_BIN" tls-load -mode keepalive -addr "$addr" -ca "$tmp/cert.pem" -path "/warm?size=$SIZE" \
            -size "$SIZE" -n 1 -c 1 -q -timeout 2s >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    die "$name at $addr not ready within 10s"
}

# Both binaries are built from this tree unless given, so the script never
# measures a stale one; sluice-bench is the load generator (tls-load) and the
# origin stub (origin).
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
"$SLUICE_BENCH_BIN" tls-load -mode gencert -dir "$tmp" -sni bench.test

# The origin, on the load generator's core.
taskset -c "$CPU_LOAD" "$SLUICE_BENCH_BIN" origin -listen "$BIND:0" >"$tmp/origin.out" 2>"$tmp/origin.err" &
pids+=($!)
origin_pid=$!
for _ in $(seq 100); do grep -q '^origin listening on ' "$tmp/origin.out" 2>/dev/null && break; sleep 0.05; done
origin_addr=$(awk '/^origin listening on /{print $4; exit}' "$tmp/origin.out")
[ -n "$origin_addr" ] || { cat "$tmp/origin.err" >&2; die "the origin did not start"; }

# Sluice: one API proxying everything to the origin.
start_sluice() {
    sluice_port=$(free_port)
    sluice_tls_port=$(free_port)
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

[[server.listeners]]
address = "$BIND:$sluice_tls_port"
tls = true

[[groups]]
name = "bench"
hosts = ["bench.test"]
certificates = [{ cert = "file:$tmp/cert.pem", key = "file:$tmp/key.pem" }]

[[groups.apis]]
name = "all"
methods = ["GET"]
path = "/{rest:*}"
backend = "origin"
EOF
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
wait_ready "$BIND:$sluice_tls_port" sluice "$sluice_pid"

# nginx: the master on the gateway core; its one worker inherits the pinning.
start_nginx() {
    nginx_port=$(free_port)
    mkdir -p "$tmp/nginx"
    sed -e "s#@DIR@#$tmp/nginx#g" -e "s#@LISTEN@#$BIND:$nginx_port#g" -e "s#@ORIGIN@#$origin_addr#g" \
        -e "s#@CERT@#$tmp/cert.pem#g" -e "s#@KEY@#$tmp/key.pem#g" \
        bench/peers/nginx-tls.conf.tmpl >"$tmp/nginx/nginx.conf"
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

load() { # mode addr n conns -> "done errors seconds rate resumed"
    taskset -c "$CPU_LOAD" "$SLUICE_BENCH_BIN" tls-load -mode "$1" -addr "$2" -ca "$tmp/cert.pem" -path "/bench?size=$SIZE" \
        -size "$SIZE" -n "$3" -c "$4" -q -timeout 300s
}

log "warming up ($WARMUP keep-alive requests and $HCONNS connections each)"
for a in "$BIND:$sluice_tls_port" "$BIND:$nginx_port"; do
    load keepalive "$a" "$WARMUP" "$CONNS" >/dev/null
    load full "$a" 200 "$HCONNS" >/dev/null
done

hz=$(getconf CLK_TCK)
declare -A us rate
for mode in keepalive full resumed; do
    if [ "$mode" = keepalive ]; then n=$REQUESTS c=$CONNS; else n=$CONNECTIONS c=$HCONNS; fi
    for ((r = 1; r <= REPS; r++)); do
        for gw in sluice nginx; do
            if [ "$gw" = sluice ]; then addr=$BIND:$sluice_tls_port pid=$sluice_pid; else addr=$BIND:$nginx_port pid=$nginx_worker; fi
            before=$(cpu_ticks "$pid")
            out=$(load "$mode" "$addr" "$n" "$c") || die "$gw $mode run $r failed: $out"
            after=$(cpu_ticks "$pid")
            read -r done errs secs rps resumed <<<"$out"
            [ "$errs" -eq 0 ] && [ "$done" -eq "$n" ] || die "$gw $mode run $r: $done done, $errs errors"
            if [ "$mode" = resumed ] && [ "$resumed" -lt $((n * 9 / 10)) ]; then
                die "$gw resumed only $resumed of $n sessions"
            fi
            v=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$n" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
            us[$mode.$gw]="${us[$mode.$gw]:-} $v"
            rate[$mode.$gw]="${rate[$mode.$gw]:-} $rps"
            log "run $r $mode $gw: $v CPU-µs each, $rps/s (${secs}s, $resumed resumed)"
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="$1" '{a[NR]=$1} END{if (NR%2) printf f, a[(NR+1)/2]; else printf f, (a[NR/2]+a[NR/2+1])/2}'; }
runs() { echo "$1" | sed 's/^ //; s/ /, /g'; }

cmdline="REQUESTS=$REQUESTS CONNS=$CONNS CONNECTIONS=$CONNECTIONS HCONNS=$HCONNS REPS=$REPS SIZE=$SIZE WARMUP=$WARMUP"
[ -n "$SLUICE_GOGC" ] && cmdline+=" GOGC=$SLUICE_GOGC"
[ -n "$CPUPROFILE" ] && cmdline+=" CPUPROFILE=$CPUPROFILE"
cmdline+=" bash scripts/tls-vs-nginx.sh"

echo
echo "TLS at the edge, gateway pinned to CPU $CPU_GW, load generator and origin to CPU $CPU_LOAD, ECDSA P-256" \
    "certificate, TLS 1.3 (X25519), $SIZE-byte answers proxied from the origin, $REPS interleaved runs each (median)."
echo
echo "| measurement | sluice CPU µs | nginx CPU µs | ratio sluice/nginx | sluice per core /s | nginx per core /s | sluice runs | nginx runs |"
echo "|---|---:|---:|---:|---:|---:|---|---|"
for mode in keepalive full resumed; do
    s=$(echo "${us[$mode.sluice]}" | median %.2f)
    g=$(echo "${us[$mode.nginx]}" | median %.2f)
    ratio=$(awk -v a="$s" -v b="$g" 'BEGIN{printf "%.2f", a / b}')
    sp=$(awk -v a="$s" 'BEGIN{printf "%.0f", 1e6 / a}')
    gp=$(awk -v a="$g" 'BEGIN{printf "%.0f", 1e6 / a}')
    case $mode in
    keepalive) label="keep-alive request ($REQUESTS over $CONNS connections)" ;;
    full) label="full handshake + 1 request ($CONNECTIONS connections, $HCONNS at once)" ;;
    resumed) label="resumed handshake + 1 request ($CONNECTIONS connections)" ;;
    esac
    echo "| $label | $s | $g | **$ratio** | $sp | $gp | $(runs "${us[$mode.sluice]}") | $(runs "${us[$mode.nginx]}") |"
done
echo
echo "sluice $("$SLUICE_BIN" version | awk '{print $2}'); nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), 1 worker, $(openssl version 2>/dev/null || echo 'OpenSSL (version unknown)')."
echo "Command: \`$cmdline\`"
echo "Machine: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $ncpu cores, Linux $(uname -r), $(go version | awk '{print $3}')."

if [ -n "$CPUPROFILE" ]; then
    kill -TERM "$sluice_pid"
    for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$sluice_pid" 2>/dev/null || true
    echo
    echo "sluice CPU profile ($CPUPROFILE), top 20 by flat time:"
    echo '```'
    go tool pprof -top -nodecount=20 "$SLUICE_BIN" "$CPUPROFILE" 2>/dev/null | sed -n '1,30p'
    echo '```'
fi
