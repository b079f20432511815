package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/sieve-city/sieve/internal/reports"
)

// The monthly filings' resources (issue 13), the server's own types.
type (
	ReportFiling        = reports.Filing
	ReportFilingRequest = reports.FilingRequest
	ReportStatus        = reports.StatusReport
	Export              = reports.Export
	ExportRequest       = reports.ExportRequest
)

// ReportFilter narrows ListReports; zero values do not filter.
type ReportFilter struct {
	PageRequest
	TownshipID  int64
	Month, Kind string
}

// ListReports is a page of the filings in the caller's area.
func (c *Client) ListReports(ctx context.Context, f ReportFilter) (List[ReportFiling], error) {
	var out List[ReportFiling]
	q := query{}.page(f.PageRequest).int("township", f.TownshipID).str("month", f.Month).str("kind", f.Kind)
	_, err := c.do(ctx, http.MethodGet, v1+"/reports"+q.String(), nil, &out)
	return out, err
}

// jsonWithKey is a JSON body with an optional Idempotency-Key.
func jsonWithKey(v any, key string) (*body, error) {
	buf, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode: %w", err)
	}
	b := &body{r: bytes.NewReader(buf), contentType: "application/json", length: int64(len(buf))}
	if key != "" {
		b.header = map[string]string{"Idempotency-Key": key}
	}
	return b, nil
}

// FileReport files a township's month (or a correction); created is false when the same
// request had filed it already.
func (c *Client) FileReport(ctx context.Context, r ReportFilingRequest, idempotencyKey string) (f ReportFiling, created bool, err error) {
	b, err := jsonWithKey(r, idempotencyKey)
	if err != nil {
		return f, false, err
	}
	resp, err := c.do(ctx, http.MethodPost, v1+"/reports", b, &f)
	return f, err == nil && resp.StatusCode == http.StatusCreated, err
}

// GetReport is one filing.
func (c *Client) GetReport(ctx context.Context, id int64) (ReportFiling, error) {
	var out ReportFiling
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/reports/%d", v1, id), nil, &out)
	return out, err
}

// ReportFile downloads a stored file of a filing (part: illegal, exited or scan) as filed, with
// the SHA-256 the server checked it against.
func (c *Client) ReportFile(ctx context.Context, id int64, part string) (data []byte, sha256 string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s/reports/%d/%s", c.base, v1, id, part), nil)
	if err != nil {
		return nil, "", fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept-Language", c.lang)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("client: report file: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", decodeError(resp)
	}
	data, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("client: report file: %w", err)
	}
	return data, resp.Header.Get("X-Content-SHA256"), nil
}

// AttachReportScan attaches the scan or photo of the stamped sheets (JPEG, PNG or PDF).
func (c *Client) AttachReportScan(ctx context.Context, id int64, contentType string, data []byte) (ReportFiling, error) {
	var out ReportFiling
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/reports/%d/scan", v1, id),
		&body{r: bytes.NewReader(data), contentType: contentType, length: int64(len(data))}, &out)
	return out, err
}

// ReportStatus is every township of the caller's area as filed / late / missing / due / open
// for month (empty: this month) and kind (empty: monthly).
func (c *Client) ReportStatus(ctx context.Context, month, kind string) (ReportStatus, error) {
	var out ReportStatus
	_, err := c.do(ctx, http.MethodGet, v1+"/reports/status"+query{}.str("month", month).str("kind", kind).String(), nil, &out)
	return out, err
}

// CreateExport starts a background export (TownshipID 0: the whole city).
func (c *Client) CreateExport(ctx context.Context, r ExportRequest, idempotencyKey string) (Export, error) {
	var out Export
	b, err := jsonWithKey(r, idempotencyKey)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, v1+"/exports", b, &out)
	return out, err
}

// GetExport is an export's state and, when ready, its download link.
func (c *Client) GetExport(ctx context.Context, id int64) (Export, error) {
	var out Export
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/exports/%d", v1, id), nil, &out)
	return out, err
}
