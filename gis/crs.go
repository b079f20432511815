package gis

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/twpayne/go-geom"
)

// CRS names a geographic coordinate reference system that Sieve accepts on
// input. All three are longitude/latitude in degrees; the database stores
// WGS-84 only, and ToWGS84 converts the others.
type CRS string

// The coordinate systems met in the field.
const (
	// WGS84 is WGS-84 (EPSG:4326), what GPS receivers, drone EXIF and
	// GeoJSON (RFC 7946) use, and what the database stores.
	WGS84 CRS = "wgs84"
	// CGCS2000 is the China Geodetic Coordinate System 2000 (EPSG:4490),
	// the national datum of official boundary and survey data. It differs
	// from WGS-84 by a few centimetres, far below what a grid cell or a
	// phone GPS fix can resolve, so Sieve treats it as WGS-84.
	CGCS2000 CRS = "cgcs2000"
	// GCJ02 is GCJ-02 (火星坐标, "Mars coordinates"), the deliberately
	// offset system that Chinese phone map SDKs (AMap/Gaode, Tencent, and
	// Google Maps inside China) display and report. Its offset from WGS-84
	// is typically 100-700 m and varies from place to place.
	GCJ02 CRS = "gcj02"
)

// ErrUnsupportedCRS is wrapped by the errors of ParseCRS (and of the
// functions that read a CRS from GeoJSON) when the coordinate system is not
// one of WGS84, CGCS2000 or GCJ02.
var ErrUnsupportedCRS = errors.New("gis: unsupported coordinate system")

// ParseCRS reads a coordinate system name as clients send it. It accepts,
// ignoring case and surrounding spaces:
//
//   - "" (meaning WGS-84), "wgs84", "wgs-84", "EPSG:4326",
//     "urn:ogc:def:crs:EPSG::4326", "CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84";
//   - "cgcs2000", "EPSG:4490", "urn:ogc:def:crs:EPSG::4490";
//   - "gcj02", "gcj-02".
//
// Anything else, notably projected systems such as the CGCS2000
// Gauss-Krüger zones (EPSG:4513-4554) or Web Mercator (EPSG:3857), is
// rejected with an error wrapping ErrUnsupportedCRS; such data has to be
// reprojected to longitude/latitude first (for example with ogr2ogr
// -t_srs EPSG:4326).
func ParseCRS(s string) (CRS, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	code := name
	for _, prefix := range []string{
		"urn:ogc:def:crs:epsg::",
		"urn:ogc:def:crs:epsg:",
		"http://www.opengis.net/def/crs/epsg/0/",
		"epsg:",
	} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			code = "epsg:" + rest
			break
		}
	}
	switch code {
	case "", "wgs84", "wgs-84", "epsg:4326",
		"crs84", "ogc:crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84":
		return WGS84, nil
	case "cgcs2000", "cgcs-2000", "epsg:4490":
		return CGCS2000, nil
	case "gcj02", "gcj-02":
		return GCJ02, nil
	}
	return "", fmt.Errorf("%w %q: want wgs84, cgcs2000 or gcj02 longitude/latitude "+
		"(projected data must be converted to EPSG:4326 first)", ErrUnsupportedCRS, s)
}

// ToWGS84 returns a copy of g with every coordinate converted from the
// coordinate system from to WGS-84; g itself is not modified. WGS84 and
// CGCS2000 input is copied unchanged (the two datums differ by centimetres,
// see CGCS2000); GCJ02 input is converted with GCJ02ToWGS84. Z and M
// ordinates, if any, are kept as they are.
func ToWGS84(g geom.T, from CRS) (geom.T, error) {
	switch from {
	case WGS84, CGCS2000:
		return cloneGeom(g)
	case GCJ02:
		out, err := cloneGeom(g)
		if err != nil {
			return nil, err
		}
		transformXYInPlace(out, GCJ02ToWGS84)
		return out, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedCRS, string(from))
}

// FromWGS84 returns a copy of g with every coordinate converted from WGS-84
// to the coordinate system to, for clients that draw on a GCJ-02 base map;
// g itself is not modified. It is the inverse of ToWGS84.
func FromWGS84(g geom.T, to CRS) (geom.T, error) {
	switch to {
	case WGS84, CGCS2000:
		return cloneGeom(g)
	case GCJ02:
		out, err := cloneGeom(g)
		if err != nil {
			return nil, err
		}
		transformXYInPlace(out, WGS84ToGCJ02)
		return out, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedCRS, string(to))
}

// Parameters of the published GCJ-02 algorithm, which works on the
// Krasovsky 1940 ellipsoid.
const (
	gcjSemiMajor     = 6378245.0              // Krasovsky 1940 semi-major axis, metres
	gcjEccentricity2 = 0.00669342162296594323 // Krasovsky 1940 first eccentricity squared
)

// OutOfChina reports whether a point lies outside the rectangle (72.004-
// 137.8347 E, 0.8293-55.8271 N) in which GCJ-02 applies its offset; outside
// it GCJ-02 coordinates equal WGS-84 ones. The rectangle is the one used by
// the widely published implementation of the algorithm. It is not China's
// border: it also takes in Korea, western Japan and much of South-East
// Asia, where the conversion is applied all the same.
func OutOfChina(lon, lat float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

// WGS84ToGCJ02 converts a WGS-84 longitude/latitude to GCJ-02 (火星坐标)
// with the standard published formula. Points outside China (see
// OutOfChina) are returned unchanged.
func WGS84ToGCJ02(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	dLon, dLat := gcjOffset(lon, lat)
	return lon + dLon, lat + dLat
}

// GCJ02ToWGS84 converts a GCJ-02 longitude/latitude back to WGS-84. GCJ-02
// has no closed-form inverse, so this solves WGS84ToGCJ02(w) = (lon, lat)
// for w by fixed-point iteration, starting from the GCJ-02 point itself.
// The offset changes by less than 1 % of a step per step, so the iteration
// contracts fast: it stops when the forward conversion of the result
// matches the input to 1e-12 degrees (about 0.1 micrometre), normally after
// 3-4 rounds. Points outside China are returned unchanged.
func GCJ02ToWGS84(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	const (
		tolerance     = 1e-12
		maxIterations = 30
	)
	wLon, wLat := lon, lat
	for range maxIterations {
		gLon, gLat := WGS84ToGCJ02(wLon, wLat)
		eLon, eLat := gLon-lon, gLat-lat
		wLon -= eLon
		wLat -= eLat
		if math.Abs(eLon) < tolerance && math.Abs(eLat) < tolerance {
			break
		}
	}
	return wLon, wLat
}

// gcjOffset returns the GCJ-02 offset, in degrees, to add to a WGS-84
// point. The two polynomial-plus-sine terms give the offset in metres-like
// units on the Krasovsky ellipsoid, which are turned into degrees with the
// meridian and prime-vertical radii of curvature at the point's latitude.
func gcjOffset(lon, lat float64) (dLon, dLat float64) {
	x, y := lon-105, lat-35
	sx := math.Sqrt(math.Abs(x))
	wave := (20*math.Sin(6*math.Pi*x) + 20*math.Sin(2*math.Pi*x)) * 2 / 3

	mLat := -100 + 2*x + 3*y + 0.2*y*y + 0.1*x*y + 0.2*sx + wave +
		(20*math.Sin(math.Pi*y)+40*math.Sin(math.Pi*y/3))*2/3 +
		(160*math.Sin(math.Pi*y/12)+320*math.Sin(math.Pi*y/30))*2/3
	mLon := 300 + x + 2*y + 0.1*x*x + 0.1*x*y + 0.1*sx + wave +
		(20*math.Sin(math.Pi*x)+40*math.Sin(math.Pi*x/3))*2/3 +
		(150*math.Sin(math.Pi*x/12)+300*math.Sin(math.Pi*x/30))*2/3

	phi := lat * math.Pi / 180
	s := math.Sin(phi)
	w2 := 1 - gcjEccentricity2*s*s
	w := math.Sqrt(w2)
	meridianRadius := gcjSemiMajor * (1 - gcjEccentricity2) / (w2 * w) // M
	primeVerticalRadius := gcjSemiMajor / w                            // N

	dLat = mLat * 180 / (meridianRadius * math.Pi)
	dLon = mLon * 180 / (primeVerticalRadius * math.Cos(phi) * math.Pi)
	return dLon, dLat
}
