package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sieve-city/sieve/internal/leads"
)

// The leads resources, the server's own types.
type (
	Lead          = leads.Lead
	LeadOutcome   = leads.Outcome
	LeadHitRate   = leads.HitRate
	LeadImport    = leads.ImportReport
	LeadLineFault = leads.LineIssue
)

// LeadFilter narrows ListLeads; zero values do not filter.
type LeadFilter struct {
	PageRequest
	Kind, Status string
	RegionID     int64
}

// ImportLeads sends one CSV file of lead data of kind (market_entity, power_user, ...); name is
// the file's name for the import record. The same file again answers AlreadyImported.
func (c *Client) ImportLeads(ctx context.Context, kind, name string, file io.Reader) (LeadImport, error) {
	var out LeadImport
	q := query{}.str("kind", kind).str("name", name)
	_, err := c.do(ctx, http.MethodPost, v1+"/leads/import"+q.String(), &body{r: file, contentType: "text/csv", length: -1}, &out)
	return out, err
}

// ListLeads is a page of the leads in the caller's area.
func (c *Client) ListLeads(ctx context.Context, f LeadFilter) (List[Lead], error) {
	var out List[Lead]
	q := query{}.page(f.PageRequest).str("kind", f.Kind).str("status", f.Status).int("region", f.RegionID)
	_, err := c.do(ctx, http.MethodGet, v1+"/leads"+q.String(), nil, &out)
	return out, err
}

// GetLead is one lead and its outcome.
func (c *Client) GetLead(ctx context.Context, id int64) (Lead, error) {
	var out Lead
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/leads/%d", v1, id), nil, &out)
	return out, err
}

// DecideLead records an open lead's outcome: confirmed (a site) or cleared with a reason.
func (c *Client) DecideLead(ctx context.Context, id int64, o LeadOutcome) (Lead, error) {
	var out Lead
	_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/leads/%d", v1, id), o, &out)
	return out, err
}

// LeadHitRates are, per source kind, what became of the leads (inside region when not 0).
func (c *Client) LeadHitRates(ctx context.Context, region int64) ([]LeadHitRate, error) {
	var out struct {
		Items []LeadHitRate `json:"items"`
	}
	_, err := c.do(ctx, http.MethodGet, v1+"/leads/hit-rates"+query{}.int("region", region).String(), nil, &out)
	return out.Items, err
}
