#!/usr/bin/env bash
# Installs and generates the German and French locales the failure-outcome tests run PostgreSQL in.
#
# Makes the locales the failure-outcome tests run their throwaway servers
# in (lc_messages German, then French) available: generated with
# `localedef` from Debian's `locales` package, installed first if missing.
# PostgreSQL's translations come with Debian's postgresql package; a
# server can only take an lc_messages the C library knows.
#
#   bash scripts/install/locales.sh            # de_DE.UTF-8 and fr_FR.UTF-8
#   bash scripts/install/locales.sh xx_YY ...  # others (UTF-8 each)
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(de_DE fr_FR)

known() { locale -a 2>/dev/null | grep -qix -- "$1.utf8\|$1.UTF-8"; }

missing=()
for l in "${wanted[@]}"; do known "$l" || missing+=("$l"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v localedef >/dev/null 2>&1 || [ ! -d /usr/share/i18n/locales ]; then
  echo "ensure-locales: installing Debian's locales package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null; }
fi
for l in "${missing[@]}"; do
  localedef -i "$l" -f UTF-8 "$l.UTF-8"
  known "$l" || { echo "ensure-locales: $l.UTF-8 still unknown after localedef" >&2; exit 1; }
done
