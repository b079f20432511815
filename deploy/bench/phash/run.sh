#!/usr/bin/env bash
# Photo-reuse lookup benchmark (issue 10): SimilarByPHash (multi-index hashing on 16-bit chunks of
# the pHash, migration 0018) against the bare bit_count scan of media, at r = 6 and r = 10, among
# 1,000,000 stored hashes, in the same run, on the test stack's PostgreSQL (a scratch database,
# dropped at the end). About 3 minutes, most of it loading.
#
#   ./deploy/bench/phash/run.sh [-n 1000000] [-lookups 2000] [-scans 50] [-explain]
#
# Prints p50/p99 of both; exits 1 when the index's p99 at r = 10 is above 10 ms (-target).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go run ./deploy/bench/phash "$@"
