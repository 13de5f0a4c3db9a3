#!/usr/bin/env bash
# Suite: adopts the legacy FastAPI service's database, then runs both services on it (seed and side-by-side suites).
#
# `orderly migrate --adopt` on a database that the legacy FastAPI + asyncpg
# service (tests/legacy/app.py) created and filled, and then both services
# on it at once:
#   1. a fresh PostgreSQL database; the legacy service starts on it (and
#      applies tests/legacy/schema.sql) and makes a few users and orders;
#   2. `orderly migrate --adopt --dry-run`, which must leave the database as
#      it was (compared with pg_dump), then
#      `orderly migrate --adopt`;
#   3. orderly serves the adopted database beside the still-running legacy
#      service, and (a) the seed's pytest suite tests/blackbox runs against
#      orderly, (b) tests/legacy/test_side_by_side.py against both, then
#      (c) the legacy service restarts on the adopted database (its start-up
#      must not re-run schema.sql) and makes a user and an order.
# Both (a) and (b) run even when the other fails; the script fails if any of
# (a), (b), (c) did. Both servers are stopped and the database dropped on
# exit, whatever happened. Extra arguments go to both pytest runs (e.g. -x, -k race).
#
# ORDERLY_TEST_DATABASE_URL names a server where this user may CREATE
# DATABASE (default postgres://postgres@127.0.0.1:5432/postgres). The
# legacy service's venv is .venv-legacy, made from tests/legacy/requirements.txt
# and made again when that file changes.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
admin_url=${ORDERLY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --quiet --bin orderly
bin=${CARGO_TARGET_DIR:-target}/debug/orderly

# shellcheck source=scripts/lib/blackbox-venv.sh
. scripts/lib/blackbox-venv.sh
blackbox_venv=$venv

legacy_venv="$root/.venv-legacy"
ensure_venv "$legacy_venv" tests/legacy/requirements.txt

say() { printf '\n== adopt-side-by-side: %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

database=orderly_adopt_$$
database_url="${admin_url%/*}/$database"
database_made=
legacy_pid=
orderly_pid=
work=$(mktemp -d)
legacy_log=$work/legacy.log
orderly_log=$work/orderly.log

stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local status=$?
  stop "$orderly_pid"
  stop "$legacy_pid"
  if [ "$status" -ne 0 ]; then
    for log in "$legacy_log" "$orderly_log"; do
      if [ -s "$log" ]; then echo "-- last lines of $(basename "$log"):" >&2; tail -n 40 "$log" >&2; fi
    done
  fi
  if [ -n "$database_made" ]; then
    psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh

# legacy METHOD PATH [BODY]: one request to the legacy service; fails on
# any status >= 400, prints the response body.
legacy() {
  curl -fsS --max-time 10 -X "$1" -H 'content-type: application/json' ${3:+-d "$3"} "$legacy_url$2"
}
id_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

# -- 1. the legacy service, on a database of its own making -------------------
say "database $database"
psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
if ! psql "$admin_url" -qAtc "CREATE DATABASE $database" >/dev/null; then
  echo "cannot create a database on $admin_url; start PostgreSQL (bash scripts/install/postgres.sh) or set ORDERLY_TEST_DATABASE_URL" >&2
  exit 1
fi
database_made=1

legacy_port=$(free_port)
legacy_url="http://127.0.0.1:$legacy_port"
DATABASE_URL="$database_url" "$legacy_venv/bin/uvicorn" --app-dir tests/legacy app:app \
  --host 127.0.0.1 --port "$legacy_port" >"$legacy_log" 2>&1 &
legacy_pid=$!
wait_until_answers "the legacy service" "$legacy_url/api/v1/users?limit=1" "$legacy_pid" "$legacy_log"
say "legacy service on $legacy_url"

# A few users and orders, every kind of write the legacy service makes. The
# status moves also leave the legacy pool holding prepared statements of
# its transactions, from before the adoption (see the first test of
# test_side_by_side.py).
ada=$(legacy POST /api/v1/users '{"email": "legacy-seed-ada@example.com", "name": "Ada"}' | id_of)
bob=$(legacy POST /api/v1/users '{"email": "Legacy-Seed-Bob@Example.com", "name": "Bob"}' | id_of)
cy=$(legacy POST /api/v1/users '{"email": "legacy-seed-cy@example.com", "name": "Cy"}' | id_of)
legacy PATCH "/api/v1/users/$cy" '{"name": "Cy Renamed"}' >/dev/null
legacy DELETE "/api/v1/users/$cy" >/dev/null
first=$(legacy POST /api/v1/orders "{\"user_id\": $ada, \"items\": [{\"sku\": \"BOOK-1\", \"quantity\": 2, \"unit_price\": 1250}, {\"sku\": \"PEN-7\", \"quantity\": 1, \"unit_price\": 99}]}" | id_of)
second=$(legacy POST /api/v1/orders "{\"user_id\": $bob, \"currency\": \"EUR\", \"items\": [{\"sku\": \"MUG\", \"quantity\": 1, \"unit_price\": 800}]}" | id_of)
legacy POST /api/v1/orders "{\"user_id\": $ada, \"items\": [{\"sku\": \"LAMP\", \"quantity\": 1, \"unit_price\": 4500}]}" >/dev/null
legacy PUT "/api/v1/orders/$first" '{"status": "paid"}' >/dev/null
legacy PATCH "/api/v1/orders/$first" '{"status": "shipped"}' >/dev/null
legacy PATCH "/api/v1/orders/$second" '{"status": "cancelled"}' >/dev/null
legacy GET "/api/v1/orders/$first" >/dev/null

# -- 2. the adoption ----------------------------------------------------------
# pg_dump's \restrict lines carry a random key each run: left out.
dump() { pg_dump --no-owner --no-privileges "$database_url" | grep -v '^\\\(un\)\?restrict '; }
dump >"$work/before.sql"

say "orderly migrate --adopt --dry-run"
DATABASE_URL="$database_url" "$bin" migrate --adopt --dry-run
dump >"$work/after.sql"
if ! diff -u "$work/before.sql" "$work/after.sql" >&2; then
  echo "orderly migrate --adopt --dry-run changed the database (diff above)" >&2
  exit 1
fi

say "orderly migrate --adopt"
DATABASE_URL="$database_url" "$bin" migrate --adopt

# -- 3. orderly beside the legacy service --------------------------------------
orderly_port=$(free_port)
orderly_url="http://127.0.0.1:$orderly_port"
DATABASE_URL="$database_url" ORDERLY_BIND="127.0.0.1:$orderly_port" "$bin" serve >"$orderly_log" 2>&1 &
orderly_pid=$!
wait_until_answers orderly "$orderly_url/readyz" "$orderly_pid" "$orderly_log"
say "orderly on $orderly_url"

# pytest's exit 5 (nothing collected) counts as a pass only when extra
# arguments (-k ...) may have deselected a whole suite.
failed=0
run_pytest() {
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 5 ] && [ "$extra_args" -gt 0 ]; }; then failed=1; fi
}
extra_args=$#

say "(a) tests/blackbox against orderly on the adopted database"
run_pytest env ORDERLY_BASE_URL="$orderly_url" ORDERLY_DSN="$database_url" \
  "$blackbox_venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"

say "(b) tests/legacy/test_side_by_side.py against both services"
run_pytest env LEGACY_BASE_URL="$legacy_url" ORDERLY_BASE_URL="$orderly_url" ORDERLY_DSN="$database_url" \
  "$legacy_venv/bin/pytest" -o asyncio_default_fixture_loop_scope=function \
  --rootdir tests/legacy tests/legacy/test_side_by_side.py "$@"

# schema.sql's own bookkeeping (schema_migrations recording version 1) must
# survive the adoption, or the legacy service re-runs schema.sql on start
# and fails on its CREATE TABLEs.
say "(c) the legacy service restarts on the adopted database"
stop "$legacy_pid"
legacy_pid=
DATABASE_URL="$database_url" "$legacy_venv/bin/uvicorn" --app-dir tests/legacy app:app \
  --host 127.0.0.1 --port "$legacy_port" >>"$legacy_log" 2>&1 &
legacy_pid=$!
wait_until_answers "the restarted legacy service" "$legacy_url/api/v1/users?limit=1" "$legacy_pid" "$legacy_log"
again=$(legacy POST /api/v1/users '{"email": "legacy-restarted@example.com", "name": "Again"}' | id_of)
legacy POST /api/v1/orders "{\"user_id\": $again, \"items\": [{\"sku\": \"A\", \"quantity\": 1, \"unit_price\": 1}]}" >/dev/null
echo "restarted; made user $again and an order"

exit "$failed"
