package gis

import (
	"errors"
	"fmt"
	"math"

	"github.com/twpayne/go-geom"
)

// ErrInvalidGeometry is wrapped by every error of CheckCoordinates and
// Polygonal, so that callers can answer "your geometry is wrong" (a client
// error) with errors.Is, whatever the detail.
var ErrInvalidGeometry = errors.New("gis: invalid geometry")

// ErrOutsideChina is wrapped by the errors of CheckInChina.
var ErrOutsideChina = errors.New("gis: geometry outside China")

// The rough box around China used by CheckInChina, in degrees. It is
// deliberately generous (the country spans about 73.5-135.1 E and
// 3.8-53.6 N): it exists to catch swapped or projected coordinates, not to
// draw a border.
const (
	chinaMinLon = 73.0
	chinaMaxLon = 136.0
	chinaMinLat = 3.0
	chinaMaxLat = 54.0
)

// invalidf returns an error wrapping ErrInvalidGeometry with a detail.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidGeometry, fmt.Sprintf(format, args...))
}

// CheckCoordinates checks the structure and the numbers of g before it is
// stored, and names the first problem found and where it is (for example
// "gis: invalid geometry: polygon 1, ring 0: ring is not closed ..."). It
// requires:
//
//   - finite longitude in [-180, 180] and latitude in [-90, 90];
//   - no empty geometries (a Point without coordinates, a Polygon or a
//     Multi* or collection without members);
//   - at least 2 points in a LineString;
//   - polygon rings that are closed (first point equals last point), have
//     at least 4 points and at least 3 distinct points.
//
// It does not look for self-intersections or misnested holes: those are
// repaired in PostGIS with ST_MakeValid (see MakeValidPolygonal).
func CheckCoordinates(g geom.T) error {
	if g == nil {
		return invalidf("no geometry")
	}
	return checkGeom(g, "")
}

// at joins the location of a part to the location of its parent.
func at(where, part string, i int) string {
	if where == "" {
		return fmt.Sprintf("%s %d", part, i)
	}
	return fmt.Sprintf("%s, %s %d", where, part, i)
}

// prefix formats a location for the start of a message.
func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func checkGeom(g geom.T, where string) error {
	switch g := g.(type) {
	case *geom.Point:
		if g.Empty() {
			return invalidf("%sempty point", prefix(where))
		}
		return checkCoord(g.FlatCoords(), where)
	case *geom.LineString:
		return checkLine(g.FlatCoords(), g.Stride(), where)
	case *geom.LinearRing:
		return checkRing(g.FlatCoords(), g.Stride(), where)
	case *geom.Polygon:
		return checkPolygon(g, where)
	case *geom.MultiPoint:
		if g.NumPoints() == 0 {
			return invalidf("%sempty MultiPoint", prefix(where))
		}
		for i := range g.NumPoints() {
			if err := checkGeom(g.Point(i), at(where, "point", i)); err != nil {
				return err
			}
		}
		return nil
	case *geom.MultiLineString:
		if g.NumLineStrings() == 0 {
			return invalidf("%sempty MultiLineString", prefix(where))
		}
		for i := range g.NumLineStrings() {
			if err := checkGeom(g.LineString(i), at(where, "line", i)); err != nil {
				return err
			}
		}
		return nil
	case *geom.MultiPolygon:
		if g.NumPolygons() == 0 {
			return invalidf("%sempty MultiPolygon", prefix(where))
		}
		for i := range g.NumPolygons() {
			if err := checkPolygon(g.Polygon(i), at(where, "polygon", i)); err != nil {
				return err
			}
		}
		return nil
	case *geom.GeometryCollection:
		if g.NumGeoms() == 0 {
			return invalidf("%sempty GeometryCollection", prefix(where))
		}
		for i, sub := range g.Geoms() {
			if sub == nil {
				return invalidf("%sno geometry", prefix(at(where, "geometry", i)))
			}
			if err := checkGeom(sub, at(where, "geometry", i)); err != nil {
				return err
			}
		}
		return nil
	default:
		return invalidf("%sunsupported geometry type %T", prefix(where), g)
	}
}

func checkPolygon(p *geom.Polygon, where string) error {
	if p.NumLinearRings() == 0 {
		return invalidf("%sempty polygon", prefix(where))
	}
	for i := range p.NumLinearRings() {
		r := p.LinearRing(i)
		if err := checkRing(r.FlatCoords(), r.Stride(), at(where, "ring", i)); err != nil {
			return err
		}
	}
	return nil
}

func checkLine(flat []float64, stride int, where string) error {
	n := 0
	if stride > 0 {
		n = len(flat) / stride
	}
	if n < 2 {
		return invalidf("%sline has %d points, need at least 2", prefix(where), n)
	}
	return checkCoords(flat, stride, where)
}

func checkRing(flat []float64, stride int, where string) error {
	n := 0
	if stride > 0 {
		n = len(flat) / stride
	}
	if n < 4 {
		return invalidf("%sring has %d points, need at least 4 (a closed triangle repeats its first point)", prefix(where), n)
	}
	if err := checkCoords(flat, stride, where); err != nil {
		return err
	}
	last := (n - 1) * stride
	if flat[0] != flat[last] || flat[1] != flat[last+1] {
		return invalidf("%sring is not closed: first point (%v %v) differs from last point (%v %v)",
			prefix(where), flat[0], flat[1], flat[last], flat[last+1])
	}
	// A ring needs three distinct corners to enclose any area. Scan for the
	// first two points that differ from the start and from each other.
	var distinct [][2]float64
	for i := 0; i < len(flat) && len(distinct) < 3; i += stride {
		p := [2]float64{flat[i], flat[i+1]}
		seen := false
		for _, q := range distinct {
			if p == q {
				seen = true
				break
			}
		}
		if !seen {
			distinct = append(distinct, p)
		}
	}
	if len(distinct) < 3 {
		return invalidf("%sring has only %d distinct points, need at least 3", prefix(where), len(distinct))
	}
	return nil
}

func checkCoords(flat []float64, stride int, where string) error {
	for i, j := 0, 0; i+stride <= len(flat); i, j = i+stride, j+1 {
		if err := checkCoord(flat[i:i+stride], at(where, "point", j)); err != nil {
			return err
		}
	}
	return nil
}

func checkCoord(c []float64, where string) error {
	for _, v := range c {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidf("%scoordinate %v is not a finite number", prefix(where), c)
		}
	}
	lon, lat := c[0], c[1]
	if lon < -180 || lon > 180 {
		return invalidf("%slongitude %v is outside [-180, 180]%s", prefix(where), lon, projectedHint(lon, lat))
	}
	if lat < -90 || lat > 90 {
		return invalidf("%slatitude %v is outside [-90, 90]%s", prefix(where), lat, projectedHint(lon, lat))
	}
	return nil
}

// projectedHint explains the usual cause of out-of-range coordinates.
func projectedHint(x, y float64) string {
	if math.Abs(x) > 1000 || math.Abs(y) > 1000 {
		return " (the data look projected, in metres; convert it to longitude/latitude, EPSG:4326)"
	}
	if math.Abs(x) <= 90 && math.Abs(y) <= 180 {
		return " (are longitude and latitude swapped?)"
	}
	return ""
}

// CheckInChina reports an error wrapping ErrOutsideChina when g's bounding
// box is not inside a rough box around China (73-136 E, 3-54 N). Its job
// is to catch the common data mistakes before they put a village in the
// Indian Ocean: latitude and longitude swapped (the error says so), or
// projected metres taken for degrees. It does not follow the border.
func CheckInChina(g geom.T) error {
	if g == nil {
		return fmt.Errorf("%w: no geometry", ErrOutsideChina)
	}
	if g.Empty() {
		return fmt.Errorf("%w: empty geometry", ErrOutsideChina)
	}
	b := g.Bounds()
	minX, minY, maxX, maxY := b.Min(0), b.Min(1), b.Max(0), b.Max(1)
	if inChinaBox(minX, minY, maxX, maxY) {
		return nil
	}
	hint := ""
	switch {
	case inChinaBox(minY, minX, maxY, maxX):
		hint = "; longitude and latitude look swapped"
	case math.Abs(minX) > 1000 || math.Abs(maxY) > 1000:
		hint = "; the data look projected (metres), not longitude/latitude"
	}
	return fmt.Errorf("%w: bounding box %.6f-%.6f E, %.6f-%.6f N is not within %v-%v E, %v-%v N%s",
		ErrOutsideChina, minX, maxX, minY, maxY, chinaMinLon, chinaMaxLon, chinaMinLat, chinaMaxLat, hint)
}

func inChinaBox(minLon, minLat, maxLon, maxLat float64) bool {
	return minLon >= chinaMinLon && maxLon <= chinaMaxLon && minLat >= chinaMinLat && maxLat <= chinaMaxLat
}

// Polygonal returns g as a MultiPolygon, the type region and cell
// boundaries are stored as: a Polygon becomes a MultiPolygon of one (with
// the same layout and SRID), a MultiPolygon is returned as it is (not
// copied). Anything else, including a GeometryCollection, and an empty
// polygon are rejected with an error wrapping ErrInvalidGeometry.
func Polygonal(g geom.T) (*geom.MultiPolygon, error) {
	switch g := g.(type) {
	case *geom.Polygon:
		if g.NumLinearRings() == 0 {
			return nil, invalidf("empty polygon")
		}
		mp := geom.NewMultiPolygon(g.Layout()).SetSRID(g.SRID())
		if err := mp.Push(g.Clone()); err != nil {
			return nil, fmt.Errorf("gis: %w", err)
		}
		return mp, nil
	case *geom.MultiPolygon:
		if g.NumPolygons() == 0 {
			return nil, invalidf("empty MultiPolygon")
		}
		return g, nil
	default:
		return nil, invalidf("want a Polygon or MultiPolygon, got %s", typeName(g))
	}
}
