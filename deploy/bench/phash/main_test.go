package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark on a few thousand hashes (no latency target: timings that
// small say nothing), so that a change to the index or the lookup cannot leave it broken
// unnoticed; the run still checks every answer against the exact comparison.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-n", "3000", "-lookups", "40", "-scans", "10", "-target", "0", "-explain"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"r=6  index:", "r=10 index:", "Execution Time"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		}
	}
}
