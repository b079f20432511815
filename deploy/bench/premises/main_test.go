package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark on a small city (no ratio target: timings of a few thousand
// rows say nothing), so that a change to the register cannot leave it broken unnoticed.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-n", "3000", "-cells", "60", "-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "median: bare") {
		t.Fatalf("no result line:\n%s", out.String())
	}
}
