#!/usr/bin/env bash
# Installs the external servers tests start themselves on loopback: nginx
# (scripts/cpu-vs-nginx.sh and the bench peers), HAProxy and Caddy (bench
# peer config checks). Quiet, idempotent, only what is missing, and no
# package service is left running.
set -euo pipefail
bash "$(dirname "$0")/../bench/peers/install.sh" >/dev/null
for b in nginx haproxy caddy; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || { echo "missing $b after install" >&2; exit 1; }
done
echo "test dependencies present: nginx, haproxy, caddy"
