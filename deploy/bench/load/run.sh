#!/usr/bin/env bash
# run.sh — the load benchmark of issue 16 against a real `sieve serve` on the loopback, with the
# demo city loaded in a database of its own (removed at the end, as are its buckets):
#   * lists: 200 grid-worker clients on GET /premises?limit=50 vs the same with ?region= (target
#     >= 50 % of its throughput), then GET /regions?limit=50 and GET /me
#   * login: 200 clients logging in at once and listing (share answered, login p99)
#   * burst: 2,000 grid workers' end of day, 200 at a time (zero errors, p99 by request)
# Bounded: 15 s per list phase, a 15-minute limit for everything. Extra arguments go to the Go
# program (-only lists,login,burst -clients -workers -photos -phase -premises -timeout).
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
go build -o bin/bench-load ./deploy/bench/load
bin/bench-load -sieve bin/sieve "$@"
