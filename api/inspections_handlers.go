package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/evidence"
	"github.com/sieve-city/sieve/internal/inspections"
)

// errNoInspections answers the inspection routes of a server built without the domain.
var errNoInspections = apperr.New(http.StatusServiceUnavailable, "inspections_unavailable",
	"inspections are not served here", "本服务未提供排查记录")

func (s *Server) inspections() (*inspections.Service, error) {
	if s.Inspections == nil {
		return nil, errNoInspections
	}
	return s.Inspections, nil
}

// listRounds answers the rounds the caller sees, the latest first.
func (s *Server) listRounds(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]inspections.Round, error) {
		return inspections.Store{}.Rounds(ctx, tx, p.After, p.Limit)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(r inspections.Round) int64 { return r.ID }))
}

// createRound opens a round: city-wide (the city office) or one township's.
func (s *Server) createRound(c echo.Context) error {
	var req inspections.NewRound
	if err := bind(c, &req); err != nil {
		return err
	}
	r, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (inspections.Round, error) {
		return inspections.Store{}.CreateRound(ctx, tx, req, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

// createInspection records a visit sent by a phone, idempotent by the phone's id: 201 when
// new, 200 with the stored record when the same body comes again, 409 with another body.
func (s *Server) createInspection(c echo.Context) error {
	svc, err := s.inspections()
	if err != nil {
		return err
	}
	var req inspections.Request
	if err := bind(c, &req); err != nil {
		return err
	}
	type result struct {
		in      inspections.Inspection
		created bool
	}
	record := func(ctx context.Context, tx pgx.Tx) (result, error) {
		in, created, err := svc.Record(ctx, tx, principal(c).UserID, req)
		if err != nil {
			return result{}, err
		}
		in, err = svc.Store().Get(ctx, tx, in.ID)
		return result{in, created}, err
	}
	res, err := write(s, c, record)
	if errors.Is(err, inspections.ErrRace) {
		// A concurrent request with the same id committed first: this one is its replay.
		res, err = write(s, c, record)
	}
	if errors.Is(err, inspections.ErrRace) {
		err = inspections.ErrConflict
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.created {
		status = http.StatusCreated
	}
	return c.JSON(status, res.in)
}

// listInspections answers a page of the inspections the caller sees, filtered.
func (s *Server) listInspections(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := inspections.Filter{After: p.After, Limit: p.Limit}
	for name, dst := range map[string]*int64{"premise": &f.PremiseID, "cell": &f.CellID, "region": &f.RegionID,
		"inspector": &f.InspectorID, "round": &f.RoundID} {
		if *dst, err = queryInt64(c, name); err != nil {
			return err
		}
	}
	if f.Outcome, err = queryOneOf(c, "outcome", inspections.Clear, inspections.Suspected, inspections.Closed,
		inspections.Refused, inspections.NotFound); err != nil {
		return err
	}
	if f.Evidence, err = queryOneOf(c, "evidence", string(evidence.Pending), string(evidence.Verified),
		string(evidence.Flagged), string(evidence.Rejected)); err != nil {
		return err
	}
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		t, err := queryTime(c, name)
		if err != nil {
			return err
		}
		if !t.IsZero() {
			*dst = &t
		}
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]inspections.Inspection, error) {
		return inspections.Store{}.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(in inspections.Inspection) int64 { return in.Seq }))
}

// getInspection answers one inspection with its evidence verdict.
func (s *Server) getInspection(c echo.Context) error {
	in, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (inspections.Inspection, error) {
		return inspections.Store{}.Get(ctx, tx, c.Param("id"))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, in)
}

type reviewRequest struct {
	Reason string `json:"reason"`
}

// reviewInspection is a coordinator's overrule of a flagged verdict (audited, flags kept).
func (s *Server) reviewInspection(c echo.Context) error {
	svc, err := s.inspections()
	if err != nil {
		return err
	}
	id := c.Param("id")
	lookup := func(ctx context.Context, tx pgx.Tx) error {
		_, err := svc.Store().Get(ctx, tx, id)
		return err
	}
	in, err := writeFound(s, c, lookup, func(ctx context.Context, tx pgx.Tx, body reviewRequest) (inspections.Inspection, error) {
		return svc.Review(ctx, tx, principal(c).UserID, id, body.Reason)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, in)
}

// inspectionStats answers per-worker counts of verdicts, flags and overrules.
func (s *Server) inspectionStats(c echo.Context) error {
	region, err := queryInt64(c, "region")
	if err != nil {
		return err
	}
	round, err := queryInt64(c, "round")
	if err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]inspections.WorkerStats, error) {
		return inspections.Store{}.Stats(ctx, tx, region, round)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, List[inspections.WorkerStats]{Items: list})
}

// createRechecks draws a random sample of a round's visits in a region and hands each to
// another worker as a re-check task.
func (s *Server) createRechecks(c echo.Context) error {
	svc, err := s.inspections()
	if err != nil {
		return err
	}
	var req inspections.RecheckRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	rep, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (inspections.RecheckReport, error) {
		return svc.Rechecks(ctx, tx, principal(c).UserID, req)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, rep)
}

// recheckSummary answers per-worker re-check disagreement rates.
func (s *Server) recheckSummary(c echo.Context) error {
	region, err := queryInt64(c, "region")
	if err != nil {
		return err
	}
	round, err := queryInt64(c, "round")
	if err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]inspections.RecheckStats, error) {
		return inspections.Store{}.RecheckSummary(ctx, tx, region, round)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, List[inspections.RecheckStats]{Items: list})
}
