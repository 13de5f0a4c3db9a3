# shellcheck shell=bash
# Library: makes or reuses .venv-blackbox, the venv of the seed's pytest suite.
#
# Sourced by the scripts that run the seed's pytest suite: makes (or
# reuses) the venv .venv-blackbox with tests/blackbox/requirements.txt and
# sets `venv` to it. `root` is the repository, set by the caller.
# shellcheck disable=SC2154 # root is the sourcing script's
# shellcheck source=scripts/lib/venv.sh
. "$root/scripts/lib/venv.sh"
venv="$root/.venv-blackbox"
ensure_venv "$venv" "$root/tests/blackbox/requirements.txt"
