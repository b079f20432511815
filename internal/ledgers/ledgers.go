// Package ledgers makes the campaign's paper forms from the data (issue 13): 附件2 the
// illegal small-chemical ledger (非法违法"小化工"清单台账), 附件3 the exited-enterprise checks
// (已退出化工企业排查情况) and 附件1 the exited-enterprise list (已退出化工企业名单), as XLSX laid
// out like the seed's forms or as CSV (UTF-8 with a BOM, the same columns).
//
// Render is the one entry point; the monthly filings (internal/reports) call it to freeze a
// snapshot, the ledger routes call it to answer a download.
package ledgers

import (
	"context"
	"errors"
	"time"

	"github.com/sieve-city/sieve/internal/db"
)

// Kind is which form a ledger is.
type Kind string

// The forms.
const (
	Illegal    Kind = "illegal"     // 附件2
	Exited     Kind = "exited"      // 附件3
	ExitedList Kind = "exited_list" // 附件1
)

// Request asks for one ledger.
type Request struct {
	Kind       Kind
	TownshipID int64     // 0: the whole city (one workbook, a sheet per township + summary)
	Month      string    // "YYYY-MM"
	Format     string    // "xlsx" | "csv"
	FiledOn    time.Time // the 填报日期 printed on the form; zero: today in Asia/Shanghai
}

// File is a rendered ledger.
type File struct {
	Name        string // e.g. "附件2_神垕镇_2026-11.xlsx"
	ContentType string
	Body        []byte
}

// Service renders ledgers. A Service made by New is not bound to a transaction; In returns a
// copy bound to the caller's scoped transaction (db.ReadInScope / db.InScope, or db.AsSystem in
// a job), whose row-level security decides what the ledger shows.
type Service struct {
	q   db.Querier
	now func() time.Time
}

// New returns the ledgers service (now is the clock for the default 填报日期: time.Now outside
// tests).
func New(now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{now: now}
}

// In returns the service bound to q, the caller's scoped transaction or connection.
func (s *Service) In(q db.Querier) *Service {
	c := *s
	c.q = q
	return &c
}

var errUnbound = errors.New("ledgers: Render on a service not bound to a transaction (use In)")

// Render makes one ledger under the caller's scope (the scoped transaction/conn pattern the
// other stores use); a township outside the scope is apperr not-found.
func (s *Service) Render(ctx context.Context, req Request) (File, error) {
	if s.q == nil {
		return File{}, errUnbound
	}
	return s.render(ctx, req)
}

// Home returns the township a caller's ledger is of when the request names none: 0 (the whole
// city) for the city office, else the one township the caller's area holds whole (a township
// coordinator's). A caller whose area holds no township whole (a village's users) gets not
// found.
func (s *Service) Home(ctx context.Context) (int64, error) {
	if s.q == nil {
		return 0, errUnbound
	}
	return home(ctx, s.q)
}

// ThisMonth is the month "YYYY-MM" of today in China Standard Time: the default of a request.
func (s *Service) ThisMonth() string { return Month(s.now()) }
