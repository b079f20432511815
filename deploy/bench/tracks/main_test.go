package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark on a few vehicles (no ratio target: timings of a few
// thousand rows say nothing), so that a change to the tracks source cannot leave it broken
// unnoticed; the run itself checks that every point was staged and places were found.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-vehicles", "20", "-points", "600", "-rounds", "1", "-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "median: bare") {
		t.Fatalf("no result line:\n%s", out.String())
	}
}
