package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark tiny (no ratio target: a few rows say nothing), so that a
// change to sync or the feed cannot leave it broken unnoticed.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-cells", "2", "-premises", "40", "-changes", "5", "-noise", "3", "-n", "5", "-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ratio sync/bare") {
		t.Fatalf("no result line:\n%s", out.String())
	}
}
