#!/usr/bin/env bash
# Installs the system packages Chairside needs, or prints the command when not root.
#   scripts/install-system-deps.sh run    PostgreSQL 15+ server, Redis, python3-venv
#   scripts/install-system-deps.sh test   the above plus what the test suite drives:
#                                         Chromium, promtool, Alertmanager, pgBackRest,
#                                         npm (axe-core for the web app tests),
#                                         and the lab packages below
#   scripts/install-system-deps.sh lab    run packages plus the highly available topology
#                                         of `chairside lab up`: Patroni, etcd, HAProxy,
#                                         Redis Sentinel, PgBouncer (docs/production.md)
set -euo pipefail

purpose="${1:-run}"
run_packages=(postgresql postgresql-contrib redis-server python3-venv)
test_packages=(chromium prometheus prometheus-alertmanager pgbackrest npm)
lab_packages=(patroni etcd-server etcd-client haproxy redis-sentinel pgbouncer)
packages=("${run_packages[@]}")
[ "$purpose" = "test" ] && packages+=("${test_packages[@]}")
[ "$purpose" = "test" ] || [ "$purpose" = "lab" ] && packages+=("${lab_packages[@]}")

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Chairside needs these system packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "No apt-get here; install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The Debian/Ubuntu package starts a cluster of its own on 5432; Chairside never uses
# it (it runs its own clusters on free ports), so it is left as the package set it up.
newest=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$newest" ] || [ "$newest" -lt 15 ]; then
  echo "PostgreSQL ${newest:-none} is installed, Chairside needs 15 or newer;" \
       "add the PostgreSQL (PGDG) apt repository and install postgresql-16." >&2
  exit 1
fi
