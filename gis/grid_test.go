package gis

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/xy"
)

func bbox(minLon, minLat, maxLon, maxLat float64) *geom.Bounds {
	return geom.NewBounds(geom.XY).Set(minLon, minLat, maxLon, maxLat)
}

func vertex(p *geom.Polygon, i int) (lon, lat float64) {
	flat := p.FlatCoords()
	return flat[2*i], flat[2*i+1]
}

func TestParseGridShape(t *testing.T) {
	tests := []struct {
		in   string
		want GridShape
		ok   bool
	}{
		{"square", Square, true},
		{"Square", Square, true},
		{"hexagon", Hexagon, true},
		{"HEX", Hexagon, true},
		{"triangle", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseGridShape(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseGridShape(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// townshipBox is a township-sized box near Yuzhou (禹州), about 11 km by
// 11 km: min lon, min lat, max lon, max lat.
func townshipBox() [4]float64 { return [4]float64{113.40, 34.10, 113.52, 34.20} }

func TestSquareLatticeOnTheGround(t *testing.T) {
	tests := []struct {
		name   string
		bounds [4]float64
		size   float64
		tol    float64 // metres, on a side
	}{
		{"500 m in a township", townshipBox(), 500, 0.02},
		{"200 m in a village", [4]float64{113.471, 34.151, 113.489, 34.163}, 200, 0.01},
		{"1 km over the whole city", [4]float64{113.07, 33.99, 113.66, 34.41}, 1000, 0.03},
		{"500 m in the far north (Mohe)", [4]float64{122.48, 52.93, 122.58, 53.0}, 500, 0.02},
		{"500 m in the far west (Kashgar)", [4]float64{75.93, 39.43, 76.05, 39.51}, 500, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := Lattice(bbox(tt.bounds[0], tt.bounds[1], tt.bounds[2], tt.bounds[3]), Square, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			diagonal := tt.size * math.Sqrt2
			for _, cell := range cells {
				p := cell.Polygon
				if p.NumLinearRings() != 1 || p.NumCoords() != 5 {
					t.Fatalf("cell (%d, %d) has %d rings, %d points", cell.Row, cell.Col, p.NumLinearRings(), p.NumCoords())
				}
				if err := CheckCoordinates(p); err != nil {
					t.Fatalf("cell (%d, %d): %v", cell.Row, cell.Col, err)
				}
				if p.SRID() != 4326 {
					t.Fatalf("cell SRID %d", p.SRID())
				}
				if !xy.IsRingCounterClockwise(geom.XY, p.FlatCoords()) {
					t.Fatalf("cell (%d, %d) is not counterclockwise", cell.Row, cell.Col)
				}
				for i := range 4 {
					lon1, lat1 := vertex(p, i)
					lon2, lat2 := vertex(p, i+1)
					if d := vincentyMetres(t, lon1, lat1, lon2, lat2); math.Abs(d-tt.size) > tt.tol {
						t.Fatalf("cell (%d, %d) side %d is %.4f m, want %v ± %v m", cell.Row, cell.Col, i, d, tt.size, tt.tol)
					}
				}
				for i := range 2 {
					lon1, lat1 := vertex(p, i)
					lon2, lat2 := vertex(p, i+2)
					if d := vincentyMetres(t, lon1, lat1, lon2, lat2); math.Abs(d-diagonal) > tt.tol*1.5 {
						t.Fatalf("cell (%d, %d) diagonal %d is %.4f m, want %.4f m: not square", cell.Row, cell.Col, i, d, diagonal)
					}
				}
			}
		})
	}
}

func TestSquareLatticeLayout(t *testing.T) {
	cells, err := Lattice(bbox(townshipBox()[0], townshipBox()[1], townshipBox()[2], townshipBox()[3]), Square, 500)
	if err != nil {
		t.Fatal(err)
	}
	// 0.12° of longitude at 34.15° N is 11.07 km, 0.10° of latitude 11.09 km:
	// 23 columns and 23 rows of 500 m.
	const rows, cols = 23, 23
	if len(cells) != rows*cols {
		t.Fatalf("got %d cells, want %d", len(cells), rows*cols)
	}
	at := map[[2]int]*geom.Polygon{}
	for i, c := range cells {
		if c.Row != i/cols || c.Col != i%cols {
			t.Fatalf("cell %d is (%d, %d), want row-major order (%d, %d)", i, c.Row, c.Col, i/cols, i%cols)
		}
		at[[2]int{c.Row, c.Col}] = c.Polygon
	}
	for r := range rows {
		for c := range cols {
			p := at[[2]int{r, c}]
			// Vertices: 0 south-west, 1 south-east, 2 north-east, 3 north-west.
			if c+1 < cols {
				east := at[[2]int{r, c + 1}]
				if !sameVertex(p, 1, east, 0) || !sameVertex(p, 2, east, 3) {
					t.Fatalf("cell (%d, %d) does not share its east side exactly with (%d, %d)", r, c, r, c+1)
				}
				if centre(east)[0] <= centre(p)[0] {
					t.Fatalf("column %d is not east of column %d", c+1, c)
				}
			}
			if r+1 < rows {
				south := at[[2]int{r + 1, c}]
				if !sameVertex(p, 0, south, 3) || !sameVertex(p, 1, south, 2) {
					t.Fatalf("cell (%d, %d) does not share its south side exactly with (%d, %d)", r, c, r+1, c)
				}
				if centre(south)[1] >= centre(p)[1] {
					t.Fatalf("row %d is not south of row %d", r+1, r)
				}
			}
		}
	}
	// The lattice is centred on the box: the overhangs west and east are
	// equal (to a metre).
	township := townshipBox()
	west := vincentyMetres(t, township[0], 34.15, vertexLon(at[[2]int{11, 0}], 0), 34.15)
	east := vincentyMetres(t, township[2], 34.15, vertexLon(at[[2]int{11, cols - 1}], 1), 34.15)
	if math.Abs(west-east) > 1 {
		t.Errorf("overhang west %.2f m, east %.2f m: lattice not centred", west, east)
	}
}

func vertexLon(p *geom.Polygon, i int) float64 {
	lon, _ := vertex(p, i)
	return lon
}

func sameVertex(p *geom.Polygon, i int, q *geom.Polygon, j int) bool {
	a, b := vertex(p, i)
	c, d := vertex(q, j)
	return a == c && b == d
}

func centre(p *geom.Polygon) geom.Coord {
	c, _ := xy.Centroid(p)
	return c
}

func TestHexagonLatticeOnTheGround(t *testing.T) {
	const w = 500.0
	side := w / math.Sqrt(3)
	cells, err := Lattice(bbox(townshipBox()[0], townshipBox()[1], townshipBox()[2], townshipBox()[3]), Hexagon, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		p := cell.Polygon
		if p.NumCoords() != 7 {
			t.Fatalf("cell (%d, %d) has %d points, want 7", cell.Row, cell.Col, p.NumCoords())
		}
		if !xy.IsRingCounterClockwise(geom.XY, p.FlatCoords()) {
			t.Fatalf("cell (%d, %d) is not counterclockwise", cell.Row, cell.Col)
		}
		for i := range 6 {
			lon1, lat1 := vertex(p, i)
			lon2, lat2 := vertex(p, i+1)
			if d := vincentyMetres(t, lon1, lat1, lon2, lat2); math.Abs(d-side) > 0.02 {
				t.Fatalf("cell (%d, %d) side %d is %.4f m, want %.4f m", cell.Row, cell.Col, i, d, side)
			}
		}
		// Flat to flat: from the middle of the east side (vertices 1-2) to
		// the middle of the west side (vertices 4-5).
		e1, e2 := vertex2(p, 1), vertex2(p, 2)
		w1, w2 := vertex2(p, 4), vertex2(p, 5)
		d := vincentyMetres(t, (e1[0]+e2[0])/2, (e1[1]+e2[1])/2, (w1[0]+w2[0])/2, (w1[1]+w2[1])/2)
		if math.Abs(d-w) > 0.02 {
			t.Fatalf("cell (%d, %d) is %.4f m flat to flat, want %v m", cell.Row, cell.Col, d, w)
		}
		// Point to point (bottom to top) is 2·side.
		b, top := vertex2(p, 0), vertex2(p, 3)
		if d := vincentyMetres(t, b[0], b[1], top[0], top[1]); math.Abs(d-2*side) > 0.02 {
			t.Fatalf("cell (%d, %d) is %.4f m point to point, want %.4f m", cell.Row, cell.Col, d, 2*side)
		}
	}
}

func vertex2(p *geom.Polygon, i int) [2]float64 {
	lon, lat := vertex(p, i)
	return [2]float64{lon, lat}
}

func TestHexagonLatticeLayout(t *testing.T) {
	const w = 500.0
	cells, err := Lattice(bbox(townshipBox()[0], townshipBox()[1], townshipBox()[2], townshipBox()[3]), Hexagon, w)
	if err != nil {
		t.Fatal(err)
	}
	at := map[[2]int]*geom.Polygon{}
	rows, cols := 0, 0
	for _, c := range cells {
		at[[2]int{c.Row, c.Col}] = c.Polygon
		rows, cols = max(rows, c.Row+1), max(cols, c.Col+1)
	}
	if len(at) != len(cells) || rows*cols != len(cells) {
		t.Fatalf("%d cells do not form a %d × %d lattice", len(cells), rows, cols)
	}
	for i, c := range cells {
		if c.Row != i/cols || c.Col != i%cols {
			t.Fatalf("cell %d is (%d, %d), want row-major order", i, c.Row, c.Col)
		}
	}
	// Vertices: 0 bottom, 1 lower right, 2 upper right, 3 top, 4 upper
	// left, 5 lower left.
	for r := range rows - 1 {
		for c := range cols - 1 {
			p := at[[2]int{r, c}]
			east := at[[2]int{r, c + 1}]
			if !sameVertex(p, 1, east, 5) || !sameVertex(p, 2, east, 4) {
				t.Fatalf("(%d, %d) does not share its east side with (%d, %d)", r, c, r, c+1)
			}
			// Even rows: the south-east neighbour is (r+1, c); odd rows: (r+1, c+1).
			se := at[[2]int{r + 1, c + r%2}]
			if !sameVertex(p, 0, se, 4) || !sameVertex(p, 1, se, 3) {
				t.Fatalf("(%d, %d) does not share its south-east side with its neighbour in row %d", r, c, r+1)
			}
		}
	}
	// Row 1 is shifted east by half a width and lies 1.5 sides south.
	c00, c10 := centre(at[[2]int{0, 0}]), centre(at[[2]int{1, 0}])
	dEast := vincentyMetres(t, c00[0], c00[1], c10[0], c00[1])
	dSouth := vincentyMetres(t, c00[0], c00[1], c00[0], c10[1])
	if c10[0] <= c00[0] || math.Abs(dEast-w/2) > 0.5 {
		t.Errorf("row 1 is shifted %.2f m east of row 0, want %v m", dEast, w/2)
	}
	if c10[1] >= c00[1] || math.Abs(dSouth-1.5*w/math.Sqrt(3)) > 0.5 {
		t.Errorf("row 1 is %.2f m south of row 0, want %.2f m", dSouth, 1.5*w/math.Sqrt(3))
	}
}

func TestLatticeCoversBoundsWithoutOverlap(t *testing.T) {
	boxes := map[string][4]float64{
		"township": townshipBox(),
		"thin":     {113.47, 34.15, 113.50, 34.1505},
		"point":    {113.47, 34.15, 113.47, 34.15},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, b := range boxes {
		for _, shape := range []GridShape{Square, Hexagon} {
			for _, size := range []float64{300, 1000} {
				cells, err := Lattice(bbox(b[0], b[1], b[2], b[3]), shape, size)
				if err != nil {
					t.Fatalf("%s %s %v: %v", name, shape, size, err)
				}
				// Corners and edges of the box, then random points inside.
				points := [][2]float64{
					{b[0], b[1]}, {b[2], b[1]}, {b[2], b[3]}, {b[0], b[3]},
					{(b[0] + b[2]) / 2, b[1]}, {(b[0] + b[2]) / 2, b[3]},
				}
				for range 2000 {
					points = append(points, [2]float64{b[0] + rng.Float64()*(b[2]-b[0]), b[1] + rng.Float64()*(b[3]-b[1])})
				}
				for _, pt := range points {
					inside := 0
					for _, c := range cells {
						if xy.IsPointInRing(geom.XY, geom.Coord{pt[0], pt[1]}, c.Polygon.FlatCoords()) {
							inside++
						}
					}
					// A point on a shared edge may count twice; random
					// points never land there.
					if inside == 0 || inside > 3 {
						t.Fatalf("%s %s %v m: point %v is in %d cells", name, shape, size, pt, inside)
					}
				}
				// No overlap: random interior points fall in exactly one cell.
				for range 500 {
					pt := geom.Coord{b[0] + rng.Float64()*(b[2]-b[0]), b[1] + rng.Float64()*(b[3]-b[1])}
					inside := 0
					for _, c := range cells {
						if xy.IsPointInRing(geom.XY, pt, c.Polygon.FlatCoords()) {
							inside++
						}
					}
					if inside != 1 {
						t.Fatalf("%s %s %v m: point %v is in %d cells, want 1", name, shape, size, pt, inside)
					}
				}
			}
		}
	}
}

func TestLatticeDegenerateBounds(t *testing.T) {
	for _, shape := range []GridShape{Square, Hexagon} {
		cells, err := Lattice(bbox(113.47, 34.15, 113.47, 34.15), shape, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(cells) != 1 || cells[0].Row != 0 || cells[0].Col != 0 {
			t.Errorf("%s: a point gives %d cells, want one cell (0, 0)", shape, len(cells))
		}
	}
}

func TestLatticeErrors(t *testing.T) {
	tests := []struct {
		name   string
		bounds *geom.Bounds
		shape  GridShape
		size   float64
		want   string
		is     error
	}{
		{"nil bounds", nil, Square, 500, "no bounds", nil},
		{"empty bounds", geom.NewBounds(geom.XY), Square, 500, "no bounds", nil},
		{"nan bounds", bbox(math.NaN(), 34, 113, 35), Square, 500, "not finite", nil},
		{"projected bounds", bbox(38456123, 3780456, 38457123, 3781456), Square, 500, "not longitude/latitude", nil},
		{"too wide", bbox(110, 30, 114, 31), Square, 5000, "more than 3°", nil},
		{"zero size", bbox(113.4, 34.1, 113.5, 34.2), Square, 0, "cell size 0 m", nil},
		{"negative size", bbox(113.4, 34.1, 113.5, 34.2), Hexagon, -500, "cell size -500 m", nil},
		{"nan size", bbox(113.4, 34.1, 113.5, 34.2), Square, math.NaN(), "cell size NaN m", nil},
		{"infinite size", bbox(113.4, 34.1, 113.5, 34.2), Square, math.Inf(1), "cell size +Inf m", nil},
		{"sub-metre size", bbox(113.4, 34.1, 113.5, 34.2), Square, 0.5, "want at least 1 m", nil},
		{"unknown shape", bbox(113.4, 34.1, 113.5, 34.2), "triangle", 500, `unknown grid shape "triangle"`, nil},
		// The whole city in 100 m squares: about 540 × 470 cells.
		{"too many squares", bbox(113.07, 33.99, 113.66, 34.41), Square, 100, "more than 20000", ErrTooManyCells},
		{"too many hexagons", bbox(113.07, 33.99, 113.66, 34.41), Hexagon, 200, "more than 20000", ErrTooManyCells},
	}
	for _, tt := range tests {
		cells, err := Lattice(tt.bounds, tt.shape, tt.size)
		if err == nil {
			t.Errorf("%s: got %d cells, want an error", tt.name, len(cells))
			continue
		}
		if !strings.HasPrefix(err.Error(), "gis: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not contain %q", tt.name, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: error %v does not wrap %v", tt.name, err, tt.is)
		}
	}
}

func TestLatticeLimitIsInclusive(t *testing.T) {
	// Just under the limit succeeds: the whole city (about 54 × 47 km) in
	// 400 m squares is about 136 × 118 = 16,000 cells.
	cells, err := Lattice(bbox(113.07, 33.99, 113.66, 34.41), Square, 400)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) > MaxLatticeCells || len(cells) < 10000 {
		t.Errorf("got %d cells", len(cells))
	}
}
