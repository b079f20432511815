#!/usr/bin/env bash
# Phone-sync benchmark (issue 10): the delta sync of a grid worker with 5 cells and 2,000
# premises after 50 changes, against the bare SQL selecting those 50 rows, in the same run, on
# the test stack's PostgreSQL (a scratch database, dropped at the end). About half a minute.
#
#   ./deploy/bench/sync/run.sh [-cells 5] [-premises 2000] [-changes 50] [-noise 0] [-n 300]
#
# Prints the medians and their ratio; exits 1 when the sync takes more than 3 times the bare SQL.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/sync "$@"
