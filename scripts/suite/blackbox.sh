#!/usr/bin/env bash
# Suite: the seed's pytest suite, black-box, against orderly on a fresh PostgreSQL database.
#
# The seed's own pytest suite, run black-box against a real orderly:
# builds orderly, starts it on a fresh PostgreSQL database, runs
# tests/blackbox in a venv it creates, then stops the server and drops the
# database. Extra arguments go to pytest (e.g. -m integration, -k lifecycle).
#
# ORDERLY_TEST_DATABASE_URL names a server where this user may CREATE
# DATABASE (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
admin_url=${ORDERLY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --quiet --bin orderly
# shellcheck source=scripts/lib/blackbox-venv.sh
. scripts/lib/blackbox-venv.sh

log=$(mktemp)
# shellcheck source=scripts/lib/orderly-on-fresh-database.sh
. scripts/lib/orderly-on-fresh-database.sh
trap 'orderly_stop; rm -f "$log"' EXIT
orderly_start "orderly_blackbox_$$" "${CARGO_TARGET_DIR:-$root/target}/debug/orderly" "$log"

ORDERLY_BASE_URL="$base_url" ORDERLY_DSN="$database_url" \
  "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"
