#!/usr/bin/env bash
# create_order with and without a subscribed webhook endpoint whose
# receiver is slow (bench/webhooks.py): installs wrk and the receiver's
# venv if missing, builds orderly in release mode, runs both backends.
# Arguments go to bench/webhooks.py (--duration, --rounds,
# --receiver-delay-ms, --backends, --out).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install/postgres.sh
bash scripts/install/webhook-receiver.sh
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin orderly
python3 bench/webhooks.py "$@"
