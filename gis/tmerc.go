package gis

import "math"

// WGS-84 ellipsoid.
const (
	wgs84SemiMajor  = 6378137.0         // a, metres
	wgs84Flattening = 1 / 298.257223563 // f
)

// transverseMercator is a transverse Mercator projection on the WGS-84
// ellipsoid with its central meridian and origin at a chosen centre and
// scale 1 on the central meridian: x is metres east of the centre, y metres
// north of it. Over a township or a city the scale error is tiny (it grows
// as (x/R)²/2: 3 ppm at 10 km from the centre, 11 ppm at 30 km), so a square
// laid out here is the same size on the ground to a few millimetres.
//
// The formulas are Krüger's series in the third flattening n, to fourth
// order, as given by Karney ("Transverse Mercator with an accuracy of a few
// nanometers", J. Geodesy 85, 2011, eqs. 35-36; also in the "Universal
// Transverse Mercator" article of the English Wikipedia to third order);
// the truncation error is far below a millimetre within a few hundred
// kilometres of the central meridian. The inverse finds the geodetic
// latitude from the conformal one by iteration rather than by a series.
type transverseMercator struct {
	lon0  float64    // central meridian, radians
	y0    float64    // projected northing of the centre, before shifting
	a     float64    // rectifying radius A
	e     float64    // first eccentricity
	alpha [4]float64 // forward series coefficients
	beta  [4]float64 // inverse series coefficients
}

// newTransverseMercator returns the projection centred on (lon0, lat0),
// in degrees.
func newTransverseMercator(lon0, lat0 float64) *transverseMercator {
	f := wgs84Flattening
	n := f / (2 - f)
	n2, n3 := n*n, n*n*n
	n4 := n2 * n2
	tm := &transverseMercator{
		lon0: lon0 * math.Pi / 180,
		a:    wgs84SemiMajor / (1 + n) * (1 + n2/4 + n4/64),
		e:    math.Sqrt(f * (2 - f)),
		alpha: [4]float64{
			n/2 - 2*n2/3 + 5*n3/16 + 41*n4/180,
			13*n2/48 - 3*n3/5 + 557*n4/1440,
			61*n3/240 - 103*n4/140,
			49561 * n4 / 161280,
		},
		beta: [4]float64{
			n/2 - 2*n2/3 + 37*n3/96 - n4/360,
			n2/48 + n3/15 - 437*n4/1440,
			17*n3/480 - 37*n4/840,
			4397 * n4 / 161280,
		},
	}
	_, tm.y0 = tm.forward(lon0, lat0)
	return tm
}

// forward projects a longitude/latitude in degrees to (x, y) metres. The y
// returned while y0 is still zero (from newTransverseMercator) is the
// northing from the equator.
func (tm *transverseMercator) forward(lon, lat float64) (x, y float64) {
	phi := lat * math.Pi / 180
	dLambda := lon*math.Pi/180 - tm.lon0
	sinPhi := math.Sin(phi)
	t := math.Sinh(math.Atanh(sinPhi) - tm.e*math.Atanh(tm.e*sinPhi))
	xiP := math.Atan2(t, math.Cos(dLambda))
	etaP := math.Atanh(math.Sin(dLambda) / math.Sqrt(1+t*t))
	xi, eta := xiP, etaP
	for j, a := range tm.alpha {
		k := 2 * float64(j+1)
		xi += a * math.Sin(k*xiP) * math.Cosh(k*etaP)
		eta += a * math.Cos(k*xiP) * math.Sinh(k*etaP)
	}
	return tm.a * eta, tm.a*xi - tm.y0
}

// inverse turns projected (x, y) metres back into longitude/latitude in
// degrees.
func (tm *transverseMercator) inverse(x, y float64) (lon, lat float64) {
	xi := (y + tm.y0) / tm.a
	eta := x / tm.a
	xiP, etaP := xi, eta
	for j, b := range tm.beta {
		k := 2 * float64(j+1)
		xiP -= b * math.Sin(k*xi) * math.Cosh(k*eta)
		etaP -= b * math.Cos(k*xi) * math.Sinh(k*eta)
	}
	chi := math.Asin(math.Sin(xiP) / math.Cosh(etaP)) // conformal latitude
	// Geodetic latitude φ from the conformal latitude χ: solve
	// atanh(sin χ) = atanh(sin φ) − e·atanh(e·sin φ) for φ by fixed-point
	// iteration, which gains a factor e² ≈ 0.007 per round.
	q := math.Atanh(math.Sin(chi))
	phi := chi
	for range 10 {
		next := math.Asin(math.Tanh(q + tm.e*math.Atanh(tm.e*math.Sin(phi))))
		if math.Abs(next-phi) < 1e-15 {
			phi = next
			break
		}
		phi = next
	}
	lambda := tm.lon0 + math.Atan2(math.Sinh(etaP), math.Cos(xiP))
	return lambda * 180 / math.Pi, phi * 180 / math.Pi
}
