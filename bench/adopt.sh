#!/usr/bin/env bash
# How long `orderly migrate --adopt` holds up the old service, on a legacy
# database of ADOPT_USERS users (default 1,000,000), as many orders and two
# items each: makes database orderly_adopt_bench on the shared PostgreSQL
# (dropped after), loads tests/legacy/schema.sql and the rows, starts the
# old service's writes (bench/adopt_writer.py: 4 connections, each a user,
# an order and its item per transaction), waits 5 s, adopts with a release
# build, and prints the adoption's own report (each step's time and lock)
# and the writes' latencies before and during the adoption.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

users=${ADOPT_USERS:-1000000}
admin_url=${ORDERLY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=orderly_adopt_bench
url="${admin_url%/*}/$database"

bash scripts/install/postgres.sh
cargo build --release --quiet --bin orderly
# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
venv="$root/.venv-legacy"
ensure_venv "$venv" tests/legacy/requirements.txt

work=$(mktemp -d)
writer_pid=
cleanup() {
  touch "$work/stop"
  [ -z "$writer_pid" ] || wait "$writer_pid" 2>/dev/null || true
  psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
psql "$admin_url" -qAtc "CREATE DATABASE $database" >/dev/null
echo "== loading $users users, $users orders, $((2 * users)) items"
started=$SECONDS
psql "$url" -q -v ON_ERROR_STOP=1 -f tests/legacy/schema.sql
psql "$url" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO users (email, name, created_at, updated_at)
    SELECT format('user%s@example.com', i), format('User %s', i), now() - i * interval '1 second', now()
    FROM generate_series(1, $users) i;
INSERT INTO orders (user_id, total, status, currency)
    SELECT i, 1599, (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + i % 5], 'USD'
    FROM generate_series(1, $users) i;
INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
    SELECT i, l, format('SKU-%s', l), 1 + l, 533 FROM generate_series(1, $users) i, generate_series(0, 1) l;
VACUUM ANALYZE;
SQL
echo "   loaded in $((SECONDS - started)) s; $(psql "$url" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))")"

"$venv/bin/python" bench/adopt_writer.py "$url" "$work/started" "$work/stop" >"$work/writes.json" &
writer_pid=$!
sleep 5
echo "== orderly migrate --adopt, with the old service writing"
touch "$work/started"
DATABASE_URL="$url" RUST_LOG=warn ./target/release/orderly migrate --adopt | sed -n '/^(catalog and rows read/p; /^Carrying out/,$p'
touch "$work/stop"
wait "$writer_pid"
writer_pid=
echo "== the old service's writes (user + order + item per transaction, 4 connections)"
cat "$work/writes.json"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(psql "$admin_url" -qAtc 'SHOW server_version')"
