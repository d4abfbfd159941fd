#!/usr/bin/env bash
# Installs what netplumb's tests and demo need: npm dependencies and (as root) the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# postgresql: the PostgreSQL store tests; chromium: the web UI tests; dnsmasq-base: DHCP tests; nftables/iptables: impairments;
# g++, make, python3: node-gyp builds better-sqlite3 for the Node 24 test run (scripts/node-line.sh).
# prometheus: its promtool checks the metrics and the alerting rules in deploy/ (docs/observability.md).
PKGS=(openvswitch-switch docker.io openssh-server openssh-client ethtool busybox-static iproute2 iputils-ping curl arping tcpdump
  postgresql chromium dnsmasq-base nftables iptables g++ make python3 prometheus)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: the packages must not start their system daemons; the sandbox starts its own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# docker-compose (Debian's 1.29): only the Docker plugin's compose test wants it. Optional: when the registry has
# none, that test is skipped with its reason (collected after this runs).
if ! dpkg-query -W -f='${Status}' docker-compose 2>/dev/null | grep -q "install ok installed" && [ "$(id -u)" -eq 0 ]; then
  echo "setup: apt-get install docker-compose (optional)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; } ||
    echo "setup: docker-compose is not installable here (its test will say so)"
fi
