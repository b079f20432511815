package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestBenchRuns runs the benchmark tiny (no target: timings that small say nothing), so that a
// change to the import or the lookups cannot leave it broken unnoticed; the run still checks
// that both lookups give the same answers.
func TestBenchRuns(t *testing.T) {
	testenv.DatabaseURL(t) // skips (or fails in CI) without the test stack
	var out bytes.Buffer
	if err := run([]string{"-n", "50", "-m", "500", "-cells", "25", "-lookups", "20", "-target", "0"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"empty:", "loaded:", "answers equal", "loaded/empty"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		}
	}
}
