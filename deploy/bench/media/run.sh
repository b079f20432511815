#!/usr/bin/env bash
# run.sh — photo upload benchmarks against a real `sieve serve` on the loopback (issue 5):
#   * 4 MB photos through POST /api/v1/media by 8 clients vs direct minio-go PUTs (target >= 80 %)
#   * server peak memory (VmHWM) while 32 clients upload 20 MB images (target < 512 MB)
# Each figure is printed next to its baseline measured in the same run. Bounded: a few hundred
# uploads, an 8-minute limit. Extra arguments go to the Go program (see its flags).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"
export SIEVE_STACK_NAME=test
./deploy/local/stack.sh deps
./deploy/local/stack.sh up >/dev/null
set -a
eval "$(./deploy/local/stack.sh env)"
set +a
mkdir -p bin
go build -o bin/sieve ./cmd/sieve
go build -o bin/bench-media ./deploy/bench/media
bin/bench-media -sieve bin/sieve "$@"
