package gis

import (
	"math"
	"testing"
)

// vincentyMetres is the geodesic distance between two points on the WGS-84
// ellipsoid by Vincenty's inverse formula (Survey Review 23(176), 1975),
// good to well under a millimetre. It is an independent yardstick for the
// projection and the lattice, which must not be checked against themselves.
func vincentyMetres(t *testing.T, lon1, lat1, lon2, lat2 float64) float64 {
	t.Helper()
	const (
		a = 6378137.0
		f = 1 / 298.257223563
		b = a * (1 - f)
	)
	rad := math.Pi / 180
	l := (lon2 - lon1) * rad
	u1 := math.Atan((1 - f) * math.Tan(lat1*rad))
	u2 := math.Atan((1 - f) * math.Tan(lat2*rad))
	sinU1, cosU1 := math.Sincos(u1)
	sinU2, cosU2 := math.Sincos(u2)

	lambda := l
	var sinSigma, cosSigma, sigma, cos2Alpha, cos2SigmaM float64
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatalf("vincenty did not converge for (%v %v)-(%v %v)", lon1, lat1, lon2, lat2)
		}
		sinLambda, cosLambda := math.Sincos(lambda)
		sinSigma = math.Hypot(cosU2*sinLambda, cosU1*sinU2-sinU1*cosU2*cosLambda)
		if sinSigma == 0 {
			return 0
		}
		cosSigma = sinU1*sinU2 + cosU1*cosU2*cosLambda
		sigma = math.Atan2(sinSigma, cosSigma)
		sinAlpha := cosU1 * cosU2 * sinLambda / sinSigma
		cos2Alpha = 1 - sinAlpha*sinAlpha
		cos2SigmaM = 0
		if cos2Alpha != 0 {
			cos2SigmaM = cosSigma - 2*sinU1*sinU2/cos2Alpha
		}
		c := f / 16 * cos2Alpha * (4 + f*(4-3*cos2Alpha))
		prev := lambda
		lambda = l + (1-c)*f*sinAlpha*(sigma+c*sinSigma*(cos2SigmaM+c*cosSigma*(-1+2*cos2SigmaM*cos2SigmaM)))
		if math.Abs(lambda-prev) < 1e-13 {
			break
		}
	}
	u2sq := cos2Alpha * (a*a - b*b) / (b * b)
	bigA := 1 + u2sq/16384*(4096+u2sq*(-768+u2sq*(320-175*u2sq)))
	bigB := u2sq / 1024 * (256 + u2sq*(-128+u2sq*(74-47*u2sq)))
	deltaSigma := bigB * sinSigma * (cos2SigmaM + bigB/4*(cosSigma*(-1+2*cos2SigmaM*cos2SigmaM)-
		bigB/6*cos2SigmaM*(-3+4*sinSigma*sinSigma)*(-3+4*cos2SigmaM*cos2SigmaM)))
	return b * bigA * (sigma - deltaSigma)
}

func TestVincentyYardstick(t *testing.T) {
	// The yardstick itself against known geodesics: one degree of
	// longitude on the equator is a·π/180, and one degree of latitude from
	// the equator is the meridian arc 110574.3885 m (WGS-84).
	tests := []struct {
		name                   string
		lon1, lat1, lon2, lat2 float64
		want                   float64
	}{
		{"equator degree", 0, 0, 1, 0, 6378137.0 * math.Pi / 180},
		{"meridian degree", 0, 0, 0, 1, 110574.3885},
	}
	for _, tt := range tests {
		if got := vincentyMetres(t, tt.lon1, tt.lat1, tt.lon2, tt.lat2); math.Abs(got-tt.want) > 0.001 {
			t.Errorf("%s: %.4f m, want %.4f m", tt.name, got, tt.want)
		}
	}
}

func TestTransverseMercatorRoundTrip(t *testing.T) {
	centres := [][2]float64{{113.365, 34.2}, {75.99, 39.47}, {122.53, 52.97}, {110.33, 20.03}}
	for _, c := range centres {
		tm := newTransverseMercator(c[0], c[1])
		if x, y := tm.forward(c[0], c[1]); math.Abs(x) > 1e-9 || math.Abs(y) > 1e-9 {
			t.Errorf("centre %v projects to (%v, %v), want (0, 0)", c, x, y)
		}
		for dLon := -1.5; dLon <= 1.5; dLon += 0.25 {
			for dLat := -1.5; dLat <= 1.5; dLat += 0.25 {
				lon, lat := c[0]+dLon, c[1]+dLat
				x, y := tm.forward(lon, lat)
				gotLon, gotLat := tm.inverse(x, y)
				if math.Abs(gotLon-lon) > 1e-10 || math.Abs(gotLat-lat) > 1e-10 {
					t.Fatalf("centre %v: (%v, %v) -> (%v, %v) -> (%v, %v)", c, lon, lat, x, y, gotLon, gotLat)
				}
			}
		}
	}
}

func TestTransverseMercatorScale(t *testing.T) {
	// Projected distances against geodesic distances. On the central
	// meridian the scale is exactly 1; away from it, it grows as
	// 1 + (x/R)²/2. Over 1 km segments anywhere within 30 km of the centre
	// the error must stay under 2 cm.
	tm := newTransverseMercator(113.365, 34.2)
	tests := []struct {
		name           string
		x1, y1, x2, y2 float64
		tolerance      float64 // metres
	}{
		{"along the central meridian", 0, -20000, 0, 20000, 0.001},
		{"east-west through the centre", -500, 0, 500, 0, 0.0001},
		{"north-south 30 km east", 30000, 0, 30000, 1000, 0.02},
		{"east-west 30 km west, 20 km south", -30500, -20000, -29500, -20000, 0.02},
		{"diagonal 20 km north", 10000, 20000, 10707.1068, 20707.1068, 0.01},
	}
	for _, tt := range tests {
		lon1, lat1 := tm.inverse(tt.x1, tt.y1)
		lon2, lat2 := tm.inverse(tt.x2, tt.y2)
		want := math.Hypot(tt.x2-tt.x1, tt.y2-tt.y1)
		got := vincentyMetres(t, lon1, lat1, lon2, lat2)
		if math.Abs(got-want) > tt.tolerance {
			t.Errorf("%s: ground distance %.4f m, projected %.4f m (difference %.4f m, tolerance %v m)",
				tt.name, got, want, got-want, tt.tolerance)
		}
	}
}
