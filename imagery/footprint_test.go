package imagery

import (
	"math"
	"testing"
)

// metresBetween returns east and north metres from a to b (lon, lat), using
// the same local radii as offsetLonLat's inverse.
func metresBetween(a, b [2]float64) (float64, float64) {
	s := math.Sin(rad(a[1]))
	w := 1 - wgs84E2*s*s
	m := wgs84A * (1 - wgs84E2) / (w * math.Sqrt(w))
	n := wgs84A / math.Sqrt(w)
	return rad(b[0]-a[0]) * n * math.Cos(rad(a[1])), rad(b[1]-a[1]) * m
}

func TestFootprintNadir(t *testing.T) {
	// 100 m up, 84° diagonal field of view, 4:3 image: tan(42°) = 0.900404
	// spread on the diagonal gives half-extents 0.720323 (width) and
	// 0.540242 (height), so the ground is 144.065 m × 108.048 m.
	cam := CameraFromDiagonalFOV(84, 4000, 3000)
	const halfW, halfH = 72.0323, 54.0242
	if !near(2*100*math.Tan(rad(cam.HFOV)/2), 2*halfW, 1e-3) {
		t.Fatalf("HFOV %.4f° gives width %.3f", cam.HFOV, 2*100*math.Tan(rad(cam.HFOV)/2))
	}
	tests := []struct {
		name string
		yaw  float64
		want [4][2]float64 // east, north metres: TL, BL, BR, TR
	}{
		{"heading north", 0, [4][2]float64{{-halfW, halfH}, {-halfW, -halfH}, {halfW, -halfH}, {halfW, halfH}}},
		{"heading east", 90, [4][2]float64{{halfH, halfW}, {-halfH, halfW}, {-halfH, -halfW}, {halfH, -halfW}}},
		{"heading south-west", 225, func() (q [4][2]float64) {
			c, s := math.Cos(rad(225)), math.Sin(rad(225))
			for i, p := range [4][2]float64{{-halfW, halfH}, {-halfW, -halfH}, {halfW, -halfH}, {halfW, halfH}} {
				// rotate clockwise by the yaw: image right (x) and up (y)
				q[i] = [2]float64{p[0]*c + p[1]*s, -p[0]*s + p[1]*c}
			}
			return
		}()},
	}
	pose := Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -90}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pose.Yaw = tt.yaw
			corners, ok := Footprint(cam, pose)
			if !ok {
				t.Fatal("no footprint")
			}
			for i, c := range corners {
				e, n := metresBetween([2]float64{pose.Lon, pose.Lat}, c)
				if !near(e, tt.want[i][0], 0.01) || !near(n, tt.want[i][1], 0.01) {
					t.Errorf("corner %d at %.3f E, %.3f N; want %.3f, %.3f", i, e, n, tt.want[i][0], tt.want[i][1])
				}
			}
			checkCCW(t, corners)
		})
	}
}

func checkCCW(t *testing.T, q [4][2]float64) {
	t.Helper()
	if ringArea(q) <= 0 {
		t.Errorf("corners %v are not counterclockwise", q)
	}
}

func TestFootprintOblique(t *testing.T) {
	// Pitch -45°, 60°×60° view, 100 m up, heading north. The bottom edge's
	// centre ray is 75° below the horizon, the top edge's 15°:
	//   near distance = 100/tan 75° = 26.795 m, far = 100/tan 15° = 373.205 m;
	//   half-width at an edge = tan 30° · 100 · cos 30° / sin(depression):
	//   near 51.764 m, far 193.185 m.
	cam := Camera{HFOV: 60, VFOV: 60}
	corners, ok := Footprint(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -45})
	if !ok {
		t.Fatal("no footprint")
	}
	want := [4][2]float64{{-193.185, 373.205}, {-51.764, 26.795}, {51.764, 26.795}, {193.185, 373.205}}
	for i, c := range corners {
		e, n := metresBetween([2]float64{113.47, 34.15}, c)
		if !near(e, want[i][0], 0.01) || !near(n, want[i][1], 0.01) {
			t.Errorf("corner %d at %.3f E, %.3f N; want %.3f, %.3f", i, e, n, want[i][0], want[i][1])
		}
	}
	checkCCW(t, corners)
}

func TestFootprintNoGround(t *testing.T) {
	cam := Camera{HFOV: 60, VFOV: 60}
	base := Pose{Lon: 113.47, Lat: 34.15, Height: 100}
	tests := []struct {
		name string
		edit func(*Pose)
		cam  Camera
		ok   bool
	}{
		{"upper edge 10° above the horizon", func(p *Pose) { p.Pitch = -20 }, cam, false},
		{"upper edge on the horizon", func(p *Pose) { p.Pitch = -30 }, cam, false},
		{"level camera", func(p *Pose) { p.Pitch = 0 }, cam, false},
		{"upper edge 0.5° below the horizon", func(p *Pose) { p.Pitch = -30.5 }, cam, false},
		{"upper edge 2° below the horizon", func(p *Pose) { p.Pitch = -32 }, cam, true},
		{"rolled so a corner sees the sky", func(p *Pose) { p.Pitch = -35; p.Roll = 20 }, cam, false},
		{"on the ground", func(p *Pose) { p.Pitch = -90; p.Height = 0 }, cam, false},
		{"below take-off", func(p *Pose) { p.Pitch = -90; p.Height = -5 }, cam, false},
		{"no field of view", func(p *Pose) { p.Pitch = -90 }, Camera{}, false},
		{"field of view of 180°", func(p *Pose) { p.Pitch = -90 }, Camera{HFOV: 180, VFOV: 60}, false},
		{"latitude out of range", func(p *Pose) { p.Pitch = -90; p.Lat = 250 }, cam, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.edit(&p)
			_, ok := Footprint(tt.cam, p)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

// TestFootprintRoll checks the roll convention: roll turns the camera
// about its optical axis, clockwise (seen from behind the camera) when
// positive, as yaw does about the vertical in north-east-down. Looking
// straight down the two axes coincide, so roll r equals yaw r.
func TestFootprintRoll(t *testing.T) {
	cam := Camera{HFOV: 60, VFOV: 45}
	rolled, ok1 := Footprint(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -90, Roll: 10})
	turned, ok2 := Footprint(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -90, Yaw: 10})
	if !ok1 || !ok2 {
		t.Fatal("no footprint")
	}
	for i := range rolled {
		if !near(rolled[i][0], turned[i][0], 1e-9) || !near(rolled[i][1], turned[i][1], 1e-9) {
			t.Errorf("corner %d: rolled %v, turned %v", i, rolled[i], turned[i])
		}
	}
	// Oblique and rolled right, the right side of the view drops towards
	// the ground: the top-right corner comes nearer than the top-left.
	q, ok := Footprint(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -45, Roll: 10})
	if !ok {
		t.Fatal("no footprint")
	}
	_, nTL := metresBetween([2]float64{113.47, 34.15}, q[0])
	_, nTR := metresBetween([2]float64{113.47, 34.15}, q[3])
	if !(nTR < nTL) {
		t.Errorf("rolled right: top-right %.1f m north, top-left %.1f m", nTR, nTL)
	}
	checkCCW(t, q)
}

func TestOffsetLonLat(t *testing.T) {
	// One degree of latitude at 34° N is 110,922 m on WGS-84; one degree of
	// longitude there is 92,385 m.
	p := offsetLonLat(113, 34, 92385, 110922)
	if !near(p[0], 114, 1e-4) || !near(p[1], 35, 2e-3) {
		t.Errorf("offsetLonLat = %v, want about [114 35]", p)
	}
	p = offsetLonLat(113, 34, 0, 110922)
	if !near(p[1], 35, 1e-3) {
		t.Errorf("north 110922 m from 34° N = %v", p[1])
	}
}

func TestCameraDerivations(t *testing.T) {
	// A 1" 13.2×8.8 mm sensor behind 8.8 mm (DJI FC6310): 73.7°×53.1°.
	c := CameraFromFocal(8.8, 13.2, 8.8)
	if !near(c.HFOV, 73.74, 0.01) || !near(c.VFOV, 53.13, 0.01) {
		t.Errorf("CameraFromFocal = %+v", c)
	}
	// 24 mm equivalent on a 3:2 image is the full-frame 36×24 mm: 73.7°×53.1°.
	c = CameraFrom35mm(24, 5472, 3648)
	if !near(c.HFOV, 73.74, 0.01) || !near(c.VFOV, 53.13, 0.01) {
		t.Errorf("CameraFrom35mm = %+v", c)
	}
	// The diagonal of CameraFromDiagonalFOV comes back.
	c = CameraFromDiagonalFOV(84, 4000, 3000)
	diag := 2 * deg(math.Atan(math.Hypot(math.Tan(rad(c.HFOV)/2), math.Tan(rad(c.VFOV)/2))))
	if !near(diag, 84, 1e-9) {
		t.Errorf("diagonal %v", diag)
	}
}

// TestFootprintFromMetadata runs the worker's path on the DJI fixture:
// metadata, camera, pose, footprint.
func TestFootprintFromMetadata(t *testing.T) {
	r, size := fixtureReader(t, "dji_attr.jpg")
	md, err := ReadMetadata(r, size)
	if err != nil {
		t.Fatal(err)
	}
	cam, ok := CameraFromMetadata(md, 5472, 3648)
	if !ok {
		t.Fatal("no camera")
	}
	// CalibratedFocalLength 3666.67 px on 5472 px: 2·atan(2736/3666.67) = 73.46°.
	if !near(cam.HFOV, 73.46, 0.01) {
		t.Errorf("HFOV = %v", cam.HFOV)
	}
	pose, ok := PoseFromMetadata(md)
	if !ok {
		t.Fatal("no pose")
	}
	if pose.Height != 100.2 || pose.Pitch != -90 || pose.Yaw != 45.3 || pose.Lat != md.GPS.Lat {
		t.Errorf("pose = %+v", pose)
	}
	q, ok := Footprint(cam, pose)
	if !ok {
		t.Fatal("no footprint")
	}
	// Nadir: the area is the ground width × height, 2h·tan(h/2) each.
	wantArea := 2 * 100.2 * math.Tan(rad(cam.HFOV)/2) * 2 * 100.2 * math.Tan(rad(cam.VFOV)/2)
	var enu [4][2]float64
	for i, c := range q {
		enu[i][0], enu[i][1] = metresBetween([2]float64{pose.Lon, pose.Lat}, c)
	}
	if a := ringArea(enu); !near(a, wantArea, wantArea*1e-6) {
		t.Errorf("area %.1f m², want %.1f", a, wantArea)
	}
	// A phone photo has no pose.
	r, size = fixtureReader(t, "marker_6.jpg")
	md, _ = ReadMetadata(r, size)
	if _, ok := PoseFromMetadata(md); ok {
		t.Error("phone photo has a pose")
	}
	if _, ok := CameraFromMetadata(Metadata{}, 100, 100); ok {
		t.Error("camera from no metadata")
	}
}

// TestFootprintClippedObliqueSeries is issue 15's series: pitch −90° to −10°
// in 5° steps at 100 m. The clipped footprint exists at every step, its area
// grows monotonically and never exceeds the clip disc (π·R²).
func TestFootprintClippedObliqueSeries(t *testing.T) {
	cam := CameraFromDiagonalFOV(84, 4000, 3000)
	clip := FootprintClip{DepthHeights: 5, MaxRangeMetres: 1000}
	const h = 100.0
	bound := math.Pi * clip.MaxRangeMetres * clip.MaxRangeMetres
	prev := 0.0
	sawClipped := false
	for pitch := -90.0; pitch <= -10; pitch += 5 {
		fp, reason := FootprintClipped(cam, Pose{Lon: 113.47, Lat: 34.15, Height: h, Pitch: pitch, Yaw: 30}, clip)
		if reason != "" {
			t.Fatalf("pitch %g: no footprint (%s)", pitch, reason)
		}
		if fp.AreaM2 <= prev {
			t.Errorf("pitch %g: area %.0f m² not above %.0f m² at the previous step", pitch, fp.AreaM2, prev)
		}
		if fp.AreaM2 > bound {
			t.Errorf("pitch %g: area %.0f m² above the bound %.0f m²", pitch, fp.AreaM2, bound)
		}
		// The ring, measured back in metres, has the reported area.
		enu := make([][2]float64, len(fp.Ring))
		for i, c := range fp.Ring {
			enu[i][0], enu[i][1] = metresBetween([2]float64{113.47, 34.15}, c)
			if d := math.Hypot(enu[i][0], enu[i][1]); d > clip.MaxRangeMetres*1.0001 || (fp.Clipped && d > fp.RangeMetres*1.0001) {
				t.Errorf("pitch %g: vertex %d is %.1f m away, beyond the range", pitch, i, d)
			}
		}
		if a := polygonArea(enu); !near(a, fp.AreaM2, fp.AreaM2*1e-3) {
			t.Errorf("pitch %g: ring area %.0f, reported %.0f", pitch, a, fp.AreaM2)
		}
		sawClipped = sawClipped || fp.Clipped
		if pitch == -90 && fp.Clipped {
			t.Error("the nadir view is marked clipped")
		}
		prev = fp.AreaM2
	}
	if !sawClipped {
		t.Error("no step of the series was clipped")
	}
}

// TestFootprintClippedContinuous checks there is no jump where the upper
// edge of the view crosses the horizon: one tenth of a degree changes the
// area by little.
func TestFootprintClippedContinuous(t *testing.T) {
	cam := Camera{HFOV: 60, VFOV: 60}
	clip := FootprintClip{DepthHeights: 5, MaxRangeMetres: 1000}
	pose := Pose{Lon: 113.47, Lat: 34.15, Height: 100}
	prev := -1.0
	for pitch := -40.0; pitch <= -20; pitch += 0.1 {
		pose.Pitch = pitch
		fp, reason := FootprintClipped(cam, pose, clip)
		if reason != "" {
			t.Fatalf("pitch %.1f: %s", pitch, reason)
		}
		if prev > 0 && math.Abs(fp.AreaM2-prev) > 0.02*prev {
			t.Errorf("pitch %.1f: area jumps from %.0f to %.0f m²", pitch, prev, fp.AreaM2)
		}
		prev = fp.AreaM2
	}
}

func TestFootprintClippedReasons(t *testing.T) {
	cam := Camera{HFOV: 60, VFOV: 45}
	clip := FootprintClip{DepthHeights: 5, MaxRangeMetres: 1000}
	tests := []struct {
		name string
		cam  Camera
		pose Pose
		want string
	}{
		{"level camera", cam, Pose{Height: 100, Pitch: 0}, NoFootprintHorizon},
		{"looking up", cam, Pose{Height: 100, Pitch: 10}, NoFootprintHorizon},
		{"no height", cam, Pose{Height: 0, Pitch: -90}, NoFootprintAltitude},
		{"no field of view", Camera{}, Pose{Height: 100, Pitch: -90}, NoFootprintFieldOfView},
		{"bad latitude", cam, Pose{Height: 100, Pitch: -90, Lat: 250}, NoFootprintPosition},
		{"nadir", cam, Pose{Height: 100, Pitch: -90}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, reason := FootprintClipped(tt.cam, tt.pose, clip); reason != tt.want {
				t.Errorf("reason %q, want %q", reason, tt.want)
			}
		})
	}
	// The nadir footprint equals the unclipped one.
	fp, _ := FootprintClipped(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -90}, clip)
	q, _ := Footprint(cam, Pose{Lon: 113.47, Lat: 34.15, Height: 100, Pitch: -90})
	if fp.Clipped || len(fp.Ring) != 4 || fp.Ring[0] != q[0] {
		t.Errorf("nadir clipped footprint %+v differs from %v", fp, q)
	}
}

// TestCameraVideoRatioCrop: a 16:9 frame from a 4:3 sensor keeps the
// sensor's width and loses its top and bottom; the field of view computed
// from the frame's own diagonal was about 9 % too wide per side.
func TestCameraVideoRatioCrop(t *testing.T) {
	full := CameraFrom35mm(24, 5472, 4104) // 4:3
	crop := CameraFrom35mm(24, 5472, 3078) // 16:9
	if !near(crop.HFOV, full.HFOV, 1e-9) {
		t.Errorf("16:9 HFOV %.3f°, want the 4:3 frame's %.3f°", crop.HFOV, full.HFOV)
	}
	wantV := 2 * deg(math.Atan(math.Tan(rad(full.HFOV)/2)*3078/5472))
	if !near(crop.VFOV, wantV, 1e-9) {
		t.Errorf("16:9 VFOV %.3f°, want %.3f°", crop.VFOV, wantV)
	}
	// The old split by the frame's own diagonal: 16/√337 of it instead of 4/5.
	naive := 2 * deg(math.Atan(diag35mm*16/math.Sqrt(337)/(2*24)))
	ground := func(fov float64) float64 { return math.Tan(rad(fov) / 2) }
	if r := ground(naive) / ground(crop.HFOV); r < 1.08 || r > 1.10 {
		t.Errorf("the naive width was %.3f× the cropped one, want about 1.09", r)
	}
	// 4:3 and 3:2 frames are unchanged, portrait frames turned.
	for _, wh := range [][2]int{{4000, 3000}, {5472, 3648}} {
		d := math.Hypot(float64(wh[0]), float64(wh[1]))
		fw, fh := FrameOnSensor(wh[0], wh[1])
		if !near(fw, float64(wh[0])/d, 1e-12) || !near(fh, float64(wh[1])/d, 1e-12) {
			t.Errorf("%v: frame on sensor %v %v", wh, fw, fh)
		}
	}
	pw, ph := FrameOnSensor(3078, 5472)
	if fw, fh := FrameOnSensor(5472, 3078); pw != fh || ph != fw {
		t.Errorf("portrait 9:16 = %v %v", pw, ph)
	}
	// The diagonal path crops the same way.
	d43 := CameraFromDiagonalFOV(84, 4000, 3000)
	d169 := CameraFromDiagonalFOV(84, 4000, 2250)
	if !near(d43.HFOV, d169.HFOV, 1e-9) || d169.VFOV >= d43.VFOV {
		t.Errorf("diagonal 16:9 %+v vs 4:3 %+v", d169, d43)
	}
	// And the sensor size derived from the crop factor: a 4/3" sensor
	// (17.3 × 13 mm, 12.29 mm behind a 24 mm equivalent) in a 16:9 frame
	// keeps its width.
	md := Metadata{FocalLengthMM: ptr(12.29), FocalLength35mm: ptr(24), PixelWidth: 5280, PixelHeight: 2970}
	md.deriveSensor()
	w := 0.8 * diag35mm * 12.29 / 24
	if !near(*md.SensorWidthMM, w, 1e-9) || !near(*md.SensorHeightMM, w*2970/5280, 1e-9) || !near(w, 17.7, 0.1) {
		t.Errorf("16:9 sensor %.3f × %.3f mm, want %.3f wide", *md.SensorWidthMM, *md.SensorHeightMM, w)
	}
}
