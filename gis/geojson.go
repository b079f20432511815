package gis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/geojson"
)

// Feature is one GeoJSON Feature: a geometry with its properties, as read
// from an import file or written to a client.
type Feature struct {
	// Geometry is nil for a Feature whose "geometry" is null (allowed by
	// RFC 7946 for unlocated features).
	Geometry geom.T
	// Properties holds the "properties" object, nil when it was null or
	// absent. Numbers are json.Number, kept as written so that long codes
	// (12-digit village division codes, 统一社会信用代码 when sent as
	// numbers) are not rounded through float64.
	Properties map[string]any
	// ID is the optional "id" member: nil, a string or a json.Number.
	ID any
}

// FeatureError reports which feature of an input (its index in the
// "features" array, or in the top-level array) could not be read or
// written, and why.
type FeatureError struct {
	Index int   // 0-based position of the feature
	Err   error // what is wrong with it
}

// Error implements error.
func (e *FeatureError) Error() string {
	return fmt.Sprintf("gis: feature %d: %s", e.Index, strings.TrimPrefix(e.Err.Error(), "gis: "))
}

// Unwrap returns the underlying error, so that errors.Is(err,
// ErrInvalidGeometry) sees through a FeatureError.
func (e *FeatureError) Unwrap() error { return e.Err }

// ParseFeatures reads GeoJSON in any of the shapes met in practice and
// returns its features in WGS-84. See ParseFeaturesCRS for the accepted
// shapes and checks; coordinates in a declared GCJ-02 system are converted
// with ToWGS84 (CGCS2000 is taken as WGS-84).
func ParseFeatures(data []byte) ([]Feature, error) {
	features, crs, err := ParseFeaturesCRS(data)
	if err != nil {
		return nil, err
	}
	if crs == GCJ02 {
		for i := range features {
			if features[i].Geometry == nil {
				continue
			}
			g, err := ToWGS84(features[i].Geometry, crs)
			if err != nil {
				return nil, &FeatureError{Index: i, Err: err}
			}
			features[i].Geometry = g
		}
	}
	return features, nil
}

// ParseFeaturesCRS reads GeoJSON and returns its features with their
// coordinates exactly as written, together with the coordinate system the
// document declares (WGS84 when it declares none). It is for callers that
// let a request override or report the coordinate system; most callers
// want ParseFeatures, which converts to WGS-84.
//
// Accepted top-level shapes: a FeatureCollection; a bare JSON array of
// Features (common in Chinese boundary dumps); a single Feature; a bare
// geometry (returned as one Feature without properties). A leading UTF-8
// byte-order mark is ignored. The coordinate system is read from an
// optional top-level "crs" member, either a string ("crs": "gcj02", see
// ParseCRS) or the named-CRS object of the 2008 GeoJSON specification
// ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}});
// like RFC 7946 and the 2008 specification, positions are always read as
// longitude, latitude.
//
// Every geometry is checked with CheckCoordinates. A problem with one
// feature is reported as a *FeatureError carrying its index; the first
// such problem stops the parse.
func ParseFeaturesCRS(data []byte) ([]Feature, CRS, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, "", errors.New("gis: GeoJSON: empty document")
	}

	if data[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, "", jsonError(data, err)
		}
		features, err := parseFeatureList(items)
		if err != nil {
			return nil, "", err
		}
		return features, WGS84, nil
	}

	var top struct {
		Type     string             `json:"type"`
		Features *[]json.RawMessage `json:"features"`
		CRS      json.RawMessage    `json:"crs"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, "", jsonError(data, err)
	}
	crs, err := parseCRSMember(top.CRS)
	if err != nil {
		return nil, "", err
	}

	switch top.Type {
	case "FeatureCollection":
		if top.Features == nil {
			return nil, "", errors.New(`gis: GeoJSON: FeatureCollection has no "features" array`)
		}
		features, err := parseFeatureList(*top.Features)
		if err != nil {
			return nil, "", err
		}
		return features, crs, nil
	case "Feature":
		f, err := parseFeature(data)
		if err != nil {
			return nil, "", &FeatureError{Index: 0, Err: err}
		}
		return []Feature{f}, crs, nil
	case "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection":
		g, err := parseGeometry(data)
		if err != nil {
			return nil, "", &FeatureError{Index: 0, Err: err}
		}
		return []Feature{{Geometry: g}}, crs, nil
	case "":
		return nil, "", errors.New(`gis: GeoJSON: no "type" member at the top level`)
	default:
		return nil, "", fmt.Errorf("gis: GeoJSON: unsupported type %q", top.Type)
	}
}

// parseFeatureList parses the members of a "features" array.
func parseFeatureList(items []json.RawMessage) ([]Feature, error) {
	features := make([]Feature, 0, len(items))
	for i, raw := range items {
		f, err := parseFeature(raw)
		if err != nil {
			return nil, &FeatureError{Index: i, Err: err}
		}
		features = append(features, f)
	}
	return features, nil
}

// parseFeature parses one Feature object and checks its geometry.
func parseFeature(raw json.RawMessage) (Feature, error) {
	var f struct {
		Type       string          `json:"type"`
		ID         json.RawMessage `json:"id"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	}
	if !isObject(raw) {
		return Feature{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return Feature{}, err
	}
	if f.Type != "Feature" {
		return Feature{}, fmt.Errorf(`type is %q, want "Feature"`, f.Type)
	}

	var out Feature
	if !isNull(f.Geometry) {
		g, err := parseGeometry(f.Geometry)
		if err != nil {
			return Feature{}, err
		}
		out.Geometry = g
	}
	if !isNull(f.Properties) {
		if !isObject(f.Properties) {
			return Feature{}, fmt.Errorf("properties must be a JSON object or null, got %s", snippet(f.Properties))
		}
		if err := decodeNumbers(f.Properties, &out.Properties); err != nil {
			return Feature{}, fmt.Errorf("properties: %w", err)
		}
	}
	if !isNull(f.ID) {
		var id any
		if err := decodeNumbers(f.ID, &id); err != nil {
			return Feature{}, fmt.Errorf("id: %w", err)
		}
		switch id.(type) {
		case string, json.Number:
			out.ID = id
		default:
			return Feature{}, fmt.Errorf("id must be a string or a number, got %s", snippet(f.ID))
		}
	}
	return out, nil
}

// parseGeometry decodes a GeoJSON geometry object and checks it.
func parseGeometry(raw json.RawMessage) (geom.T, error) {
	// Only the members that make the geometry are read: a "crs" or "bbox"
	// member of a bare geometry is not the geometry's business here.
	var obj struct {
		Type        string           `json:"type"`
		Coordinates *json.RawMessage `json:"coordinates"`
		Geometries  *json.RawMessage `json:"geometries"`
	}
	if !isObject(raw) {
		return nil, fmt.Errorf("geometry must be a JSON object or null, got %s", snippet(raw))
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("geometry: %w", err)
	}
	gj := geojson.Geometry{Type: obj.Type, Coordinates: obj.Coordinates, Geometries: obj.Geometries}
	g, err := gj.Decode()
	if err != nil {
		return nil, fmt.Errorf("geometry: %s", strings.TrimPrefix(err.Error(), "geojson: "))
	}
	if err := CheckCoordinates(g); err != nil {
		return nil, err
	}
	return g, nil
}

// parseCRSMember reads the optional top-level "crs" member.
func parseCRSMember(raw json.RawMessage) (CRS, error) {
	if isNull(raw) {
		return WGS84, nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return ParseCRS(name)
	}
	var obj struct {
		Type       string `json:"type"`
		Properties struct {
			Name string          `json:"name"`
			Code json.RawMessage `json:"code"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf(`%w: "crs" must be a string or a named-CRS object`, ErrUnsupportedCRS)
	}
	switch strings.ToLower(obj.Type) {
	case "name":
		if obj.Properties.Name == "" {
			return "", fmt.Errorf(`%w: named "crs" without properties.name`, ErrUnsupportedCRS)
		}
		return ParseCRS(obj.Properties.Name)
	case "epsg": // {"type": "EPSG", "properties": {"code": 4326}}, from pre-2008 drafts
		return ParseCRS("EPSG:" + strings.Trim(string(obj.Properties.Code), `"`))
	default:
		return "", fmt.Errorf(`%w: "crs" of type %q (only named systems are understood)`, ErrUnsupportedCRS, obj.Type)
	}
}

// isNull reports whether a raw JSON member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// snippet returns the start of a raw JSON value for an error message.
func snippet(raw json.RawMessage) string {
	const max = 40
	s := string(bytes.TrimSpace(raw))
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// isObject reports whether raw JSON is an object.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// decodeNumbers unmarshals raw into v keeping numbers as json.Number.
func decodeNumbers(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// jsonError turns a JSON syntax error into a message with a line and
// column, which is what someone fixing a file by hand needs.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		line, col := lineColumn(data, syntax.Offset)
		return fmt.Errorf("gis: GeoJSON: line %d, column %d: %w", line, col, err)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("gis: GeoJSON: not a GeoJSON object or array of features: %w", err)
	}
	return fmt.Errorf("gis: GeoJSON: %w", err)
}

// lineColumn converts a byte offset into a 1-based line and column.
func lineColumn(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}
