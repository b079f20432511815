#!/usr/bin/env bash
# test.sh — every test of Sieve against real services: unit tests, integration tests on a
# private PostgreSQL + PostGIS and MinIO (the "test" stack, on ports apart from the demo's),
# then an end-to-end check of the built binary, and of run.sh on a stack of its own.
#
#   ./deploy/local/test.sh            all tests
#   ./deploy/local/test.sh ./api/...  only these packages (go test arguments)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME=test
# The test stack can run without fsync: it holds nothing worth keeping.
export SIEVE_PG_FSYNC=off

start=$SECONDS
./deploy/local/stack.sh deps
./web/build.sh  # MapLibre GL JS for the map page, checked against web/package-lock.json
./deploy/local/stack.sh up
set -a
eval "$(./deploy/local/stack.sh env)"
set +a

echo "== go vet"
go vet ./...

echo "== go test"
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
go test -count=1 -timeout 15m "${pkgs[@]}"

if [ $# -eq 0 ]; then
  echo "== end to end"
  ./deploy/local/e2e.sh
  echo "== run.sh from nothing"
  ./deploy/local/run_check.sh
fi
echo "== all tests passed in $((SECONDS - start)) s"
