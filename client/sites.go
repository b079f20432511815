package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sieve-city/sieve/internal/sites"
)

// The sites resources, the server's own types.
type (
	Site             = sites.Site
	NewSite          = sites.NewSite
	SitePatch        = sites.Patch
	SiteEvent        = sites.Event
	SiteMedium       = sites.Medium
	SiteActionOption = sites.Option
	SiteAction       = sites.ActionRecord
	NewSiteAction    = sites.NewAction
	SiteActionPatch  = sites.ActionPatch
	SitePerson       = sites.Person
	NewSitePerson    = sites.NewPerson
	ExitedEnterprise = sites.Exited
	ExitedImport     = sites.ExitedImport
)

// SiteFilter narrows ListSites; zero values do not filter.
type SiteFilter struct {
	PageRequest
	RegionID, CellID int64
	Status, Class    string
}

// ListSites is a page of the suspected sites in the caller's area.
func (c *Client) ListSites(ctx context.Context, f SiteFilter) (List[Site], error) {
	var out List[Site]
	q := query{}.page(f.PageRequest).int("region", f.RegionID).int("cell", f.CellID).str("status", f.Status).str("class", f.Class)
	_, err := c.do(ctx, http.MethodGet, v1+"/sites"+q.String(), nil, &out)
	return out, err
}

// CreateSite opens a site (status suspected), placed in its cell, with the images of its place.
func (c *Client) CreateSite(ctx context.Context, n NewSite) (Site, error) {
	var out Site
	_, err := c.do(ctx, http.MethodPost, v1+"/sites", n, &out)
	return out, err
}

// GetSite is one site.
func (c *Client) GetSite(ctx context.Context, id int64) (Site, error) {
	var out Site
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d", v1, id), nil, &out)
	return out, err
}

// UpdateSite changes a site's particulars or place.
func (c *Client) UpdateSite(ctx context.Context, id int64, p SitePatch) (Site, error) {
	var out Site
	_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/sites/%d", v1, id), p, &out)
	return out, err
}

// MoveSite moves the case to status to, for a reason (409 invalid_transition outside the workflow).
func (c *Client) MoveSite(ctx context.Context, id int64, to, reason string) (Site, error) {
	var out Site
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/sites/%d/transitions", v1, id),
		map[string]string{"to": to, "reason": reason}, &out)
	return out, err
}

// SiteTransitions is the case's history, oldest first.
func (c *Client) SiteTransitions(ctx context.Context, id int64) ([]SiteEvent, error) {
	var out List[SiteEvent]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d/transitions", v1, id), nil, &out)
	return out.Items, err
}

// SiteMedia is the images linked to a site, with why.
func (c *Client) SiteMedia(ctx context.Context, id int64) ([]SiteMedium, error) {
	var out List[SiteMedium]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d/media", v1, id), nil, &out)
	return out.Items, err
}

// LinkSiteMedia links images to a site by hand (unlink: removes them) and returns its images.
func (c *Client) LinkSiteMedia(ctx context.Context, id int64, mediaIDs []int64, unlink bool) ([]SiteMedium, error) {
	var out List[SiteMedium]
	verb := "link"
	if unlink {
		verb = "unlink"
	}
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/sites/%d/media/%s", v1, id, verb), map[string]any{"mediaIds": mediaIDs}, &out)
	return out.Items, err
}

// SiteActionOptions is the disposal actions the site's classes call for.
func (c *Client) SiteActionOptions(ctx context.Context, id int64) ([]SiteActionOption, error) {
	var out List[SiteActionOption]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d/actions/options", v1, id), nil, &out)
	return out.Items, err
}

// SiteActions is the actions recorded on a site.
func (c *Client) SiteActions(ctx context.Context, id int64) ([]SiteAction, error) {
	var out List[SiteAction]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d/actions", v1, id), nil, &out)
	return out.Items, err
}

// AddSiteAction records a disposal action (403 other_department for an inspector's other department).
func (c *Client) AddSiteAction(ctx context.Context, id int64, n NewSiteAction) (SiteAction, error) {
	var out SiteAction
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/sites/%d/actions", v1, id), n, &out)
	return out, err
}

// UpdateSiteAction records an action's result, evidence, deadline or completion.
func (c *Client) UpdateSiteAction(ctx context.Context, actionID int64, p SiteActionPatch) (SiteAction, error) {
	var out SiteAction
	_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/site-actions/%d", v1, actionID), p, &out)
	return out, err
}

// OverdueActions is a page of the overdue actions of a township's sites (0: the caller's area).
func (c *Client) OverdueActions(ctx context.Context, township int64, p PageRequest) (List[SiteAction], error) {
	var out List[SiteAction]
	q := query{}.page(p).int("township", township)
	_, err := c.do(ctx, http.MethodGet, v1+"/overdue-actions"+q.String(), nil, &out)
	return out, err
}

// SitePersons is a site's responsible persons.
func (c *Client) SitePersons(ctx context.Context, id int64) ([]SitePerson, error) {
	var out List[SitePerson]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/sites/%d/persons", v1, id), nil, &out)
	return out.Items, err
}

// AddSitePerson adds a responsible person to a site.
func (c *Client) AddSitePerson(ctx context.Context, id int64, n NewSitePerson) (SitePerson, error) {
	var out SitePerson
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/sites/%d/persons", v1, id), n, &out)
	return out, err
}

// ExitedEnterprises is the register of exited enterprises (附件1).
func (c *Client) ExitedEnterprises(ctx context.Context) ([]ExitedEnterprise, error) {
	var out List[ExitedEnterprise]
	_, err := c.do(ctx, http.MethodGet, v1+"/exited-enterprises", nil, &out)
	return out.Items, err
}

// ImportExitedEnterprises adds or updates firms of the register from a CSV.
func (c *Client) ImportExitedEnterprises(ctx context.Context, csv io.Reader) (ExitedImport, error) {
	var out ExitedImport
	_, err := c.do(ctx, http.MethodPost, v1+"/exited-enterprises/import", &body{r: csv, contentType: "text/csv", length: -1}, &out)
	return out, err
}
