#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and only what
# is missing: net-snmp (snmpd, snmptrap, snmpget, snmptrapd), util-linux's
# logger, iproute2 for test hosts in network namespaces, jq for the README
# walk-through, Debian's chromium and a Japanese font for the console's
# browser tests, poppler-utils (pdftoppm, pdfinfo) for the report's PDF, fping and rsyslog
# for bench/ping's and bench/ingest's comparisons. It also starts the local
# PostgreSQL and NATS servers when they are installed but stopped.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have snmpd     || need+=(snmpd)
have snmptrap  || need+=(snmp)
have snmptrapd || need+=(snmptrapd)
have logger    || need+=(bsdutils)
have ip        || need+=(iproute2)
have jq        || need+=(jq)        # the README walk-through (test/walkthrough_test.go)
# Headless Chromium for the console's browser tests (driven by chromedp),
# and a Japanese font so target names in screenshots are legible.
have chromium  || need+=(chromium)
[ -e /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ] || need+=(fonts-ipafont-gothic)
have pdftoppm  || need+=(poppler-utils)  # report PDF checks
have pg_dump   || need+=(postgresql-client)  # backup/: pg_dump and pg_restore
have zstd      || need+=(zstd)      # bench/backup compares with tar | zstd
have openssl   || need+=(openssl)        # rotate: shadow hash verification
have chpasswd  || need+=(passwd)         # rotate: chpasswd, useradd in its tests
have fping     || need+=(fping)          # bench/ping's side-by-side figures
have rsyslogd  || need+=(rsyslog)        # bench/ingest's side-by-side syslog figures

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The distribution's snmpd service is not what the tests use: they start their
# own on loopback ports. Stop a packaged one so ports stay free.
if have systemctl && systemctl is-active --quiet snmpd 2>/dev/null; then
  systemctl stop snmpd || true
fi

# PostgreSQL on 127.0.0.1:5432 (trust auth) for the ledger tests.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if have pg_ctlcluster && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
# NATS with JetStream on 127.0.0.1:4222 for the external-bus tests.
if have nats-server && ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  sleep 1
fi
exit 0
