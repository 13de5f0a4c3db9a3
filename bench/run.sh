#!/usr/bin/env bash
# The benchmark, one command: installs what it needs (wrk, a venv with the
# FastAPI stack), makes sure PostgreSQL is up, builds orderly in release
# mode, runs every target side by side, and rewrites the tables of
# BENCHMARKS.md and bench/ratios.png. Arguments go to bench/bench.py
# (--duration, --connections, --rounds, --targets, --scenarios, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/ensure-postgres.sh
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v pgbench >/dev/null 2>&1 || { echo "bench: pgbench is missing (Debian's postgresql-contrib / postgresql-client)" >&2; exit 1; }

venv="$root/.venv-bench"
requirements=bench/fastapi_app/requirements.txt
if [ ! -x "$venv/bin/uvicorn" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

cargo build --release --quiet --bin orderly
BENCH_VENV="$venv" "$venv/bin/python" bench/bench.py "$@"
"$venv/bin/python" bench/report.py
