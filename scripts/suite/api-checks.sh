#!/usr/bin/env bash
# Suite: schemathesis, a generated client and /docs in Chromium, against orderly's served OpenAPI document.
#
# Checks orderly's served API description against orderly itself, black-box:
# starts a built orderly on a fresh PostgreSQL database, then
#   1. schemathesis fuzzes every operation of GET /openapi.json (checks
#      not_a_server_error and response_schema_conformance), but adding a
#      webhook endpoint: orderly would then send events to the URLs it
#      generates, off this machine (that route is tested in tests/api/events);
#   2. openapi-python-client generates a Python client from that document,
#      and tests/apichecks/client_lifecycle.py runs the seed's user lifecycle
#      through it;
#   3. headless chromium, with every non-loopback host unreachable, renders
#      GET /docs: every operation and tag of the document must be on the
#      page, and the page must not try to reach the internet.
# Every step runs even when an earlier one fails; the script fails if any
# did. The server is stopped and the database dropped on exit.
#
# ORDERLY_BIN names the binary to check; without it, this builds
# ${CARGO_TARGET_DIR:-target}/debug/orderly (cargo build). ORDERLY_TEST_DATABASE_URL names a server
# where this user may CREATE DATABASE (default
# postgres://postgres@127.0.0.1:5432/postgres). ARTIFACTS (default
# target/ci-artifacts) receives the reports, logs, DOM and screenshot.
# API_CHECKS_MAX_EXAMPLES (30), API_CHECKS_SEED (1) and
# API_CHECKS_ST_TIMEOUT (seconds, 150) bound schemathesis.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -z "${ORDERLY_BIN:-}" ]; then
  cargo build --quiet --bin orderly
fi
bin=${ORDERLY_BIN:-${CARGO_TARGET_DIR:-target}/debug/orderly}
admin_url=${ORDERLY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
artifacts=${ARTIFACTS:-target/ci-artifacts}
max_examples=${API_CHECKS_MAX_EXAMPLES:-30}
seed=${API_CHECKS_SEED:-1}
st_timeout=${API_CHECKS_ST_TIMEOUT:-150}
venv="$root/.venv-apichecks"
requirements=tests/apichecks/requirements.txt

say() { printf '\n== api-checks: %s\n' "$*"; }
die() { echo "api-checks: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ -x "$bin" ] || die "no orderly binary at $bin (relative to $root); build it (cargo build) or set ORDERLY_BIN"
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd)
rm -f "$artifacts"/{orderly.log,openapi.json,schemathesis.log,schemathesis.json,schemathesis-junit.xml,generate.log,client.log,docs-dom.html,docs.png,chromium.log,docs-netlog.json}

timings=()
results=()

# -- the venv: made once, re-made when requirements.txt changes ---------------
t=$(now)
# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
ensure_venv "$venv" "$requirements"
timings+=("venv $(elapsed "$t") s")

# -- chromium (Debian's), installed if missing --------------------------------
t=$(now)
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq chromium >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
fi
timings+=("chromium install $(elapsed "$t") s")

# -- orderly on a fresh database ----------------------------------------------
t=$(now)
work=$(mktemp -d)
# shellcheck source=scripts/lib/orderly-on-fresh-database.sh
. scripts/lib/orderly-on-fresh-database.sh
trap 'orderly_stop; rm -rf "$work"' EXIT
orderly_start "orderly_apichecks_$$" "$bin" "$artifacts/orderly.log" || die "orderly did not start"
# Checked as deployed: with an API key. The running service reloads keys
# every second; it takes this one once a request without it is refused.
api_key=$(DATABASE_URL="$database_url" RUST_LOG=warn "$bin" keys create --role admin --name api-checks) ||
  die "orderly keys create failed"
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base_url/api/v1/users")" = 401 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base_url/api/v1/users")" = 401 ] ||
  die "orderly still serves /api/v1 without a key 5 s after one was created"
export ORDERLY_API_KEY=$api_key

curl -fsS --max-time 10 "$base_url/openapi.json" -o "$artifacts/openapi.json" ||
  die "GET $base_url/openapi.json failed"
"$venv/bin/python" - "$artifacts/openapi.json" <<'EOF' || die "GET /openapi.json is not an OpenAPI 3.1 document"
import json, sys
doc = json.load(open(sys.argv[1]))
assert str(doc.get("openapi", "")).startswith("3.1"), f"openapi: {doc.get('openapi')!r}"
ops = [(m, p) for p, item in doc["paths"].items() for m in item if m in ("get", "put", "post", "delete", "patch", "head", "options", "trace")]
assert ops, "no operations"
print(f"api-checks: /openapi.json: OpenAPI {doc['openapi']}, {len(doc['paths'])} paths, {len(ops)} operations, tags {sorted({t for p in doc['paths'].values() for o in p.values() if isinstance(o, dict) for t in o.get('tags', [])})}")
EOF
timings+=("start orderly $(elapsed "$t") s")

# Runs one check in a subshell with errexit on; records its time and result.
step() {
  local name=$1 started rc
  shift
  say "$name"
  started=$(now)
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  timings+=("$name $(elapsed "$started") s")
  if [ "$rc" -eq 0 ]; then results+=("PASS  $name"); else results+=("FAIL  $name (exit $rc)"); fi
}

# -- 1. schemathesis ----------------------------------------------------------
schemathesis() {
  local reports="$work/st-reports" rc=0
  # From the scratch directory: st keeps a crash cache (.schemathesis/) in
  # its working directory.
  (cd "$work" && timeout --kill-after=10 "$st_timeout" "$venv/bin/st" run "$base_url/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,ignored_auth \
    --exclude-operation-id create_webhook_endpoint \
    --header "Authorization: Bearer $api_key" \
    --max-examples "$max_examples" --seed "$seed" \
    --request-timeout 10 --generation-database none --no-color \
    --report json,junit --report-dir "$reports" \
    --report-json-path "$reports/run.json" --report-junit-path "$reports/junit.xml" \
    >"$artifacts/schemathesis.log" 2>&1) || rc=$?
  cp "$reports/run.json" "$artifacts/schemathesis.json" 2>/dev/null || true
  cp "$reports/junit.xml" "$artifacts/schemathesis-junit.xml" 2>/dev/null || true
  # The failures in detail (the full output is in the log), then the numbers.
  sed -n '/^=* FAILURES =*$/,/^=* SUMMARY =*$/p' "$artifacts/schemathesis.log" | head -n 200 || true
  if [ -s "$artifacts/schemathesis.json" ]; then
    "$venv/bin/python" tests/apichecks/st_summary.py "$artifacts/schemathesis.json" | tee "$work/st-summary.txt"
  else
    tail -n 40 "$artifacts/schemathesis.log"
    echo "schemathesis wrote no report (exit $rc)" | tee "$work/st-summary.txt"
  fi
  [ "$rc" -ne 124 ] || { echo "schemathesis: stopped after $st_timeout s (API_CHECKS_ST_TIMEOUT)" | tee -a "$work/st-summary.txt"; return 1; }
  [ "$rc" -eq 0 ] || { echo "schemathesis: failed (exit $rc); details in $artifacts/schemathesis.log"; return 1; }
}

# -- 2. generated client ------------------------------------------------------
client() {
  local out="$work/client" rc=0
  mkdir -p "$out"
  cat >"$out/config.yml" <<'EOF'
package_name_override: orderly_client
project_name_override: orderly-client
post_hooks: []
EOF
  "$venv/bin/openapi-python-client" generate --url "$base_url/openapi.json" \
    --meta none --config "$out/config.yml" --output-path "$out/orderly_client" \
    --fail-on-warning >"$artifacts/generate.log" 2>&1 || rc=$?
  if grep -qiE 'warning|error|skipping|unable|unsupported' "$artifacts/generate.log"; then
    echo "openapi-python-client had something to say about /openapi.json:"
    cat "$artifacts/generate.log"
  fi
  [ "$rc" -eq 0 ] || { echo "openapi-python-client: failed (exit $rc)"; return 1; }
  echo "client: generated $(find "$out/orderly_client" -name '*.py' | wc -l) modules"
  PYTHONPATH="$out" timeout 60 "$venv/bin/python" tests/apichecks/client_lifecycle.py "$base_url" orderly_client 2>&1 |
    tee "$artifacts/client.log"
}

# -- 3. /docs in headless chromium, offline -----------------------------------
docs() {
  local profile="$work/chromium-profile" flags
  flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-extensions --hide-scrollbars --disable-features=AutofillServerCommunication
    # No outside network for the page: no host name resolves but 127.0.0.1,
    # and every request but loopback goes to a proxy that is not there.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    --proxy-server=127.0.0.1:9 --proxy-bypass-list=127.0.0.1)
  timeout --kill-after=5 60 chromium "${flags[@]}" --user-data-dir="$profile-dom" \
    --log-net-log="$artifacts/docs-netlog.json" \
    --virtual-time-budget=8000 --dump-dom "$base_url/docs" \
    >"$artifacts/docs-dom.html" 2>"$artifacts/chromium.log" ||
    { echo "chromium --dump-dom failed; see $artifacts/chromium.log"; tail -n 20 "$artifacts/chromium.log"; return 1; }
  timeout --kill-after=5 60 chromium "${flags[@]}" --user-data-dir="$profile-png" \
    --virtual-time-budget=8000 --window-size=1280,2000 --screenshot="$artifacts/docs.png" "$base_url/docs" \
    >>"$artifacts/chromium.log" 2>&1 ||
    { echo "chromium --screenshot failed; see $artifacts/chromium.log"; return 1; }
  [ -s "$artifacts/docs.png" ] || { echo "chromium wrote no screenshot"; return 1; }
  echo "docs: screenshot $artifacts/docs.png ($(stat -c %s "$artifacts/docs.png") bytes)"
  "$venv/bin/python" tests/apichecks/docs_dom_check.py \
    "$artifacts/openapi.json" "$artifacts/docs-dom.html" "$artifacts/docs-netlog.json"
}

step "schemathesis" schemathesis
step "generated client lifecycle" client
step "docs page in chromium" docs

say "summary"
cat "$work/st-summary.txt" 2>/dev/null || true
echo
printf '  %s\n' "${timings[@]}"
echo
printf '  %s\n' "${results[@]}"
echo "  artifacts: $artifacts"
for r in "${results[@]}"; do
  case $r in FAIL*) exit 1 ;; esac
done
