#!/usr/bin/env bash
# Evidence-check benchmark (issue 10): the evidence check of an inspection with 3 photos on the
# demo city (every demo inspection given 3 processed photos) against the bare SQL that reads
# the same rows, medians in the same run, on the test stack (a fresh database). Target: the
# check ≤ 20 ms median. About 2-4 minutes (loading the demo city takes most of it).
#
#   ./deploy/bench/inspections/run.sh            BENCH_PREMISES=60000 (the demo's default)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go test ./cmd/sieve -run '^$' -bench '^BenchmarkEvidenceCheck$' -benchtime 1x -count 1 -timeout 20m -v
