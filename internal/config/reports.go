package config

import (
	"fmt"
	"time"

	"github.com/sieve-city/sieve/internal/reports"
)

// The monthly filings' and background exports' settings (SIEVE_REPORTS_*, issue 13), read into
// Config.Reports with the defaults of reports.DefaultConfig.

// reports reads the SIEVE_REPORTS_* variables: the schedule (SIEVE_REPORTS_DEADLINE_DAY, 22:
// 每月22日前, late from midnight after it in China Standard Time; SIEVE_REPORTS_REMIND_DAYS, 5:
// the reminder list from the 17th; SIEVE_REPORTS_FINAL_MONTH, 10: the final report's 10月22日前),
// the stamped sheets' bound, the export links, files and jobs, and the orphan cleanup.
func (r *reader) reports(c *reports.Config) {
	r.int("SIEVE_REPORTS_DEADLINE_DAY", &c.Schedule.DeadlineDay)
	r.int("SIEVE_REPORTS_REMIND_DAYS", &c.Schedule.RemindDays)
	final := int(c.Schedule.FinalMonth)
	r.int("SIEVE_REPORTS_FINAL_MONTH", &final)
	c.Schedule.FinalMonth = time.Month(final)
	r.bytes("SIEVE_REPORTS_SCAN_MAX_BYTES", &c.ScanMaxBytes)
	r.dur("SIEVE_REPORTS_EXPORT_LINK_TTL", &c.LinkTTL)
	r.dur("SIEVE_REPORTS_EXPORT_RETENTION", &c.ExportRetention)
	r.dur("SIEVE_REPORTS_ORPHAN_GRACE", &c.OrphanGrace)
	r.dur("SIEVE_REPORTS_CLEANUP_EVERY", &c.CleanupEvery)
	r.dur("SIEVE_REPORTS_EXPORT_TIMEOUT", &c.ExportTimeout)
}

// validateReports checks the filings' settings.
func validateReports(c reports.Config, uploadLimit int64, bad func(name, format string, a ...any)) {
	if c.Schedule.DeadlineDay < 1 || c.Schedule.DeadlineDay > 28 {
		bad("SIEVE_REPORTS_DEADLINE_DAY", "between 1 and 28 (every month has it), got %d", c.Schedule.DeadlineDay)
	}
	if c.Schedule.RemindDays < 0 || c.Schedule.RemindDays >= c.Schedule.DeadlineDay {
		bad("SIEVE_REPORTS_REMIND_DAYS", "between 0 and SIEVE_REPORTS_DEADLINE_DAY - 1, got %d", c.Schedule.RemindDays)
	}
	if c.Schedule.FinalMonth < 1 || c.Schedule.FinalMonth > 12 {
		bad("SIEVE_REPORTS_FINAL_MONTH", "between 1 and 12, got %d", c.Schedule.FinalMonth)
	}
	if c.ScanMaxBytes < 1<<20 || c.ScanMaxBytes > uploadLimit {
		bad("SIEVE_REPORTS_SCAN_MAX_BYTES", "between 1MB and SIEVE_HTTP_UPLOAD_LIMIT (%d bytes), got %d", uploadLimit, c.ScanMaxBytes)
	}
	if c.LinkTTL < time.Minute || c.LinkTTL > 7*24*time.Hour {
		bad("SIEVE_REPORTS_EXPORT_LINK_TTL", "between 1m and 168h (S3's presigning limit), got %s", c.LinkTTL)
	}
	if c.ExportRetention < c.LinkTTL {
		bad("SIEVE_REPORTS_EXPORT_RETENTION", "at least SIEVE_REPORTS_EXPORT_LINK_TTL (%s), got %s", c.LinkTTL, c.ExportRetention)
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
func reportsString(c reports.Config) string {
	return fmt.Sprintf("reports.deadline_day=%d reports.remind_days=%d reports.final_month=%d reports.scan_max_bytes=%d "+
		"reports.export_link_ttl=%s reports.export_retention=%s reports.orphan_grace=%s reports.cleanup_every=%s reports.export_timeout=%s ",
		c.Schedule.DeadlineDay, c.Schedule.RemindDays, c.Schedule.FinalMonth, c.ScanMaxBytes, c.LinkTTL, c.ExportRetention, c.OrphanGrace, c.CleanupEvery,
		c.ExportTimeout)
}
