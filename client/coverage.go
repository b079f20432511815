package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sieve-city/sieve/internal/coverage"
)

// Coverage resources (issue 12): the server's own types.
type (
	CoverageReport = coverage.Report
	CoverageSeries = coverage.Series
	CoverageGaps   = coverage.Gaps
	GapTasks       = coverage.GapTasks
	GapTasksResult = coverage.GapTasksResult
)

// Coverage is the coverage of a region and its children for round (0: the current one).
func (c *Client) Coverage(ctx context.Context, region, round int64) (CoverageReport, error) {
	var out CoverageReport
	q := query{}.int("region", region).int("round", round)
	_, err := c.do(ctx, http.MethodGet, v1+"/coverage"+q.String(), nil, &out)
	return out, err
}

// CoverageSeries is the share verified by day of a region for round (0: the current one).
func (c *Client) CoverageSeries(ctx context.Context, region, round int64) (CoverageSeries, error) {
	var out CoverageSeries
	q := query{}.int("region", region).int("round", round)
	_, err := c.do(ctx, http.MethodGet, v1+"/coverage/series"+q.String(), nil, &out)
	return out, err
}

// CoverageGaps are the gaps of a region for round (0: the current one).
func (c *Client) CoverageGaps(ctx context.Context, region, round int64) (CoverageGaps, error) {
	var out CoverageGaps
	q := query{}.int("region", region).int("round", round)
	_, err := c.do(ctx, http.MethodGet, v1+"/coverage/gaps"+q.String(), nil, &out)
	return out, err
}

// CreateGapTasks turns the gap of a cell into tasks for its grid workers.
func (c *Client) CreateGapTasks(ctx context.Context, g GapTasks) (GapTasksResult, error) {
	var out GapTasksResult
	_, err := c.do(ctx, http.MethodPost, v1+"/coverage/gaps/tasks", g, &out)
	return out, err
}

// Tile fetches vector tile z/x/y of a layer (outside /api/v1). With etag set it is sent as
// If-None-Match. It answers the status (200, 204 empty, 304 unchanged), the tile and its ETag.
func (c *Client) Tile(ctx context.Context, layer string, z, x, y int, etag string) (int, []byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", c.base, layer, z, x, y), nil)
	if err != nil {
		return 0, nil, "", fmt.Errorf("client: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("client: tile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return resp.StatusCode, nil, "", decodeError(resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, "", fmt.Errorf("client: tile: %w", err)
	}
	return resp.StatusCode, b, resp.Header.Get("ETag"), nil
}
