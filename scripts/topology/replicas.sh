#!/usr/bin/env bash
# Topology: a throwaway PostgreSQL primary and two hot standbys on loopback.
#
# A throwaway PostgreSQL topology on loopback, made with the PostgreSQL
# packages' own tools: a primary and two hot standbys streaming from it,
# each through a replication slot of its own, the first synchronous.
#
#   bash scripts/topology/replicas.sh up       # (re)creates it; prints the URLs
#   bash scripts/topology/replicas.sh status   # who runs, who replicates, the lag
#   bash scripts/topology/replicas.sh caught-up # waits until both standbys replayed all
#   bash scripts/topology/replicas.sh pause    # pauses replay on both standbys (resume)
#   bash scripts/topology/replicas.sh crash N  # stops server N at once (pg_ctl -m immediate)
#   bash scripts/topology/replicas.sh stop N   # shuts server N down cleanly (pg_ctl -m fast)
#   bash scripts/topology/replicas.sh start N  # starts server N again (after a crash or stop)
#   bash scripts/topology/replicas.sh failover # promotes standby1, standby2 follows it
#   bash scripts/topology/replicas.sh switchover # stops the primary cleanly, then fails over
#   bash scripts/topology/replicas.sh down     # stops everything, removes it all
#
# ORDERLY_CLUSTER_STANDBYS=0 makes a lone primary instead (for a server
# of a test's own: TLS, a pooler in front); ORDERLY_CLUSTER_CONF names a
# file of lines appended to the primary's postgresql.conf (the standbys,
# copied from it, get them too: lc_messages, say), and
# ORDERLY_CLUSTER_HBA a file that replaces its pg_hba.conf.
#
# ORDERLY_CLUSTER_DIR (default /tmp/orderly-cluster) holds the three data
# directories, their logs and sockets; ORDERLY_CLUSTER_PORT (default 25432)
# is the primary's port, the standbys take the next two. Fixed ports lie
# below Linux's ephemeral range (32768-60999 by default), where any
# outgoing connection may hold one. It never touches the machine's own
# cluster (port 5432). The servers run as the `postgres`
# system user, since initdb refuses root. `down` works after a failed `up`
# too: it stops whatever server runs from the directory, then removes it
# (the slots live in the primary's directory and go with it).
set -euo pipefail

dir=${ORDERLY_CLUSTER_DIR:-/tmp/orderly-cluster}
port=${ORDERLY_CLUSTER_PORT:-25432}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$bin/initdb" ] || { echo "cluster: no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin; set PG_BIN" >&2; exit 2; }
case $dir in /|/tmp|/tmp/|"") echo "cluster: refusing ORDERLY_CLUSTER_DIR=$dir" >&2; exit 2 ;; esac

standbys=${ORDERLY_CLUSTER_STANDBYS:-2}
case $standbys in 0) nodes=(primary) ;; 2) nodes=(primary standby1 standby2) ;; *) echo "cluster: ORDERLY_CLUSTER_STANDBYS is 0 or 2" >&2; exit 2 ;; esac
node_port() { case $1 in primary) echo "$port" ;; standby1) echo $((port + 1)) ;; standby2) echo $((port + 2)) ;; esac; }
as_postgres() { runuser -u postgres -- "$@"; }
sql() { as_postgres "$bin/psql" -h 127.0.0.1 -p "$(node_port "$1")" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
url() { echo "postgres://postgres@127.0.0.1:$(node_port "$1")/postgres"; }

down() {
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node/postmaster.pid" ]; then
      as_postgres "$bin/pg_ctl" -D "$dir/$node" stop -m immediate -w -t 20 >/dev/null 2>&1 || true
    fi
  done
  # Whatever still runs from the directory (a server whose pid file went
  # missing halfway): its postmaster, found by its data directory.
  pkill -KILL -f -- "-D $dir/" 2>/dev/null || true
  rm -rf "$dir"
}

# Starts server $1, or says why not with the end of its log.
start_node() {
  if ! as_postgres "$bin/pg_ctl" -D "$dir/$1" -l "$dir/$1.log" -w -t 30 start >/dev/null; then
    echo "cluster: $1 did not start (port $(node_port "$1")); its log:" >&2
    tail -n 30 "$dir/$1.log" >&2 2>/dev/null || true
    return 1
  fi
  wait_ready "$1"
}

wait_ready() {
  for _ in $(seq 1 100); do
    as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$(node_port "$1")" && return 0
    sleep 0.1
  done
  echo "cluster: $1 did not accept connections; its log:" >&2
  tail -n 20 "$dir/$1.log" >&2
  return 1
}

up() {
  down
  for node in "${nodes[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$(node_port "$node")") 2>/dev/null; then
      echo "cluster: port $(node_port "$node") is taken; set ORDERLY_CLUSTER_PORT" >&2
      exit 1
    fi
  done
  mkdir -p "$dir"
  chown postgres: "$dir"
  if ! as_postgres "$bin/initdb" -D "$dir/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    echo "cluster: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  fi
  cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
wal_keep_size = '64MB'
EOF
  if [ "$standbys" = 2 ]; then
    cat >>"$dir/primary/postgresql.conf" <<EOF
# A commit is acknowledged once standby1 has it on disk.
synchronous_standby_names = 'FIRST 1 (standby1)'
synchronous_commit = on
EOF
  fi
  if [ -n "${ORDERLY_CLUSTER_CONF:-}" ]; then cat "$ORDERLY_CLUSTER_CONF" >>"$dir/primary/postgresql.conf"; fi
  if [ -n "${ORDERLY_CLUSTER_HBA:-}" ]; then cp "$ORDERLY_CLUSTER_HBA" "$dir/primary/pg_hba.conf"; fi
  start_node primary
  if [ "$standbys" = 0 ]; then
    echo "primary:   $(url primary)"
    return 0
  fi
  for standby in standby1 standby2; do
    sql primary "SELECT pg_create_physical_replication_slot('$standby')" >/dev/null
    as_postgres "$bin/pg_basebackup" -D "$dir/$standby" -R -S "$standby" -X stream \
      -d "host=127.0.0.1 port=$port user=postgres application_name=$standby" >/dev/null
    cat >>"$dir/$standby/postgresql.conf" <<EOF
port = $(node_port "$standby")
EOF
    start_node "$standby"
  done
  # Streaming, and standby1 synchronous, before anyone relies on it.
  for _ in $(seq 1 100); do
    [ "$(sql primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 2 ] &&
      [ "$(sql primary "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")" = sync ] &&
      break
    sleep 0.1
  done
  status
  echo "primary:   $(url primary)"
  echo "standby1:  $(url standby1)   (synchronous)"
  echo "standby2:  $(url standby2)"
  echo "both, for DATABASE_URL: postgres://postgres@127.0.0.1:$port,127.0.0.1:$((port + 1))/postgres?target_session_attrs=read-write"
}

# Waits (10 s at most) until both standbys have replayed all the primary
# had written when it was asked.
caught_up() {
  local written; written=$(sql primary "SELECT pg_current_wal_lsn()")
  for standby in standby1 standby2; do
    for _ in $(seq 1 100); do
      [ "$(sql "$standby" "SELECT pg_last_wal_replay_lsn() >= '$written'")" = t ] && continue 2
      sleep 0.1
    done
    echo "cluster: $standby did not replay up to $written within 10 s" >&2
    exit 1
  done
}

# Pauses replay on both standbys and waits (5 s at most) until it has
# stopped; `resume` lets it go on.
pause() {
  for standby in standby1 standby2; do
    sql "$standby" "SELECT pg_wal_replay_pause()" >/dev/null
    for _ in $(seq 1 100); do
      [ "$(sql "$standby" "SELECT pg_get_wal_replay_pause_state()")" = paused ] && continue 2
      sleep 0.05
    done
    echo "cluster: $standby did not pause replay within 5 s" >&2
    exit 1
  done
}

resume() {
  for standby in standby1 standby2; do sql "$standby" "SELECT pg_wal_replay_resume()" >/dev/null; done
}

# A server crashes: every backend killed at once, nothing flushed or said
# goodbye (pg_ctl stop -m immediate).
crash() {
  case ${1:-} in primary|standby1|standby2) ;; *) echo "usage: $0 crash primary|standby1|standby2" >&2; exit 2 ;; esac
  as_postgres "$bin/pg_ctl" -D "$dir/$1" stop -m immediate -w >/dev/null
}

# A server shuts down cleanly, as for a switchover or a restart
# (pg_ctl stop -m fast): its backends are terminated, its connected
# standbys get all it has written.
stop() {
  case ${1:-} in primary|standby1|standby2) ;; *) echo "usage: $0 stop primary|standby1|standby2" >&2; exit 2 ;; esac
  as_postgres "$bin/pg_ctl" -D "$dir/$1" stop -m fast -w -t 30 >/dev/null
}

# A crashed or stopped server starts again (a standby reconnects to its primary).
start() {
  case ${1:-} in primary|standby1|standby2) ;; *) echo "usage: $0 start primary|standby1|standby2" >&2; exit 2 ;; esac
  start_node "$1"
}

# What an HA tool (pg_auto_failover, Patroni) does when the primary is
# lost, by hand: promote the synchronous standby, which has every commit
# the primary acknowledged; let it accept writes at once, without a
# synchronous standby until one follows it (as pg_auto_failover's
# wait_primary does); point standby2 at it and make standby2 synchronous
# once it streams. The old primary must stay down: bringing it back as a
# primary would split the history (rebuild it as a standby instead).
failover() {
  local new_port; new_port=$(node_port standby1)
  sql standby1 "ALTER SYSTEM SET synchronous_standby_names = ''" >/dev/null
  sql standby1 "SELECT pg_reload_conf()" >/dev/null
  as_postgres "$bin/pg_ctl" -D "$dir/standby1" promote -w -t 30 >/dev/null
  echo "standby1 promoted: writes go to port $new_port, with no synchronous standby yet"
  sql standby1 "SELECT pg_create_physical_replication_slot('standby2')" >/dev/null
  sql standby2 "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=$new_port user=postgres application_name=standby2'" >/dev/null
  sql standby2 "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 1 100); do
    if [ "$(sql standby1 "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby2' AND state = 'streaming'")" = 1 ]; then
      sql standby1 "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby2)'" >/dev/null
      sql standby1 "SELECT pg_reload_conf()" >/dev/null
      echo "standby2 follows standby1, synchronously"
      return 0
    fi
    sleep 0.1
  done
  echo "standby2 did not follow standby1 within 10 s (it may hold WAL the new primary never got: rebuild it); standby1 runs without a synchronous standby" >&2
}

# A planned switch, by hand: the primary shuts down cleanly (its
# synchronous standby has every commit it acknowledged, and all it wrote),
# then standby1 is promoted and standby2 follows it (`failover`).
switchover() {
  stop primary
  failover
}

status() {
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node/postmaster.pid" ] && as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$(node_port "$node")"; then
      echo "$node: port $(node_port "$node"), in recovery: $(sql "$node" "SELECT pg_is_in_recovery()")"
    else
      echo "$node: not running"
    fi
  done
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node/postmaster.pid" ] && [ "$(sql "$node" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; then
      sql "$node" "SELECT application_name || ': ' || state || ', ' || sync_state || ', replay lag ' || COALESCE(replay_lag::text, '0')
                   FROM pg_stat_replication ORDER BY application_name"
    fi
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  failover) failover ;;
  caught-up) caught_up ;;
  pause) pause ;;
  resume) resume ;;
  crash) crash "${2:-}" ;;
  stop) stop "${2:-}" ;;
  switchover) switchover ;;
  start) start "${2:-}" ;;
  *) echo "usage: $0 up|status|caught-up|pause|resume|crash NODE|stop NODE|start NODE|failover|switchover|down" >&2; exit 2 ;;
esac
