package reports

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
)

// TownshipStatus is where one township stands with a month's filing.
type TownshipStatus struct {
	TownshipID int64  `json:"townshipId"`
	Name       string `json:"name"`
	Code       string `json:"code"`
	Status     Status `json:"status"`
	Label      string `json:"label"`
	// FirstFiledAt is when the month was first filed (a correction does not move it).
	FirstFiledAt *time.Time `json:"firstFiledAt"`
	// InForceID is the filing in force; Filings counts the filing and its corrections.
	InForceID *int64 `json:"inForceId"`
	Filings   int    `json:"filings"`
	// Stamped: the filing in force has the scan of its stamped sheets.
	Stamped bool `json:"stamped"`
}

// StatusReport is the city's view of one month (or the final report): every township in the
// caller's scope as filed / late / missing / due / open against the deadline, at AsOf.
type StatusReport struct {
	Month      string           `json:"month"`
	Kind       Kind             `json:"kind"`
	Deadline   time.Time        `json:"deadline"`   // the first late instant (midnight after the 22nd, chinatime.Zone)
	RemindFrom time.Time        `json:"remindFrom"` // when reminders begin (five days before the 22nd)
	AsOf       time.Time        `json:"asOf"`
	Townships  []TownshipStatus `json:"townships"`
	// Reminders are the townships that have not filed, from RemindFrom on (due, then missing).
	Reminders []TownshipStatus  `json:"reminders"`
	Counts    map[Status]int    `json:"counts"`
	Labels    map[Status]string `json:"labels"`
}

// Status reports month m's filings of kind k for every township in the caller's scope, by the
// service's clock.
func (s *Service) Status(ctx context.Context, a db.Actor, m Month, k Kind) (StatusReport, error) {
	if k == Final && m.Month != s.cfg.Schedule.FinalMonth {
		return StatusReport{}, errFinalMonth
	}
	now := s.now()
	sc := s.cfg.Schedule
	rep := StatusReport{Month: m.String(), Kind: k, Deadline: sc.Due(m), RemindFrom: sc.RemindFrom(m), AsOf: now.In(chinatime.Zone),
		Townships: []TownshipStatus{}, Reminders: []TownshipStatus{}, Counts: map[Status]int{}, Labels: map[Status]string{}}
	for _, st := range []Status{StatusFiled, StatusLate, StatusMissing, StatusDue, StatusOpen} {
		rep.Counts[st] = 0
		rep.Labels[st] = st.Label()
	}
	var rows []statusRow
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		rows, err = s.store.status(ctx, tx, m.String(), k)
		return err
	})
	if err != nil {
		return rep, err
	}
	for _, r := range rows {
		var first time.Time
		if r.firstFiled != nil {
			first = *r.firstFiled
		}
		st := sc.Classify(m, first, now)
		ts := TownshipStatus{TownshipID: r.id, Name: r.name, Code: r.code, Status: st, Label: st.Label(),
			FirstFiledAt: r.firstFiled, InForceID: r.inForce, Filings: r.filings, Stamped: r.stamped}
		rep.Townships = append(rep.Townships, ts)
		rep.Counts[st]++
		if Reminded(st) {
			rep.Reminders = append(rep.Reminders, ts)
		}
	}
	return rep, nil
}
