package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/leads"
)

// leadFound looks lead id up in the caller's scope.
func (s *Server) leadFound(id int64) found {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Leads.Get(ctx, tx, id)
		return err
	}
}

var errNoLeadFile = apperr.New(http.StatusBadRequest, "file_required", "the multipart body holds no file part",
	"请求中没有文件（multipart 的 file 部分）")

// leadsBody gives POST /leads/import the leads' own body limit (the largest file of any kind,
// SIEVE_LEADS_MAX_BYTES / SIEVE_TRACKS_MAX_BYTES, and room for a multipart envelope) instead of
// the upload limit: the file streams through the import, so memory does not grow with it.
func leadsBody(s *Server, key string) { s.limits[key] = s.Leads.MaxBytes() + 1<<20 }

// importLeads reads one file of leads (?kind=): a CSV as the raw body, or the first file part of
// a multipart/form-data body, streamed into the import (never held whole). Good rows become
// leads, each bad one is reported by its line; the same file again adds nothing.
func (s *Server) importLeads(c echo.Context) error {
	kind, err := queryOneOf(c, "kind", s.Leads.Kinds()...)
	if err != nil {
		return err
	}
	if kind == "" {
		return invalidParam("kind", "one of the lead kinds", "应为线索类型之一")
	}
	var body io.Reader
	name := c.QueryParam("name")
	switch ct := contentType(c); ct {
	case "multipart/form-data":
		mr, release, err := multipartReader(c.Request())
		defer release()
		if err != nil {
			return apperr.ErrBadRequest.Wrap(err)
		}
		for body == nil {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return errNoLeadFile
			}
			if err != nil {
				return uploadError(err)
			}
			if part.FileName() == "" && part.FormName() != "file" {
				continue
			}
			body = part
			if name == "" {
				name = filepath.Base(part.FileName())
			}
		}
	case "", "text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", echo.MIMEOctetStream:
		body = c.Request().Body
	default:
		return apperr.ErrUnsupportedMedia
	}
	upload, err := streamUpload(body)
	if err != nil {
		return err
	}
	rep, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (leads.ImportReport, error) {
		return s.Leads.Import(ctx, tx, kind, name, upload, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if rep.AlreadyImported {
		status = http.StatusOK
	}
	return c.JSON(status, rep)
}

// listLeads answers a page of the leads the caller may see (?kind=, ?status=, ?region=).
func (s *Server) listLeads(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := leads.Filter{After: p.After, Limit: p.Limit}
	if f.RegionID, err = queryInt64(c, "region"); err != nil {
		return err
	}
	if f.Kind, err = queryOneOf(c, "kind", s.Leads.Kinds()...); err != nil {
		return err
	}
	if f.Status, err = queryParsed(c, "status", leads.ParseStatus); err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]leads.Lead, error) {
		return s.Leads.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(l leads.Lead) int64 { return l.ID }))
}

func (s *Server) getLead(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	l, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (leads.Lead, error) { return s.Leads.Get(ctx, tx, id) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// decideLead records a lead's outcome: confirmed (a site) or cleared with a reason.
func (s *Server) decideLead(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	l, err := writeFound(s, c, s.leadFound(id), func(ctx context.Context, tx pgx.Tx, o leads.Outcome) (leads.Lead, error) {
		return s.Leads.Decide(ctx, tx, id, o, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// leadHitRates answers, per source kind, how many leads became sites (?region=).
func (s *Server) leadHitRates(c echo.Context) error {
	region, err := queryInt64(c, "region")
	if err != nil {
		return err
	}
	rates, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]leads.HitRate, error) {
		return s.Leads.HitRates(ctx, tx, region)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": rates})
}
