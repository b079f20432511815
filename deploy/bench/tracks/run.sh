#!/usr/bin/env bash
# Vehicle-track leads benchmark (issue 14): 1,000,200 北斗/GPS points (300 vehicles × 3,334)
# imported with Sieve's vehicle_track source — rows checked, COPY-ed, stays found, excluded,
# clustered — against COPY-ing the same CSV file into a plain PostGIS table with a geometry, in
# the same run, on the test stack's PostgreSQL (a scratch database, dropped at the end). About
# 2 minutes.
#
#   ./deploy/bench/tracks/run.sh [-vehicles 300] [-points 3334] [-rounds 3]
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
exec go run ./deploy/bench/tracks "$@"
