#!/usr/bin/env bash
# The seed's own pytest suite, run black-box against a real orderly:
# builds orderly, starts it on a fresh PostgreSQL database, runs
# tests/blackbox in a venv it creates, then stops the server and drops the
# database. Extra arguments go to pytest (e.g. -m integration, -k lifecycle).
#
# ORDERLY_TEST_DATABASE_URL names a server where this user may CREATE
# DATABASE (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
admin_url=${ORDERLY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=orderly_blackbox_$$
database_url="${admin_url%/*}/$database"
venv="$root/.venv-blackbox"

cargo build --quiet --bin orderly

if [ ! -x "$venv/bin/pytest" ] || ! cmp -s tests/blackbox/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/blackbox/requirements.txt
  cp tests/blackbox/requirements.txt "$venv/requirements.txt"
fi

if ! psql "$admin_url" -qAtc "CREATE DATABASE $database" >/dev/null; then
  echo "blackbox: cannot create a database on $admin_url; start PostgreSQL (bash .ci/run does) or set ORDERLY_TEST_DATABASE_URL" >&2
  exit 1
fi

server_pid=
log=$(mktemp)
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL="$database_url" ORDERLY_BIND="127.0.0.1:$port" "${CARGO_TARGET_DIR:-$root/target}/debug/orderly" serve >"$log" 2>&1 &
server_pid=$!

base_url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base_url/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "blackbox: orderly exited on start:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
curl -fsS "$base_url/readyz" >/dev/null || { echo "blackbox: orderly never became ready" >&2; cat "$log" >&2; exit 1; }

ORDERLY_BASE_URL="$base_url" ORDERLY_DSN="$database_url" \
  "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"
