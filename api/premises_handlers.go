package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/premises"
)

func premiseFeature(p premises.Premise) feature {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	g := `{"type":"Point","coordinates":[` + f(round7(p.Lon)) + `,` + f(round7(p.Lat)) + `]}`
	return feature{Type: "Feature", ID: p.ID, Geometry: json.RawMessage(g), Properties: p}
}

func round7(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 7, 64), 64)
	return r
}

// importPremises adds premises from CSV (lon/lat columns) or GeoJSON points, all or nothing.
func (s *Server) importPremises(c echo.Context) error {
	crs, err := queryCRS(c)
	if err != nil {
		return err
	}
	ct, _, _ := strings.Cut(c.Request().Header.Get(echo.HeaderContentType), ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
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
	var rep premises.ImportReport
	err = s.inScope(c, func(tx pgx.Tx) error {
		rep, err = s.Premises.Import(c.Request().Context(), tx, batch, principal(c).UserID)
		return err
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
	if v := c.QueryParam("kind"); v != "" {
		if f.Kind, err = premises.ParseKind(v); err != nil {
			return apperr.Newf(http.StatusBadRequest, "invalid_parameter", "参数无效", "%v", err)
		}
	}
	if v := c.QueryParam("bbox"); v != "" {
		parts := strings.Split(v, ",")
		var bb [4]float64
		ok := len(parts) == 4
		for i := 0; ok && i < 4; i++ {
			bb[i], err = strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
			ok = err == nil
		}
		if !ok || bb[0] > bb[2] || bb[1] > bb[3] {
			return apperr.New(http.StatusBadRequest, "invalid_parameter", "bbox must be minLon,minLat,maxLon,maxLat", "bbox 参数格式应为 最小经度,最小纬度,最大经度,最大纬度")
		}
		f.BBox = &bb
	}
	var list []premises.Premise
	err = s.readInScope(c, func(tx pgx.Tx) error {
		list, err = s.Premises.List(c.Request().Context(), tx, f)
		return err
	})
	if err != nil {
		return err
	}
	l := newList(list, p, func(x premises.Premise) int64 { return x.ID })
	fc := featureCollection{Type: "FeatureCollection", Features: make([]feature, 0, len(list)), NextCursor: l.NextCursor}
	for _, x := range list {
		fc.Features = append(fc.Features, premiseFeature(x))
	}
	return geoJSON(c, http.StatusOK, fc)
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
	var p premises.Premise
	err := s.inScope(c, func(tx pgx.Tx) error {
		var err error
		p, err = s.Premises.Create(c.Request().Context(), tx, req, src, principal(c).UserID)
		return err
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
	var p premises.Premise
	err = s.readInScope(c, func(tx pgx.Tx) error {
		p, err = s.Premises.Get(c.Request().Context(), tx, id)
		return err
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
	var p premises.Premise
	err = s.inScope(c, func(tx pgx.Tx) error {
		// Look the premise up before reading the body: out of scope is 404 whatever was sent.
		if _, err := s.Premises.Get(c.Request().Context(), tx, id); err != nil {
			return err
		}
		var patch premises.Patch
		if err := bind(c, &patch); err != nil {
			return err
		}
		p, err = s.Premises.Update(c.Request().Context(), tx, id, patch)
		return err
	})
	if err != nil {
		return err
	}
	return geoJSON(c, http.StatusOK, premiseFeature(p))
}
