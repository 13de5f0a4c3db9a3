#!/usr/bin/env bash
# Installs Debian's Chromium (for the headless-browser tests) if missing; prints its path.
#
# Debian's Chromium, for the tests that load a page in a real browser
# (headless): installed from the package if missing. Prints its path.
set -euo pipefail
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; exit 0; fi
done
echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 ||
  { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
command -v chromium
