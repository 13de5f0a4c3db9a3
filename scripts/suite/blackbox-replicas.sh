#!/usr/bin/env bash
# Suite: the seed's pytest suite against orderly reading from two standbys whose replay is paused.
#
# The seed's pytest suite, verbatim, against orderly reading from two hot
# standbys whose replay is paused: it stays green only if every client
# reads its own writes (orderly sends its reads to the primary until a
# replica has replayed them). Then replay resumes, and reads are shown
# served by the replicas again.
#
# Runs on a throwaway cluster of its own (scripts/topology/replicas.sh, ports
# ORDERLY_CLUSTER_PORT, default 25732, and the next two), removed at exit.
# Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export ORDERLY_CLUSTER_DIR=${ORDERLY_CLUSTER_DIR:-/tmp/orderly-blackbox-replicas}
export ORDERLY_CLUSTER_PORT=${ORDERLY_CLUSTER_PORT:-25732}
primary_port=$ORDERLY_CLUSTER_PORT
standbys=("127.0.0.1:$((primary_port + 1))" "127.0.0.1:$((primary_port + 2))")

cargo build --quiet --bin orderly
# shellcheck source=scripts/lib/blackbox-venv.sh
. scripts/lib/blackbox-venv.sh

log=$(mktemp)
admin_url="postgres://postgres@127.0.0.1:$primary_port/postgres"
name="orderly_blackbox_replicas"
# shellcheck source=scripts/lib/orderly-on-fresh-database.sh
. scripts/lib/orderly-on-fresh-database.sh
trap 'orderly_stop; bash scripts/topology/replicas.sh down; rm -f "$log"' EXIT
bash scripts/topology/replicas.sh up >/dev/null

metrics() { curl -fsS --max-time 5 "$base_url/metrics"; }
reads_by() { metrics | awk -v s="orderly_db_reads_total{target=\"$1\"}" '$1 == s { print $2 }'; }
replica_reads() { echo $(( $(reads_by "${standbys[0]}" || echo 0) + $(reads_by "${standbys[1]}" || echo 0) )); }
until_replayed_all() {
  bash scripts/topology/replicas.sh caught-up
  sleep 0.3 # orderly checks its replicas every 100 ms
}
fail() { echo "blackbox-replicas: $*" >&2; metrics | grep -E '^orderly_db_(reads|replica)' >&2 || true; exit 1; }

replicas="postgres://postgres@${standbys[0]}/$name,postgres://postgres@${standbys[1]}/$name"
# A lag bound no pause in this run reaches: only read-your-writes keeps
# the suite off the stale replicas.
ORDERLY_READ_REPLICA_URLS=$replicas ORDERLY_REPLICA_MAX_LAG_MS=600000 \
  orderly_start "$name" "${CARGO_TARGET_DIR:-$root/target}/debug/orderly" "$log"
until_replayed_all
bash scripts/topology/replicas.sh pause
before=$(replica_reads)
curl -fsS "$base_url/api/v1/users?limit=1" >/dev/null
[ "$(replica_reads)" -eq $((before + 1)) ] || fail "a read before any write was not served by a replica"
echo "replay paused on both standbys; a read before any write was served by a replica"

ORDERLY_BASE_URL="$base_url" ORDERLY_DSN="$database_url" \
  "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"

paused_reads=$(( $(replica_reads) - before - 1 ))
for standby in "${standbys[@]}"; do
  [ "$(metrics | awk -v s="orderly_db_replica_usable{replica=\"$standby\"}" '$1 == s { print $2 }')" = 1 ] ||
    fail "replica $standby was not usable: the suite did not run against stale replicas"
done
count_users() { psql "postgres://postgres@$1/$name" -qAtX -c "SELECT count(*) FROM users"; }
on_primary=$(count_users "127.0.0.1:$primary_port")
for standby in "${standbys[@]}"; do
  [ "$(count_users "$standby")" -lt "$on_primary" ] || fail "replica $standby was not behind the primary"
done
echo "suite green with replay paused: reads by the primary $(reads_by primary), by the paused replicas $paused_reads;" \
  "users on the primary $on_primary, on each paused replica $(count_users "${standbys[0]}")"

bash scripts/topology/replicas.sh resume
until_replayed_all
before=$(replica_reads)
for _ in $(seq 1 10); do curl -fsS "$base_url/api/v1/users?limit=5" >/dev/null; done
served=$(( $(replica_reads) - before ))
[ "$served" -eq 10 ] || fail "after replay resumed, $served of 10 reads were served by replicas"
echo "replay resumed: 10 of 10 reads served by the replicas"
metrics | grep -E '^orderly_db_(reads_total|replica_lag_seconds)'
