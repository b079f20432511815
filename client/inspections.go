package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/sieve-city/sieve/internal/inspections"
)

// The inspection resources are the server's own types (see types.go).
type (
	Round             = inspections.Round
	NewRound          = inspections.NewRound
	InspectionRequest = inspections.Request
	Inspection        = inspections.Inspection
	Position          = inspections.Position
	NewFieldPremise   = inspections.NewPremise
	WorkerStats       = inspections.WorkerStats
	RecheckRequest    = inspections.RecheckRequest
	RecheckReport     = inspections.RecheckReport
	RecheckStats      = inspections.RecheckStats
)

// InspectionFilter narrows ListInspections; zero values do not filter.
type InspectionFilter struct {
	PageRequest
	PremiseID, CellID, RegionID, InspectorID, RoundID int64
	Outcome, Evidence                                 string
	From, To                                          time.Time
}

// Rounds.

// ListRounds is a page of the rounds the caller sees, the latest first.
func (c *Client) ListRounds(ctx context.Context, p PageRequest) (List[Round], error) {
	var out List[Round]
	_, err := c.do(ctx, http.MethodGet, v1+"/rounds"+query{}.page(p).String(), nil, &out)
	return out, err
}

// CreateRound opens a round (city-wide when RegionID is nil).
func (c *Client) CreateRound(ctx context.Context, n NewRound) (Round, error) {
	var out Round
	_, err := c.do(ctx, http.MethodPost, v1+"/rounds", n, &out)
	return out, err
}

// Inspections.

// RecordInspection sends a visit; created is false when the server already had it (the same
// id and body: a retry after a lost answer). Another body with the same id is a 409
// inspection_conflict *Error.
func (c *Client) RecordInspection(ctx context.Context, r InspectionRequest) (in Inspection, created bool, err error) {
	resp, err := c.do(ctx, http.MethodPost, v1+"/inspections", r, &in)
	if err != nil {
		return in, false, err
	}
	return in, resp.StatusCode == http.StatusCreated, nil
}

// GetInspection is one inspection with its evidence verdict.
func (c *Client) GetInspection(ctx context.Context, id string) (Inspection, error) {
	var out Inspection
	_, err := c.do(ctx, http.MethodGet, v1+"/inspections/"+url.PathEscape(id), nil, &out)
	return out, err
}

// ListInspections is a page of the inspections the caller sees.
func (c *Client) ListInspections(ctx context.Context, f InspectionFilter) (List[Inspection], error) {
	var out List[Inspection]
	q := query{}.page(f.PageRequest).int("premise", f.PremiseID).int("cell", f.CellID).int("region", f.RegionID).
		int("inspector", f.InspectorID).int("round", f.RoundID).str("outcome", f.Outcome).str("evidence", f.Evidence)
	if !f.From.IsZero() {
		q = q.str("from", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q = q.str("to", f.To.Format(time.RFC3339))
	}
	_, err := c.do(ctx, http.MethodGet, v1+"/inspections"+q.String(), nil, &out)
	return out, err
}

// ReviewInspection overrules the flags of a flagged inspection with a reason (coordinators).
func (c *Client) ReviewInspection(ctx context.Context, id, reason string) (Inspection, error) {
	var out Inspection
	_, err := c.do(ctx, http.MethodPost, v1+"/inspections/"+url.PathEscape(id)+"/review", map[string]string{"reason": reason}, &out)
	return out, err
}

// InspectionStats are per-worker counts of verdicts, flags and overrules.
func (c *Client) InspectionStats(ctx context.Context, regionID, roundID int64) (List[WorkerStats], error) {
	var out List[WorkerStats]
	_, err := c.do(ctx, http.MethodGet, v1+"/inspections/stats"+query{}.int("region", regionID).int("round", roundID).String(), nil, &out)
	return out, err
}

// Re-checks.

// CreateRechecks draws a re-check sample and hands it out as tasks.
func (c *Client) CreateRechecks(ctx context.Context, r RecheckRequest) (RecheckReport, error) {
	var out RecheckReport
	_, err := c.do(ctx, http.MethodPost, v1+"/rechecks", r, &out)
	return out, err
}

// RecheckSummary is the per-worker disagreement of re-checks.
func (c *Client) RecheckSummary(ctx context.Context, regionID, roundID int64) (List[RecheckStats], error) {
	var out List[RecheckStats]
	_, err := c.do(ctx, http.MethodGet, v1+"/rechecks/summary"+query{}.int("region", regionID).int("round", roundID).String(), nil, &out)
	return out, err
}
