package api

import (
	"fmt"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/reports"
)

// The monthly filings of the ledgers (月度报送, issue 13) and the background exports. Filings
// and exports belong to townships: a coordinator sees and files their own, the city office all
// (row-level security on report_filings / report_exports).

var errReportsOff = apperr.New(http.StatusServiceUnavailable, "reports_unavailable",
	"monthly filings are not configured on this server", "本服务器未启用月度报送")

// reports returns the filings service, or 503 when the server has none.
func (s *Server) reports() (*reports.Service, error) {
	if s.Reports == nil {
		return nil, errReportsOff
	}
	return s.Reports, nil
}

// listReports answers a page of the filings the caller may see (?township=, ?month=, ?kind=).
func (s *Server) listReports(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	f := reports.Filter{After: p.After, Limit: p.Limit}
	if f.TownshipID, err = queryInt64(c, "township"); err != nil {
		return err
	}
	if f.Month, err = queryMonth(c); err != nil {
		return err
	}
	kind, err := queryOneOf(c, "kind", string(reports.Monthly), string(reports.Final))
	if err != nil {
		return err
	}
	f.Kind = reports.Kind(kind)
	list, err := svc.List(c.Request().Context(), s.actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(x reports.Filing) int64 { return x.ID }))
}

// queryMonth reads an optional ?month=YYYY-MM ("" when absent).
func queryMonth(c echo.Context) (string, error) {
	v := c.QueryParam("month")
	if v == "" {
		return "", nil
	}
	m, err := reports.ParseMonth(v)
	if err != nil {
		return "", invalidParam("month", "YYYY-MM", "格式应为 YYYY-MM")
	}
	return m.String(), nil
}

// createReport files a township's month (or corrects the filing in force): both ledgers are
// frozen as they stand now. 201 with the filing; the same request again (Idempotency-Key, or
// the same content) 200 with the first.
func (s *Server) createReport(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var req reports.FilingRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	f, created, err := svc.File(c.Request().Context(), s.actor(c), req, key)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, v1+"/reports/"+itoa(f.ID))
	return createdOrSame(c, created, f)
}

// getReport answers one filing with its files.
func (s *Server) getReport(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, err := svc.Get(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f)
}

// reportFile serves one stored file of a filing, byte for byte as filed (its SHA-256 checked).
func (s *Server) reportFile(part string) echo.HandlerFunc {
	return func(c echo.Context) error {
		svc, err := s.reports()
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		fi, body, err := svc.Open(c.Request().Context(), s.actor(c), id, part)
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("Content-Disposition", attachment(fi.Name, fmt.Sprintf("report-%d-%s%s", id, part, path.Ext(fi.Name))))
		h.Set("Cache-Control", "private, no-store")
		h.Set("ETag", `"`+fi.SHA256+`"`)
		h.Set("X-Content-SHA256", fi.SHA256)
		return c.Blob(http.StatusOK, fi.ContentType, body)
	}
}

// attachReportScan attaches the scan or photo of the stamped sheets (JPEG, PNG or PDF as the
// raw body). The filing is looked up before the body is read.
func (s *Server) attachReportScan(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, created, err := svc.AttachScan(c.Request().Context(), s.actor(c), id, c.Request().Body)
	if err != nil {
		return err
	}
	return createdOrSame(c, created, f)
}

// reportStatus answers every township in the caller's scope as filed / late / missing / due /
// open for ?month= (default: the current month in Shanghai; for the final report this year's
// October) and ?kind=, with the reminder list.
func (s *Server) reportStatus(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	month, err := queryMonth(c)
	if err != nil {
		return err
	}
	kind, err := queryOneOf(c, "kind", string(reports.Monthly), string(reports.Final))
	if err != nil {
		return err
	}
	if kind == "" {
		kind = string(reports.Monthly)
	}
	m := reports.MonthOf(svc.Now())
	switch {
	case month != "":
		m, _ = reports.ParseMonth(month)
	case kind == string(reports.Final): // this year's final report
		m.Month = svc.Config().Schedule.FinalMonth
	}
	rep, err := svc.Status(c.Request().Context(), s.actor(c), m, reports.Kind(kind))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// createExport starts a background export (the whole city's workbook: township 0 or absent):
// 202 with its id; poll GET /exports/{id} for the link.
func (s *Server) createExport(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var req reports.ExportRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	e, _, err := svc.RequestExport(c.Request().Context(), s.actor(c), req, key)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, v1+"/exports/"+itoa(e.ID))
	return c.JSON(http.StatusAccepted, e)
}

// getExport answers an export's state and, when ready, a short-lived download link.
func (s *Server) getExport(c echo.Context) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	e, err := svc.GetExport(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.JSON(http.StatusOK, e)
}
