#!/usr/bin/env bash
# Installs the peer proxies `sluice-bench run` compares Sluice with: nginx
# (nginx-light where the distribution still has it), HAProxy and Caddy, from
# the distribution's packages. Idempotent: installs only what is missing, runs
# `apt-get update` at most once, and never starts the packages' services (the
# bench runs each peer itself, in the foreground, on a free loopback port).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have nginx || missing+=(nginx)
have haproxy || missing+=(haproxy)
have caddy || missing+=(caddy)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "peers: nginx, haproxy and caddy already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "peers: apt-get not found; install ${missing[*]} by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

# Keep package scripts from starting nginx/haproxy/caddy services (they would
# take port 80 and CPU during the benchmark): policy-rc.d exit code 101 means
# "action forbidden". Only installed if the machine has none, and removed after.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 0755 "$policy"
    added_policy=1
fi
cleanup() {
    if [ "$added_policy" -eq 1 ]; then
        "${sudo[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT

echo "peers: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q

pkgs=()
for m in "${missing[@]}"; do
    if [ "$m" = nginx ] && apt-cache show nginx-light >/dev/null 2>&1; then
        pkgs+=(nginx-light)
    else
        pkgs+=("$m")
    fi
done

# Install one by one so a package absent from this distribution (caddy on an
# old release) does not keep the others from installing.
status=0
for p in "${pkgs[@]}"; do
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p"; then
        echo "peers: could not install $p; the bench will skip it" >&2
        status=1
    fi
done

# Services a package just installed started despite policy-rc.d (plain
# systemd setups); services that were there before are left alone.
for s in "${missing[@]}"; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
        "${sudo[@]}" systemctl stop "$s" || true
    fi
done
exit "$status"
