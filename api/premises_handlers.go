package api

import (
	"bytes"
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/premises"
)

func premiseFeature(p premises.Premise) feature { return newFeature(p.ID, p.Geometry, p) }

// importPremises adds premises from CSV (lon/lat columns) or GeoJSON points, all or nothing.
func (s *Server) importPremises(c echo.Context) error {
	crs, err := queryCRS(c)
	if err != nil {
		return err
	}
	ct := contentType(c)
	switch ct {
	case "", "text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", echo.MIMEApplicationJSON, mimeGeoJSON, echo.MIMEOctetStream:
	default:
		return apperr.ErrUnsupportedMedia
	}
	data, err := readUpload(c)
	if err != nil {
		return err
	}
	var batch *premises.Batch
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if ct == echo.MIMEApplicationJSON || ct == mimeGeoJSON || (len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')) {
		batch, err = premises.ParseGeoJSON(data, crs)
	} else {
		batch, err = premises.ParseCSV(data, crs)
	}
	if err != nil {
		return err
	}
	rep, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (premises.ImportReport, error) {
		return s.Premises.Import(ctx, tx, batch, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, rep)
}

// listPremises answers a page of premises as a GeoJSON FeatureCollection of points.
func (s *Server) listPremises(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := premises.Filter{After: p.After, Limit: p.Limit, Tag: c.QueryParam("tag"), Query: c.QueryParam("q")}
	if f.RegionID, err = queryInt64(c, "region"); err != nil {
		return err
	}
	if f.CellID, err = queryInt64(c, "cell"); err != nil {
		return err
	}
	if f.Kind, err = queryParsed(c, "kind", premises.ParseKind); err != nil {
		return err
	}
	if f.BBox, err = queryBBox(c, "bbox"); err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]premises.Premise, error) {
		return s.Premises.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, newFeatureCollection(list, p, premiseFeature))
}

// createPremise adds one premise; one added by a grid worker is marked as found in the field.
func (s *Server) createPremise(c echo.Context) error {
	var req premises.NewPremise
	if err := bind(c, &req); err != nil {
		return err
	}
	src := premises.SourceRegister
	if principal(c).Role == accounts.GridWorker {
		src = premises.SourceField
	}
	p, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (premises.Premise, error) {
		return s.Premises.Create(ctx, tx, req, src, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusCreated, premiseFeature(p))
}

func (s *Server) getPremise(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (premises.Premise, error) {
		return s.Premises.Get(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, premiseFeature(p))
}

func (s *Server) updatePremise(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := writeFound(s, c, s.premiseFound(id), func(ctx context.Context, tx pgx.Tx, patch premises.Patch) (premises.Premise, error) {
		return s.Premises.Update(ctx, tx, id, patch)
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, premiseFeature(p))
}

// premiseFound looks premise id up in the caller's scope.
func (s *Server) premiseFound(id int64) found {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Premises.Get(ctx, tx, id)
		return err
	}
}
