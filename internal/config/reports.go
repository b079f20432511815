package config

import (
	"fmt"
	"time"
)

// Reports configures the monthly filings of the ledgers and the background exports
// (SIEVE_REPORTS_*, issue 13; internal/reports).
type Reports struct {
	// DeadlineDay is the day of the month by which a township files (SIEVE_REPORTS_DEADLINE_DAY,
	// 22: 每月22日前); late from midnight after it, Asia/Shanghai.
	DeadlineDay int
	// RemindDays is how many days before the deadline day the reminder list begins
	// (SIEVE_REPORTS_REMIND_DAYS, 5: from the 17th).
	RemindDays int
	// FinalMonth is the month of the final report's deadline (SIEVE_REPORTS_FINAL_MONTH, 10:
	// 10月22日前).
	FinalMonth int
	// ScanMaxBytes bounds the scan of the stamped sheets (SIEVE_REPORTS_SCAN_MAX_BYTES, 20MB).
	ScanMaxBytes int64
	// ExportLinkTTL is how long an export's download link works (SIEVE_REPORTS_EXPORT_LINK_TTL).
	ExportLinkTTL time.Duration
	// ExportRetention is how long an export's file is kept (SIEVE_REPORTS_EXPORT_RETENTION).
	ExportRetention time.Duration
	// OrphanGrace is how old an object no row names must be before the cleanup removes it
	// (SIEVE_REPORTS_ORPHAN_GRACE); CleanupEvery how often the cleanup runs
	// (SIEVE_REPORTS_CLEANUP_EVERY).
	OrphanGrace  time.Duration
	CleanupEvery time.Duration
	// ExportTimeout is the timeout of one export job (SIEVE_REPORTS_EXPORT_TIMEOUT, 30m): a
	// whole city's photo appendix copies thousands of thumbnails. A crashed worker's export is
	// run again only after it (River's rescuer waits for a job's own timeout).
	ExportTimeout time.Duration
}

// defaultReports are the seed's schedule and bounded files.
func defaultReports() Reports {
	return Reports{DeadlineDay: 22, RemindDays: 5, FinalMonth: 10, ScanMaxBytes: 20 << 20, ExportLinkTTL: 15 * time.Minute,
		ExportRetention: 24 * time.Hour, OrphanGrace: time.Hour, CleanupEvery: time.Hour, ExportTimeout: 30 * time.Minute}
}

// reports reads the SIEVE_REPORTS_* variables.
func (r *reader) reports(c *Reports) {
	r.int("SIEVE_REPORTS_DEADLINE_DAY", &c.DeadlineDay)
	r.int("SIEVE_REPORTS_REMIND_DAYS", &c.RemindDays)
	r.int("SIEVE_REPORTS_FINAL_MONTH", &c.FinalMonth)
	r.bytes("SIEVE_REPORTS_SCAN_MAX_BYTES", &c.ScanMaxBytes)
	r.dur("SIEVE_REPORTS_EXPORT_LINK_TTL", &c.ExportLinkTTL)
	r.dur("SIEVE_REPORTS_EXPORT_RETENTION", &c.ExportRetention)
	r.dur("SIEVE_REPORTS_ORPHAN_GRACE", &c.OrphanGrace)
	r.dur("SIEVE_REPORTS_CLEANUP_EVERY", &c.CleanupEvery)
	r.dur("SIEVE_REPORTS_EXPORT_TIMEOUT", &c.ExportTimeout)
}

// validateReports checks the filings' settings.
func validateReports(c Reports, uploadLimit int64, bad func(name, format string, a ...any)) {
	if c.DeadlineDay < 1 || c.DeadlineDay > 28 {
		bad("SIEVE_REPORTS_DEADLINE_DAY", "between 1 and 28 (every month has it), got %d", c.DeadlineDay)
	}
	if c.RemindDays < 0 || c.RemindDays >= c.DeadlineDay {
		bad("SIEVE_REPORTS_REMIND_DAYS", "between 0 and SIEVE_REPORTS_DEADLINE_DAY - 1, got %d", c.RemindDays)
	}
	if c.FinalMonth < 1 || c.FinalMonth > 12 {
		bad("SIEVE_REPORTS_FINAL_MONTH", "between 1 and 12, got %d", c.FinalMonth)
	}
	if c.ScanMaxBytes < 1<<20 || c.ScanMaxBytes > uploadLimit {
		bad("SIEVE_REPORTS_SCAN_MAX_BYTES", "between 1MB and SIEVE_HTTP_UPLOAD_LIMIT (%d bytes), got %d", uploadLimit, c.ScanMaxBytes)
	}
	if c.ExportLinkTTL < time.Minute || c.ExportLinkTTL > 7*24*time.Hour {
		bad("SIEVE_REPORTS_EXPORT_LINK_TTL", "between 1m and 168h (S3's presigning limit), got %s", c.ExportLinkTTL)
	}
	if c.ExportRetention < c.ExportLinkTTL {
		bad("SIEVE_REPORTS_EXPORT_RETENTION", "at least SIEVE_REPORTS_EXPORT_LINK_TTL (%s), got %s", c.ExportLinkTTL, c.ExportRetention)
	}
	if c.OrphanGrace < 10*time.Minute {
		bad("SIEVE_REPORTS_ORPHAN_GRACE", "at least 10m (a filing in flight writes its files before its row), got %s", c.OrphanGrace)
	}
	if c.CleanupEvery < time.Minute {
		bad("SIEVE_REPORTS_CLEANUP_EVERY", "at least 1m, got %s", c.CleanupEvery)
	}
	if c.ExportTimeout < time.Minute || c.ExportTimeout > 24*time.Hour {
		bad("SIEVE_REPORTS_EXPORT_TIMEOUT", "between 1m and 24h, got %s", c.ExportTimeout)
	}
}

// reportsString prints the settings for the start-up log.
func reportsString(c Reports) string {
	return fmt.Sprintf("reports.deadline_day=%d reports.remind_days=%d reports.final_month=%d reports.scan_max_bytes=%d "+
		"reports.export_link_ttl=%s reports.export_retention=%s reports.orphan_grace=%s reports.cleanup_every=%s reports.export_timeout=%s ",
		c.DeadlineDay, c.RemindDays, c.FinalMonth, c.ScanMaxBytes, c.ExportLinkTTL, c.ExportRetention, c.OrphanGrace, c.CleanupEvery,
		c.ExportTimeout)
}
