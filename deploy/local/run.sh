#!/usr/bin/env bash
# run.sh — Sieve with the demo city on http://127.0.0.1:8080, from a fresh clone.
# Installs what is missing, starts PostgreSQL + PostGIS and MinIO privately (.data/dev),
# migrates, loads the demo city on first start, and serves in the foreground; Ctrl-C stops the API (the services keep running;
# ./deploy/local/stack.sh down stops them). Safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"
# Another stack name (and SIEVE_PG_PORT, SIEVE_MINIO_PORT, SIEVE_HTTP_ADDR) runs a second,
# separate copy; deploy/local/run_check.sh does so to test this script.
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-dev}"

./deploy/local/stack.sh deps
./web/build.sh  # MapLibre GL JS for the map page, checked against web/package-lock.json
./deploy/local/stack.sh up
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
export SIEVE_HTTP_ADDR="${SIEVE_HTTP_ADDR:-127.0.0.1:8080}"

echo "[run] building sieve (the first build downloads Go modules, about a minute)" >&2
mkdir -p bin
go build -o bin/sieve ./cmd/sieve
bin/sieve migrate
# The demo city: loaded on the first start (its logins are kept in $creds); later starts only
# add what a newer version of the demo has (sieve demo does nothing else on a loaded city).
creds=".data/$SIEVE_STACK_NAME/demo-logins.txt"
[ -s "$creds" ] || echo "[run] loading the demo city 禹州市 (first start only, about half a minute)" >&2
bin/sieve demo --credentials "$creds"
[ -s "$creds" ] && { echo "[run] demo logins (from $creds):" >&2; sed 's/^/[run]   /' "$creds" >&2; }
echo "[run] serving on http://$SIEVE_HTTP_ADDR (API docs: http://$SIEVE_HTTP_ADDR/docs); Ctrl-C stops" >&2
exec bin/sieve serve
