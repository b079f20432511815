#!/usr/bin/env bash
# Tiles benchmark (issue 12): z12 and z14 cells tiles through the API against the bare ST_AsMVT
# query, and repeated tiles with If-None-Match, on the coverage benchmark's city, in the same run,
# on the test stack's PostgreSQL (a scratch database, dropped at the end). A few minutes.
#
#   ./deploy/bench/tiles/run.sh [-cells 5000] [-premises 400000] [-n 300]
#
# Exits 1 when a target (1.2×, 0.3×) is missed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/tiles "$@"
