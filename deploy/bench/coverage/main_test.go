package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark on a tiny city (no ratio target: timings of a few hundred
// rows say nothing), so that a change to coverage cannot leave it broken unnoticed; it checks
// that the API and the naive aggregate agree.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-cells", "40", "-premises", "2000", "-n", "2", "-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "median of 2") {
		t.Fatalf("no result line:\n%s", out.String())
	}
}
