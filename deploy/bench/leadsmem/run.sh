#!/usr/bin/env bash
# run.sh — the leads import streams (issue 14): a generated 200 MB GBK vehicle-track file posted
# as a chunked body to a real `sieve serve` on the loopback after a 4 MB one; prints the answers
# and the server's peak resident memory after each (target < 256 MB). Bounded: two requests, a
# 15-minute limit. Extra arguments go to the Go program (see its flags). Use your own stack's
# ports: SIEVE_PG_PORT=… SIEVE_MINIO_PORT=… ./deploy/bench/leadsmem/run.sh
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
go build -o bin/bench-leadsmem ./deploy/bench/leadsmem
bin/bench-leadsmem -sieve bin/sieve "$@"
