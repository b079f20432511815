#!/usr/bin/env bash
# run_check.sh — checks ./deploy/local/run.sh the way a newcomer meets it: on a stack of its own
# ("runcheck", own ports, own data), from nothing. run.sh must start the services, load the demo
# city, print the logins and serve; the printed admin login must work and see the city's 26
# townships and its inspections; a second start must keep the data and the logins. The stack is
# destroyed at the end. Called by test.sh after the end-to-end step (about a minute).
#
# Ports (optional): SIEVE_RUNCHECK_PG_PORT (15452), SIEVE_RUNCHECK_MINIO_PORT (19020),
# SIEVE_RUNCHECK_HTTP_PORT (18097).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export SIEVE_STACK_NAME=runcheck
export SIEVE_PG_PORT="${SIEVE_RUNCHECK_PG_PORT:-15452}"
export SIEVE_MINIO_PORT="${SIEVE_RUNCHECK_MINIO_PORT:-19020}"
export SIEVE_HTTP_ADDR="127.0.0.1:${SIEVE_RUNCHECK_HTTP_PORT:-18097}"
export SIEVE_PG_FSYNC=off
BASE="http://$SIEVE_HTTP_ADDR"
WORK="$(mktemp -d)"
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  ./deploy/local/stack.sh destroy >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "run_check: FAIL: $*" >&2; tail -30 "$WORK/run.log" >&2 || true; exit 1; }

./deploy/local/stack.sh destroy >/dev/null 2>&1 || true

# start_run LOG: run.sh in the background until /readyz answers 200 (at most 5 minutes).
start_run() {
  ./deploy/local/run.sh >"$1" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$PID" 2>/dev/null || fail "run.sh exited before serving"
    sleep 0.5
  done
  fail "run.sh did not serve within 5 minutes"
}
stop_run() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

start_run "$WORK/run.log"
grep -q "demo city 禹州市 loaded" "$WORK/run.log" || fail "run.sh did not load the demo city"
grep -Eq "premises, [1-9][0-9]* inspections" "$WORK/run.log" || fail "the demo city has no inspections"
pw="$(awk '$1 == "admin" { print $2 }' ".data/runcheck/demo-logins.txt")"
[ -n "$pw" ] || fail "no admin login in .data/runcheck/demo-logins.txt"
grep -q "admin" "$WORK/run.log" || fail "run.sh did not print the logins"

login() {
  curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$BASE/api/v1/auth/login" |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}
token="$(login)"
[ -n "$token" ] || fail "the printed admin login does not work"
townships="$(curl -fsS -H "Authorization: Bearer $token" "$BASE/api/v1/regions?level=township&limit=100" | grep -o '"level":"township"' | wc -l)"
[ "$townships" = 26 ] || fail "admin sees $townships townships, want 26"
curl -fsS -H "Authorization: Bearer $token" "$BASE/api/v1/premises?limit=1" | grep -q '"type":"Feature"' || fail "no premises listed"
echo "run_check: first start serves the demo city (26 townships, inspections), admin login works"

# Second start: nothing reloaded, the same logins still work.
stop_run
start_run "$WORK/run2.log"
grep -q "loading the demo city" "$WORK/run2.log" && fail "the second start loaded the demo again"
grep -q "already loaded; nothing done" "$WORK/run2.log" || fail "the second start did not find the demo city loaded"
[ -n "$(login)" ] || fail "the admin login stopped working after a restart"
echo "run_check: second start keeps the data and the logins"
