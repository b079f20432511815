package gis

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/twpayne/go-geom"
)

// GridShape is the shape of the cells a village or township is split into
// when its grid cells (网格) are generated rather than imported.
type GridShape string

// The supported cell shapes.
const (
	// Square cells, sides running east-west and north-south.
	Square GridShape = "square"
	// Hexagon cells, "pointy-top": two vertical (north-south) sides, rows
	// running east-west, every odd row shifted east by half a cell.
	Hexagon GridShape = "hexagon"
)

// ParseGridShape reads a cell shape as clients send it ("square" or
// "hexagon", case-insensitive; "hex" is accepted too).
func ParseGridShape(s string) (GridShape, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "square":
		return Square, nil
	case "hexagon", "hex":
		return Hexagon, nil
	}
	return "", fmt.Errorf("gis: unknown grid shape %q, want square or hexagon", s)
}

// Limits of Lattice.
const (
	// MaxLatticeCells is the most cells one Lattice call produces; a city
	// has about 5,000 grid cells in all.
	MaxLatticeCells = 20000
	// MinCellSizeMetres is the smallest cell size accepted. Smaller cells
	// would not survive the 7-decimal (about 1 cm) rounding of GeoJSON
	// output, and are not what a grid worker walks anyway.
	MinCellSizeMetres = 1.0
	// MaxLatticeSpanDegrees is the widest bounds, in longitude or latitude,
	// that Lattice accepts: enough for a whole city (Yuzhou spans 0.6° by
	// 0.4°), small enough for the local projection to stay exact to
	// centimetres.
	MaxLatticeSpanDegrees = 3.0
)

// ErrTooManyCells is wrapped by the error of Lattice when the bounds and
// the cell size would give more than MaxLatticeCells cells.
var ErrTooManyCells = errors.New("gis: too many grid cells")

// LatticeCell is one cell of a Lattice: its position in the lattice and its
// polygon in WGS-84 longitude/latitude (SRID 4326), exterior ring
// counterclockwise.
type LatticeCell struct {
	// Row counts from 0 at the northernmost row, southwards.
	Row int
	// Col counts from 0 at the westernmost column, eastwards. In a hexagon
	// lattice odd rows are shifted east by half a cell, so cell (1, 0) lies
	// south-east of cell (0, 0).
	Col int
	// Polygon is the cell: 4 corners for a square, 6 for a hexagon, plus
	// the closing point.
	Polygon *geom.Polygon
}

// Lattice returns the cells of a square or hexagon lattice that together
// cover bounds (a longitude/latitude box, for example the bounds of a
// village boundary), each sizeMetres across: the side of a square, or the
// flat-to-flat width of a hexagon (the distance between its two vertical
// sides, so its side is sizeMetres/√3 and its area (√3/2)·sizeMetres²).
//
// The lattice is laid out in a transverse Mercator projection on the WGS-84
// ellipsoid centred on the middle of bounds (scale 1 on its central
// meridian), so that a 500 m cell is 500 m on the ground to within a few
// millimetres in a township and a few centimetres across a city; its
// vertices are then converted back to longitude/latitude. Cells are
// aligned with grid north of that projection, which differs from true
// north by a fraction of a degree away from the centre.
// The lattice is centred on bounds, so any overhang is split evenly between
// opposite sides. Neighbouring cells share their vertices exactly (the same
// float64 values), which keeps PostGIS overlays free of slivers.
//
// Cells are returned row by row from the north, west to east within a row.
// Cells entirely outside the boundary itself are not removed here: clipping
// to the boundary and merging the slivers happen in PostGIS (see
// ClipLatticeSQL).
//
// Errors: nil or empty bounds, bounds outside longitude/latitude ranges or
// wider than MaxLatticeSpanDegrees, a size below MinCellSizeMetres, an
// unknown shape, or more than MaxLatticeCells cells (wrapping
// ErrTooManyCells).
func Lattice(bounds *geom.Bounds, shape GridShape, sizeMetres float64) ([]LatticeCell, error) {
	if bounds == nil || bounds.IsEmpty() || bounds.Layout().Stride() < 2 {
		return nil, errors.New("gis: lattice: no bounds")
	}
	minLon, minLat, maxLon, maxLat := bounds.Min(0), bounds.Min(1), bounds.Max(0), bounds.Max(1)
	for _, v := range []float64{minLon, minLat, maxLon, maxLat} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("gis: lattice: bounds %v are not finite", []float64{minLon, minLat, maxLon, maxLat})
		}
	}
	if minLon < -180 || maxLon > 180 || minLat < -85 || maxLat > 85 {
		return nil, fmt.Errorf("gis: lattice: bounds %v-%v E, %v-%v N are not longitude/latitude (or too near a pole)",
			minLon, maxLon, minLat, maxLat)
	}
	if maxLon-minLon > MaxLatticeSpanDegrees || maxLat-minLat > MaxLatticeSpanDegrees {
		return nil, fmt.Errorf("gis: lattice: bounds span %.3f° by %.3f°, more than %v°",
			maxLon-minLon, maxLat-minLat, MaxLatticeSpanDegrees)
	}
	if !(sizeMetres >= MinCellSizeMetres) || math.IsInf(sizeMetres, 0) {
		return nil, fmt.Errorf("gis: lattice: cell size %v m, want at least %v m", sizeMetres, MinCellSizeMetres)
	}

	tm := newTransverseMercator((minLon+maxLon)/2, (minLat+maxLat)/2)
	ext := projectedExtent(tm, minLon, minLat, maxLon, maxLat)

	switch shape {
	case Square:
		return squareLattice(tm, ext, sizeMetres)
	case Hexagon:
		return hexagonLattice(tm, ext, sizeMetres)
	default:
		return nil, fmt.Errorf("gis: lattice: unknown grid shape %q, want square or hexagon", string(shape))
	}
}

// extent is a projected rectangle, in metres.
type extent struct {
	minX, minY, maxX, maxY float64
}

// projectedExtent returns the projected rectangle that holds the
// longitude/latitude box. Parallels are curved in a transverse Mercator
// projection, so corners are not enough: each side is sampled, including
// its midpoint, where a parallel is nearest the equator. A millimetre is
// added on each side so that rounding never leaves a boundary point out.
func projectedExtent(tm *transverseMercator, minLon, minLat, maxLon, maxLat float64) extent {
	const steps = 16
	const margin = 0.001 // metres
	e := extent{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	add := func(lon, lat float64) {
		x, y := tm.forward(lon, lat)
		e.minX, e.maxX = math.Min(e.minX, x), math.Max(e.maxX, x)
		e.minY, e.maxY = math.Min(e.minY, y), math.Max(e.maxY, y)
	}
	for i := 0; i <= steps; i++ {
		f := float64(i) / steps
		lon := minLon + f*(maxLon-minLon)
		lat := minLat + f*(maxLat-minLat)
		add(lon, minLat)
		add(lon, maxLat)
		add(minLon, lat)
		add(maxLon, lat)
	}
	e.minX -= margin
	e.minY -= margin
	e.maxX += margin
	e.maxY += margin
	return e
}

// checkCellCount refuses lattices larger than MaxLatticeCells.
func checkCellCount(rows, cols int) error {
	if n := float64(rows) * float64(cols); n > MaxLatticeCells {
		return fmt.Errorf("%w: %d rows × %d columns = %.0f cells, more than %d; use larger cells or a smaller area",
			ErrTooManyCells, rows, cols, n, MaxLatticeCells)
	}
	return nil
}

// vertexGrid converts integer lattice vertex indices to longitude/latitude:
// vertex (k, m) lies at x = x0 + k·dx, y = y0 − m·dy in the projection (m
// counts southwards). Computing every vertex from integers is what makes
// neighbouring cells share bit-identical corners.
type vertexGrid struct {
	tm     *transverseMercator
	x0, y0 float64
	dx, dy float64
}

func (v vertexGrid) lonLat(k, m int) (float64, float64) {
	return v.tm.inverse(v.x0+float64(k)*v.dx, v.y0-float64(m)*v.dy)
}

// polygon builds a closed polygon from vertex indices given counterclockwise.
func (v vertexGrid) polygon(km ...[2]int) *geom.Polygon {
	flat := make([]float64, 0, 2*(len(km)+1))
	for _, p := range km {
		lon, lat := v.lonLat(p[0], p[1])
		flat = append(flat, lon, lat)
	}
	flat = append(flat, flat[0], flat[1])
	return geom.NewPolygonFlat(geom.XY, flat, []int{len(flat)}).SetSRID(4326)
}

// squareLattice lays square cells of side size over ext. Vertex (k, m) is
// the corner k sides east of the west edge and m sides south of the north
// edge; cell (r, c) has corners (c, r) to (c+1, r+1).
func squareLattice(tm *transverseMercator, ext extent, size float64) ([]LatticeCell, error) {
	width, height := ext.maxX-ext.minX, ext.maxY-ext.minY
	cols := max(1, int(math.Ceil(width/size)))
	rows := max(1, int(math.Ceil(height/size)))
	if err := checkCellCount(rows, cols); err != nil {
		return nil, err
	}
	cx, cy := (ext.minX+ext.maxX)/2, (ext.minY+ext.maxY)/2
	v := vertexGrid{
		tm: tm,
		x0: cx - float64(cols)*size/2,
		y0: cy + float64(rows)*size/2,
		dx: size,
		dy: size,
	}
	cells := make([]LatticeCell, 0, rows*cols)
	for r := range rows {
		for c := range cols {
			// Counterclockwise: south-west, south-east, north-east, north-west.
			p := v.polygon([2]int{c, r + 1}, [2]int{c + 1, r + 1}, [2]int{c + 1, r}, [2]int{c, r})
			cells = append(cells, LatticeCell{Row: r, Col: c, Polygon: p})
		}
	}
	return cells, nil
}

// hexagonLattice lays pointy-top hexagons of flat-to-flat width w over ext.
//
// With circumradius R = w/√3, vertex coordinates are multiples of half a
// width (w/2) eastwards and of half a circumradius (R/2) southwards, so
// every vertex has integer indices (k, m). Cell (r, c) has its centre at
// k = 2c + r%2 + 1, m = 3r + 2, and its six corners at (k, m±2) and
// (k±1, m±1). Rows are 1.5·R apart.
//
// A row fully covers the band between its centres' heights ±R/2, and two
// neighbouring rows fully cover the zigzag between them, so the lattice
// covers, without gaps, the rectangle from the west side of the first odd
// row (k = 1) to the east side of the last even row (k = 2·cols), and from
// R/2 above the first row's centres to R/2 below the last row's: that
// rectangle is made to contain ext.
func hexagonLattice(tm *transverseMercator, ext extent, w float64) ([]LatticeCell, error) {
	halfW := w / 2
	quarterH := w / math.Sqrt(3) / 2 // R/2
	width, height := ext.maxX-ext.minX, ext.maxY-ext.minY

	// Covered width is (2·cols − 1)·halfW; covered height is (3·rows − 1)·quarterH.
	cols := max(1, int(math.Ceil((width/halfW+1)/2)))
	rows := max(1, int(math.Ceil((height/quarterH+1)/3)))
	if err := checkCellCount(rows, cols); err != nil {
		return nil, err
	}
	cx, cy := (ext.minX+ext.maxX)/2, (ext.minY+ext.maxY)/2
	coveredW := float64(2*cols-1) * halfW
	coveredH := float64(3*rows-1) * quarterH
	v := vertexGrid{
		tm: tm,
		x0: cx - coveredW/2 - halfW, // the covered rectangle starts at k = 1
		y0: cy + coveredH/2 + quarterH,
		dx: halfW,
		dy: quarterH,
	}
	cells := make([]LatticeCell, 0, rows*cols)
	for r := range rows {
		for c := range cols {
			k, m := 2*c+r%2+1, 3*r+2
			// Counterclockwise from the bottom corner.
			p := v.polygon(
				[2]int{k, m + 2},     // bottom
				[2]int{k + 1, m + 1}, // lower right
				[2]int{k + 1, m - 1}, // upper right
				[2]int{k, m - 2},     // top
				[2]int{k - 1, m - 1}, // upper left
				[2]int{k - 1, m + 1}, // lower left
			)
			cells = append(cells, LatticeCell{Row: r, Col: c, Polygon: p})
		}
	}
	return cells, nil
}
