#!/usr/bin/env bash
# Installs the peers the bench harness compares Sluice with (nginx, HAProxy,
# Caddy) from Debian's packages when missing, without starting their services.
exec bash "$(dirname "$0")/../bench/peers/install.sh" "$@"
