#!/usr/bin/env bash
# e2e.sh — runs the built binary against the test stack and checks what a user sees: the
# service comes up, `sieve upload` sends a card of drone images to a new survey and a second run
# skips them (the command drives the API through client/), /readyz follows MinIO and PostgreSQL
# being stopped and started again (really stopped, through stack.sh) while /healthz stays 200,
# and SIGTERM stops it cleanly.
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

# A drone card uploaded by a new city-office user (a name of its own, so reruns on the same
# stack start clean), over the city, which the import creates or updates.
E2E_USER="e2e$(date +%s)$$"
E2E_PW="e2e password $$"
printf '%s\n' "$E2E_PW" | "$WORK/sieve" user add --username "$E2E_USER" --role city_admin --password-stdin >"$WORK/user.log" 2>&1 ||
  fail "sieve user add: $(tail -3 "$WORK/user.log")"
api() { # api METHOD PATH [BODY [CONTENT-TYPE]] — prints the body, fails on a status >= 300
  local code
  code="$(curl -s -o "$WORK/api" -w '%{http_code}' -X "$1" ${TOKEN:+-H "Authorization: Bearer $TOKEN"} \
    ${3:+-H "Content-Type: ${4:-application/json}"} ${3:+--data-binary "$3"} "$BASE$2")" || true
  [ "$code" -lt 300 ] || fail "$1 $2 answered $code $(cat "$WORK/api")"
  cat "$WORK/api"
}
TOKEN="$(api POST /api/v1/auth/login "{\"username\":\"$E2E_USER\",\"password\":\"$E2E_PW\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
[ -n "$TOKEN" ] || fail "no token from login"
api POST /api/v1/regions/import '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"411081","name":"禹州市","level":"city"},"geometry":{"type":"Polygon","coordinates":[[[113.07,33.99],[113.66,33.99],[113.66,34.41],[113.07,34.41],[113.07,33.99]]]}}]}' \
  application/geo+json >/dev/null
REGION="$(api GET '/api/v1/regions?level=city&q=411081&geometry=false' | sed -n 's/.*"properties":{"id":\([0-9]*\).*/\1/p')"
[ -n "$REGION" ] || fail "city not found after import"
mkdir -p "$WORK/card/DCIM/100MEDIA" "$WORK/cache"
cp imagery/testdata/dji_attr.jpg "$WORK/card/DCIM/100MEDIA/DJI_0001.JPG"
cp imagery/testdata/dji_elem.jpg "$WORK/card/DCIM/100MEDIA/DJI_0002.JPG"
upload() { XDG_CACHE_HOME="$WORK/cache" "$WORK/sieve" upload --server "$BASE" --token "$TOKEN" "$@" "$WORK/card" 2>>"$WORK/upload.log"; }
out="$(upload --region "$REGION" --flight-date 2024-04-20)" || fail "sieve upload: $out $(tail -5 "$WORK/upload.log")"
echo "$out" | grep -q "uploaded 2, already there 0, rejected 0, failed 0" || fail "first upload: $out"
SURVEY="$(echo "$out" | sed -n 's/^created survey \([0-9]*\)$/\1/p')"
api GET "/api/v1/surveys/$SURVEY" | grep -q '"received":2' || fail "survey $SURVEY does not hold the 2 images: $(cat "$WORK/api")"
out="$(upload)" || fail "sieve upload again: $out"
echo "$out" | grep -q "continuing survey $SURVEY" || fail "second upload did not continue survey $SURVEY: $out"
echo "$out" | grep -q "uploaded 0, already there 2" || fail "second upload: $out"
echo "e2e: sieve upload -> survey $SURVEY with 2 images, again -> skipped"

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
echo "e2e: 4 passed, 0 failed"
