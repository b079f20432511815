package gis

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/twpayne/go-geom"
)

// square returns a closed counterclockwise ring around (lon, lat).
func square(lon, lat, half float64) []geom.Coord {
	return []geom.Coord{
		{lon - half, lat - half}, {lon + half, lat - half}, {lon + half, lat + half},
		{lon - half, lat + half}, {lon - half, lat - half},
	}
}

func polygon(rings ...[]geom.Coord) *geom.Polygon {
	return geom.NewPolygon(geom.XY).MustSetCoords(rings)
}

func TestCheckCoordinates(t *testing.T) {
	valid := polygon(square(113.47, 34.15, 0.01), square(113.47, 34.15, 0.001))
	tests := []struct {
		name    string
		g       geom.T
		wantErr string // "" means valid; otherwise a fragment of the message
	}{
		{"polygon with hole", valid, ""},
		{"point", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113.47, 34.15}), ""},
		{"point xyz", geom.NewPoint(geom.XYZ).MustSetCoords(geom.Coord{113.47, 34.15, 120}), ""},
		{"line", geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{{113, 34}, {114, 35}}), ""},
		{"multipolygon", geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{{square(113, 34, 0.1)}, {square(114, 34, 0.1)}}), ""},
		{"collection", geom.NewGeometryCollection().MustPush(valid, geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113, 34})), ""},
		{"extremes are allowed", geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{{-180, -90}, {180, 90}}), ""},

		{"nil", nil, "no geometry"},
		{"empty point", geom.NewPointEmpty(geom.XY), "empty point"},
		{"nan", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{math.NaN(), 34}), "not a finite number"},
		{"infinite z", geom.NewPoint(geom.XYZ).MustSetCoords(geom.Coord{113, 34, math.Inf(1)}), "not a finite number"},
		{"longitude out of range", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{180.5, 34}), "longitude 180.5 is outside [-180, 180]"},
		{"swapped", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{34.15, 113.47}), "latitude 113.47 is outside [-90, 90] (are longitude and latitude swapped?)"},
		{"projected", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{38456123, 3780456}), "look projected"},
		{"short line", geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{{113, 34}}), "line has 1 points, need at least 2"},
		{"empty polygon", geom.NewPolygon(geom.XY), "empty polygon"},
		{"empty multipolygon", geom.NewMultiPolygon(geom.XY), "empty MultiPolygon"},
		{"empty collection", geom.NewGeometryCollection(), "empty GeometryCollection"},
		{"ring too short", polygon([]geom.Coord{{113, 34}, {114, 34}, {113, 34}}), "ring 0: ring has 3 points, need at least 4"},
		{"ring not closed", polygon([]geom.Coord{{113, 34}, {114, 34}, {114, 35}, {113, 35}}), "ring 0: ring is not closed: first point (113 34) differs from last point (113 35)"},
		{"degenerate ring", polygon([]geom.Coord{{113, 34}, {114, 34}, {113, 34}, {114, 34}, {113, 34}}), "ring has only 2 distinct points"},
		{"bad hole", polygon(square(113, 34, 0.1), []geom.Coord{{113, 34}, {113.01, 34}, {113.01, 34.01}, {113, 34.02}}), "ring 1: ring is not closed"},
		{
			"located in multipolygon",
			geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{
				{square(113, 34, 0.1)},
				{square(114, 34, 0.1), {{114, 34}, {114.01, 34}, {114, 34}}},
			}),
			"polygon 1, ring 1: ring has 3 points",
		},
		{
			"located point",
			geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{
				{{{113, 34}, {114, 34}, {114, 95}, {113, 34}}},
			}),
			"polygon 0, ring 0, point 2: latitude 95 is outside",
		},
		{
			"located in collection",
			geom.NewGeometryCollection().MustPush(valid, geom.NewPointEmpty(geom.XY)),
			"geometry 1: empty point",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCoordinates(tt.g)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidGeometry) {
				t.Errorf("error %v does not wrap ErrInvalidGeometry", err)
			}
			if !strings.HasPrefix(err.Error(), "gis: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckInChina(t *testing.T) {
	tests := []struct {
		name    string
		g       geom.T
		wantErr string
	}{
		{"yuzhou", polygon(square(113.47, 34.15, 0.2)), ""},
		{"mohe (far north)", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{122.53, 52.97}), ""},
		{"kashgar (far west)", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{75.99, 39.47}), ""},
		{"swapped", polygon(square(34.15, 113.47, 0.2)), "look swapped"},
		{"swapped point", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{34.15, 113.47}), "look swapped"},
		{"projected", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{38456123, 3780456}), "look projected"},
		{"london", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{-0.13, 51.5}), "not within"},
		{"straddles the box", geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{{113, 34}, {140, 34}}), "not within"},
		{"empty", geom.NewPolygon(geom.XY), "empty geometry"},
		{"nil", nil, "no geometry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckInChina(tt.g)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrOutsideChina) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q: want ErrOutsideChina containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPolygonal(t *testing.T) {
	p := polygon(square(113.47, 34.15, 0.01)).SetSRID(4326)
	mp := geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{{square(113, 34, 0.1)}, {square(114, 34, 0.1)}})

	got, err := Polygonal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumPolygons() != 1 || got.SRID() != 4326 || got.Layout() != geom.XY {
		t.Errorf("Polygonal(Polygon) = %d polygons, SRID %d, layout %v", got.NumPolygons(), got.SRID(), got.Layout())
	}
	if !equalFloats(got.FlatCoords(), p.FlatCoords()) {
		t.Errorf("coordinates changed: %v", got.FlatCoords())
	}

	got, err = Polygonal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if got != mp {
		t.Errorf("Polygonal(MultiPolygon) did not return its argument")
	}

	rejects := []struct {
		name string
		g    geom.T
		want string
	}{
		{"point", geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113, 34}), "got Point"},
		{"line", geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{{113, 34}, {114, 34}}), "got LineString"},
		{"collection", geom.NewGeometryCollection().MustPush(p), "got GeometryCollection"},
		{"nil", nil, "got null"},
		{"empty polygon", geom.NewPolygon(geom.XY), "empty polygon"},
		{"empty multipolygon", geom.NewMultiPolygon(geom.XY), "empty MultiPolygon"},
	}
	for _, tt := range rejects {
		_, err := Polygonal(tt.g)
		if err == nil || !errors.Is(err, ErrInvalidGeometry) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Polygonal(%s) error = %v, want ErrInvalidGeometry containing %q", tt.name, err, tt.want)
		}
	}
}
