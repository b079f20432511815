package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/reports"
)

// TestReportsValues checks the defaults and that every SIEVE_REPORTS_* variable lands in its
// field.
func TestReportsValues(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Reports != reports.DefaultConfig() || c.Reports.Schedule.DeadlineDay != 22 || c.Reports.Schedule.FinalMonth != time.October {
		t.Fatalf("defaults %+v", c.Reports)
	}
	c, err = Load(env(map[string]string{
		"SIEVE_REPORTS_DEADLINE_DAY":     "20",
		"SIEVE_REPORTS_REMIND_DAYS":      "3",
		"SIEVE_REPORTS_FINAL_MONTH":      "11",
		"SIEVE_REPORTS_SCAN_MAX_BYTES":   "10MB",
		"SIEVE_REPORTS_EXPORT_LINK_TTL":  "5m",
		"SIEVE_REPORTS_EXPORT_RETENTION": "2h",
		"SIEVE_REPORTS_ORPHAN_GRACE":     "30m",
		"SIEVE_REPORTS_CLEANUP_EVERY":    "10m",
		"SIEVE_REPORTS_EXPORT_TIMEOUT":   "45m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := reports.Config{Schedule: reports.Schedule{DeadlineDay: 20, RemindDays: 3, FinalMonth: time.November},
		ScanMaxBytes: 10 << 20, LinkTTL: 5 * time.Minute,
		ExportRetention: 2 * time.Hour, OrphanGrace: 30 * time.Minute, CleanupEvery: 10 * time.Minute,
		ExportTimeout: 45 * time.Minute}
	if c.Reports != want {
		t.Fatalf("got %+v\nwant %+v", c.Reports, want)
	}
	if !strings.Contains(c.String(), "reports.deadline_day=20 ") {
		t.Fatalf("reports missing from %q", c.String())
	}
}

// TestReportsErrorsNameTheVariable: a value out of range stops start-up naming it.
func TestReportsErrorsNameTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"SIEVE_REPORTS_DEADLINE_DAY":     "31",
		"SIEVE_REPORTS_REMIND_DAYS":      "25",
		"SIEVE_REPORTS_FINAL_MONTH":      "13",
		"SIEVE_REPORTS_SCAN_MAX_BYTES":   "1GB",
		"SIEVE_REPORTS_EXPORT_LINK_TTL":  "200h",
		"SIEVE_REPORTS_EXPORT_RETENTION": "1m",
		"SIEVE_REPORTS_ORPHAN_GRACE":     "1m",
		"SIEVE_REPORTS_CLEANUP_EVERY":    "soon",
		"SIEVE_REPORTS_EXPORT_TIMEOUT":   "30s",
	} {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
}
