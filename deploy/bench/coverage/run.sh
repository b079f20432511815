#!/usr/bin/env bash
# Coverage benchmark (issue 12): GET /api/v1/coverage for a city of 5,000 cells and 400,000
# premises against the naive GROUP BY over all premises and their inspections, in the same run,
# on the test stack's PostgreSQL (a scratch database, dropped at the end). A few minutes.
#
#   ./deploy/bench/coverage/run.sh [-cells 5000] [-premises 400000] [-n 20]
#
# Exits 1 when the API takes more than 1/20 of the naive aggregate.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/coverage "$@"
