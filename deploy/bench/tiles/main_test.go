package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark on a tiny city (no ratio target: timings of a few hundred
// rows say nothing), so that a change to the tiles cannot leave it broken unnoticed; it checks
// that the API answers the bare query's tile.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-cells", "40", "-premises", "2000", "-n", "2", "-target", "0", "-etag-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "z14 tile") {
		t.Fatalf("no result line:\n%s", out.String())
	}
}
