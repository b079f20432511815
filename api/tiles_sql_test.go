package api

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestTileBuildersOnPostGIS runs gis's map-tile builders in PostGIS, for the tiles that come
// next: the centre of tile z/x/y lands at the centre of the tile's extent, a point in the
// neighbouring township's tile is dropped, the tile's WGS-84 bounds hold the point, and the
// layer encodes.
func TestTileBuildersOnPostGIS(t *testing.T) {
	pool := testenv.DB(t)
	const z = 12
	x, y := tileOf(113.47, 34.15, z)
	n := math.Exp2(z)
	lon := (float64(x)+0.5)/n*360 - 180
	lat := math.Atan(math.Sinh(math.Pi*(1-2*(float64(y)+0.5)/n))) * 180 / math.Pi

	q := `WITH tile AS (SELECT ` + gis.TileEnvelope(1, 2, 3) + ` AS env)
	SELECT ST_AsText(` + gis.AsMVTGeom(gis.PointFromLonLat(4, 5), "tile.env", gis.DefaultMVT) + `),
		` + gis.AsMVTGeom(gis.PointFromLonLat(6, 7), "tile.env", gis.DefaultMVT) + ` IS NULL,
		ST_Contains(` + gis.TileBoundsWGS84("tile.env") + `, ` + gis.PointFromLonLat(4, 5) + `),
		(SELECT ` + gis.AsMVT("mvt", "premises", gis.DefaultMVT.Extent, "geom", "id") + ` FROM (
			SELECT 7 AS id, 'household' AS kind,
				` + gis.AsMVTGeom(gis.PointFromLonLat(4, 5), "tile.env", gis.DefaultMVT) + ` AS geom) mvt)
	FROM tile`
	var centre string
	var dropped, contains bool
	var mvt []byte
	if err := pool.QueryRow(context.Background(), q, z, x, y, lon, lat, lon+0.5, lat).Scan(&centre, &dropped, &contains, &mvt); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	if centre != "POINT(2048 2048)" || !dropped || !contains {
		t.Errorf("tile %d/%d/%d: centre %s (want POINT(2048 2048)), far point dropped %v, bounds hold the centre %v",
			z, x, y, centre, dropped, contains)
	}
	if len(mvt) == 0 || !bytes.Contains(mvt, []byte("premises")) || !bytes.Contains(mvt, []byte("household")) {
		t.Errorf("the layer did not encode: %x", mvt)
	}
}

// tileOf is the XYZ tile holding a WGS-84 point at zoom z.
func tileOf(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	r := lat * math.Pi / 180
	return int((lon + 180) / 360 * n), int((1 - math.Asinh(math.Tan(r))/math.Pi) / 2 * n)
}
