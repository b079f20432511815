// Package gis is Sieve's pure geometry toolkit: reading and writing GeoJSON
// and WKB, checking geometries before they reach the database, converting
// between the coordinate systems met in the field (WGS-84, CGCS2000 and the
// GCJ-02 offset system of Chinese phone map SDKs, 火星坐标), generating the
// square or hexagonal lattice that a village or township is split into grid
// cells (网格) with, and building the PostGIS SQL expressions that other
// packages embed in their queries.
//
// Everything here works on github.com/twpayne/go-geom geometries in WGS-84
// longitude/latitude order (SRID 4326), the system the database stores. The
// package talks to no service: repairing self-intersections (ST_MakeValid),
// clipping cells to a boundary and measuring areas on the ellipsoid are done
// in PostGIS, with SQL built by the helpers in sql.go.
//
// Where to start:
//
//   - crs.go: CRS, ParseCRS, ToWGS84, WGS84ToGCJ02, GCJ02ToWGS84.
//   - geojson.go: ParseFeatures (imports, phone input). GeoJSON out is
//     written by PostGIS with AsGeoJSON (sql.go) and wrapped in Features by
//     api/geojson.go.
//   - validate.go: CheckCoordinates, CheckInChina, Polygonal.
//   - wkb.go: EncodeWKB / DecodeWKB, geometry to and from pgx.
//   - grid.go, tmerc.go: Lattice, the square or hexagon cells over a box.
//   - sql.go: PostGIS expressions (AsGeoJSON, the map-tile builders
//     TileEnvelope, AsMVTGeom and AsMVT), and ClipLatticeSQL, which clips a
//     Lattice to a boundary and merges slivers.
//
// A typical import: ParseFeatures, then for each feature Polygonal,
// CheckInChina and EncodeWKB, and in SQL MakeValidPolygonal(GeomFromWKB(n)).
package gis
