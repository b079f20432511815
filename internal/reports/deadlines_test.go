package reports

import (
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/chinatime"
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, chinatime.Zone)
	if err != nil {
		panic(err)
	}
	return t
}

// TestClassify: the statuses around the 22nd (Asia/Shanghai) and the final report's 22 October,
// at the instants where they change.
func TestClassify(t *testing.T) {
	sc := DefaultSchedule()
	nov := Month{Year: 2026, Month: time.November}
	oct := Month{Year: 2026, Month: time.October}
	never := time.Time{}
	tests := []struct {
		name        string
		m           Month
		k           Kind // the filing's kind, for the reader: both kinds have their month's deadline
		first, now  string
		want        Status
		wantReminds bool
	}{
		{"before the reminders", nov, Monthly, "", "2026-11-16 23:59:59", StatusOpen, false},
		{"the 17th: reminders begin", nov, Monthly, "", "2026-11-17 00:00:00", StatusDue, true},
		{"the 22nd, last second", nov, Monthly, "", "2026-11-22 23:59:59", StatusDue, true},
		{"the 23rd: missing", nov, Monthly, "", "2026-11-23 00:00:00", StatusMissing, true},
		{"filed on the 3rd", nov, Monthly, "2026-11-03 09:00:00", "2026-11-23 00:00:00", StatusFiled, false},
		{"filed on the 22nd, last second", nov, Monthly, "2026-11-22 23:59:59", "2026-12-01 00:00:00", StatusFiled, false},
		{"filed on the 23rd: late", nov, Monthly, "2026-11-23 00:00:00", "2026-11-23 00:00:01", StatusLate, false},
		{"final report, 17 October", oct, Final, "", "2026-10-17 08:00:00", StatusDue, true},
		{"final report filed 22 October", oct, Final, "2026-10-22 18:00:00", "2026-10-30 00:00:00", StatusFiled, false},
		{"final report missing 23 October", oct, Final, "", "2026-10-23 00:00:00", StatusMissing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := never
			if tt.first != "" {
				first = cst(tt.first)
			}
			got := sc.Classify(tt.m, first, cst(tt.now))
			if got != tt.want || Reminded(got) != tt.wantReminds {
				t.Fatalf("got %s (reminded %t), want %s (reminded %t)", got, Reminded(got), tt.want, tt.wantReminds)
			}
			if got.Label() == string(got) {
				t.Fatalf("status %s has no Chinese label", got)
			}
		})
	}
	// The deadline in UTC: midnight after the 22nd in Shanghai is 16:00 UTC on the 22nd.
	if d := sc.Due(nov).UTC(); !d.Equal(time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("due %s", d)
	}
}

func TestParseMonth(t *testing.T) {
	for _, ok := range []string{"2026-01", "2026-12", "2024-10"} {
		if m, err := ParseMonth(ok); err != nil || m.String() != ok {
			t.Errorf("%s: %v %v", ok, m, err)
		}
	}
	for _, bad := range []string{"", "2026-13", "2026-00", "2026-1", "26-01", "2026/01", "1999-01", "2026-01-01"} {
		if _, err := ParseMonth(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
