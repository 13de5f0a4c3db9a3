#!/usr/bin/env bash
# Suite: fuzzes the request parsing for a bounded time (default 30 s).
#
# Fuzzes orderly's request parsing and validation (the cargo-fuzz crate in
# fuzz/, nightly Rust) for a bounded time; fails if any target crashes.
#
#   bash scripts/suite/fuzz.sh [SECONDS]    # default 30: the CI run
#   bash scripts/suite/fuzz.sh 3600         # a long run
#
# SECONDS is the total fuzzing time, shared equally by the targets in
# fuzz/fuzz_targets (the build before it is not counted). Installs
# cargo-fuzz if missing. Each target runs on a copy of its checked-in
# corpus (fuzz/corpus/<target>) in a temporary directory, so the checkout
# stays clean; what the run discovers is thrown away with it, unless
# FUZZ_KEEP_CORPUS=DIR keeps it in DIR/<target> (to `cargo fuzz cmin` from).
# A crash writes its reproducer to fuzz/artifacts/<target>/ (git-ignored),
# prints that path, and makes the script fail.
#
# FUZZ_SANITIZER: `none` (default: the faster cold build, and about four
# times the executions per second; the target is safe Rust, its checks are
# assertions) or `address`. FUZZ_RSS_LIMIT_MB (2048) bounds memory and
# FUZZ_TIMEOUT (10 s) the time one input may take.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

total=${1:-30}
if ! [[ $total =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
sanitizer=${FUZZ_SANITIZER:-none}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzzing needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz

mapfile -t targets < <(cargo +nightly fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets in fuzz/fuzz_targets" >&2
  exit 2
fi
per_target=$((total / ${#targets[@]}))
[ "$per_target" -ge 1 ] || per_target=1

echo "== cargo fuzz build (sanitizer: $sanitizer)"
started=$SECONDS
cargo +nightly fuzz build --sanitizer "$sanitizer"
echo "built in $((SECONDS - started)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  options=(
    -max_total_time="$per_target"
    -rss_limit_mb="$rss_limit"
    -timeout="$timeout"
    -print_final_stats=1
  )
  if [ -f "fuzz/$target.dict" ]; then
    options+=(-dict="fuzz/$target.dict")
  fi
  log=$work/$target.log
  echo "== $target: ${per_target} s on $(find "$corpus" -type f | wc -l) seed inputs"
  set +e
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- "${options[@]}" 2>&1 |
    tee "$log" | grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "---- last lines of the $target log"
    tail -n 40 "$log"
    echo "---- what failed"
    grep -m 1 -A 3 -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$log" || true
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "FAILED: $target (exit $status); reproducer: ${reproducer:-none written, see the log above}"
    if [ -n "$reproducer" ]; then
      echo "replay: cargo +nightly fuzz run --sanitizer $sanitizer $target $reproducer"
    fi
  fi
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$target"
    cp -R "$corpus/." "$FUZZ_KEEP_CORPUS/$target/"
  fi
done

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "== fuzzing: no crash in ${total} s"
