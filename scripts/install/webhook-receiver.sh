#!/usr/bin/env bash
# Makes or reuses .venv-webhooks, the venv the webhook tests' receiver verifies signatures with.
#
# The webhook tests' receiver (tests/webhooks/receiver.py) verifies
# signatures with the Python `standardwebhooks` package: makes (or reuses)
# its venv, .venv-webhooks, which the tests look for.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/venv.sh
. "$root/scripts/lib/venv.sh"
ensure_venv "$root/.venv-webhooks" "$root/tests/webhooks/requirements.txt"
