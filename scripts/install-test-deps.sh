#!/usr/bin/env bash
# Installs the external servers tests start themselves on loopback: nginx
# (scripts/cpu-vs-nginx.sh and the bench peers), HAProxy and Caddy (bench
# peer config checks), and redis-server with redis-cli (store/redisstate:
# fleet limits against a real Redis and a three-node Cluster). Quiet,
# idempotent, only what is missing, and no package service is left running.
set -euo pipefail
bash "$(dirname "$0")/../bench/peers/install.sh" >/dev/null

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if ! have redis-server || ! have redis-cli; then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  # policy-rc.d exit 101 keeps the package from starting a system Redis on
  # 6379: the tests run their own servers on free ports.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 0755 "$policy"
    added_policy=1
  fi
  trap '[ "$added_policy" -eq 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    "${sudo[@]}" systemctl stop redis-server || true
  fi
fi

# Pebble, a real ACME server, for the ACME tests of issue 11 (proxy/tls_acme_test.go).
if ! have pebble || ! have pebble-challtestsrv; then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pebble >/dev/null
fi

for b in nginx haproxy caddy redis-server redis-cli pebble pebble-challtestsrv; do
  have "$b" || { echo "missing $b after install" >&2; exit 1; }
done
echo "test dependencies present: nginx, haproxy, caddy, redis-server, redis-cli, pebble"
