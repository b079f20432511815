package gis

import (
	"errors"
	"math"
	"testing"

	"github.com/twpayne/go-geom"
)

func TestParseCRS(t *testing.T) {
	tests := []struct {
		in   string
		want CRS
	}{
		{"", WGS84},
		{"  ", WGS84},
		{"wgs84", WGS84},
		{"WGS84", WGS84},
		{"WGS-84", WGS84},
		{"EPSG:4326", WGS84},
		{"epsg:4326", WGS84},
		{"urn:ogc:def:crs:EPSG::4326", WGS84},
		{"urn:ogc:def:crs:OGC:1.3:CRS84", WGS84},
		{"CRS84", WGS84},
		{"cgcs2000", CGCS2000},
		{"CGCS2000", CGCS2000},
		{"EPSG:4490", CGCS2000},
		{"urn:ogc:def:crs:EPSG::4490", CGCS2000},
		{"http://www.opengis.net/def/crs/EPSG/0/4490", CGCS2000},
		{"gcj02", GCJ02},
		{"GCJ02", GCJ02},
		{"GCJ-02", GCJ02},
	}
	for _, tt := range tests {
		got, err := ParseCRS(tt.in)
		if err != nil {
			t.Errorf("ParseCRS(%q): unexpected error %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseCRS(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseCRSRejects(t *testing.T) {
	for _, in := range []string{
		"EPSG:3857",  // Web Mercator, projected
		"EPSG:4547",  // CGCS2000 / 3-degree Gauss-Kruger CM 114E, projected
		"EPSG:43260", // not 4326
		"bd09",       // Baidu's offset system: not supported
		"4326x",
		"urn:ogc:def:crs:EPSG::4326:extra",
	} {
		got, err := ParseCRS(in)
		if err == nil {
			t.Errorf("ParseCRS(%q) = %q, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrUnsupportedCRS) {
			t.Errorf("ParseCRS(%q) error %v does not wrap ErrUnsupportedCRS", in, err)
		}
	}
}

// gcjPair is a WGS-84 point and its GCJ-02 counterpart.
type gcjPair struct {
	name           string
	wgsLon, wgsLat float64
	gcjLon, gcjLat float64
	tol            float64 // degrees; the pairs were published to 15-17 significant digits
}

// gcjReference returns WGS-84/GCJ-02 pairs published with open-source
// implementations of the algorithm: the test table of
// github.com/googollee/eviltransform (Shanghai, Shenzhen, Beijing) and the
// README example of github.com/wandergis/coordtransform (Beijing).
func gcjReference() []gcjPair {
	return []gcjPair{
		{"shanghai (eviltransform)", 121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, 1e-12},
		{"shenzhen (eviltransform)", 113.912316, 22.543847, 113.9171764808363, 22.540796131694766, 1e-12},
		{"beijing (eviltransform)", 116.377817, 39.911954, 116.38404722455657, 39.91334545536069, 1e-12},
		{"beijing (coordtransform)", 116.404, 39.915, 116.41024449916938, 39.91640428150164, 1e-12},
	}
}

func TestWGS84ToGCJ02Reference(t *testing.T) {
	for _, tt := range gcjReference() {
		lon, lat := WGS84ToGCJ02(tt.wgsLon, tt.wgsLat)
		if math.Abs(lon-tt.gcjLon) > tt.tol || math.Abs(lat-tt.gcjLat) > tt.tol {
			t.Errorf("%s: WGS84ToGCJ02(%v, %v) = (%.15f, %.15f), want (%.15f, %.15f)",
				tt.name, tt.wgsLon, tt.wgsLat, lon, lat, tt.gcjLon, tt.gcjLat)
		}
	}
}

func TestGCJ02ToWGS84Reference(t *testing.T) {
	for _, tt := range gcjReference() {
		lon, lat := GCJ02ToWGS84(tt.gcjLon, tt.gcjLat)
		// The inverse must recover the WGS-84 point to better than 1e-9
		// degrees (0.1 mm), not the metre or so of the one-step
		// approximation found in many libraries.
		if math.Abs(lon-tt.wgsLon) > 1e-9 || math.Abs(lat-tt.wgsLat) > 1e-9 {
			t.Errorf("%s: GCJ02ToWGS84(%v, %v) = (%.12f, %.12f), want (%.12f, %.12f)",
				tt.name, tt.gcjLon, tt.gcjLat, lon, lat, tt.wgsLon, tt.wgsLat)
		}
	}
}

func TestGCJ02ToWGS84BeatsOneStepApproximation(t *testing.T) {
	// coordtransform's README gives gcj02towgs84(116.404, 39.915) =
	// (116.39775550083061, 39.91359571849836), computed with the common
	// one-step approximation w = g - offset(g). Its forward conversion misses
	// the input by several 1e-7 degrees (a few centimetres); the exact
	// inverse must not.
	const gLon, gLat = 116.404, 39.915
	approxLon, approxLat := 116.39775550083061, 39.91359571849836
	fLon, fLat := WGS84ToGCJ02(approxLon, approxLat)
	approxMiss := math.Hypot(fLon-gLon, fLat-gLat)
	if approxMiss < 1e-8 {
		t.Fatalf("one-step approximation misses by only %g degrees; the test premise is wrong", approxMiss)
	}

	lon, lat := GCJ02ToWGS84(gLon, gLat)
	fLon, fLat = WGS84ToGCJ02(lon, lat)
	if miss := math.Hypot(fLon-gLon, fLat-gLat); miss > 1e-11 {
		t.Errorf("forward(GCJ02ToWGS84(g)) misses g by %g degrees, want < 1e-11", miss)
	}
	if d := math.Hypot(lon-approxLon, lat-approxLat); d < 1e-8 || d > 1e-4 {
		t.Errorf("exact inverse differs from the one-step approximation by %g degrees, want between 1e-8 and 1e-4", d)
	}
}

func TestGCJRoundTripOverChina(t *testing.T) {
	// A grid over mainland China and Hainan, with steps chosen so that the
	// points do not fall on round numbers.
	n := 0
	for lon := 73.3; lon < 135; lon += 0.37 {
		for lat := 18.1; lat < 53.5; lat += 0.29 {
			n++
			gLon, gLat := WGS84ToGCJ02(lon, lat)
			if OutOfChina(gLon, gLat) {
				continue
			}
			wLon, wLat := GCJ02ToWGS84(gLon, gLat)
			if math.Abs(wLon-lon) > 1e-9 || math.Abs(wLat-lat) > 1e-9 {
				t.Fatalf("WGS (%v, %v) -> GCJ (%v, %v) -> WGS (%v, %v): off by (%g, %g)",
					lon, lat, gLon, gLat, wLon, wLat, wLon-lon, wLat-lat)
			}
			// And the other way round, starting from a GCJ-02 point.
			wLon, wLat = GCJ02ToWGS84(lon, lat)
			gLon, gLat = WGS84ToGCJ02(wLon, wLat)
			if math.Abs(gLon-lon) > 1e-9 || math.Abs(gLat-lat) > 1e-9 {
				t.Fatalf("GCJ (%v, %v) -> WGS -> GCJ (%v, %v): off by (%g, %g)",
					lon, lat, gLon, gLat, gLon-lon, gLat-lat)
			}
		}
	}
	if n < 10000 {
		t.Fatalf("only %d grid points tested", n)
	}
}

func TestGCJOffsetMagnitude(t *testing.T) {
	// Near Yuzhou (禹州) the GCJ-02 offset is a few hundred metres, as in
	// the rest of China; a formula error would usually show up as an offset
	// of zero or of kilometres.
	tests := []struct {
		name     string
		lon, lat float64
	}{
		{"yuzhou", 113.47, 34.15},
		{"urumqi", 87.62, 43.82},
		{"harbin", 126.53, 45.80},
		{"haikou", 110.33, 20.03},
	}
	for _, tt := range tests {
		gLon, gLat := WGS84ToGCJ02(tt.lon, tt.lat)
		metres := approxMetres(tt.lon, tt.lat, gLon, gLat)
		if metres < 50 || metres > 1000 {
			t.Errorf("%s: GCJ-02 offset is %.1f m, want 50-1000 m", tt.name, metres)
		}
	}
}

func TestOutsideChinaIsIdentity(t *testing.T) {
	tests := []struct {
		name     string
		lon, lat float64
		out      bool
	}{
		{"london", -0.1276, 51.5072, true},
		{"tokyo", 139.6917, 35.6895, true},
		{"singapore", 103.8198, 1.3521, false}, // inside the algorithm's rectangle
		{"jakarta", 106.8456, -6.2088, true},
		{"yuzhou", 113.47, 34.15, false},
	}
	for _, tt := range tests {
		if got := OutOfChina(tt.lon, tt.lat); got != tt.out {
			t.Errorf("%s: OutOfChina = %v, want %v", tt.name, got, tt.out)
		}
		if !tt.out {
			continue
		}
		if lon, lat := WGS84ToGCJ02(tt.lon, tt.lat); lon != tt.lon || lat != tt.lat {
			t.Errorf("%s: WGS84ToGCJ02 moved the point to (%v, %v)", tt.name, lon, lat)
		}
		if lon, lat := GCJ02ToWGS84(tt.lon, tt.lat); lon != tt.lon || lat != tt.lat {
			t.Errorf("%s: GCJ02ToWGS84 moved the point to (%v, %v)", tt.name, lon, lat)
		}
	}
}

func TestToWGS84(t *testing.T) {
	gcjRing := []geom.Coord{
		{113.47, 34.15, 10}, {113.48, 34.15, 11}, {113.48, 34.16, 12}, {113.47, 34.15, 10},
	}
	poly := geom.NewPolygon(geom.XYZ).MustSetCoords([][]geom.Coord{gcjRing}).SetSRID(4326)
	point := geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113.5, 34.2})
	collection := geom.NewGeometryCollection().MustPush(poly, point)

	tests := []struct {
		name string
		in   geom.T
		from CRS
		want func(lon, lat float64) (float64, float64)
	}{
		{"gcj02 polygon", poly, GCJ02, GCJ02ToWGS84},
		{"gcj02 collection", collection, GCJ02, GCJ02ToWGS84},
		{"wgs84 is copied", poly, WGS84, identity},
		{"cgcs2000 is treated as wgs84", poly, CGCS2000, identity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := flatten(tt.in)
			got, err := ToWGS84(tt.in, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			if d := flatten(tt.in); !equalFloats(d, before) {
				t.Fatalf("input was modified: %v -> %v", before, d)
			}
			if got.SRID() != tt.in.SRID() {
				t.Errorf("SRID = %d, want %d", got.SRID(), tt.in.SRID())
			}
			in, out := coordsOf(tt.in), coordsOf(got)
			if len(in) != len(out) {
				t.Fatalf("got %d coordinates, want %d", len(out), len(in))
			}
			for i := range in {
				wLon, wLat := tt.want(in[i][0], in[i][1])
				if out[i][0] != wLon || out[i][1] != wLat {
					t.Errorf("coordinate %d = %v, want (%v, %v)", i, out[i], wLon, wLat)
				}
				if len(in[i]) == 3 && (len(out[i]) != 3 || out[i][2] != in[i][2]) {
					t.Errorf("coordinate %d lost its Z: %v -> %v", i, in[i], out[i])
				}
			}
			// The result must not share memory with the input.
			transformXYInPlace(got, func(x, y float64) (float64, float64) { return 0, 0 })
			if d := flatten(tt.in); !equalFloats(d, before) {
				t.Errorf("result aliases the input")
			}
		})
	}
}

func TestToWGS84Errors(t *testing.T) {
	p := geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{113.5, 34.2})
	if _, err := ToWGS84(p, "bd09"); !errors.Is(err, ErrUnsupportedCRS) {
		t.Errorf("ToWGS84(bd09) error = %v, want ErrUnsupportedCRS", err)
	}
	if _, err := FromWGS84(p, "bd09"); !errors.Is(err, ErrUnsupportedCRS) {
		t.Errorf("FromWGS84(bd09) error = %v, want ErrUnsupportedCRS", err)
	}
	if _, err := ToWGS84(nil, GCJ02); err == nil {
		t.Errorf("ToWGS84(nil) succeeded, want an error")
	}
}

func TestFromWGS84RoundTrip(t *testing.T) {
	line := geom.NewLineString(geom.XY).MustSetCoords([]geom.Coord{
		{113.07, 33.99}, {113.66, 34.41}, {113.3, 34.2},
	})
	gcj, err := FromWGS84(line, GCJ02)
	if err != nil {
		t.Fatal(err)
	}
	if equalFloats(flatten(gcj), flatten(line)) {
		t.Fatal("FromWGS84(GCJ02) did not move the coordinates")
	}
	back, err := ToWGS84(gcj, GCJ02)
	if err != nil {
		t.Fatal(err)
	}
	a, b := flatten(line), flatten(back)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			t.Errorf("ordinate %d: %v after round trip, want %v", i, b[i], a[i])
		}
	}
}

func identity(x, y float64) (float64, float64) { return x, y }

// approxMetres returns the distance between two nearby points on a sphere
// of radius 6371 km, good to a fraction of a percent over a few kilometres.
func approxMetres(lon1, lat1, lon2, lat2 float64) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dx := (lon2 - lon1) * rad * math.Cos((lat1+lat2)/2*rad) * r
	dy := (lat2 - lat1) * rad * r
	return math.Hypot(dx, dy)
}

// coordsOf returns every coordinate of g in order, collections included.
func coordsOf(g geom.T) []geom.Coord {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		var out []geom.Coord
		for _, sub := range gc.Geoms() {
			out = append(out, coordsOf(sub)...)
		}
		return out
	}
	var out []geom.Coord
	flat, stride := g.FlatCoords(), g.Stride()
	for i := 0; i+stride <= len(flat) && stride > 0; i += stride {
		out = append(out, geom.Coord(flat[i:i+stride]))
	}
	return out
}

// flatten returns a copy of every ordinate of g, collections included.
func flatten(g geom.T) []float64 {
	var out []float64
	for _, c := range coordsOf(g) {
		out = append(out, c...)
	}
	return out
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
