#!/usr/bin/env bash
# Suite: the seed's pytest suite against orderly behind PgBouncer, transaction then session pooling.
#
# The seed's pytest suite, verbatim, against orderly behind a real
# PgBouncer (Debian's, scripts/topology/pgbouncer.sh): first in transaction mode
# with a short server_lifetime (server connections replaced while the
# suite runs) and --pg-prepared-statements=false, then in session mode on
# PgBouncer's stock settings with orderly's defaults. The suite's own
# direct SQL goes to the server, not through the pooler.
#
# Runs on a throwaway server of its own (scripts/topology/replicas.sh with no
# standbys, port ORDERLY_CLUSTER_PORT, default 26432) and PgBouncer on the
# next ports, all removed at exit. Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export ORDERLY_CLUSTER_DIR=${ORDERLY_CLUSTER_DIR:-/tmp/orderly-blackbox-pgbouncer}
export ORDERLY_CLUSTER_PORT=${ORDERLY_CLUSTER_PORT:-26432}
export ORDERLY_CLUSTER_STANDBYS=0
export ORDERLY_PGBOUNCER_DIR=$ORDERLY_CLUSTER_DIR-pgbouncer
export ORDERLY_PGBOUNCER_SERVER=127.0.0.1:$ORDERLY_CLUSTER_PORT
export ORDERLY_PGBOUNCER_PORT=$((ORDERLY_CLUSTER_PORT + 3))

cargo build --quiet --bin orderly
# shellcheck source=scripts/lib/blackbox-venv.sh
. scripts/lib/blackbox-venv.sh

log=$(mktemp)
admin_url="postgres://postgres@127.0.0.1:$ORDERLY_CLUSTER_PORT/postgres"
name="orderly_blackbox_pgbouncer"
# shellcheck source=scripts/lib/orderly-on-fresh-database.sh
. scripts/lib/orderly-on-fresh-database.sh
trap 'orderly_stop; bash scripts/topology/pgbouncer.sh down; bash scripts/topology/replicas.sh down; rm -f "$log"' EXIT
bash scripts/topology/replicas.sh up >/dev/null

for mode in transaction session; do
  export ORDERLY_PGBOUNCER_MODE=$mode
  bash scripts/topology/pgbouncer.sh up >/dev/null
  pooled="postgres://postgres@127.0.0.1:$ORDERLY_PGBOUNCER_PORT/$name"
  case $mode in
    transaction) export ORDERLY_PG_PREPARED_STATEMENTS=false ;;
    session) unset ORDERLY_PG_PREPARED_STATEMENTS ;;
  esac
  orderly_start "$name" "${CARGO_TARGET_DIR:-$root/target}/debug/orderly" "$log" "$pooled"
  echo "== the suite through PgBouncer, pool_mode = $mode (prepared statements: ${ORDERLY_PG_PREPARED_STATEMENTS:-true})"
  ORDERLY_BASE_URL="$base_url" ORDERLY_DSN="$database_url" \
    "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"
  if grep -E 'ERROR|WARN' "$log" | grep -v 'no API key is active' >&2; then
    echo "blackbox-pgbouncer: orderly logged warnings or errors in $mode mode (above)" >&2
    exit 1
  fi
  orderly_stop
  bash scripts/topology/pgbouncer.sh down
done
