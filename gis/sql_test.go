package gis

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twpayne/go-geom"
)

func TestSQLExpressions(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"GeomFromWKB", GeomFromWKB(1), "ST_SetSRID(ST_GeomFromWKB($1), 4326)"},
		{"GeomFromWKB later param", GeomFromWKB(12), "ST_SetSRID(ST_GeomFromWKB($12), 4326)"},
		{"PointFromLonLat", PointFromLonLat(3, 4), "ST_SetSRID(ST_MakePoint($3::float8, $4::float8), 4326)"},
		{"MakeValidPolygonal", MakeValidPolygonal("r.geom"), "ST_Multi(ST_CollectionExtract(ST_MakeValid(r.geom), 3))"},
		{"AreaKm2", AreaKm2("c.geom"), "ST_Area((c.geom)::geography)/1e6"},
		{"AsWKB", AsWKB("geom"), "ST_AsBinary(geom, 'NDR')"},
		{"AsGeoJSON", AsGeoJSON("geom"), "ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7)"},
		{"TileEnvelope", TileEnvelope(1, 2, 3), "ST_TileEnvelope($1::int, $2::int, $3::int)"},
		{"TileBoundsWGS84", TileBoundsWGS84("b.env"), "ST_Transform(b.env, 4326)"},
		{"AsMVTGeom", AsMVTGeom("p.geom", "b.env", DefaultMVT), "ST_AsMVTGeom(ST_Transform(p.geom, 3857), b.env, 4096, 256, true)"},
		{"AsMVTGeom unclipped", AsMVTGeom("p.geom", "b.env", MVTOptions{Extent: 512, Buffer: 0}), "ST_AsMVTGeom(ST_Transform(p.geom, 3857), b.env, 512, 0, false)"},
		{"AsMVT", AsMVT("t", "premises", 4096, "geom", "id"), "ST_AsMVT(t, 'premises', 4096, 'geom', 'id')"},
		{"AsMVT without id", AsMVT("t", "cells", 4096, "geom", ""), "ST_AsMVT(t, 'cells', 4096, 'geom')"},
		{
			"composed: repaired area of an uploaded boundary",
			AreaKm2(MakeValidPolygonal(GeomFromWKB(2))),
			"ST_Area((ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromWKB($2), 4326)), 3)))::geography)/1e6",
		},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestSQLPlaceholderPanics(t *testing.T) {
	tests := map[string]func(){
		"GeomFromWKB(0)":        func() { GeomFromWKB(0) },
		"PointFromLonLat(1,-1)": func() { PointFromLonLat(1, -1) },
		"ClipLatticeSQL(0)":     func() { ClipLatticeSQL("b.geom", 0) },
		"TileEnvelope(0,1,2)":   func() { TileEnvelope(0, 1, 2) },
		"AsMVTGeom extent 0":    func() { AsMVTGeom("g", "e", MVTOptions{}) },
		"AsMVTGeom buffer -1":   func() { AsMVTGeom("g", "e", MVTOptions{Extent: 4096, Buffer: -1}) },
		"AsMVT layer quote":     func() { AsMVT("t", "x'); DROP TABLE t; --", 4096, "geom", "") },
		"AsMVT no geom column":  func() { AsMVT("t", "cells", 4096, "", "id") },
		"AsMVT no layer":        func() { AsMVT("t", "", 4096, "geom", "") },
		"AsMVT extent 0":        func() { AsMVT("t", "cells", 0, "geom", "") },
	}
	for name, f := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

var update = flag.Bool("update", false, "rewrite the golden SQL files in testdata/")

// checkGolden compares got with testdata/name. After a deliberate change,
// regenerate the files with
//
//	go test ./gis -run 'SQL' -update   (or SIEVE_UPDATE_GOLDEN=1)
//
// and read the diff.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update || os.Getenv("SIEVE_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("SQL differs from %s (regenerate with -update if the change is meant):\n%s", golden, got)
	}
}

// TestClipLatticeSQL compares the query with testdata/clip_lattice.sql.
// The query was run against PostGIS 3.3 when it was written.
func TestClipLatticeSQL(t *testing.T) {
	got := ClipLatticeSQL("(SELECT geom FROM regions WHERE id = $1)", 2)
	checkGolden(t, "clip_lattice.sql", got)

	// Whatever the layout, the placeholders must be $1 (the caller's, in
	// the boundary) and $2..$5, each where it belongs.
	for _, frag := range []string{
		"unnest($2::bytea[], $3::int[], $4::int[])",
		">= $5::float8 * ST_Area(cell::geography)",
		"ST_MakeValid((SELECT geom FROM regions WHERE id = $1))",
	} {
		if !strings.Contains(got, frag) {
			t.Errorf("query lacks %q", frag)
		}
	}
	if strings.Contains(got, "$6") || strings.Contains(got, "{{") {
		t.Errorf("query has a stray placeholder or template token")
	}
}

func TestLatticeArgs(t *testing.T) {
	cells, err := Lattice(geom.NewBounds(geom.XY).Set(113.47, 34.15, 113.48, 34.16), Hexagon, 400)
	if err != nil {
		t.Fatal(err)
	}
	wkb, rows, cols, err := LatticeArgs(cells)
	if err != nil {
		t.Fatal(err)
	}
	if len(wkb) != len(cells) || len(rows) != len(cells) || len(cols) != len(cells) {
		t.Fatalf("got %d/%d/%d arguments for %d cells", len(wkb), len(rows), len(cols), len(cells))
	}
	for i, c := range cells {
		if int(rows[i]) != c.Row || int(cols[i]) != c.Col {
			t.Errorf("argument %d is (%d, %d), want (%d, %d)", i, rows[i], cols[i], c.Row, c.Col)
		}
		g, err := DecodeWKB(wkb[i])
		if err != nil {
			t.Fatal(err)
		}
		if !equalFloats(g.FlatCoords(), c.Polygon.FlatCoords()) {
			t.Errorf("cell %d WKB does not decode to its polygon", i)
		}
	}

	if _, _, _, err := LatticeArgs([]LatticeCell{{Row: 1, Col: 2}}); err == nil || !strings.Contains(err.Error(), "(1, 2) has no polygon") {
		t.Errorf("LatticeArgs with a nil polygon: error = %v", err)
	}
}

// tileQuery is how a tiles store composes the builders: the tile's grid
// cells are found in region_shapes through its spatial index, the rows by
// cell_id (the way row-level security lets PostgreSQL use indexes), and
// their points become one MVT layer. api's TestTileBuildersOnPostGIS runs
// the same builders against PostGIS.
func tileQuery() string {
	env := TileEnvelope(1, 2, 3)
	return `WITH tile AS (SELECT ` + env + ` AS env),
cells AS (
	SELECT s.region_id FROM region_shapes s, tile
	WHERE s.geom && ` + TileBoundsWGS84("tile.env") + `
)
SELECT ` + AsMVT("mvt", "premises", DefaultMVT.Extent, "geom", "id") + `
FROM (
	SELECT p.id, p.kind, ` + AsMVTGeom("p.geom", "tile.env", DefaultMVT) + ` AS geom
	FROM premises p, tile
	WHERE p.cell_id IN (SELECT region_id FROM cells)
) mvt
WHERE mvt.geom IS NOT NULL`
}

// TestTileSQL compares a composed tile query with testdata/tile_premises.sql.
func TestTileSQL(t *testing.T) {
	got := tileQuery()
	checkGolden(t, "tile_premises.sql", got)
	for _, frag := range []string{
		"ST_TileEnvelope($1::int, $2::int, $3::int)",
		"s.geom && ST_Transform(tile.env, 4326)",
		"ST_AsMVTGeom(ST_Transform(p.geom, 3857), tile.env, 4096, 256, true) AS geom",
		"ST_AsMVT(mvt, 'premises', 4096, 'geom', 'id')",
	} {
		if !strings.Contains(got, frag) {
			t.Errorf("tile query lacks %q", frag)
		}
	}
}
