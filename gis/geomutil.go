package gis

import (
	"fmt"

	"github.com/twpayne/go-geom"
)

// mapXY returns a deep copy of g reduced to two dimensions (Z and M
// ordinates are dropped), with every (x, y) replaced by f(x, y). The SRID is
// kept. g itself is never modified.
func mapXY(g geom.T, f func(x, y float64) (float64, float64)) (geom.T, error) {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		out := geom.NewGeometryCollection()
		for _, sub := range gc.Geoms() {
			m, err := mapXY(sub, f)
			if err != nil {
				return nil, err
			}
			if err := out.Push(m); err != nil {
				return nil, err
			}
		}
		out.SetSRID(gc.SRID())
		return out, nil
	}
	if g == nil {
		return nil, fmt.Errorf("gis: no geometry")
	}

	stride := g.Stride()
	var flat []float64
	if stride > 0 {
		src := g.FlatCoords()
		flat = make([]float64, 0, len(src)/stride*2)
		for i := 0; i+1 < len(src); i += stride {
			x, y := f(src[i], src[i+1])
			flat = append(flat, x, y)
		}
	}
	// rescale converts an offset into the flat slice from g's stride to 2.
	rescale := func(ends []int) []int {
		if ends == nil || stride == 0 {
			return nil
		}
		out := make([]int, len(ends))
		for i, e := range ends {
			out[i] = e / stride * 2
		}
		return out
	}

	var out geom.T
	switch g := g.(type) {
	case *geom.Point:
		out = geom.NewPointFlat(geom.XY, flat).SetSRID(g.SRID())
	case *geom.LineString:
		out = geom.NewLineStringFlat(geom.XY, flat).SetSRID(g.SRID())
	case *geom.LinearRing:
		out = geom.NewLinearRingFlat(geom.XY, flat).SetSRID(g.SRID())
	case *geom.Polygon:
		out = geom.NewPolygonFlat(geom.XY, flat, rescale(g.Ends())).SetSRID(g.SRID())
	case *geom.MultiPoint:
		out = geom.NewMultiPointFlat(geom.XY, flat, geom.NewMultiPointFlatOptionWithEnds(rescale(g.Ends()))).SetSRID(g.SRID())
	case *geom.MultiLineString:
		out = geom.NewMultiLineStringFlat(geom.XY, flat, rescale(g.Ends())).SetSRID(g.SRID())
	case *geom.MultiPolygon:
		endss := make([][]int, len(g.Endss()))
		for i, ends := range g.Endss() {
			endss[i] = rescale(ends)
		}
		out = geom.NewMultiPolygonFlat(geom.XY, flat, endss).SetSRID(g.SRID())
	default:
		return nil, fmt.Errorf("gis: unsupported geometry type %T", g)
	}
	return out, nil
}

// force2D returns a deep copy of g with Z and M ordinates dropped.
func force2D(g geom.T) (geom.T, error) {
	return mapXY(g, func(x, y float64) (float64, float64) { return x, y })
}

// typeName returns the OGC name of g's type, for error messages.
func typeName(g geom.T) string {
	switch g.(type) {
	case nil:
		return "null"
	case *geom.Point:
		return "Point"
	case *geom.LineString:
		return "LineString"
	case *geom.LinearRing:
		return "LinearRing"
	case *geom.Polygon:
		return "Polygon"
	case *geom.MultiPoint:
		return "MultiPoint"
	case *geom.MultiLineString:
		return "MultiLineString"
	case *geom.MultiPolygon:
		return "MultiPolygon"
	case *geom.GeometryCollection:
		return "GeometryCollection"
	default:
		return fmt.Sprintf("%T", g)
	}
}

// cloneGeom returns a deep copy of g with the same layout and SRID.
func cloneGeom(g geom.T) (geom.T, error) {
	switch g := g.(type) {
	case *geom.Point:
		return g.Clone(), nil
	case *geom.LineString:
		return g.Clone(), nil
	case *geom.LinearRing:
		return g.Clone(), nil
	case *geom.Polygon:
		return g.Clone(), nil
	case *geom.MultiPoint:
		return g.Clone(), nil
	case *geom.MultiLineString:
		return g.Clone(), nil
	case *geom.MultiPolygon:
		return g.Clone(), nil
	case *geom.GeometryCollection:
		out := geom.NewGeometryCollection()
		for _, sub := range g.Geoms() {
			c, err := cloneGeom(sub)
			if err != nil {
				return nil, err
			}
			if err := out.Push(c); err != nil {
				return nil, err
			}
		}
		out.SetSRID(g.SRID())
		return out, nil
	case nil:
		return nil, fmt.Errorf("gis: no geometry")
	default:
		return nil, fmt.Errorf("gis: unsupported geometry type %T", g)
	}
}

// transformXYInPlace replaces the x and y of every coordinate of g (and of
// every member of a collection) by f(x, y). Other ordinates are untouched.
func transformXYInPlace(g geom.T, f func(x, y float64) (float64, float64)) {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		for _, sub := range gc.Geoms() {
			transformXYInPlace(sub, f)
		}
		return
	}
	geom.TransformInPlace(g, func(c geom.Coord) {
		c[0], c[1] = f(c[0], c[1])
	})
}
