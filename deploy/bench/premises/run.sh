#!/usr/bin/env bash
# Premises import benchmark (issue 4): 400,000 premises placed in about 5,000 grid cells with
# Sieve's import, against a bare COPY + UPDATE ... FROM spatial join, in the same run, on the
# test stack's PostgreSQL (a scratch database, dropped at the end). About 2 minutes.
#
#   ./deploy/bench/premises/run.sh [-n 400000] [-cells 5000] [-rounds 1]
#
# Prints both timings and their ratio; exits 1 when Sieve takes more than twice the bare time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/premises "$@"
