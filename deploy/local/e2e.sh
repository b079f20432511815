#!/usr/bin/env bash
# e2e.sh — runs the built binary against the test stack and checks what a user sees: the
# service comes up, /readyz follows MinIO and PostgreSQL being stopped and started again
# (really stopped, through stack.sh) while /healthz stays 200, and SIGTERM stops it cleanly.
# Called by test.sh after the Go tests, because it stops the shared test services.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
PORT="${SIEVE_E2E_PORT:-18099}"
export SIEVE_HTTP_ADDR="127.0.0.1:$PORT"
BASE="http://$SIEVE_HTTP_ADDR"
WORK="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; ./deploy/local/stack.sh up >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

fail() { echo "e2e: FAIL: $*" >&2; [ -f "$WORK/serve.log" ] && tail -20 "$WORK/serve.log" >&2; exit 1; }
status() { curl -s -o "$WORK/body" -w '%{http_code}' "$BASE$1" || true; }
# wait_for PATH STATUS [TEXT] — poll up to 30 s
wait_for() {
  local i code
  for i in $(seq 1 150); do
    code="$(status "$1")"
    if [ "$code" = "$2" ] && { [ -z "${3:-}" ] || grep -q "$3" "$WORK/body"; }; then return 0; fi
    sleep 0.2
  done
  fail "$1 answered $code $(cat "$WORK/body" 2>/dev/null), want $2 ${3:-}"
}

go build -o "$WORK/sieve" ./cmd/sieve
"$WORK/sieve" serve >"$WORK/serve.log" 2>&1 &
PID=$!
wait_for /readyz 200
echo "e2e: ready"

./deploy/local/stack.sh stop-minio
wait_for /readyz 503 '"minio":"'
grep -q '"postgres":"ok"' "$WORK/body" || fail "postgres reported failing while only MinIO was down"
[ "$(status /healthz)" = 200 ] || fail "healthz not 200 while MinIO down"
./deploy/local/stack.sh start-minio
wait_for /readyz 200
echo "e2e: MinIO down -> 503, back -> 200"

./deploy/local/stack.sh stop-postgres
wait_for /readyz 503 '"postgres":"'
[ "$(status /healthz)" = 200 ] || fail "healthz not 200 while PostgreSQL down"
./deploy/local/stack.sh start-postgres
wait_for /readyz 200
echo "e2e: PostgreSQL down -> 503, back -> 200"

kill -TERM "$PID"
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
kill -0 "$PID" 2>/dev/null && fail "did not stop on SIGTERM"
wait "$PID" || fail "exited non-zero after SIGTERM"
grep -q "shutting down" "$WORK/serve.log" || fail "no graceful shutdown logged"
echo "e2e: SIGTERM -> clean exit"
echo "e2e: 3 passed, 0 failed"
