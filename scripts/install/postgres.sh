#!/usr/bin/env bash
# Installs and starts the shared test PostgreSQL on 127.0.0.1:5432 (trust auth) if it does not answer.
#
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests:
# installs it from Debian's packages if absent, creates and starts the
# cluster if it is down, and lets the local `postgres` user in over TCP
# without a password (this is a throwaway test server on loopback only).
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster "$version" main >/dev/null
fi

if ! ready; then
  echo "ensure-postgres: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do ready && break; sleep 0.5; done
fi
ready || { echo "ensure-postgres: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }

if ! psql -h 127.0.0.1 -U postgres -d postgres -qAtc 'SELECT 1' >/dev/null 2>&1; then
  echo "ensure-postgres: trusting postgres@127.0.0.1 for the tests"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
  psql -h 127.0.0.1 -U postgres -d postgres -qAtc 'SELECT 1' >/dev/null
fi
