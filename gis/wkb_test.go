package gis

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/twpayne/go-geom"
)

func TestEncodeWKB(t *testing.T) {
	tests := []struct {
		name string
		g    geom.T
		want string // hex
	}{
		{
			"point",
			geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{1, 2}),
			"0101000000000000000000f03f0000000000000040",
		},
		{
			"z is dropped",
			geom.NewPoint(geom.XYZ).MustSetCoords(geom.Coord{1, 2, 3}),
			"0101000000000000000000f03f0000000000000040",
		},
		{
			"srid is not written",
			geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{1, 2}).SetSRID(4326),
			"0101000000000000000000f03f0000000000000040",
		},
		{
			"polygon",
			polygon([]geom.Coord{{0, 0}, {1, 0}, {0, 1}, {0, 0}}),
			"010300000001000000040000000000000000000000000000000000000000000000" +
				"0000f03f00000000000000000000000000000000000000000000f03f" +
				"00000000000000000000000000000000",
		},
	}
	for _, tt := range tests {
		got, err := EncodeWKB(tt.g)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if h := hex.EncodeToString(got); h != tt.want {
			t.Errorf("%s: EncodeWKB = %s, want %s", tt.name, h, tt.want)
		}
	}
	if _, err := EncodeWKB(nil); err == nil {
		t.Error("EncodeWKB(nil) succeeded")
	}
}

func TestDecodeWKB(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want []float64
		typ  string
	}{
		{"ndr point", "0101000000000000000000f03f0000000000000040", []float64{1, 2}, "Point"},
		{"xdr point", "00000000013ff00000000000004000000000000000", []float64{1, 2}, "Point"},
		{"iso wkb point z", "01e9030000000000000000f03f00000000000000400000000000000840", []float64{1, 2}, "Point"},
		{"ewkb point srid 4326", "0101000020e6100000000000000000f03f0000000000000040", []float64{1, 2}, "Point"},
		{"ewkb point z srid 4326", "01010000a0e6100000000000000000f03f00000000000000400000000000000840", []float64{1, 2}, "Point"},
		{
			"polygon",
			"010300000001000000040000000000000000000000000000000000000000000000" +
				"0000f03f00000000000000000000000000000000000000000000f03f" +
				"00000000000000000000000000000000",
			[]float64{0, 0, 1, 0, 0, 1, 0, 0},
			"Polygon",
		},
	}
	for _, tt := range tests {
		b, err := hex.DecodeString(tt.hex)
		if err != nil {
			t.Fatalf("%s: bad test hex: %v", tt.name, err)
		}
		g, err := DecodeWKB(b)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if typeName(g) != tt.typ || g.Layout() != geom.XY || !equalFloats(g.FlatCoords(), tt.want) {
			t.Errorf("%s: DecodeWKB = %s %v %v, want %s XY %v", tt.name, typeName(g), g.Layout(), g.FlatCoords(), tt.typ, tt.want)
		}
	}
}

func TestDecodeWKBErrors(t *testing.T) {
	tests := []struct {
		name, hex, want string
	}{
		{"empty", "", "too short"},
		{"byte order", "0501000000000000000000f03f0000000000000040", "unknown byte order"},
		{"truncated", "0101000000000000000000f03f", "gis: decode WKB"},
		{"cgcs2000 srid", "01010000208a110000000000000000f03f0000000000000040", "SRID 4490, want 4326"},
		{"unknown type", "0163000000000000000000f03f0000000000000040", "gis: decode WKB"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		_, err := DecodeWKB(b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestWKBRoundTrip(t *testing.T) {
	geoms := []geom.T{
		geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{
			{square(113.47, 34.15, 0.01), square(113.47, 34.15, 0.001)},
			{square(113.6, 34.3, 0.02)},
		}),
		geom.NewLineString(geom.XYM).MustSetCoords([]geom.Coord{{113.1, 34.1, 7}, {113.2, 34.2, 8}}),
		geom.NewMultiPoint(geom.XY).MustSetCoords([]geom.Coord{{113.1, 34.1}, {113.2, 34.2}}),
		geom.NewGeometryCollection().MustPush(
			geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113.1, 34.1}),
			polygon(square(113.47, 34.15, 0.01)),
		),
	}
	for _, g := range geoms {
		b, err := EncodeWKB(g)
		if err != nil {
			t.Fatalf("%s: %v", typeName(g), err)
		}
		back, err := DecodeWKB(b)
		if err != nil {
			t.Fatalf("%s: %v", typeName(g), err)
		}
		want, _ := force2D(g)
		if typeName(back) != typeName(g) || !equalFloats(flatten(back), flatten(want)) {
			t.Errorf("%s: round trip gave %s %v, want %v", typeName(g), typeName(back), flatten(back), flatten(want))
		}
		if mp, ok := g.(*geom.MultiPolygon); ok {
			if got, want := fmt.Sprint(back.Endss()), fmt.Sprint(mp.Endss()); got != want {
				t.Errorf("MultiPolygon ring ends = %s, want %s", got, want)
			}
		}
	}
}
