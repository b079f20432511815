#!/usr/bin/env bash
# Leads import benchmark (issue 14): importing -n power-user leads into a city with no leads and
# into the same city holding -m open leads, in the same run, plus the de-duplication lookup alone
# through the cells near the point (sieve_cells_near) beside the plain ST_DWithin filter, on the
# test stack's PostgreSQL (a scratch database, dropped at the end). About a minute.
#
#   ./deploy/bench/leads/run.sh [-n 2000] [-m 50000] [-cells 2500] [-lookups 200] [-target 2]
#
# Exits 1 when the loaded import takes more than -target × the empty one.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/leads "$@"
