#!/usr/bin/env bash
# Topology: a throwaway PgBouncer on loopback in front of one PostgreSQL server.
#
# A throwaway PgBouncer (Debian's package, installed if missing) on
# loopback, in front of one PostgreSQL server, with a config of its own:
#
#   bash scripts/topology/pgbouncer.sh install    # installs Debian's package if missing
#   bash scripts/topology/pgbouncer.sh up         # (re)starts it; prints its URL
#   bash scripts/topology/pgbouncer.sh reconnect  # every server connection replaced (admin RECONNECT)
#   bash scripts/topology/pgbouncer.sh down       # stops it, removes its directory
#
# ORDERLY_PGBOUNCER_DIR (default /tmp/orderly-pgbouncer) holds its config,
# log and socket; ORDERLY_PGBOUNCER_PORT (default 26435) is where it
# listens; ORDERLY_PGBOUNCER_SERVER (default 127.0.0.1:5432) the server it
# pools for. ORDERLY_PGBOUNCER_MODE is `transaction` (with a short
# server_lifetime, so server connections are replaced while it runs) or
# `session` (PgBouncer's stock settings). Nothing sets
# ignore_startup_parameters: a client that sends one PgBouncer does not
# know is refused, as by a stock install. Authentication is trust, on
# loopback only. It runs as the `postgres` system user (PgBouncer refuses
# root).
set -euo pipefail

dir=${ORDERLY_PGBOUNCER_DIR:-/tmp/orderly-pgbouncer}
port=${ORDERLY_PGBOUNCER_PORT:-26435}
server=${ORDERLY_PGBOUNCER_SERVER:-127.0.0.1:5432}
mode=${ORDERLY_PGBOUNCER_MODE:-transaction}
case $dir in /|/tmp|/tmp/|"") echo "pgbouncer: refusing ORDERLY_PGBOUNCER_DIR=$dir" >&2; exit 2 ;; esac

install() {
  command -v pgbouncer >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/pgbouncer ] && return 0
  echo "pgbouncer: installing Debian's pgbouncer package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }
}

bin() { command -v pgbouncer || echo /usr/sbin/pgbouncer; }

down() {
  if [ -f "$dir/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$dir/pgbouncer.pid" ] || break; sleep 0.1; done
  fi
  pkill -KILL -f -- "pgbouncer $dir/pgbouncer.ini" 2>/dev/null || true
  rm -rf "$dir"
}

up() {
  install
  down
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "pgbouncer: port $port is taken; set ORDERLY_PGBOUNCER_PORT" >&2
    exit 1
  fi
  mkdir -p "$dir"
  local pooling
  case $mode in
    transaction) pooling="pool_mode = transaction
server_lifetime = 5
server_idle_timeout = 5" ;;
    session) pooling="" ;;
    *) echo "pgbouncer: ORDERLY_PGBOUNCER_MODE is transaction or session" >&2; exit 2 ;;
  esac
  echo '"postgres" ""' >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<CONF
[databases]
* = host=${server%:*} port=${server##*:}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
max_client_conn = 500
default_pool_size = 20
$pooling
CONF
  chown -R postgres: "$dir"
  if ! runuser -u postgres -- "$(bin)" -d "$dir/pgbouncer.ini"; then
    echo "pgbouncer: did not start; its log:" >&2
    tail -n 20 "$dir/pgbouncer.log" >&2 || true
    exit 1
  fi
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

# The admin console's RECONNECT: every server connection is closed once
# its client is done with it, and replaced by a new one.
reconnect() {
  psql "postgres://postgres@127.0.0.1:$port/pgbouncer" -qAtX -c "RECONNECT" >/dev/null
}

case ${1:-} in
  install) install ;;
  up) up ;;
  down) down ;;
  reconnect) reconnect ;;
  *) echo "usage: $0 install|up|reconnect|down" >&2; exit 2 ;;
esac
