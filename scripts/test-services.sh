#!/usr/bin/env bash
# Make the services the test suite talks to available: PostgreSQL, Redis, Chromium.
# Starts what is installed but stopped, installs what is missing, never touches remote hosts.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"; apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then as_root pg_createcluster "$version" main; fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
# The suite's own role, made as the postgres OS user (no trust authentication assumed).
as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_test') THEN
    CREATE ROLE crisis_test LOGIN CREATEDB PASSWORD 'crisis_test';
  ELSE
    ALTER ROLE crisis_test LOGIN CREATEDB PASSWORD 'crisis_test';
  END IF;
END $$;
SQL

# Redis
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing Redis"; apt_install redis-server
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi

# Headless Chromium for the browser tests (Playwright drives Debian's build).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Chromium"; apt_install chromium fonts-dejavu-core
fi

# WeasyPrint renders review and monthly-report PDFs with Pango.
if ! ldconfig -p | grep -q libpangoft2-1.0.so.0 || ! ldconfig -p | grep -q libharfbuzz-subset.so.0; then
  echo "installing Pango for PDF reports"; apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
fi
echo "services ready: PostgreSQL $(pg_lsclusters -h | awk '{print $1}' | head -n1), Redis $(redis-server --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -n1)"
