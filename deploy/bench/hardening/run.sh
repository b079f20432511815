#!/usr/bin/env bash
# run.sh — memory bounded by design (issue 16): a 200 MB-.shp zip bomb and four 120 MP 16-bit
# PNGs posted at once to a real `sieve serve` (jobs in process) on the loopback; prints the
# answers and the server's peak resident memory (target < 512 MB). Bounded: five requests, a
# 6-minute limit. Extra arguments go to the Go program (see its flags). Use your own stack's
# ports: SIEVE_PG_PORT=… SIEVE_MINIO_PORT=… ./deploy/bench/hardening/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh deps
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
mkdir -p bin
go build -o bin/sieve ./cmd/sieve
go build -o bin/bench-hardening ./deploy/bench/hardening
bin/bench-hardening -sieve bin/sieve "$@"
