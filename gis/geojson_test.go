package gis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/twpayne/go-geom"
)

func TestParseFeaturesShapes(t *testing.T) {
	const ring = `[[113.47,34.15],[113.48,34.15],[113.48,34.16],[113.47,34.15]]`
	tests := []struct {
		name      string
		in        string
		wantCount int
		wantCRS   CRS
		wantType  string // type of the first geometry
	}{
		{
			"feature collection",
			`{"type":"FeatureCollection","features":[
				{"type":"Feature","id":1,"properties":{"name":"顺店镇"},"geometry":{"type":"Polygon","coordinates":[` + ring + `]}},
				{"type":"Feature","properties":null,"geometry":{"type":"Point","coordinates":[113.5,34.2]}}]}`,
			2, WGS84, "Polygon",
		},
		{
			"bare array",
			`[{"type":"Feature","properties":{},"geometry":{"type":"MultiPolygon","coordinates":[[` + ring + `]]}},
			  {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[` + ring + `]}}]`,
			2, WGS84, "MultiPolygon",
		},
		{
			"single feature",
			`{"type":"Feature","properties":{"a":1},"geometry":{"type":"LineString","coordinates":[[113,34],[114,35]]}}`,
			1, WGS84, "LineString",
		},
		{"bare geometry", `{"type":"Polygon","coordinates":[` + ring + `]}`, 1, WGS84, "Polygon"},
		{"bare geometry collection", `{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[113,34]}]}`, 1, WGS84, "GeometryCollection"},
		{"byte order mark", "\xef\xbb\xbf" + `{"type":"Point","coordinates":[113,34]}`, 1, WGS84, "Point"},
		{"empty collection", `{"type":"FeatureCollection","features":[]}`, 0, WGS84, ""},
		{"empty array", `[]`, 0, WGS84, ""},
		{"crs string", `{"type":"FeatureCollection","crs":"gcj02","features":[]}`, 0, GCJ02, ""},
		{"crs string upper case", `{"type":"Point","crs":"GCJ-02","coordinates":[113,34]}`, 1, GCJ02, "Point"},
		{
			"named crs cgcs2000",
			`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4490"}},"features":[]}`,
			0, CGCS2000, "",
		},
		{
			"named crs crs84",
			`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}},"features":[]}`,
			0, WGS84, "",
		},
		{
			"old epsg crs",
			`{"type":"Feature","crs":{"type":"EPSG","properties":{"code":4326}},"properties":{},"geometry":null}`,
			1, WGS84, "",
		},
		{"null crs", `{"type":"FeatureCollection","crs":null,"features":[]}`, 0, WGS84, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			features, crs, err := ParseFeaturesCRS([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(features) != tt.wantCount {
				t.Fatalf("got %d features, want %d", len(features), tt.wantCount)
			}
			if crs != tt.wantCRS {
				t.Errorf("CRS = %q, want %q", crs, tt.wantCRS)
			}
			if tt.wantType != "" && typeName(features[0].Geometry) != tt.wantType {
				t.Errorf("first geometry is %s, want %s", typeName(features[0].Geometry), tt.wantType)
			}
		})
	}
}

func TestParseFeaturesContent(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[
		{"type":"Feature","id":411081100201,"properties":{"name":"顺店镇","code":411081100201,"area":12.5,"tags":["a"]},
		 "geometry":{"type":"Point","coordinates":[113.47,34.15,120.5]}},
		{"type":"Feature","id":"v-7","geometry":null,"properties":null}]}`
	features, err := ParseFeatures([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	f := features[0]
	if f.ID != json.Number("411081100201") {
		t.Errorf("ID = %#v, want json.Number(411081100201)", f.ID)
	}
	if f.Properties["name"] != "顺店镇" {
		t.Errorf("name = %#v", f.Properties["name"])
	}
	if f.Properties["code"] != json.Number("411081100201") {
		t.Errorf("code = %#v, want the number kept as written", f.Properties["code"])
	}
	if f.Properties["area"] != json.Number("12.5") {
		t.Errorf("area = %#v", f.Properties["area"])
	}
	if got := f.Geometry.FlatCoords(); f.Geometry.Layout() != geom.XYZ || !equalFloats(got, []float64{113.47, 34.15, 120.5}) {
		t.Errorf("geometry = %v %v, want XYZ (113.47 34.15 120.5)", f.Geometry.Layout(), got)
	}

	g := features[1]
	if g.ID != "v-7" || g.Geometry != nil || g.Properties != nil {
		t.Errorf("second feature = %#v, want ID v-7, no geometry, no properties", g)
	}
}

func TestParseFeaturesConvertsGCJ02(t *testing.T) {
	in := `{"type":"FeatureCollection","crs":"gcj02","features":[
		{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[113.47,34.15]}},
		{"type":"Feature","properties":{},"geometry":null}]}`

	raw, crs, err := ParseFeaturesCRS([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if crs != GCJ02 || !equalFloats(raw[0].Geometry.FlatCoords(), []float64{113.47, 34.15}) {
		t.Fatalf("ParseFeaturesCRS = %q %v, want gcj02 and the coordinates as written", crs, raw[0].Geometry.FlatCoords())
	}

	features, err := ParseFeatures([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	wLon, wLat := GCJ02ToWGS84(113.47, 34.15)
	if got := features[0].Geometry.FlatCoords(); !equalFloats(got, []float64{wLon, wLat}) {
		t.Errorf("ParseFeatures coordinates = %v, want WGS-84 (%v %v)", got, wLon, wLat)
	}
	if features[1].Geometry != nil {
		t.Errorf("null geometry became %v", features[1].Geometry)
	}

	// CGCS2000 is taken as WGS-84: coordinates are unchanged.
	cgcs := `{"type":"Point","crs":{"type":"name","properties":{"name":"EPSG:4490"}},"coordinates":[113.47,34.15]}`
	features, err = ParseFeatures([]byte(cgcs))
	if err != nil {
		t.Fatal(err)
	}
	if got := features[0].Geometry.FlatCoords(); !equalFloats(got, []float64{113.47, 34.15}) {
		t.Errorf("CGCS2000 coordinates changed to %v", got)
	}
}

func TestParseFeaturesErrors(t *testing.T) {
	const ring = `[[113.47,34.15],[113.48,34.15],[113.48,34.16],[113.47,34.15]]`
	good := `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[` + ring + `]}}`
	tests := []struct {
		name      string
		in        string
		wantIndex int // -1: not a FeatureError
		wantIs    error
		wantMsg   string
	}{
		{"empty", "  ", -1, nil, "gis: GeoJSON: empty document"},
		{"syntax error with position", "{\"type\":\"FeatureCollection\",\n\"features\":[,]}", -1, nil, "line 2, column 13"},
		{"not an object", `"hello"`, -1, nil, "not a GeoJSON object"},
		{"no type", `{"features":[]}`, -1, nil, `no "type" member`},
		{"unknown type", `{"type":"Topology"}`, -1, nil, `unsupported type "Topology"`},
		{"collection without features", `{"type":"FeatureCollection"}`, -1, nil, `no "features" array`},
		{"projected crs", `{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"features":[]}`, -1, ErrUnsupportedCRS, "EPSG:3857"},
		{"linked crs", `{"type":"FeatureCollection","crs":{"type":"link","properties":{"href":"x"}},"features":[]}`, -1, ErrUnsupportedCRS, `"link"`},
		{"unclosed ring in third feature",
			`{"type":"FeatureCollection","features":[` + good + `,` + good + `,
			{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[113,34],[114,34],[114,35],[113,35]]]}}]}`,
			2, ErrInvalidGeometry, "gis: feature 2: invalid geometry: ring 0: ring is not closed"},
		{"swapped coordinates", `[` + good + `,{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[34.15,113.47]}}]`,
			1, ErrInvalidGeometry, "gis: feature 1: invalid geometry: latitude 113.47 is outside [-90, 90]"},
		{"wrong feature type", `[` + good + `,{"type":"Feture","properties":{},"geometry":null}]`, 1, nil, `gis: feature 1: type is "Feture", want "Feature"`},
		{"array member not an object", `[` + good + `,42]`, 1, nil, "gis: feature 1: not a JSON object"},
		{"bad id", `[{"type":"Feature","id":{"a":1},"properties":{},"geometry":null}]`, 0, nil, "id must be a string or a number"},
		{"bad properties", `[{"type":"Feature","properties":[1,2],"geometry":null}]`, 0, nil, "properties must be a JSON object or null"},
		{"unknown geometry type", `[{"type":"Feature","properties":{},"geometry":{"type":"Circle","coordinates":[1,2]}}]`, 0, nil, "geometry: unsupported type: Circle"},
		{"one-number position", `{"type":"Point","coordinates":[113]}`, 0, nil, "geometry: dimensionality too low"},
		{"mixed dimensions", `{"type":"LineString","coordinates":[[113,34],[114,34,5]]}`, 0, nil, "gis: feature 0: geometry:"},
		{"geometry not an object", `{"type":"Feature","properties":{},"geometry":"abc"}`, 0, nil, "geometry must be a JSON object or null"},
		{"empty polygon", `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[]}}`, 0, ErrInvalidGeometry, "empty polygon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseFeaturesCRS([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.HasPrefix(err.Error(), "gis: ") {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			var fe *FeatureError
			isFE := errors.As(err, &fe)
			switch {
			case tt.wantIndex < 0 && isFE:
				t.Errorf("got a FeatureError for feature %d, want a document error", fe.Index)
			case tt.wantIndex >= 0 && !isFE:
				t.Errorf("error %v is not a *FeatureError", err)
			case isFE && fe.Index != tt.wantIndex:
				t.Errorf("FeatureError.Index = %d, want %d", fe.Index, tt.wantIndex)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
		})
	}
}
