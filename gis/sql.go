package gis

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// This file builds PostGIS SQL. Each function returns an expression (or,
// for ClipLatticeSQL, a whole query) for other packages to embed in their
// own queries. Values always travel as $n parameters; the expr arguments
// are SQL written by the programmer (a column, another builder's output),
// never user input.

// placeholder returns "$n", panicking on an index below 1: a wrong
// placeholder is a programming error, caught by the first test that runs
// the query.
func placeholder(n int) string {
	if n < 1 {
		panic(fmt.Sprintf("gis: SQL placeholder $%d: parameters are numbered from 1", n))
	}
	return "$" + strconv.Itoa(n)
}

// GeomFromWKB returns the expression for a geometry passed as WKB (see
// EncodeWKB) in parameter param, tagged with SRID 4326:
// "ST_SetSRID(ST_GeomFromWKB($1), 4326)". It panics if param < 1.
func GeomFromWKB(param int) string {
	return "ST_SetSRID(ST_GeomFromWKB(" + placeholder(param) + "), 4326)"
}

// PointFromLonLat returns the expression for a WGS-84 point whose longitude
// and latitude are float8 parameters:
// "ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)". It panics if a
// parameter index is below 1.
func PointFromLonLat(lonParam, latParam int) string {
	return "ST_SetSRID(ST_MakePoint(" + placeholder(lonParam) + "::float8, " +
		placeholder(latParam) + "::float8), 4326)"
}

// MakeValidPolygonal returns the expression that repairs a polygonal
// geometry (self-intersections, misnested holes: ST_MakeValid) and keeps
// only its polygons, as a MultiPolygon, the type region and cell columns
// hold: "ST_Multi(ST_CollectionExtract(ST_MakeValid(expr), 3))". Lines and
// points left over by the repair are dropped; a geometry with no area
// becomes an empty MultiPolygon, which callers should reject
// (ST_IsEmpty).
func MakeValidPolygonal(expr string) string {
	return "ST_Multi(ST_CollectionExtract(ST_MakeValid(" + expr + "), 3))"
}

// AreaKm2 returns the expression for the area of a WGS-84 geometry in
// square kilometres, measured on the ellipsoid:
// "ST_Area((expr)::geography)/1e6". The parentheses keep the cast on the
// whole expression.
func AreaKm2(expr string) string {
	return "ST_Area((" + expr + ")::geography)/1e6"
}

// AsWKB returns the expression that reads a geometry out as little-endian
// WKB, for DecodeWKB: "ST_AsBinary(expr, 'NDR')".
func AsWKB(expr string) string {
	return "ST_AsBinary(" + expr + ", 'NDR')"
}

// AsGeoJSON returns the expression that writes a geometry as an RFC 7946
// GeoJSON geometry: exterior rings counterclockwise, holes clockwise
// (§3.1.6), coordinates rounded to 7 decimals (about 1 cm on the ground):
// "ST_AsGeoJSON(ST_ForcePolygonCCW(expr), 7)". The result is text (scan it
// into a json.RawMessage); a NULL geometry gives NULL. Every store that
// answers geometry writes it with this expression, and api/ wraps it in
// its one Feature writer.
func AsGeoJSON(expr string) string {
	return "ST_AsGeoJSON(ST_ForcePolygonCCW(" + expr + "), 7)"
}

// MVTOptions are the Mapbox Vector Tile settings of ST_AsMVTGeom.
type MVTOptions struct {
	// Extent is the tile's size in its own integer coordinates (4096 is
	// the MVT convention).
	Extent int
	// Buffer is how far, in tile coordinates, geometry is kept past the
	// tile's edge, so that lines and labels meet across neighbouring tiles.
	Buffer int
	// Clip cuts geometry at the buffered edge (false keeps whole shapes).
	Clip bool
}

// DefaultMVT is the usual setting: extent 4096, buffer 256, clipped.
var DefaultMVT = MVTOptions{Extent: 4096, Buffer: 256, Clip: true}

// TileEnvelope returns the expression for the Web Mercator (EPSG:3857)
// square of map tile z/x/y (XYZ scheme, y counted from the north), with z,
// x and y as integer parameters:
// "ST_TileEnvelope($1::int, $2::int, $3::int)". It panics if a parameter
// index is below 1.
func TileEnvelope(zParam, xParam, yParam int) string {
	return "ST_TileEnvelope(" + placeholder(zParam) + "::int, " + placeholder(xParam) + "::int, " +
		placeholder(yParam) + "::int)"
}

// TileBoundsWGS84 returns the expression for a tile envelope (see
// TileEnvelope) in WGS-84, to find the rows of a tile with the spatial
// index of a column stored in SRID 4326: "ST_Transform(envelope, 4326)".
// Under row-level security, look the tile's grid cells up in
// region_shapes with it, then filter rows by cell_id.
func TileBoundsWGS84(envelope string) string {
	return "ST_Transform(" + envelope + ", 4326)"
}

// AsMVTGeom returns the expression that turns a WGS-84 geometry into tile
// coordinates of envelope (see TileEnvelope), as ST_AsMVT wants it:
// "ST_AsMVTGeom(ST_Transform(expr, 3857), envelope, 4096, 256, true)". A
// geometry wholly outside the buffered tile gives NULL. It panics on an
// extent below 1 or a negative buffer.
func AsMVTGeom(expr, envelope string, o MVTOptions) string {
	if o.Extent < 1 || o.Buffer < 0 {
		panic(fmt.Sprintf("gis: MVT extent %d, buffer %d", o.Extent, o.Buffer))
	}
	return "ST_AsMVTGeom(ST_Transform(" + expr + ", 3857), " + envelope + ", " + strconv.Itoa(o.Extent) + ", " +
		strconv.Itoa(o.Buffer) + ", " + strconv.FormatBool(o.Clip) + ")"
}

// AsMVT returns the aggregate that encodes the rows of row (a table or
// subquery alias) as one layer of a vector tile, bytea:
// "ST_AsMVT(t, 'premises', 4096, 'geom', 'id')". geomColumn holds the
// output of AsMVTGeom; idColumn (may be empty) becomes the feature id;
// the other columns become properties. layer, geomColumn and idColumn are
// names written by the programmer: lower-case letters, digits and
// underscores, or AsMVT panics.
func AsMVT(row, layer string, extent int, geomColumn, idColumn string) string {
	if !mvtName.MatchString(layer) || !mvtName.MatchString(geomColumn) ||
		(idColumn != "" && !mvtName.MatchString(idColumn)) || extent < 1 {
		panic(fmt.Sprintf("gis: MVT layer %q, extent %d, columns %q, %q", layer, extent, geomColumn, idColumn))
	}
	out := "ST_AsMVT(" + row + ", '" + layer + "', " + strconv.Itoa(extent) + ", '" + geomColumn + "'"
	if idColumn != "" {
		out += ", '" + idColumn + "'"
	}
	return out + ")"
}

var mvtName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ClipLatticeSQL returns a query that turns a Lattice into the grid cells
// (网格) of one region: each lattice cell is clipped to the region's
// boundary, and slivers are merged into a neighbour.
//
// boundary is an SQL expression for the region's boundary in SRID 4326,
// for example "(SELECT geom FROM regions WHERE id = $1)"; it is repaired
// with MakeValidPolygonal first. The query takes four parameters from
// firstParam on (use LatticeArgs to build the first three):
//
//	$firstParam     bytea[]  WKB of each lattice cell (EncodeWKB)
//	$firstParam+1   int[]    Row of each cell
//	$firstParam+2   int[]    Col of each cell
//	$firstParam+3   float8   sliver threshold, a fraction of a full cell's
//	                         area (for example 0.3)
//
// The query returns one row per resulting cell, ordered by row_no, col_no:
//
//	row_no, col_no  int       the lattice position of the cell
//	geom            geometry  MultiPolygon, SRID 4326
//	area_km2        float8    area on the ellipsoid
//
// How it works: cells not touching the boundary disappear; a cell whose
// clipped area is below the threshold is a sliver. Each sliver is linked to
// the neighbour with which it shares the longest border inside the region,
// among the neighbours that are kept or larger than the sliver, and the
// links are followed to their end, so a chain of slivers (at a sharp tip
// of the boundary, say) ends up in a kept cell. Borders are measured on the
// unclipped lattice, whose neighbours share edges exactly, so the result
// does not hang on floating-point noise in the clipped shapes. Links always
// lead to a larger cell, so there are no cycles. A sliver with no such
// neighbour (a small island, or a region smaller than the threshold) stays
// a cell of its own: no part of the region is ever lost, and the cells
// returned tile the repaired boundary exactly.
//
// The query is a single SELECT (with a WITH clause), so it can be used as a
// subquery: INSERT INTO cells (...) SELECT ... FROM (<query>) AS c.
// ClipLatticeSQL panics if firstParam < 1.
func ClipLatticeSQL(boundary string, firstParam int) string {
	const query = `WITH RECURSIVE boundary AS (
	SELECT {{valid_boundary}} AS geom
),
lattice AS (
	SELECT l.row_no, l.col_no, {{cell_geom}} AS cell
	FROM unnest({{cells}}::bytea[], {{rows}}::int[], {{cols}}::int[]) AS l(wkb, row_no, col_no)
),
clipped AS (
	SELECT l.row_no, l.col_no, l.cell, {{clip}} AS geom
	FROM lattice l
	CROSS JOIN boundary b
	WHERE ST_Intersects(l.cell, b.geom)
),
measured AS (
	SELECT row_no, col_no, cell, geom, area,
		area >= {{min_fraction}}::float8 * ST_Area(cell::geography) AS keep
	FROM (
		SELECT row_no, col_no, cell, geom, ST_Area(geom::geography) AS area
		FROM clipped
		WHERE NOT ST_IsEmpty(geom)
	) a
),
link AS (
	SELECT DISTINCT ON (s.row_no, s.col_no)
		s.row_no, s.col_no, n.row_no AS to_row, n.col_no AS to_col
	FROM measured s
	JOIN measured n
		ON abs(n.row_no - s.row_no) <= 1 AND abs(n.col_no - s.col_no) <= 1
		AND (n.keep OR n.area > s.area
			OR (n.area = s.area AND (n.row_no, n.col_no) < (s.row_no, s.col_no)))
	CROSS JOIN boundary b
	CROSS JOIN LATERAL (
		SELECT ST_Length(ST_CollectionExtract(
			ST_Intersection(ST_Intersection(s.cell, n.cell), b.geom), 2)::geography) AS shared
	) border
	WHERE NOT s.keep AND border.shared > 0
	ORDER BY s.row_no, s.col_no, border.shared DESC, n.row_no, n.col_no
),
chain AS (
	SELECT row_no, col_no, to_row, to_col, 1 AS depth
	FROM link
	UNION ALL
	SELECT c.row_no, c.col_no, l.to_row, l.to_col, c.depth + 1
	FROM chain c
	JOIN link l ON l.row_no = c.to_row AND l.col_no = c.to_col
),
target AS (
	SELECT DISTINCT ON (row_no, col_no) row_no, col_no, to_row, to_col
	FROM chain
	ORDER BY row_no, col_no, depth DESC
),
pieces AS (
	SELECT coalesce(t.to_row, m.row_no) AS row_no, coalesce(t.to_col, m.col_no) AS col_no, m.geom
	FROM measured m
	LEFT JOIN target t ON t.row_no = m.row_no AND t.col_no = m.col_no
),
merged AS (
	SELECT row_no, col_no, {{union}} AS geom
	FROM pieces
	GROUP BY row_no, col_no
)
SELECT row_no, col_no, geom, {{area}} AS area_km2
FROM merged
ORDER BY row_no, col_no`

	return strings.NewReplacer(
		"{{valid_boundary}}", MakeValidPolygonal(boundary),
		"{{cell_geom}}", "ST_SetSRID(ST_GeomFromWKB(l.wkb), 4326)",
		"{{cells}}", placeholder(firstParam),
		"{{rows}}", placeholder(firstParam+1),
		"{{cols}}", placeholder(firstParam+2),
		"{{min_fraction}}", placeholder(firstParam+3),
		"{{clip}}", MakeValidPolygonal("ST_Intersection(l.cell, b.geom)"),
		"{{union}}", MakeValidPolygonal("ST_Union(geom)"),
		"{{area}}", AreaKm2("geom"),
	).Replace(query)
}

// LatticeArgs returns the first three parameters of ClipLatticeSQL for
// cells: their WKB (EncodeWKB), rows and columns, in matching order.
func LatticeArgs(cells []LatticeCell) (wkb [][]byte, rows, cols []int32, err error) {
	wkb = make([][]byte, len(cells))
	rows = make([]int32, len(cells))
	cols = make([]int32, len(cells))
	for i, c := range cells {
		if c.Polygon == nil {
			return nil, nil, nil, fmt.Errorf("gis: lattice cell (%d, %d) has no polygon", c.Row, c.Col)
		}
		if wkb[i], err = EncodeWKB(c.Polygon); err != nil {
			return nil, nil, nil, err
		}
		rows[i], cols[i] = int32(c.Row), int32(c.Col)
	}
	return wkb, rows, cols, nil
}
