#!/usr/bin/env bash
# Ledger benchmark (issue 13): the whole city's 附件2 for 2,000 cases over 26 townships (Render
# as the city office: the scoped read of the cases and their actions, the summary and township
# sheets with styles, merges, widths, heights and print settings) against excelize writing the
# same cells without any styling, alternating rounds in one run, medians and their ratio.
# Target: ratio ≤ 2. About a minute on the test stack (a fresh database).
#
#   ./deploy/bench/ledgers/run.sh                  2,000 cases, 7 rounds of each
#   ./deploy/bench/ledgers/run.sh -ledger-cases 5000 -ledger-rounds 5
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME="${SIEVE_STACK_NAME:-test}"
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
exec go test ./internal/ledgers -run '^$' -bench '^BenchmarkCityIllegal$' -benchtime 1x -count 1 -timeout 10m -v -args "$@"
