# shellcheck shell=bash
# Library: wait_until_answers, waiting for a server just started to answer.
#
# Sourced by the scripts that start servers and wait for them.
# wait_until_answers NAME URL PID LOG: returns once URL answers 2xx (30 s
# at most); fails, showing LOG, if it never does or PID exits first.
wait_until_answers() {
  local name=$1 url=$2 pid=$3 log=$4 deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS --max-time 2 "$url" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited on start:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "$name never answered $url:" >&2; cat "$log" >&2
  return 1
}
