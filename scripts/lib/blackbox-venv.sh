# shellcheck shell=bash
# Sourced by the scripts that run the seed's pytest suite: makes (or
# reuses) the venv .venv-blackbox with tests/blackbox/requirements.txt and
# sets `venv` to it. `root` is the repository, set by the caller.
# shellcheck disable=SC2154 # root is the sourcing script's
venv="$root/.venv-blackbox"
if [ ! -x "$venv/bin/pytest" ] || ! cmp -s tests/blackbox/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/blackbox/requirements.txt
  cp tests/blackbox/requirements.txt "$venv/requirements.txt"
fi
