#!/usr/bin/env bash
# run.sh — Sieve's performance benchmarks, each next to its baseline in the same run, on the
# private test stack (loopback only, bounded in time). Figures go to the README's
# "Performance" section.
#
#   ./deploy/bench/run.sh            all benchmarks
#   ./deploy/bench/run.sh auth       scoped read vs unauthenticated read (issue 3)
#   ./deploy/bench/run.sh NAME       any benchmark named in the case below
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME=test
./deploy/local/stack.sh deps
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a

what="${1:-all}"
bench_auth() {
  echo "== authenticated, scoped read vs no auth (GET /api/v1/users/{id})"
  go test ./api -run '^$' -bench 'ScopedRead' -benchtime "${BENCHTIME:-5s}" -count "${COUNT:-1}"
}
case "$what" in
  auth) bench_auth ;;
  all)
    bench_auth
    for extra in "$ROOT"/deploy/bench/*/run.sh; do
      [ -x "$extra" ] && "$extra"
    done
    ;;
  *)
    if [ -x "$ROOT/deploy/bench/$what/run.sh" ]; then "$ROOT/deploy/bench/$what/run.sh"; else
      echo "unknown benchmark $what" >&2; exit 2; fi
    ;;
esac
