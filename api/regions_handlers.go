package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/regions"
)

// feature is a GeoJSON Feature (RFC 7946) as the API writes it: geometry already encoded
// (null when absent), properties the resource itself.
type feature struct {
	Type       string          `json:"type"`
	ID         int64           `json:"id"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties any             `json:"properties"`
}

// featureCollection is a page of features; nextCursor is a foreign member that GeoJSON readers
// ignore.
type featureCollection struct {
	Type       string    `json:"type"`
	Features   []feature `json:"features"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

const mimeGeoJSON = "application/geo+json"

var jsonNull = json.RawMessage("null")

func geoJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, mimeGeoJSON+"; charset=utf-8")
	c.Response().WriteHeader(status)
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func regionFeature(r regions.Region) feature {
	g := r.Geometry
	if g == nil {
		g = jsonNull
	}
	return feature{Type: "Feature", ID: r.ID, Geometry: g, Properties: r}
}

// readUpload reads a whole request body within the route's limit; an empty body is a 400.
func readUpload(c echo.Context) ([]byte, error) {
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apperr.ErrTooLarge.Wrap(err)
		}
		return nil, apperr.ErrBadRequest.Wrap(err)
	}
	if len(strings.TrimSpace(string(data[:min(len(data), 64)]))) == 0 {
		return nil, apperr.New(http.StatusBadRequest, "empty_body", "request body is empty", "请求内容为空")
	}
	return data, nil
}

// queryCRS reads ?crs= (wgs84, cgcs2000, gcj02); empty means what the input declares.
func queryCRS(c echo.Context) (gis.CRS, error) {
	v := c.QueryParam("crs")
	if v == "" {
		return "", nil
	}
	crs, err := gis.ParseCRS(v)
	if err != nil {
		return "", apperr.Invalidf("unsupported_crs", "不支持的坐标系（wgs84、cgcs2000 或 gcj02）", "%v", err)
	}
	return crs, nil
}

// importRegions applies a boundary file (GeoJSON or a zipped shapefile) as a whole or not at
// all, and answers with the per-feature report.
func (s *Server) importRegions(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	switch mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) {
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
	if v := c.QueryParam("sliverFraction"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f >= 0.5 {
			return apperr.Newf(http.StatusBadRequest, "invalid_parameter", "参数无效", "sliverFraction must be in (0, 0.5)")
		}
		opt.SliverFraction = f
	}
	data, err := readUpload(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	features, err := s.Regions.ReadFeatures(ctx, data, opt.CRS)
	if err != nil {
		return err
	}
	var rep regions.Report
	err = s.inScope(c, func(tx pgx.Tx) error {
		rep, err = s.Regions.Import(ctx, tx, features, opt)
		return err
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
	if v := c.QueryParam("level"); v != "" {
		if f.Level, err = regions.ParseLevel(v); err != nil {
			return apperr.Newf(http.StatusBadRequest, "invalid_parameter", "参数无效", "%v", err)
		}
	}
	var list []regions.Region
	err = s.readInScope(c, func(tx pgx.Tx) error {
		list, err = s.Regions.List(c.Request().Context(), tx, f)
		return err
	})
	if err != nil {
		return err
	}
	l := newList(list, p, func(r regions.Region) int64 { return r.ID })
	fc := featureCollection{Type: "FeatureCollection", Features: make([]feature, 0, len(list)), NextCursor: l.NextCursor}
	for _, r := range list {
		fc.Features = append(fc.Features, regionFeature(r))
	}
	return geoJSON(c, http.StatusOK, fc)
}

// getRegion answers one region as a GeoJSON Feature with its boundary, area and counts.
func (s *Server) getRegion(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var r regions.Region
	err = s.readInScope(c, func(tx pgx.Tx) error {
		r, err = s.Regions.Get(c.Request().Context(), tx, id, c.QueryParam("geometry") != "false")
		return err
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
	var res regions.CellsResult
	err = s.inScope(c, func(tx pgx.Tx) error {
		// The region is checked before the body (out of scope is 404 whatever was sent).
		if _, err := s.Regions.Get(c.Request().Context(), tx, id, false); err != nil {
			return err
		}
		var spec regions.CellSpec
		if err := bind(c, &spec); err != nil {
			return err
		}
		res, err = s.Regions.GenerateCells(c.Request().Context(), tx, id, spec)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}
