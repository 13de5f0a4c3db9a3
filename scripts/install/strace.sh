#!/usr/bin/env bash
# Installs Debian's strace if missing (the SQLite flush tests attach it to orderly).
#
# Installs Debian's strace if missing: the SQLite durability tests
# (tests/api/embedded/flushes.rs) attach it to a running orderly to see,
# from outside, when the log is flushed and when each 201 leaves.
set -euo pipefail
command -v strace >/dev/null 2>&1 && exit 0
echo "ensure-strace: installing Debian's strace package" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null ||
  { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
command -v strace >/dev/null 2>&1
