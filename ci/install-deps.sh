#!/usr/bin/env bash
# Installs, when missing, the Debian packages the tests, the local stack and
# the benchmark harness use: prometheus (with promtool), the Pushgateway,
# HAProxy, Chromium for the browser test, and wrk for load.
# Safe to run again: it only installs what is not there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have prometheus || need+=(prometheus)
have promtool || need+=(prometheus)
have prometheus-pushgateway || need+=(prometheus-pushgateway)
have haproxy || need+=(haproxy)
have chromium || need+=(chromium)
have wrk || need+=(wrk)

if [ ${#need[@]} -eq 0 ]; then
  echo "install-deps: all tools present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
  exit 1
fi

# shellcheck disable=SC2207
uniq_need=($(printf '%s\n' "${need[@]}" | sort -u))
echo "install-deps: installing ${uniq_need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${uniq_need[@]}" >/dev/null
# The Debian packages may start system services on install; the tests start
# their own instances on free ports, so stop these if an init system did.
for svc in prometheus prometheus-pushgateway haproxy prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "install-deps: done"
