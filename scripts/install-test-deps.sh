#!/usr/bin/env bash
# Installs the external servers tests start themselves on loopback: nginx
# (scripts/cpu-vs-nginx.sh and the bench peers), HAProxy and Caddy (bench
# peer config checks). Quiet, idempotent, only what is missing, and no
# package service is left running.
set -euo pipefail
bash "$(dirname "$0")/../bench/peers/install.sh" >/dev/null
# Pebble, a real ACME server, for the ACME tests of issue 11 (proxy/tls_acme_test.go).
if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
fi
for b in nginx haproxy caddy pebble pebble-challtestsrv; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || { echo "missing $b after install" >&2; exit 1; }
done
echo "test dependencies present: nginx, haproxy, caddy, pebble"
