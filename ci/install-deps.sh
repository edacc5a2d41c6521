#!/usr/bin/env bash
# Installs, when missing, the Debian packages the tests, the local stack and
# the benchmark harness use: prometheus (with promtool), the Pushgateway,
# HAProxy, Chromium for the browser test, wrk for load, and PostgreSQL (the
# tests, `make stack STORE=postgres` and the benchmark start their own
# server from it; Debian keeps initdb and pgbench under
# /usr/lib/postgresql/<version>/bin, off PATH).
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
have_pg() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/pgbench' >/dev/null; }
have_pg || need+=(postgresql)

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
for svc in prometheus prometheus-pushgateway haproxy prometheus-node-exporter postgresql; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
# Without systemd the postgresql package starts its default cluster through
# pg_ctlcluster; nothing here uses it.
if [[ " ${uniq_need[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1, $2}' | while read -r ver cluster; do
    pg_ctlcluster "$ver" "$cluster" stop || true
  done
fi
echo "install-deps: done"
