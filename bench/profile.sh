#!/usr/bin/env bash
# Where orderly's CPU goes under one scenario's load, kept as a flame graph
# (issue 20: profile first). Builds orderly in release mode with debug info
# (a target directory of its own), seeds a fresh PostgreSQL database as the
# benchmark does, serves it as measured (request logs at info, to a file),
# drives the scenario with wrk at 32 connections, and samples orderly with
# `perf record` meanwhile: the cpu-clock event with DWARF unwinding, since
# this machine's perf has no hardware counters.
#
#   bash bench/profile.sh [SCENARIO] [SECONDS] [BACKEND]   (default: get_user 10 pg)
#
# BACKEND `sqlite` profiles orderly on a seeded SQLite file instead
# (bench/profiles/SCENARIO-sqlite.*).
#
# Writes bench/profiles/SCENARIO.svg (the flame graph, inferno) and
# bench/profiles/SCENARIO.txt (samples by part of the stack). Needs perf
# (Debian's linux-perf) and inferno (`cargo install inferno`); installs both
# when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scenario=${1:-get_user}
seconds=${2:-10}
backend=${3:-pg}
case $backend in
  pg) name=$scenario; title=PostgreSQL ;;
  sqlite) name=$scenario-sqlite; title=SQLite ;;
  *) echo "profile: BACKEND is pg or sqlite, not $backend" >&2; exit 1 ;;
esac
out=bench/profiles

bash scripts/install/postgres.sh >/dev/null
command -v perf >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v inferno-flamegraph >/dev/null 2>&1 || cargo install --quiet inferno

target=$root/target/profiling-dir
CARGO_TARGET_DIR=$target CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=false \
  cargo build --release --quiet --bin orderly
work=$(mktemp -d)
database=orderly_bench_profile
if [ "$backend" = sqlite ]; then
  url=$(cd bench && CARGO_TARGET_DIR=$target python3 -c "import bench, pathlib; print(bench.fresh_sqlite_database(pathlib.Path('$work/orderly.db')))")
else
  url=$(cd bench && CARGO_TARGET_DIR=$target python3 -c "import bench; print(bench.fresh_pg_database('$database'))")
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$url ORDERLY_BIND=127.0.0.1:$port RUST_LOG=info "$target/release/orderly" >"$work/orderly.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql "${url%/*}/postgres" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

BENCH_SCENARIO=$scenario BENCH_TAG=profile-$(date +%s) \
  wrk -t2 -c32 -d"${seconds}s" -s bench/wrk.lua "http://127.0.0.1:$port" >"$work/wrk.txt" &
load=$!
sleep 1
perf record -q -F 499 -e cpu-clock --call-graph dwarf,8192 -p "$pid" -o "$work/perf.data" -- sleep $((seconds - 2)) 2>/dev/null
wait "$load"
grep -E "Requests/sec|Latency" "$work/wrk.txt" | sed 's/^ */  /'

# --all marks kernel frames with _[k], so that they can be told apart.
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf --all >"$work/folded"
inferno-flamegraph --minwidth 1.5 --title "orderly, $scenario, $title, 32 connections, logs at info" <"$work/folded" >"$out/$name.svg"
python3 bench/profile_parts.py "$work/folded" "$scenario" | tee "$out/$name.txt"
echo "wrote $out/$name.svg and $out/$name.txt"
