#!/usr/bin/env bash
# Suite: three orderly instances behind HAProxy on Patroni + etcd: the seed's suite, failover and switchover under load.
#
# orderly on the real HA engine: three orderly instances behind HAProxy
# (round robin per request) over a Patroni + etcd cluster of three
# PostgreSQL nodes (scripts/topology/ha.sh), every instance with
# DATABASE_URL listing all three nodes (target_session_attrs=read-write),
# --read-from-standbys and --session-store on a Redis database of its own.
#
# 1. The seed's pytest suite, verbatim, through the balancer with WAL
#    replay paused on both standbys: green. Then the same suite with the
#    instances started without the session store: it must fail (each
#    instance then knows only its own callers' writes), so the first run
#    shows what the store does.
# 2. Keyed order load through the balancer while the leader's Patroni and
#    postmaster are SIGKILLed (tests/ha/under_load.py): Patroni promotes the
#    synchronous standby; every 201 is on the new leader with its items and
#    total, every key resolves to one order, clients see only 201 and 503
#    with Retry-After. The killed node's Patroni restarts, it rejoins as a
#    streaming replica (pg_rewind), and the instances serve reads from it
#    with no restart. The share of reads served by standbys is printed
#    before and after.
# 3. A planned `patronictl switchover` under the same load: nothing lost,
#    no 5xx.
#
# Ports (ORDERLY_HA_PORT, default 24432, moves them all): PostgreSQL
# 24432-24434, Patroni 24008-24010, etcd 24379-24380, HAProxy 24080, the
# instances 24081-24083; all below Linux's ephemeral range. Redis database
# ORDERLY_HA_REDIS_DB (default 13) of the machine's Redis, flushed before
# and after. Everything is stopped and removed at exit, failure included.
# Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export ORDERLY_HA_DIR=${ORDERLY_HA_DIR:-/tmp/orderly-ha-check}
export ORDERLY_HA_PORT=${ORDERLY_HA_PORT:-24432}
base_port=$ORDERLY_HA_PORT
lb_port=$((base_port - 352))
instance_ports=($((lb_port + 1)) $((lb_port + 2)) $((lb_port + 3)))
node_ports=("$base_port" $((base_port + 1)) $((base_port + 2)))
redis_db=${ORDERLY_HA_REDIS_DB:-13}
store="redis://127.0.0.1:6379/$redis_db"
hosts=$(printf '127.0.0.1:%s,' "${node_ports[@]}")
database_url="postgres://postgres@${hosts%,}/postgres?target_session_attrs=read-write"
balancer="http://127.0.0.1:$lb_port"

redis-cli -n "$redis_db" ping >/dev/null 2>&1 || {
  echo "ha-check: needs Redis at 127.0.0.1:6379 (start it: redis-server --daemonize yes)" >&2
  exit 1
}
cargo build --quiet --bin orderly
bin="${CARGO_TARGET_DIR:-$root/target}/debug/orderly"
# shellcheck source=scripts/lib/blackbox-venv.sh
. scripts/lib/blackbox-venv.sh
# shellcheck disable=SC2154 # venv is set by blackbox-venv.sh
# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh

logs=$(mktemp -d)
pids=()
stop_instances() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  status=$?
  stop_instances
  if [ "$status" -ne 0 ]; then
    for f in "$logs"/*.log; do
      [ -f "$f" ] && { echo "== $f (last warnings and errors)" >&2; grep -E ' (WARN|ERROR) ' "$f" | tail -n 15 >&2; }
    done
  fi
  bash scripts/topology/ha.sh down >/dev/null 2>&1 || true
  redis-cli -n "$redis_db" flushdb >/dev/null 2>&1 || true
  rm -rf "$logs"
}
trap cleanup EXIT
fail() { echo "ha-check: $*" >&2; exit 1; }

# start_instances [ENV=VALUE...]: the three instances, on top of the common settings.
start_instances() {
  stop_instances
  for port in "${instance_ports[@]}"; do
    env DATABASE_URL="$database_url" ORDERLY_BIND="127.0.0.1:$port" ORDERLY_READ_FROM_STANDBYS=true \
      ORDERLY_REPLICA_MAX_LAG_MS=600000 ORDERLY_DB_CONNECT_TIMEOUT_MS=1000 ORDERLY_REQUEST_TIMEOUT_MS=8000 \
      "$@" "$bin" serve >"$logs/orderly-$port.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do
    wait_until_answers orderly "http://127.0.0.1:${instance_ports[$i]}/readyz" "${pids[$i]}" "$logs/orderly-${instance_ports[$i]}.log"
  done
}

metric() { curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2 }'; }

# Waits (30 s at most) until every instance has both standbys usable.
until_standbys_serve() {
  local deadline=$((SECONDS + 30)) standbys=() leader port
  leader=$(leader_port)
  for port in "${node_ports[@]}"; do [ "$port" = "$leader" ] || standbys+=("127.0.0.1:$port"); done
  for port in "${instance_ports[@]}"; do
    for standby in "${standbys[@]}"; do
      until [ "$(metric "$port" "orderly_db_replica_usable{replica=\"$standby\"}")" = 1 ]; do
        [ $SECONDS -lt $deadline ] || fail "instance $port: standby $standby does not serve reads"
        sleep 0.2
      done
    done
  done
}

# The share of N reads through the balancer served by standbys, in percent
# (by the instances' own counters).
standby_share() {
  local n=$1 total_before=0 standby_before=0 total_after=0 standby_after=0
  read_counts() {
    local total=0 standby=0 port name value
    for port in "${instance_ports[@]}"; do
      while read -r name value; do
        total=$((total + ${value%.*}))
        case $name in *'target="primary"'*) ;; *) standby=$((standby + ${value%.*})) ;; esac
      done < <(curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" | grep '^orderly_db_reads_total' || true)
    done
    echo "$total $standby"
  }
  read -r total_before standby_before < <(read_counts)
  for _ in $(seq 1 "$n"); do curl -fsS --max-time 5 "$balancer/api/v1/users?limit=5" >/dev/null; done
  read -r total_after standby_after < <(read_counts)
  echo $(( 100 * (standby_after - standby_before) / (total_after - total_before) ))
}

leader_port() { bash scripts/topology/ha.sh leader | awk '{ print $2 }'; }
bash scripts/topology/ha.sh up >/dev/null
leader_dsn() { echo "postgres://postgres@127.0.0.1:$(leader_port)/postgres"; }
redis-cli -n "$redis_db" flushdb >/dev/null
start_instances ORDERLY_SESSION_STORE="$store"
bash scripts/topology/ha.sh balance "$lb_port" "${instance_ports[@]}" >/dev/null
until_standbys_serve

echo "== 1. the seed's suite through HAProxy over three instances, replay paused on both standbys, with the session store"
bash scripts/topology/ha.sh pause >/dev/null
ORDERLY_BASE_URL="$balancer" ORDERLY_DSN="$(leader_dsn)" \
  "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox "$@"
echo "-- the same suite, the instances without the session store (it must fail)"
start_instances
until_standbys_serve
bash scripts/topology/ha.sh pause >/dev/null 2>&1 || true
if ORDERLY_BASE_URL="$balancer" ORDERLY_DSN="$(leader_dsn)" \
  "$venv/bin/pytest" -c tests/blackbox/pytest.ini --rootdir tests/blackbox tests/blackbox -q -p no:cacheprovider >"$logs/without-store.txt" 2>&1; then
  cat "$logs/without-store.txt" >&2
  fail "the suite passed without the session store: the paused standbys were never read, so the run above proved nothing"
fi
echo "without the store, as expected, it failed: $(grep -E '^FAILED' "$logs/without-store.txt" | sed 's/ - .*//' | tr '\n' ' ')"
bash scripts/topology/ha.sh resume >/dev/null
redis-cli -n "$redis_db" flushdb >/dev/null
start_instances ORDERLY_SESSION_STORE="$store"
until_standbys_serve

echo "== 2. the leader killed (Patroni and postmaster, SIGKILL) under keyed order load"
before_share=$(standby_share 60)
echo "reads served by standbys before the failover: $before_share%"
"$venv/bin/python" tests/ha/under_load.py --name failover --base "$balancer" --dsn "$database_url" \
  --event "bash scripts/topology/ha.sh kill-leader >$logs/killed" --allowed 201,503 | tee "$logs/failover.json"
killed=$(awk '{ print $1 }' "$logs/killed")
[ -n "$killed" ] || fail "cannot tell which node was killed"
echo "new leader: $(bash scripts/topology/ha.sh leader); restarting $killed's Patroni"
bash scripts/topology/ha.sh start "$killed" >/dev/null
bash scripts/topology/ha.sh wait-replica "$killed" >/dev/null
grep -q "pg_rewind exit code=0\|running pg_rewind" "$ORDERLY_HA_DIR/$killed.log" &&
  echo "$killed rejoined as a streaming replica through pg_rewind" ||
  echo "$killed rejoined as a streaming replica"
bash scripts/topology/ha.sh wait-healthy >/dev/null
until_standbys_serve
after_share=$(standby_share 60)
echo "reads served by standbys after the failover (the old leader among them): $after_share%"
[ "$after_share" -gt 0 ] || fail "no read went to a standby after the failover"

echo "== 3. a planned switchover under the same load"
"$venv/bin/python" tests/ha/under_load.py --name switchover --base "$balancer" --dsn "$database_url" \
  --event "bash scripts/topology/ha.sh switchover" --allowed 201 | tee "$logs/switchover.json"
echo "commits whose synchronous wait the switchover's shutdown cut short (each resolved under its key): $(cat "$logs"/orderly-*.log | grep -c 'shut down while a commit waited' || true)"
echo "ha-check: all green"
