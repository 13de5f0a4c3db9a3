#!/usr/bin/env bash
# Topology: etcd, three Patroni-managed PostgreSQL nodes and HAProxy on loopback, throwaway.
#
# A throwaway highly-available PostgreSQL topology on loopback, made from
# Debian's packages: one etcd member and three PostgreSQL servers managed
# by Patroni (synchronous mode, replication slots, pg_rewind), plus an
# HAProxy in front of HTTP servers on demand. For tests and benchmarks of
# failover, never for data anyone keeps: every connection from 127.0.0.1
# is trusted.
#
#   bash scripts/topology/ha.sh install       # installs the Debian packages it needs, if missing
#   bash scripts/topology/ha.sh up            # (re)creates it; waits (120 s at most,
#                                    # 10-16 s here) until the leader takes
#                                    # writes and both replicas stream, one
#                                    # synchronously; prints DATABASE_URL
#   bash scripts/topology/ha.sh status        # `patronictl list`
#   bash scripts/topology/ha.sh leader        # prints the leader and its port: node1 24432
#   bash scripts/topology/ha.sh wait-leader   # waits (60 s at most) until a leader takes
#                                    # writes; prints it as `leader` does
#   bash scripts/topology/ha.sh wait-healthy  # waits (60 s at most) for what `up` waits for
#   bash scripts/topology/ha.sh kill-leader   # SIGKILLs the leader's Patroni and postmaster;
#                                    # prints the node killed and its port; the
#                                    # synchronous standby takes over after the
#                                    # leader lease (ttl) runs out: 9-10 s
#   bash scripts/topology/ha.sh start NODE    # starts NODE's Patroni again (after a kill):
#                                    # it rejoins as a replica, through pg_rewind
#   bash scripts/topology/ha.sh wait-replica NODE # waits (60 s at most) until NODE streams
#                                    # from the leader
#   bash scripts/topology/ha.sh switchover [NODE] # planned switchover to NODE, by default
#                                    # the synchronous standby (the only one
#                                    # Patroni accepts); waits until it takes
#                                    # writes; prints it as `leader` does
#   bash scripts/topology/ha.sh pause         # maintenance mode, and WAL replay paused on
#                                    # every replica (Patroni resumes it otherwise)
#   bash scripts/topology/ha.sh resume        # replay resumed, maintenance mode off
#   bash scripts/topology/ha.sh balance LISTEN_PORT BACKEND_PORT...
#                                    # HAProxy on 127.0.0.1:LISTEN_PORT, HTTP,
#                                    # round robin per request over the backends
#   bash scripts/topology/ha.sh unbalance     # stops that HAProxy
#   bash scripts/topology/ha.sh down          # stops everything, removes it all
#
# NODE is node1, node2 or node3. ORDERLY_HA_DIR (default /tmp/orderly-ha)
# holds the data directories, the configurations, the logs (nodeN.log,
# etcd.log, haproxy.log) and the pid files. ORDERLY_HA_PORT (default
# 24432) is node1's PostgreSQL port; every other port follows from it:
#   PostgreSQL       node1..node3  port, port+1, port+2   (24432-24434)
#   Patroni REST API node1..node3  port-424 .. port-422   (24008-24010)
#   etcd client, peer              port-53, port-52       (24379, 24380)
# All of them on 127.0.0.1 only, below Linux's ephemeral range (32768 on);
# it never touches the machine's own PostgreSQL (5432), Redis (6379) or an
# etcd at the default ports (2379, 2380). ORDERLY_HA_TTL (default 10) is
# Patroni's leader lease in seconds: a killed leader is replaced about that
# long after its death; loop_wait is a fifth of it and retry_timeout the
# rest halved (loop_wait + 2 * retry_timeout <= ttl). `balance` checks
# GET ORDERLY_HA_HEALTHZ (default /healthz; empty for no check) on every
# backend each 500 ms.
#
# It runs as root: the servers run as the `postgres` system user (initdb
# refuses root), detached from the caller, with nothing left on its
# stdout. The Debian packages it needs are installed when missing. `down`
# works after a failed or half-done `up` too.
set -euo pipefail

dir=${ORDERLY_HA_DIR:-/tmp/orderly-ha}
dir=${dir%/}
port=${ORDERLY_HA_PORT:-24432}
ttl=${ORDERLY_HA_TTL:-10}
healthz=${ORDERLY_HA_HEALTHZ-/healthz}
scope=orderly-ha
nodes=(node1 node2 node3)

die() { echo "ha: $*" >&2; exit 1; }
case $dir in /|/tmp|/tmp/|"") echo "ha: refusing ORDERLY_HA_DIR=$dir" >&2; exit 2 ;; esac
case $dir in /*) ;; *) echo "ha: ORDERLY_HA_DIR must be an absolute path" >&2; exit 2 ;; esac
# Everything below runs from /: Patroni and initdb run as `postgres`, who
# may not enter the caller's directory (a checkout in a `mktemp -d`
# folder, mode 700), and Patroni fails outright there.
cd /
[[ $port =~ ^[0-9]+$ ]] || { echo "ha: ORDERLY_HA_PORT is a number" >&2; exit 2; }
if ! [[ $ttl =~ ^[0-9]+$ ]] || [ "$ttl" -lt 5 ]; then echo "ha: ORDERLY_HA_TTL is a number of seconds, 5 or more" >&2; exit 2; fi
loop_wait=$((ttl / 5))
retry_timeout=$(((ttl - loop_wait) / 2))

etcd_port=$((port - 53))
etcd_peer=$((port - 52))
api_base=$((port - 424))
node_port() { echo $((port + ${1#node} - 1)); }
api_port() { echo $((api_base + ${1#node} - 1)); }
for p in "$etcd_port" "$etcd_peer" "$api_base" $((api_base + 2)) "$port" $((port + 2)); do
  if [ "$p" -le 1024 ] || [ "$p" -ge 32768 ]; then
    echo "ha: ORDERLY_HA_PORT=$port puts port $p outside 1025-32767" >&2; exit 2
  fi
done
for p in "$etcd_port" "$etcd_peer" $(seq "$api_base" $((api_base + 2))) $(seq "$port" $((port + 2))); do
  case $p in 5432|6379|2379|2380) echo "ha: ORDERLY_HA_PORT=$port would use port $p, which belongs to the machine" >&2; exit 2 ;; esac
done

check_node() {
  case ${1:-} in node1|node2|node3) ;; *) echo "usage: $0 ${2:-start} node1|node2|node3" >&2; exit 2 ;; esac
}

as_postgres() { runuser -u postgres -- "$@"; }

# A process that runs (a zombie, waiting for a parent to reap it, does not).
alive() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
pid_of() { if [ -f "$1" ]; then head -n 1 "$1" 2>/dev/null || true; fi; }

ensure_packages() {
  local need=()
  command -v patroni >/dev/null || need+=(patroni)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v etcdctl >/dev/null || need+=(etcd-client)
  command -v curl >/dev/null || need+=(curl)
  # Patroni's etcd3 support talks to etcd's gRPC gateway through urllib3,
  # but still imports python-etcd (for its exception classes) and
  # dnspython; python3-etcd is only one of the alternatives the Debian
  # patroni package depends on.
  if ! /usr/bin/python3 -c 'import etcd, dns.resolver, urllib3, psycopg2, yaml' 2>/dev/null; then
    need+=(python3-etcd python3-dnspython python3-urllib3 python3-psycopg2 python3-yaml)
  fi
  [ "${#need[@]}" = 0 ] && return 0
  install_packages "${need[@]}"
}

install_packages() {
  echo "ha: installing $*" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/tmp/orderly-ha-apt.log 2>&1; then
    apt-get update -q >>/tmp/orderly-ha-apt.log 2>&1 || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>/tmp/orderly-ha-apt.log 2>&1; then
      echo "ha: apt-get install $* failed:" >&2
      tail -n 20 /tmp/orderly-ha-apt.log >&2
      exit 1
    fi
  fi
}

bin=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
need_bin() {
  [ -x "$bin/initdb" ] || { echo "ha: no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin; set PG_BIN" >&2; exit 2; }
}

# One statement on a node's server, as postgres over TCP (trusted); a
# bounded wait for the answer.
sql() {
  local p; p=$(node_port "$1")
  as_postgres env PGCONNECT_TIMEOUT=3 timeout 10 "$bin/psql" -h 127.0.0.1 -p "$p" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$2"
}

# The HTTP status of GET on a node's Patroni REST API (000: no answer).
api_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(api_port "$1")$2" 2>/dev/null || true
}

patronictl_() {
  local cfg node
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node.yml" ]; then cfg=$dir/$node.yml; break; fi
  done
  [ -n "${cfg:-}" ] || die "no cluster in $dir (run: $0 up)"
  timeout 60 patronictl -c "$cfg" "$@"
}

show_logs() {
  echo "--- patronictl list:" >&2
  patronictl_ list >&2 2>&1 || true
  for log in etcd "${nodes[@]}"; do
    if [ -f "$dir/$log.log" ]; then
      echo "--- the end of $dir/$log.log:" >&2
      tail -n 25 "$dir/$log.log" >&2
    fi
  done
}

fail() {
  echo "ha: $*" >&2
  show_logs
  exit 1
}

# Starts "$@" as postgres, in a session of its own, with its output in
# LOG and its pid (the process itself, not runuser's) in PIDFILE.
spawn() {
  local pidfile=$1 log=$2; shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and "$@" belong to the inner shell.
  setsid runuser -u postgres -- sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do
    [ -s "$pidfile" ] && return 0
    sleep 0.1
  done
  echo "ha: $1 did not start ($*):" >&2
  tail -n 20 "$log" >&2
  return 1
}

stop_haproxy() {
  local pid; pid=$(pid_of "$dir/haproxy.pid")
  if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  pkill -KILL -f -- "haproxy -f $dir/haproxy.cfg" 2>/dev/null || true
  rm -f "$dir/haproxy.pid"
}

down() {
  [ -d "$dir" ] || return 0
  stop_haproxy
  # A server killed (kill-leader) leaves its System V shared memory
  # header behind; its postmaster.pid names it ("key shmid", line 7).
  local segs=()
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node/postmaster.pid" ]; then segs+=("$(sed -n 7p "$dir/$node/postmaster.pid")"); fi
  done
  # Patroni first, or it would start again the servers stopped below.
  for node in "${nodes[@]}"; do
    local pid; pid=$(pid_of "$dir/$node.pid")
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  for node in "${nodes[@]}"; do
    if [ -f "$dir/$node/postmaster.pid" ]; then
      as_postgres "$bin/pg_ctl" -D "$dir/$node" stop -m immediate -w -t 10 >/dev/null 2>&1 || true
    fi
  done
  local pid; pid=$(pid_of "$dir/etcd.pid")
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  # Whatever still runs from the directory: a Patroni, postmaster or etcd
  # whose pid file went missing halfway, a pg_basebackup, or a server
  # process outliving its postmaster, an initdb's postgres in single-user
  # mode (they run as postgres, name the directory on their command
  # lines or work in it).
  local left
  for _ in $(seq 1 100); do
    left=$(dir_pids)
    [ -z "$left" ] && break
    # shellcheck disable=SC2086  # one pid a word
    kill -KILL $left 2>/dev/null || true
    sleep 0.1
  done
  if [ -n "$(dir_pids)" ]; then
    echo "ha: these still run from $dir after 10 s:" >&2
    # shellcheck disable=SC2046
    ps -o pid,user,args -p $(dir_pids | paste -sd, -) >&2 || true
    exit 1
  fi
  local key id
  for seg in "${segs[@]}"; do
    read -r key id <<<"$seg" || continue
    [ -n "$id" ] || continue
    if awk -v k="$key" -v i="$id" 'NR > 1 && $1 == k && $2 == i && $7 == 0 { found = 1 } END { exit !found }' /proc/sysvipc/shm 2>/dev/null; then
      ipcrm -m "$id" 2>/dev/null || true
    fi
  done
  rm -rf "$dir" 2>/dev/null || { sleep 0.5; rm -rf "$dir"; }
}

# The processes of user postgres that run from the directory.
dir_pids() {
  local cwd
  pgrep -u postgres -f -- "$dir/" || true
  for pid in $(pgrep -u postgres); do
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    case $cwd in "$dir" | "$dir"/*) echo "$pid" ;; esac
  done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_node_config() {
  local node=$1 p a
  p=$(node_port "$node")
  a=$(api_port "$node")
  cat >"$dir/$node.yml" <<EOF
scope: $scope
namespace: /orderly/
name: $node

log:
  level: INFO

restapi:
  listen: 127.0.0.1:$a
  connect_address: 127.0.0.1:$a

# etcd 3.4 serves only its v3 API: Patroni's etcd3 section, not etcd.
etcd3:
  hosts: 127.0.0.1:$etcd_port

bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $loop_wait
    retry_timeout: $retry_timeout
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      # When pg_rewind cannot bring a former leader back, a fresh copy does.
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        hot_standby_feedback: "on"
        wal_log_hints: "on"
        # Dynamic shared memory in files of the data directory, not in
        # /dev/shm, where a server killed would leave its segments.
        dynamic_shared_memory_type: mmap
        wal_keep_size: 128MB
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    # A throwaway cluster: initdb need not wait for its files to reach disk.
    - no-sync

postgresql:
  listen: 127.0.0.1:$p
  connect_address: 127.0.0.1:$p
  data_dir: $dir/$node
  bin_dir: $bin
  pgpass: $dir/$node.pgpass
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
  parameters:
    unix_socket_directories: $dir
  basebackup:
    checkpoint: fast
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust

watchdog:
  mode: "off"
EOF
  chown postgres: "$dir/$node.yml"
  chmod 600 "$dir/$node.yml"
}

start_patroni() {
  spawn "$dir/$1.pid" "$dir/$1.log" patroni "$dir/$1.yml"
}

start_etcd() {
  spawn "$dir/etcd.pid" "$dir/etcd.log" etcd \
    --name orderly-ha --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "orderly-ha=http://127.0.0.1:$etcd_peer" --initial-cluster-state new \
    --initial-cluster-token "orderly-ha-$port" \
    --auto-compaction-mode revision --auto-compaction-retention 1000 \
    --logger zap --log-outputs stderr
  local deadline=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"'; then return 0; fi
    if ! alive "$(pid_of "$dir/etcd.pid")"; then
      echo "ha: etcd exited on start (port $etcd_port); the end of its log:" >&2
      tail -n 30 "$dir/etcd.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "ha: etcd did not answer on port $etcd_port within 20 s; the end of its log:" >&2
  tail -n 30 "$dir/etcd.log" >&2
  exit 1
}

# Every Patroni started runs still, or the wait stops with its log.
check_patronis() {
  for node in "${nodes[@]}"; do
    local pid; pid=$(pid_of "$dir/$node.pid")
    if [ -n "$pid" ] && ! alive "$pid"; then fail "$node's Patroni (pid $pid) exited"; fi
  done
}

# The node holding the leader lock (its REST API's GET /leader is 200),
# with its port; nothing and a failure when there is none.
find_leader() {
  for node in "${nodes[@]}"; do
    if [ "$(api_status "$node" /leader)" = 200 ]; then
      echo "$node $(node_port "$node")"
      return 0
    fi
  done
  return 1
}

# The leader takes a write: a transaction with an xid commits (through
# the synchronous standby, when there is one).
takes_writes() {
  [ "$(sql "$1" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] &&
    sql "$1" "SELECT txid_current()" >/dev/null 2>&1
}

# Waits up to $1 seconds for a leader that takes writes; prints it.
wait_leader() {
  local deadline=$((SECONDS + $1)) leader
  while [ "$SECONDS" -lt "$deadline" ]; do
    if leader=$(find_leader) && takes_writes "${leader%% *}"; then
      echo "$leader"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# The leader takes writes, both other nodes stream from it, one of them
# synchronously, and Patroni knows which.
healthy() {
  local leader node
  leader=$(find_leader) || return 1
  node=${leader%% *}
  takes_writes "$node" || return 1
  [ "$(sql "$node" "SELECT count(*) FILTER (WHERE state = 'streaming') || ' ' || count(*) FILTER (WHERE state = 'streaming' AND sync_state = 'sync') FROM pg_stat_replication" 2>/dev/null)" = "2 1" ] || return 1
  for other in "${nodes[@]}"; do
    [ "$other" != "$node" ] && [ "$(api_status "$other" /sync)" = 200 ] && return 0
  done
  return 1
}

wait_healthy() {
  local deadline=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$deadline" ]; do
    healthy && return 0
    check_patronis
    sleep 0.3
  done
  fail "the cluster was not healthy within $1 s (a leader taking writes, two replicas streaming, one synchronous)"
}

up() {
  ensure_packages
  need_bin
  down
  for p in "$etcd_port" "$etcd_peer" $(seq "$api_base" $((api_base + 2))) $(seq "$port" $((port + 2))); do
    if port_taken "$p"; then die "port $p is taken; set ORDERLY_HA_PORT"; fi
  done
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  start_etcd
  for node in "${nodes[@]}"; do
    write_node_config "$node"
    start_patroni "$node"
  done
  wait_healthy 120
  patronictl_ list
  local leader; leader=$(find_leader)
  echo "leader: ${leader% *}, port ${leader#* }"
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))/postgres?target_session_attrs=read-write"
}

leader() {
  find_leader || die "no leader (no Patroni REST API on ports $api_base-$((api_base + 2)) answers 200 to GET /leader)"
}

kill_leader() {
  local leader node pid pm
  leader=$(find_leader) || die "no leader to kill"
  node=${leader%% *}
  pid=$(pid_of "$dir/$node.pid")
  pm=$(pid_of "$dir/$node/postmaster.pid")
  alive "$pid" || die "$node leads, but its Patroni pid ($pid, in $dir/$node.pid) does not run"
  # Patroni first, or it would start the postmaster again.
  kill -KILL "$pid"
  if alive "$pm"; then kill -KILL "$pm"; fi
  for _ in $(seq 1 50); do
    alive "$pid" || alive "$pm" || break
    sleep 0.1
  done
  if alive "$pid" || alive "$pm"; then die "$node's Patroni ($pid) or postmaster ($pm) outlived SIGKILL for 5 s"; fi
  echo "$leader"
}

start() {
  check_node "${1:-}" start
  [ -f "$dir/$1.yml" ] || die "no $1 in $dir (run: $0 up)"
  local pid; pid=$(pid_of "$dir/$1.pid")
  if alive "$pid"; then echo "ha: $1's Patroni runs already (pid $pid)" >&2; return 0; fi
  if port_taken "$(api_port "$1")"; then die "port $(api_port "$1") (the REST API of $1) is taken"; fi
  start_patroni "$1"
  local deadline=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(api_status "$1" /liveness)" = 200 ] && return 0
    alive "$(pid_of "$dir/$1.pid")" || fail "$1's Patroni exited on start"
    sleep 0.2
  done
  fail "$1's Patroni did not answer on port $(api_port "$1") within 20 s"
}

wait_replica() {
  check_node "${1:-}" wait-replica
  local deadline=$((SECONDS + 60)) leader state
  while [ "$SECONDS" -lt "$deadline" ]; do
    if leader=$(find_leader) && [ "${leader%% *}" != "$1" ]; then
      state=$(sql "${leader%% *}" "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '$1'" 2>/dev/null || true)
      if [ "${state%% *}" = streaming ] && [ "$(api_status "$1" /replica)" = 200 ]; then
        echo "$1 $(node_port "$1") streams from ${leader%% *} (${state#* })"
        return 0
      fi
    fi
    sleep 0.3
  done
  fail "$1 did not stream from the leader within 60 s"
}

switchover() {
  local leader from to="${1:-}"
  leader=$(find_leader) || die "no leader to switch over from"
  from=${leader%% *}
  if [ -z "$to" ]; then
    for node in "${nodes[@]}"; do
      if [ "$node" != "$from" ] && [ "$(api_status "$node" /sync)" = 200 ]; then to=$node; break; fi
    done
    [ -n "$to" ] || fail "no synchronous standby to switch over to"
  fi
  check_node "$to" switchover
  if ! patronictl_ switchover --leader "$from" --candidate "$to" --force >"$dir/switchover.log" 2>&1; then
    cat "$dir/switchover.log" >&2
    fail "patronictl switchover from $from to $to failed"
  fi
  local deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if leader=$(find_leader) && [ "${leader%% *}" = "$to" ] && takes_writes "$to"; then
      echo "$leader"
      return 0
    fi
    sleep 0.2
  done
  cat "$dir/switchover.log" >&2
  fail "$to did not take writes within 60 s of the switchover from $from"
}

# The nodes whose server is in recovery.
replicas() {
  for node in "${nodes[@]}"; do
    [ "$(sql "$node" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ] && echo "$node"
  done
  return 0
}

pause() {
  local out
  if ! out=$(patronictl_ pause --wait 2>&1) && ! grep -q 'already paused' <<<"$out"; then
    echo "$out" >&2
    fail "patronictl pause failed"
  fi
  for node in $(replicas); do
    sql "$node" "SELECT pg_wal_replay_pause()" >/dev/null
    for _ in $(seq 1 100); do
      [ "$(sql "$node" "SELECT pg_get_wal_replay_pause_state()")" = paused ] && { echo "$node: replay paused"; continue 2; }
      sleep 0.05
    done
    die "$node did not pause replay within 5 s"
  done
}

resume() {
  local out
  for node in $(replicas); do
    sql "$node" "SELECT pg_wal_replay_resume()" >/dev/null
    echo "$node: replay resumed"
  done
  if ! out=$(patronictl_ resume --wait 2>&1) && ! grep -q 'not paused' <<<"$out"; then
    echo "$out" >&2
    fail "patronictl resume failed"
  fi
}

balance() {
  local listen=${1:-}
  [ "$#" -ge 2 ] || { echo "usage: $0 balance LISTEN_PORT BACKEND_PORT..." >&2; exit 2; }
  for p in "$@"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then echo "ha: $p is not a port" >&2; exit 2; fi
  done
  shift
  command -v haproxy >/dev/null || install_packages haproxy
  mkdir -p "$dir"
  chown postgres: "$dir"
  stop_haproxy
  if port_taken "$listen"; then die "port $listen is taken"; fi
  local check=""
  if [ -n "$healthz" ]; then check=" check inter 500ms fall 2 rise 1"; fi
  {
    cat <<EOF
global
  daemon
  pidfile $dir/haproxy.pid
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  timeout queue 5s
  # HAProxy 2.6 keeps client and server connections alive and balances
  # each request on its own (no option prefer-last-server): successive
  # requests on one client connection go round the backends.
  option http-keep-alive

frontend orderly
  bind 127.0.0.1:$listen
  default_backend orderly

backend orderly
  balance roundrobin
EOF
    if [ -n "$healthz" ]; then echo "  option httpchk GET $healthz"; fi
    local i=0
    for p in "$@"; do
      i=$((i + 1))
      echo "  server b$i 127.0.0.1:$p$check"
    done
  } >"$dir/haproxy.cfg"
  if ! haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1; then
    echo "ha: haproxy rejects $dir/haproxy.cfg:" >&2
    cat "$dir/haproxy.log" >&2
    exit 1
  fi
  if ! haproxy -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 </dev/null; then
    echo "ha: haproxy did not start:" >&2
    tail -n 20 "$dir/haproxy.log" >&2
    exit 1
  fi
  for _ in $(seq 1 50); do
    port_taken "$listen" && { echo "haproxy: http://127.0.0.1:$listen/ -> $*"; return 0; }
    sleep 0.1
  done
  echo "ha: haproxy does not listen on port $listen after 5 s:" >&2
  tail -n 20 "$dir/haproxy.log" >&2
  exit 1
}

case ${1:-} in
  install) ensure_packages ;;
  up) up ;;
  down) down ;;
  status) patronictl_ list ;;
  leader) leader ;;
  wait-leader) wait_leader 60 || fail "no leader took writes within 60 s" ;;
  wait-healthy) wait_healthy 60 ;;
  kill-leader) kill_leader ;;
  start) start "${2:-}" ;;
  wait-replica) wait_replica "${2:-}" ;;
  switchover) switchover "${2:-}" ;;
  pause) pause ;;
  resume) resume ;;
  balance) shift; balance "$@" ;;
  unbalance) if [ -d "$dir" ]; then stop_haproxy; rm -f "$dir/haproxy.cfg"; fi ;;
  *) echo "usage: $0 install|up|status|leader|wait-leader|wait-healthy|kill-leader|start NODE|wait-replica NODE|switchover [NODE]|pause|resume|balance LISTEN_PORT BACKEND_PORT...|unbalance|down" >&2; exit 2 ;;
esac
