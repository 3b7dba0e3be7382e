#!/usr/bin/env bash
# Installs the peers bench/ingest compares against (net-snmp's snmptrapd,
# rsyslog) when they are missing, then runs it from the module root with
# the arguments given, e.g.:
#
#   bench/ingest/run.sh                       # traps v2c+v3 at 10k/20k/40k/unpaced, syslog
#   bench/ingest/run.sh -syslog=false -rates 40000
#
# rsyslog is only installed: bench/ingest runs its own instance on an
# unprivileged port of 127.0.0.1 with a private configuration.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v snmptrapd >/dev/null 2>&1 || need+=(snmptrapd)
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench/ingest: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
exec go run ./bench/ingest "$@"
