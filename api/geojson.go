package api

import (
	"encoding/json"

	"github.com/labstack/echo/v4"
)

// This file is the API's one GeoJSON writer (RFC 7946). Geometry comes from PostGIS already
// encoded (gis.AsGeoJSON in every store's SELECT); handlers wrap a resource in a feature and a
// page of them in a featureCollection, and write either with geoJSON.

const mimeGeoJSON = "application/geo+json"

// feature is a GeoJSON Feature as the API writes it: the geometry as PostGIS wrote it (null
// when absent), the resource itself as properties.
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

var jsonNull = json.RawMessage("null")

// newFeature wraps one resource with its id and encoded geometry.
func newFeature(id int64, geometry json.RawMessage, properties any) feature {
	if len(geometry) == 0 {
		geometry = jsonNull
	}
	return feature{Type: "Feature", ID: id, Geometry: geometry, Properties: properties}
}

// newFeatureCollection is a page of items as features; when the page is full, nextCursor points
// after the last item (as newList does for JSON lists).
func newFeatureCollection[T any](items []T, p Page, toFeature func(T) feature) featureCollection {
	fc := featureCollection{Type: "FeatureCollection", Features: make([]feature, 0, len(items))}
	for _, x := range items {
		fc.Features = append(fc.Features, toFeature(x))
	}
	if len(fc.Features) == p.Limit && p.Limit > 0 {
		fc.NextCursor = cursorAfter(fc.Features[len(fc.Features)-1].ID)
	}
	return fc
}

// geoJSON writes a feature or a feature collection as application/geo+json.
func geoJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, mimeGeoJSON+"; charset=utf-8")
	c.Response().WriteHeader(status)
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
