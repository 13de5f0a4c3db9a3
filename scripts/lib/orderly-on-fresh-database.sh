# shellcheck shell=bash
# shellcheck disable=SC2154 # admin_url is the sourcing script's
# Library: starts a built orderly on a fresh PostgreSQL database, and stops it again.
#
# Sourced by the scripts that test a running orderly from outside
# (blackbox.sh, api-checks.sh): a fresh PostgreSQL database and an orderly
# serving on it on a free loopback port. `orderly_stop` stops the server
# and drops the database; call it from the caller's EXIT trap.
#
# orderly_start NAME BIN LOG [URL]: creates database NAME on $admin_url,
# starts BIN on it (through URL, when given: a pooler in front) with its
# log in LOG, waits (30 s at most) until /readyz answers, and sets
# database_url (the direct one), base_url and server_pid.

# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh

server_pid=
orderly_database=

orderly_start() {
  local name=$1 bin=$2 log=$3 via=${4:-} port
  orderly_database=$name
  database_url="${admin_url%/*}/$name"
  psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  if ! psql "$admin_url" -qAtc "CREATE DATABASE $name" >/dev/null; then
    echo "cannot create a database on $admin_url; start PostgreSQL (bash scripts/install/postgres.sh) or set ORDERLY_TEST_DATABASE_URL" >&2
    return 1
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base_url="http://127.0.0.1:$port"
  DATABASE_URL="${via:-$database_url}" ORDERLY_BIND="127.0.0.1:$port" "$bin" serve >"$log" 2>&1 &
  server_pid=$!
  wait_until_answers orderly "$base_url/readyz" "$server_pid" "$log"
}

orderly_stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  if [ -n "$orderly_database" ]; then
    psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $orderly_database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
