package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/regions"
)

func regionFeature(r regions.Region) feature { return newFeature(r.ID, r.Geometry, r) }

// importRegions applies a boundary file (GeoJSON or a zipped shapefile) as a whole or not at
// all, and answers with the per-feature report.
func (s *Server) importRegions(c echo.Context) error {
	switch contentType(c) {
	case "", echo.MIMEApplicationJSON, mimeGeoJSON, "application/zip", "application/x-zip-compressed",
		echo.MIMEOctetStream:
	default:
		return apperr.ErrUnsupportedMedia
	}
	opt := regions.ImportOptions{CodeField: c.QueryParam("codeField"), NameField: c.QueryParam("nameField"),
		LevelField: c.QueryParam("levelField"), ParentField: c.QueryParam("parentField"), KindField: c.QueryParam("kindField")}
	var err error
	if opt.CRS, err = queryCRS(c); err != nil {
		return err
	}
	if v := c.QueryParam("level"); v != "" {
		if opt.Level, err = regions.ParseLevel(v); err != nil {
			return apperr.Invalidf("invalid_level", "区域级别无效", "%v", err)
		}
	}
	if opt.ParentID, err = queryInt64(c, "parent"); err != nil {
		return err
	}
	if opt.SliverFraction, err = queryFloat(c, "sliverFraction", 0, 0.5); err != nil {
		return err
	}
	data, err := readUpload(c)
	if err != nil {
		return err
	}
	features, err := s.Regions.ReadFeatures(c.Request().Context(), data, opt.CRS)
	if err != nil {
		return err
	}
	rep, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (regions.Report, error) {
		return s.Regions.Import(ctx, tx, features, opt)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// listRegions answers a page of regions as a GeoJSON FeatureCollection.
func (s *Server) listRegions(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := regions.Filter{After: p.After, Limit: p.Limit, Query: c.QueryParam("q"), WithGeom: c.QueryParam("geometry") != "false"}
	if f.ParentID, err = queryInt64(c, "parent"); err != nil {
		return err
	}
	if f.Within, err = queryInt64(c, "within"); err != nil {
		return err
	}
	if f.Level, err = queryParsed(c, "level", regions.ParseLevel); err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]regions.Region, error) {
		return s.Regions.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, newFeatureCollection(list, p, regionFeature))
}

// getRegion answers one region as a GeoJSON Feature with its boundary, area and counts.
func (s *Server) getRegion(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	r, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (regions.Region, error) {
		return s.Regions.Get(ctx, tx, id, c.QueryParam("geometry") != "false")
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, regionFeature(r))
}

// generateCells splits a village or township into grid cells.
func (s *Server) generateCells(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	lookup := func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Regions.Get(ctx, tx, id, false)
		return err
	}
	res, err := writeFound(s, c, lookup, func(ctx context.Context, tx pgx.Tx, spec regions.CellSpec) (regions.CellsResult, error) {
		return s.Regions.GenerateCells(ctx, tx, id, spec)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}
