package reports

import (
	"fmt"
	"time"

	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/ledgers"
)

// Kind is what a filing is: the monthly ledgers (月度台账) or the final report (总结报告).
type Kind string

// The kinds of filing.
const (
	Monthly Kind = "monthly"
	Final   Kind = "final"
)

// ParseKind checks a kind name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Monthly, Final:
		return k, nil
	}
	return "", fmt.Errorf("monthly or final")
}

// Month is a calendar month, "YYYY-MM".
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads "YYYY-MM" by the ledgers' one rule (ledgers.ParseMonth: the same months, the
// same 400 invalid_month), so a month a ledger accepts is one a filing accepts.
func ParseMonth(s string) (Month, error) {
	start, _, err := ledgers.ParseMonth(s)
	if err != nil {
		return Month{}, err
	}
	return Month{Year: start.Year(), Month: start.Month()}, nil
}

// String is "YYYY-MM".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// MonthOf is the month t falls in, in Shanghai.
func MonthOf(t time.Time) Month {
	t = t.In(chinatime.Zone)
	return Month{Year: t.Year(), Month: t.Month()}
}

// Schedule is when filings are due: the ledgers of a month by its DeadlineDay (每月22日前),
// the final report of a year by DeadlineDay of FinalMonth (10月22日前), reminders from
// RemindDays before.
type Schedule struct {
	DeadlineDay int        // 22
	FinalMonth  time.Month // October
	RemindDays  int        // 5
}

// DefaultSchedule is the seed's: the 22nd, the final report in October, reminders from five
// days before.
func DefaultSchedule() Schedule {
	return Schedule{DeadlineDay: 22, FinalMonth: time.October, RemindDays: 5}
}

// Due is the end of the deadline day of month m's filing, of either kind: the first instant
// that is late (midnight after the DeadlineDay, chinatime.Zone). A final report's month must be
// FinalMonth, so its deadline is that month's.
func (s Schedule) Due(m Month) time.Time {
	return time.Date(m.Year, m.Month, s.DeadlineDay+1, 0, 0, 0, 0, chinatime.Zone)
}

// RemindFrom is when reminders of month m's filing begin: RemindDays before the deadline day
// (the 17th for the 22nd).
func (s Schedule) RemindFrom(m Month) time.Time {
	return time.Date(m.Year, m.Month, s.DeadlineDay-s.RemindDays, 0, 0, 0, 0, chinatime.Zone)
}

// Status is where a township stands with one month's filing.
type Status string

// The statuses, with their labels for the map and the city's table (zh-CN).
const (
	StatusFiled   Status = "filed"   // 按时报送: first filed by the deadline
	StatusLate    Status = "late"    // 逾期报送: first filed after it
	StatusMissing Status = "missing" // 逾期未报: the deadline passed without a filing
	StatusDue     Status = "due"     // 待报送（临近截止）: within the reminder days, not filed
	StatusOpen    Status = "open"    // 未到报送期: not filed, the reminders have not begun
)

// Label is the status's Chinese label.
func (s Status) Label() string {
	switch s {
	case StatusFiled:
		return "按时报送"
	case StatusLate:
		return "逾期报送"
	case StatusMissing:
		return "逾期未报"
	case StatusDue:
		return "待报送（临近截止）"
	case StatusOpen:
		return "未到报送期"
	}
	return string(s)
}

// Classify tells the status of month m's filing (of either kind: the final report's deadline
// is its month's) at now, given when it was first filed (zero: never). A correction does not
// move the first filing's time.
func (s Schedule) Classify(m Month, firstFiled, now time.Time) Status {
	due := s.Due(m)
	switch {
	case !firstFiled.IsZero() && firstFiled.Before(due):
		return StatusFiled
	case !firstFiled.IsZero():
		return StatusLate
	case !now.Before(due):
		return StatusMissing
	case !now.Before(s.RemindFrom(m)):
		return StatusDue
	}
	return StatusOpen
}

// Reminded reports whether a township of status st belongs on the reminder list: it has not
// filed and the reminders have begun (due), or the deadline passed (missing).
func Reminded(st Status) bool { return st == StatusDue || st == StatusMissing }
