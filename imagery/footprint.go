package imagery

import "math"

// Camera is the field of view of a camera, in degrees, across the width
// and the height of the stored image.
type Camera struct {
	HFOV, VFOV float64
}

// CameraFromFocal derives the field of view from the real focal length and
// the sensor size along the image width and height, all in millimetres.
func CameraFromFocal(focalMM, sensorWidthMM, sensorHeightMM float64) Camera {
	return Camera{
		HFOV: 2 * deg(math.Atan(sensorWidthMM/(2*focalMM))),
		VFOV: 2 * deg(math.Atan(sensorHeightMM/(2*focalMM))),
	}
}

// CameraFrom35mm derives the field of view from the 35 mm-equivalent focal
// length (defined on the 43.27 mm diagonal of a 36×24 mm frame) and the
// image's pixel size, whose aspect gives the split between width and height.
//
// A frame in a video ratio (16:9 and wider) is taken to be cut from a 4:3
// sensor, keeping its width (DJI's 16:9 photo modes): the 35 mm
// equivalent, like a published diagonal field of view, belongs to the whole
// sensor, and the frame sees only its middle band (FrameOnSensor).
func CameraFrom35mm(focal35mm float64, width, height int) Camera {
	fw, fh := FrameOnSensor(width, height)
	return CameraFromFocal(focal35mm, diag35mm*fw, diag35mm*fh)
}

// videoRatio is the aspect from which on a frame is taken to be a crop of
// a 4:3 sensor (16:9 is 1.78; 3:2 frames, 1.5, are full 3:2 sensors).
const videoRatio = 1.7

// FrameOnSensor returns the width and the height of a width×height frame as
// fractions of the diagonal of the sensor it was taken on. A frame of 4:3
// or 3:2 (or any aspect below videoRatio) is the whole sensor; a wider one
// (16:9) is the full width of a 4:3 sensor with the top and bottom cut off.
// Portrait frames are the same turned.
func FrameOnSensor(width, height int) (fw, fh float64) {
	w, h := float64(width), float64(height)
	if w < h {
		fh, fw = FrameOnSensor(height, width)
		return fw, fh
	}
	if h <= 0 || w/h < videoRatio {
		d := math.Hypot(w, h)
		return w / d, h / d
	}
	fw = 4.0 / 5.0 // the width of a 4:3 sensor over its diagonal
	return fw, fw * h / w
}

// CameraFromDiagonalFOV derives the field of view from the diagonal one
// that drone makers publish (84° for many DJI cameras) and the image size;
// the diagonal is the sensor's, so a 16:9 frame sees less of it
// (FrameOnSensor).
func CameraFromDiagonalFOV(diagonalDeg float64, width, height int) Camera {
	t := math.Tan(rad(diagonalDeg) / 2)
	fw, fh := FrameOnSensor(width, height)
	return Camera{
		HFOV: 2 * deg(math.Atan(t*fw)),
		VFOV: 2 * deg(math.Atan(t*fh)),
	}
}

// CameraFromMetadata picks the best field of view the metadata of an image
// of width×height pixels gives: DJI's calibrated focal length in pixels,
// else the focal length with the sensor size, else the 35 mm equivalent.
func CameraFromMetadata(md Metadata, width, height int) (Camera, bool) {
	if width <= 0 || height <= 0 {
		return Camera{}, false
	}
	switch {
	case md.Drone != nil && md.Drone.CalibratedFocalLength != nil && *md.Drone.CalibratedFocalLength > 0:
		f := *md.Drone.CalibratedFocalLength
		return Camera{
			HFOV: 2 * deg(math.Atan(float64(width)/(2*f))),
			VFOV: 2 * deg(math.Atan(float64(height)/(2*f))),
		}, true
	case md.FocalLengthMM != nil && md.SensorWidthMM != nil && md.SensorHeightMM != nil:
		return CameraFromFocal(*md.FocalLengthMM, *md.SensorWidthMM, *md.SensorHeightMM), true
	case md.FocalLength35mm != nil:
		return CameraFrom35mm(*md.FocalLength35mm, width, height), true
	}
	return Camera{}, false
}

// Pose is where a drone camera was and where it looked when it took an
// image.
type Pose struct {
	// Lon and Lat are the camera position (WGS-84 degrees).
	Lon, Lat float64
	// Height is the camera's height above the ground in metres; the
	// ground is taken as flat, at the take-off point's level (DJI
	// RelativeAltitude).
	Height float64
	// Pitch is the camera's pitch in degrees: 0 level, -90 straight down.
	Pitch float64
	// Yaw is the camera's heading in degrees clockwise from north.
	Yaw float64
	// Roll is the camera's roll in degrees, positive to the right (a
	// stabilised gimbal keeps it near 0).
	Roll float64
}

// PoseFromMetadata builds a Pose from the GPS position, the relative
// altitude and the gimbal attitude of a drone image.
func PoseFromMetadata(md Metadata) (Pose, bool) {
	d := md.Drone
	if md.GPS == nil || md.AltitudeRel == nil || d == nil || d.GimbalPitch == nil || d.GimbalYaw == nil {
		return Pose{}, false
	}
	p := Pose{Lon: md.GPS.Lon, Lat: md.GPS.Lat, Height: *md.AltitudeRel, Pitch: *d.GimbalPitch, Yaw: *d.GimbalYaw}
	if d.GimbalRoll != nil {
		p.Roll = *d.GimbalRoll
	}
	return p, true
}

// minDepression is how far below the horizon every corner ray of the view
// must point for a footprint to exist: a ray closer to the horizon meets
// the ground more than ~57 heights away, where flat ground and the
// attitude's precision mean nothing.
const minDepression = 1.0 // degrees

// Footprint returns the ground footprint of an image on flat ground: the
// points where the rays through the four image corners meet the ground.
// A nadir image (pitch -90) gives a rectangle turned by the yaw; an oblique
// one a trapezoid, wider on the far side. When the upper edge of the view
// is at or above the horizon (or within minDepression of it), or the pose
// is unusable (height ≤ 0, field of view not in (0°, 180°)), ok is false.
//
// Corners are [lon, lat] pairs in counterclockwise order starting from the
// image's top-left corner (top-left, bottom-left, bottom-right, top-right
// for an upright view); append the first to close a GeoJSON ring.
func Footprint(cam Camera, pose Pose) (corners [4][2]float64, ok bool) {
	enu, ok := footprintENU(cam, pose)
	if !ok {
		return corners, false
	}
	for i, p := range enu {
		corners[i] = offsetLonLat(pose.Lon, pose.Lat, p[0], p[1])
	}
	return corners, true
}

// footprintENU returns the footprint corners as east/north metres from the
// point below the camera, counterclockwise from the image's top-left.
func footprintENU(cam Camera, pose Pose) ([4][2]float64, bool) {
	var out [4][2]float64
	if !(pose.Height > 0) || !(cam.HFOV > 0 && cam.HFOV < 180) || !(cam.VFOV > 0 && cam.VFOV < 180) ||
		math.Abs(pose.Lat) > 90 || math.Abs(pose.Lon) > 180 {
		return out, false
	}
	psi, theta, phi := rad(pose.Yaw), rad(pose.Pitch), rad(pose.Roll)
	// Camera axes in east-north-up: forward, right and up before roll.
	f := vec3{math.Sin(psi) * math.Cos(theta), math.Cos(psi) * math.Cos(theta), math.Sin(theta)}
	r0 := vec3{math.Cos(psi), -math.Sin(psi), 0}
	u0 := r0.cross(f)
	r := r0.scale(math.Cos(phi)).add(u0.scale(-math.Sin(phi)))
	u := r0.scale(math.Sin(phi)).add(u0.scale(math.Cos(phi)))
	tx, ty := math.Tan(rad(cam.HFOV)/2), math.Tan(rad(cam.VFOV)/2)
	// Image corners: top-left, bottom-left, bottom-right, top-right.
	signs := [4][2]float64{{-1, 1}, {-1, -1}, {1, -1}, {1, 1}}
	maxZ := -math.Sin(rad(minDepression))
	for i, s := range signs {
		d := f.add(r.scale(s[0] * tx)).add(u.scale(s[1] * ty))
		if d.z/d.norm() > maxZ {
			return out, false
		}
		t := pose.Height / -d.z
		out[i] = [2]float64{t * d.x, t * d.y}
	}
	// Projection from a point in front of the plane keeps the orientation
	// of the image rectangle; keep the ring counterclockwise regardless.
	if ringArea(out) < 0 {
		out[1], out[3] = out[3], out[1]
	}
	return out, true
}

// ringArea returns the signed (shoelace) area of a quadrilateral, positive
// when counterclockwise.
func ringArea(q [4][2]float64) float64 {
	a := 0.0
	for i := range q {
		j := (i + 1) % 4
		a += q[i][0]*q[j][1] - q[j][0]*q[i][1]
	}
	return a / 2
}

// WGS-84 ellipsoid.
const (
	wgs84A  = 6378137.0
	wgs84E2 = 6.69437999014e-3
)

// offsetLonLat moves east and north metres from lon, lat on the WGS-84
// ellipsoid (local radii of curvature; exact enough over a few km).
func offsetLonLat(lon, lat, east, north float64) [2]float64 {
	s := math.Sin(rad(lat))
	w := 1 - wgs84E2*s*s
	m := wgs84A * (1 - wgs84E2) / (w * math.Sqrt(w)) // meridional radius
	n := wgs84A / math.Sqrt(w)                       // prime vertical radius
	return [2]float64{
		lon + deg(east/(n*math.Cos(rad(lat)))),
		lat + deg(north/m),
	}
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }

type vec3 struct{ x, y, z float64 }

func (a vec3) add(b vec3) vec3      { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec3) scale(k float64) vec3 { return vec3{a.x * k, a.y * k, a.z * k} }
func (a vec3) norm() float64        { return math.Sqrt(a.x*a.x + a.y*a.y + a.z*a.z) }
func (a vec3) cross(b vec3) vec3 {
	return vec3{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}

// FootprintClip bounds how far a clipped footprint reaches: at most
// DepthHeights × the camera's height beyond the nearest ground the view
// shows, and never farther than MaxRangeMetres from the point below the
// camera. Beyond that an oblique view shows ground too far and too flat to
// mean anything for a grid cell. The depth is counted from the near edge,
// not from the point below the camera, so that the footprint grows with the
// pitch: a disc around the nadir would lose its near part faster than the
// view widens, and the area would fall as the camera tilts up.
type FootprintClip struct {
	DepthHeights   float64
	MaxRangeMetres float64
}

// Why a drone image has no footprint (FootprintClipped's reason, stored with
// the image).
const (
	NoFootprintAttitude    = "no_attitude"      // no gimbal pitch/yaw in the metadata
	NoFootprintAltitude    = "no_altitude"      // no usable height above the ground
	NoFootprintHorizon     = "above_horizon"    // the view's centre is at or above the horizon
	NoFootprintFieldOfView = "no_field_of_view" // no usable field of view
	NoFootprintPosition    = "no_position"      // no usable GPS position
)

// clipArcSegments is how many segments approximate the clip circle.
const clipArcSegments = 96

// ClippedFootprint is a drone image's ground footprint cut at a range.
type ClippedFootprint struct {
	// Ring is the footprint's boundary as [lon, lat] pairs, counterclockwise,
	// not closed (append the first to close a GeoJSON ring).
	Ring [][2]float64
	// Clipped says the view reached beyond the clip range (or the horizon)
	// and the footprint was cut there.
	Clipped bool
	// AreaM2 is the footprint's area on the ground in square metres.
	AreaM2 float64
	// RangeMetres is the distance from the point below the camera at which
	// the footprint was cut (0 when not clipped).
	RangeMetres float64
}

// FootprintClipped returns the ground footprint of an image on flat ground,
// cut by clip: the part of the ground inside the view's four side planes,
// within clip.DepthHeights·height of the view's nearest ground point and
// within clip.MaxRangeMetres of the point below the camera. Unlike
// Footprint, a view whose upper edge reaches the horizon still has a
// footprint (the range cuts it), so the footprint grows continuously with
// the pitch; only a view whose centre is within minDepression of the
// horizon, or above it, has none (reason NoFootprintHorizon). reason is ""
// when there is a footprint.
func FootprintClipped(cam Camera, pose Pose, clip FootprintClip) (fp ClippedFootprint, reason string) {
	switch {
	case !(pose.Height > 0) || math.IsInf(pose.Height, 0):
		return fp, NoFootprintAltitude
	case !(cam.HFOV > 0 && cam.HFOV < 180) || !(cam.VFOV > 0 && cam.VFOV < 180):
		return fp, NoFootprintFieldOfView
	case !(math.Abs(pose.Lat) <= 90) || !(math.Abs(pose.Lon) <= 180):
		return fp, NoFootprintPosition
	}
	psi, theta, phi := rad(pose.Yaw), rad(pose.Pitch), rad(pose.Roll)
	f := vec3{math.Sin(psi) * math.Cos(theta), math.Cos(psi) * math.Cos(theta), math.Sin(theta)}
	if f.z > -math.Sin(rad(minDepression)) {
		return fp, NoFootprintHorizon
	}
	r0 := vec3{math.Cos(psi), -math.Sin(psi), 0}
	u0 := r0.cross(f)
	r := r0.scale(math.Cos(phi)).add(u0.scale(-math.Sin(phi)))
	u := r0.scale(math.Sin(phi)).add(u0.scale(math.Cos(phi)))
	tx, ty := math.Tan(rad(cam.HFOV)/2), math.Tan(rad(cam.VFOV)/2)
	signs := [4][2]float64{{-1, 1}, {-1, -1}, {1, -1}, {1, 1}}
	var dirs [4]vec3
	for i, s := range signs {
		dirs[i] = f.add(r.scale(s[0] * tx)).add(u.scale(s[1] * ty))
	}
	// The view on the ground, out to the largest range that can matter.
	outer := clip.MaxRangeMetres
	if !(outer > 0) {
		outer = 1e3 * pose.Height
	}
	view := viewOnGround(dirs, f, pose.Height, outer)
	if len(view) < 3 {
		return fp, NoFootprintHorizon
	}
	far := outer
	if clip.DepthHeights > 0 {
		far = math.Min(outer, distanceToPolygon(view)+clip.DepthHeights*pose.Height)
	}
	// When every corner ray meets the ground within the range, the exact
	// quadrilateral is the footprint.
	exact := true
	for _, d := range dirs {
		if d.z/d.norm() > -math.Sin(rad(minDepression)) {
			exact = false
			break
		}
		t := pose.Height / -d.z
		if math.Hypot(t*d.x, t*d.y) > far {
			exact = false
			break
		}
	}
	var poly [][2]float64
	if exact {
		q, _ := footprintENU(cam, pose)
		poly = q[:]
	} else {
		poly = viewOnGround(dirs, f, pose.Height, far)
		if len(poly) < 3 {
			return fp, NoFootprintHorizon
		}
		fp.Clipped, fp.RangeMetres = true, far
	}
	area := polygonArea(poly)
	if area < 0 {
		for i, j := 0, len(poly)-1; i < j; i, j = i+1, j-1 {
			poly[i], poly[j] = poly[j], poly[i]
		}
		area = -area
	}
	fp.AreaM2 = area
	fp.Ring = make([][2]float64, len(poly))
	for i, p := range poly {
		fp.Ring[i] = offsetLonLat(pose.Lon, pose.Lat, p[0], p[1])
	}
	return fp, ""
}

// viewOnGround returns the ground (east, north metres from the point below
// the camera) inside the view cone whose corner rays are dirs and whose
// centre ray is f, within radius of the point below the camera: a disc cut
// by the four side planes (each through the camera).
func viewOnGround(dirs [4]vec3, f vec3, height, radius float64) [][2]float64 {
	poly := make([][2]float64, clipArcSegments)
	for i := range poly {
		a := 2 * math.Pi * float64(i) / clipArcSegments
		poly[i] = [2]float64{radius * math.Cos(a), radius * math.Sin(a)}
	}
	camPos := vec3{0, 0, height}
	for i := range dirs {
		n := dirs[i].cross(dirs[(i+1)%4])
		if n.dot(f) < 0 { // make it point into the cone
			n = n.scale(-1)
		}
		// Ground point p is inside when n·(p − camPos) ≥ 0.
		poly = clipHalfPlane(poly, n.x, n.y, -n.dot(camPos))
		if len(poly) < 3 {
			return nil
		}
	}
	return poly
}

// distanceToPolygon returns the distance from the origin to a convex
// polygon (0 when the origin is inside).
func distanceToPolygon(poly [][2]float64) float64 {
	sign, inside := 0.0, true
	best := math.Inf(1)
	for i, p := range poly {
		q := poly[(i+1)%len(poly)]
		cross := p[0]*q[1] - p[1]*q[0]
		if sign == 0 {
			sign = math.Copysign(1, cross)
		} else if cross*sign < 0 {
			inside = false
		}
		ex, ey := q[0]-p[0], q[1]-p[1]
		t := 0.0
		if l := ex*ex + ey*ey; l > 0 {
			t = math.Max(0, math.Min(1, -(p[0]*ex+p[1]*ey)/l))
		}
		best = math.Min(best, math.Hypot(p[0]+t*ex, p[1]+t*ey))
	}
	if inside {
		return 0
	}
	return best
}

// clipHalfPlane keeps the part of a convex polygon where a·x + b·y + c ≥ 0
// (Sutherland–Hodgman against one edge).
func clipHalfPlane(poly [][2]float64, a, b, c float64) [][2]float64 {
	out := make([][2]float64, 0, len(poly)+1)
	side := func(p [2]float64) float64 { return a*p[0] + b*p[1] + c }
	for i, p := range poly {
		q := poly[(i+1)%len(poly)]
		sp, sq := side(p), side(q)
		if sp >= 0 {
			out = append(out, p)
		}
		if (sp >= 0) != (sq >= 0) {
			t := sp / (sp - sq)
			out = append(out, [2]float64{p[0] + t*(q[0]-p[0]), p[1] + t*(q[1]-p[1])})
		}
	}
	return out
}

// polygonArea returns the signed (shoelace) area of a ring, positive when
// counterclockwise.
func polygonArea(q [][2]float64) float64 {
	a := 0.0
	for i := range q {
		j := (i + 1) % len(q)
		a += q[i][0]*q[j][1] - q[j][0]*q[i][1]
	}
	return a / 2
}

func (a vec3) dot(b vec3) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }
