#!/usr/bin/env bash
# Installs and starts the shared Redis on 127.0.0.1:6379 (nothing kept on disk) if it does not answer.
#
# Makes sure the machine's Redis answers at 127.0.0.1:6379, which the
# session-store tests and scripts/suite/ha-check.sh use (each with a database
# number of its own): starts Debian's redis-server there, keeping nothing
# on disk, if nothing answers; installs it first if missing.
set -euo pipefail
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools >/dev/null
fi
redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "ensure-redis: Redis did not answer at 127.0.0.1:6379 within 5 s" >&2
exit 1
