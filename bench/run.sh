#!/usr/bin/env bash
# The benchmark, one command: installs what it needs (wrk, a venv with the
# FastAPI stack), makes sure PostgreSQL is up, builds orderly in release
# mode, runs every target side by side, and rewrites the tables of
# docs/performance.md and bench/ratios.png. Arguments go to bench/bench.py
# (--duration, --connections, --rounds, --targets, --scenarios, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install/postgres.sh
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v pgbench >/dev/null 2>&1 || { echo "bench: pgbench is missing (Debian's postgresql-contrib / postgresql-client)" >&2; exit 1; }

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
venv="$root/.venv-bench"
ensure_venv "$venv" bench/fastapi_app/requirements.txt

cargo build --release --quiet --bin orderly
BENCH_VENV="$venv" "$venv/bin/python" bench/bench.py "$@"
"$venv/bin/python" bench/report.py
