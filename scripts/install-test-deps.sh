#!/usr/bin/env bash
# Installs the external servers tests start on loopback (nginx), with
# apt-get, quietly, only when missing. Safe to run again.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package starts a system nginx on port 80; tests run their own.
  $SUDO systemctl stop nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 || pkill -x nginx || true
fi
echo "test dependencies present: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///')"
