# shellcheck shell=bash
# Library: ensure_venv, a Python venv with the given requirements, made or reused.
#
# Sourced by the scripts that need a Python venv of their own.
#
# ensure_venv DIR REQUIREMENTS: makes the venv DIR with REQUIREMENTS
# installed, or reuses it; makes it again from scratch when REQUIREMENTS
# changed since (a copy is kept in DIR), or when an install stopped midway
# (the copy is written last).
ensure_venv() {
  local dir=$1 requirements=$2
  if [ -x "$dir/bin/python" ] && cmp -s "$requirements" "$dir/requirements.txt"; then
    return 0
  fi
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$dir/requirements.txt"
}
