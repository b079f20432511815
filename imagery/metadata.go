package imagery

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// GPS is a WGS-84 position in decimal degrees, north and east positive.
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Metadata is what a photo or drone image says about itself in its EXIF and
// XMP. Every optional value is a pointer, nil when the file does not give
// it (or gives it unusably; then Warnings says why).
type Metadata struct {
	// GPS is the capture position, from EXIF or, failing that, from XMP
	// (DJI GpsLatitude/GpsLongitude or exif:GPSLatitude).
	GPS *GPS `json:"gps,omitempty"`
	// AltitudeAbs is the altitude above sea level in metres (EXIF
	// GPSAltitude with its below-sea-level reference, or DJI
	// AbsoluteAltitude).
	AltitudeAbs *float64 `json:"altitudeAbs,omitempty"`
	// AltitudeRel is the height above the take-off point in metres (DJI
	// RelativeAltitude), the one a drone footprint needs.
	AltitudeRel *float64 `json:"altitudeRel,omitempty"`
	// TakenAt is the capture time (DateTimeOriginal, with SubSecTimeOriginal).
	// With TakenAtHasZone it carries the offset of OffsetTimeOriginal (or
	// of an XMP date); without, it is the camera's wall clock read as UTC
	// and the caller decides the zone (the campaign's is Asia/Shanghai).
	TakenAt        *time.Time `json:"takenAt,omitempty"`
	TakenAtHasZone bool       `json:"takenAtHasZone"`
	// TakenAtZoneAssumed names the zone a capture time without one was
	// read in ("+08:00"), once AssumeZone has read it so; "" otherwise.
	TakenAtZoneAssumed string `json:"takenAtZoneAssumed,omitempty"`
	// Orientation is the EXIF orientation, 1 to 8; 1 (upright) when the
	// file has none or an invalid one.
	Orientation int `json:"orientation"`
	// Make and Model name the camera (for a drone: "DJI", "FC6310R").
	Make  string `json:"make,omitempty"`
	Model string `json:"model,omitempty"`
	// FocalLengthMM is the real focal length; FocalLength35mm its
	// 35 mm-film equivalent.
	FocalLengthMM   *float64 `json:"focalLengthMm,omitempty"`
	FocalLength35mm *float64 `json:"focalLength35mm,omitempty"`
	// SensorWidthMM and SensorHeightMM are the sensor size along the stored
	// image's width and height, from the focal-plane resolution or else
	// from the two focal lengths and the pixel aspect.
	SensorWidthMM  *float64 `json:"sensorWidthMm,omitempty"`
	SensorHeightMM *float64 `json:"sensorHeightMm,omitempty"`
	// PixelWidth and PixelHeight are the EXIF pixel dimensions (0 if absent).
	PixelWidth  int `json:"pixelWidth,omitempty"`
	PixelHeight int `json:"pixelHeight,omitempty"`
	// Drone holds the flight and gimbal attitude of a drone image.
	Drone *DroneInfo `json:"drone,omitempty"`
	// Warnings lists what was present but could not be used: wrongly typed
	// tags, broken IFDs, an out-of-range GPS position (ErrBadGPS), ...
	Warnings []string `json:"warnings,omitempty"`
}

// DroneInfo is the attitude a drone records in XMP. Angles are degrees.
// Pitch follows DJI: 0 is level, -90 straight down (nadir). Yaw is from
// true north, clockwise. Roll is positive to the right.
type DroneInfo struct {
	// Source names the XMP schema read: "dji" (also used by newer Autel
	// firmware), "parrot", "skydio" (drone-skydio:CameraOrientationNED),
	// "flir" (FLIR and Teal: the Camera: gimbal angles with the FLIR:MAV*
	// flight attitude and height), or "pix4d" (the Camera: schema of older
	// Autel firmware, senseFly, Parrot Sequoia and others, with its
	// AboveGroundAltitude). The Camera: schema's pitch, 0 = nadir, is
	// converted.
	Source           string   `json:"source"`
	GimbalPitch      *float64 `json:"gimbalPitch,omitempty"`
	GimbalYaw        *float64 `json:"gimbalYaw,omitempty"`
	GimbalRoll       *float64 `json:"gimbalRoll,omitempty"`
	FlightPitch      *float64 `json:"flightPitch,omitempty"`
	FlightYaw        *float64 `json:"flightYaw,omitempty"`
	FlightRoll       *float64 `json:"flightRoll,omitempty"`
	RelativeAltitude *float64 `json:"relativeAltitude,omitempty"`
	AbsoluteAltitude *float64 `json:"absoluteAltitude,omitempty"`
	// CalibratedFocalLength is DJI's calibrated focal length in pixels.
	CalibratedFocalLength *float64 `json:"calibratedFocalLength,omitempty"`
}

// EXIF tag ids.
const (
	tagMake                  = 0x010F
	tagModel                 = 0x0110
	tagOrientation           = 0x0112
	tagDateTimeOriginal      = 0x9003
	tagDateTimeDigitized     = 0x9004
	tagOffsetTime            = 0x9010
	tagOffsetTimeOriginal    = 0x9011
	tagOffsetTimeDigitized   = 0x9012
	tagSubSecTimeOriginal    = 0x9291
	tagFocalLength           = 0x920A
	tagPixelXDimension       = 0xA002
	tagPixelYDimension       = 0xA003
	tagFocalPlaneXResolution = 0xA20E
	tagFocalPlaneYResolution = 0xA20F
	tagFocalPlaneResUnit     = 0xA210
	tagFocalLength35mm       = 0xA405
	tagGPSLatitudeRef        = 0x0001
	tagGPSLatitude           = 0x0002
	tagGPSLongitudeRef       = 0x0003
	tagGPSLongitude          = 0x0004
	tagGPSAltitudeRef        = 0x0005
	tagGPSAltitude           = 0x0006
	tagGPSStatus             = 0x0009
)

// ReadMetadata reads the EXIF and XMP of the file in r (size bytes long).
// Damaged or wrongly typed metadata never fails the call: what could be read
// is returned and the rest is described in Metadata.Warnings. It fails only
// when the file is empty (ErrEmpty), not an image (ErrUnsupportedFormat),
// or so broken that nothing at all could be read (ErrCorruptImage).
func ReadMetadata(r io.ReaderAt, size int64) (Metadata, error) {
	md := Metadata{Orientation: 1}
	if size <= 0 {
		return md, ErrEmpty
	}
	head := make([]byte, min(size, SniffLen))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return md, fmt.Errorf("imagery: read metadata: %w", err)
	}
	f, err := Sniff(head)
	if err != nil {
		return md, err
	}
	var block, packet []byte
	switch f {
	case JPEG:
		h, err := readJPEGHeader(r, size, true)
		block, packet = h.exif, h.xmp
		if err != nil {
			if block == nil && packet == nil {
				return md, err
			}
			md.warn("%v", err)
		}
	default:
		// The other containers are searched in their first bytes; a TIFF
		// file is itself the EXIF block.
		b := make([]byte, min(size, maxEXIFBlock))
		n, err := r.ReadAt(b, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return md, fmt.Errorf("imagery: read metadata: %w", err)
		}
		b = b[:n]
		if f == TIFF {
			block = b
		} else {
			block = findTIFFBlock(b)
		}
		packet = findXMPPacket(b)
	}
	if block != nil {
		tags, warnings := parseEXIF(block)
		md.Warnings = append(md.Warnings, warnings...)
		md.fromEXIF(tags)
	}
	if packet != nil {
		props, err := parseXMP(packet)
		if err != nil {
			md.warn("xmp: %v", err)
		}
		md.fromXMP(props)
	}
	md.deriveSensor()
	return md, nil
}

// AssumeZone reads a capture time that carries no zone (the camera's wall
// clock, kept as if it were UTC) as wall-clock time in loc, and records the
// zone assumed in TakenAtZoneAssumed, so that every copy of the time says
// the same instant and how it was read.
func (md *Metadata) AssumeZone(loc *time.Location) {
	if md.TakenAt == nil || md.TakenAtHasZone || md.TakenAtZoneAssumed != "" {
		return
	}
	t := *md.TakenAt
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	md.TakenAt = &t
	md.TakenAtZoneAssumed = t.Format("-07:00")
}

// earliestCapture is the earliest capture time believed: no digital camera
// with EXIF, let alone a drone, wrote one before 1990; earlier dates are
// unset clocks (1970, 1980, 0000).
var earliestCapture = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// futureSlack is how far past now a capture time may be: a clock in UTC+14
// read as UTC is 14 hours ahead, and cameras drift.
const futureSlack = 36 * time.Hour

// CheckTakenAt drops a capture time before 1990 or later than now (with a
// day and a half's slack for zones and drift), with a warning: such a time
// is an unset or wrong camera clock and would put the image in the wrong
// round.
func (md *Metadata) CheckTakenAt(now time.Time) {
	if md.TakenAt == nil {
		return
	}
	switch t := *md.TakenAt; {
	case t.Before(earliestCapture):
		md.warn("capture time %s is before 1990 (camera clock not set); dropped", t.Format(time.RFC3339))
		md.TakenAt, md.TakenAtHasZone, md.TakenAtZoneAssumed = nil, false, ""
	case t.After(now.Add(futureSlack)):
		md.warn("capture time %s is in the future; dropped", t.Format(time.RFC3339))
		md.TakenAt, md.TakenAtHasZone, md.TakenAtZoneAssumed = nil, false, ""
	}
}

func (md *Metadata) warn(format string, args ...any) {
	md.Warnings = append(md.Warnings, fmt.Sprintf(format, args...))
}

func ptr(v float64) *float64 { return &v }

// fromEXIF fills md from the decoded EXIF tags.
func (md *Metadata) fromEXIF(t exifTags) {
	md.Make = md.text(t, ifdMain, tagMake, "Make")
	md.Model = md.text(t, ifdMain, tagModel, "Model")
	if v, ok := t.get(ifdMain, tagOrientation); ok {
		if f, err := v.floats(); err != nil {
			md.warn("exif: Orientation: %v", err)
		} else if o := int(f[0]); o >= 1 && o <= 8 && float64(o) == f[0] {
			md.Orientation = o
		} else {
			md.warn("exif: Orientation %v is not 1-8; taken as 1", f[0])
		}
	}
	md.FocalLengthMM = md.positive(t, ifdExif, tagFocalLength, "FocalLength")
	md.FocalLength35mm = md.positive(t, ifdExif, tagFocalLength35mm, "FocalLengthIn35mmFilm")
	if w := md.positive(t, ifdExif, tagPixelXDimension, "PixelXDimension"); w != nil {
		md.PixelWidth = int(*w)
	}
	if h := md.positive(t, ifdExif, tagPixelYDimension, "PixelYDimension"); h != nil {
		md.PixelHeight = int(*h)
	}
	md.takenAtFromEXIF(t)
	md.gpsFromEXIF(t)
	md.focalPlaneSensor(t)
}

// text returns a text tag's value, warning when it has another type.
func (md *Metadata) text(t exifTags, ifd exifIFD, tag uint16, name string) string {
	if _, present := t.get(ifd, tag); !present {
		return ""
	}
	s, ok := t.str(ifd, tag)
	if !ok {
		md.warn("exif: %s is not text", name)
	}
	return s
}

// positive returns a numeric tag's first value when it is > 0. Zero means
// "unknown" in EXIF and is dropped silently; wrong types are warned about.
func (md *Metadata) positive(t exifTags, ifd exifIFD, tag uint16, name string) *float64 {
	v, ok := t.get(ifd, tag)
	if !ok {
		return nil
	}
	f, err := v.floats()
	if err != nil {
		md.warn("exif: %s: %v", name, err)
		return nil
	}
	if f[0] <= 0 || math.IsNaN(f[0]) || math.IsInf(f[0], 0) {
		return nil
	}
	return ptr(f[0])
}

// parseEXIFTime reads "2006:01:02 15:04:05" (also with '-' in the date).
func parseEXIFTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 19 {
		return time.Time{}, false
	}
	b := []byte(s[:19])
	if b[4] == '-' && b[7] == '-' {
		b[4], b[7] = ':', ':'
	}
	if b[10] == 'T' {
		b[10] = ' '
	}
	tm, err := time.ParseInLocation("2006:01:02 15:04:05", string(b), loc)
	if err != nil {
		return time.Time{}, false
	}
	return tm, true
}

// parseOffset reads an EXIF OffsetTime value such as "+08:00" or "-03:30".
func parseOffset(s string) (*time.Location, bool) {
	s = strings.TrimSpace(s)
	if s == "Z" {
		return time.UTC, true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, false
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone("UTC"+s, off), true
}

func (md *Metadata) takenAtFromEXIF(t exifTags) {
	raw, ok := t.str(ifdExif, tagDateTimeOriginal)
	if !ok || raw == "" {
		raw, ok = t.str(ifdExif, tagDateTimeDigitized)
	}
	if !ok || raw == "" {
		if _, present := t.get(ifdExif, tagDateTimeOriginal); present {
			md.warn("exif: DateTimeOriginal is not text")
		}
		return
	}
	loc, hasZone := time.UTC, false
	for _, tag := range []uint16{tagOffsetTimeOriginal, tagOffsetTimeDigitized, tagOffsetTime} {
		if s, ok := t.str(ifdExif, tag); ok && s != "" {
			if l, ok := parseOffset(s); ok {
				loc, hasZone = l, true
				break
			}
			md.warn("exif: time offset %q unreadable", s)
		}
	}
	tm, ok := parseEXIFTime(raw, loc)
	if !ok {
		md.warn("exif: DateTimeOriginal %q unreadable", raw)
		return
	}
	if sub, ok := t.str(ifdExif, tagSubSecTimeOriginal); ok && sub != "" && len(sub) <= 9 {
		if n, err := strconv.Atoi(sub); err == nil && n >= 0 {
			tm = tm.Add(time.Duration(float64(n) * math.Pow10(9-len(sub))))
		}
	}
	md.TakenAt, md.TakenAtHasZone = &tm, hasZone
}

// gpsRef returns the first letter of a GPS reference tag, upper-cased.
func gpsRef(t exifTags, tag uint16) byte {
	v, ok := t.get(ifdGPS, tag)
	if !ok {
		return 0
	}
	var s string
	switch x := v.value.(type) {
	case string:
		s = x
	case []uint8:
		s = string(x)
	}
	s = strings.TrimSpace(strings.Trim(s, "\x00"))
	if s == "" {
		return 0
	}
	c := s[0]
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return c
}

// coordinate turns a GPS latitude or longitude tag into signed decimal
// degrees: rational or signed-rational D/M/S (or D/M, or D), or text such as
// "40 26 49.1" and "40.4469". neg is the reference letter for the negative
// hemisphere (S or W).
func (md *Metadata) coordinate(t exifTags, tag, refTag uint16, name string, pos, neg byte) (float64, bool) {
	v, ok := t.get(ifdGPS, tag)
	if !ok {
		return 0, false
	}
	var parts []float64
	if s, isText := v.value.(string); isText {
		md.warn("exif: %s stored as text %q", name, cleanString(s))
		for f := range strings.FieldsFuncSeq(cleanString(s), func(r rune) bool { return !(r == '.' || r == '-' || r == '+' || (r >= '0' && r <= '9')) }) {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				md.warn("exif: %s: %v", name, err)
				return 0, false
			}
			parts = append(parts, x)
		}
	} else {
		f, err := v.floats()
		if err != nil {
			md.warn("exif: %s: %v", name, err)
			return 0, false
		}
		parts = f
	}
	if len(parts) == 0 || len(parts) > 3 {
		md.warn("exif: %s has %d values", name, len(parts))
		return 0, false
	}
	sign := 1.0
	deg := 0.0
	for i, p := range parts {
		if p < 0 {
			sign = -1
			p = -p
		}
		deg += p / math.Pow(60, float64(i))
	}
	switch ref := gpsRef(t, refTag); ref {
	case neg:
		sign = -1
	case pos:
		if sign < 0 {
			md.warn("exif: %s is negative with reference %c; taken as negative", name, pos)
		}
	case 0:
		md.warn("exif: %s has no reference; taken as %c", name, map[bool]byte{true: pos, false: neg}[sign > 0])
	default:
		md.warn("exif: %s reference %q is not %c or %c", name, ref, pos, neg)
	}
	return sign * deg, true
}

// validGPS checks a position and records why it is unusable.
func (md *Metadata) validGPS(lat, lon float64, source string) bool {
	switch {
	case math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180:
		md.warn("%s: %v: latitude %g, longitude %g out of range", source, ErrBadGPS, lat, lon)
		return false
	case lat == 0 && lon == 0:
		md.warn("%s: %v: position 0,0 (no fix)", source, ErrBadGPS)
		return false
	}
	return true
}

func (md *Metadata) gpsFromEXIF(t exifTags) {
	lat, okLat := md.coordinate(t, tagGPSLatitude, tagGPSLatitudeRef, "GPSLatitude", 'N', 'S')
	lon, okLon := md.coordinate(t, tagGPSLongitude, tagGPSLongitudeRef, "GPSLongitude", 'E', 'W')
	switch {
	case okLat && okLon:
		if gpsRef(t, tagGPSStatus) == 'V' {
			md.warn("exif: %v: GPSStatus is V (measurement void)", ErrBadGPS)
		} else if md.validGPS(lat, lon, "exif") {
			md.GPS = &GPS{Lat: lat, Lon: lon}
		}
	case okLat != okLon:
		md.warn("exif: %v: only one of latitude and longitude is readable", ErrBadGPS)
	case t.hasGPS:
		md.warn("exif: GPS block holds no position")
	}
	if v, ok := t.get(ifdGPS, tagGPSAltitude); ok {
		f, err := v.floats()
		if err != nil {
			md.warn("exif: GPSAltitude: %v", err)
			return
		}
		alt := f[0]
		if ref, ok := t.get(ifdGPS, tagGPSAltitudeRef); ok {
			below := false
			switch x := ref.value.(type) {
			case []uint8:
				below = len(x) > 0 && (x[0] == 1 || x[0] == '1')
			case string:
				below = strings.HasPrefix(strings.TrimSpace(x), "1")
			default:
				if g, err := ref.floats(); err == nil {
					below = g[0] == 1
				}
			}
			if below {
				alt = -math.Abs(alt)
			}
		}
		if math.Abs(alt) > 20000 {
			md.warn("exif: GPSAltitude %g m out of range", alt)
			return
		}
		md.AltitudeAbs = ptr(alt)
	}
}

// focalPlaneSensor derives the sensor size from the focal-plane resolution.
func (md *Metadata) focalPlaneSensor(t exifTags) {
	xr := md.positive(t, ifdExif, tagFocalPlaneXResolution, "FocalPlaneXResolution")
	yr := md.positive(t, ifdExif, tagFocalPlaneYResolution, "FocalPlaneYResolution")
	if xr == nil || yr == nil || md.PixelWidth == 0 || md.PixelHeight == 0 {
		return
	}
	unit := 25.4 // 2 = inch, the default
	if u, ok := t.get(ifdExif, tagFocalPlaneResUnit); ok {
		if f, err := u.floats(); err == nil {
			switch f[0] {
			case 3:
				unit = 10
			case 4:
				unit = 1
			case 5:
				unit = 0.001
			}
		}
	}
	w := float64(md.PixelWidth) / *xr * unit
	h := float64(md.PixelHeight) / *yr * unit
	if w > 0.5 && w < 100 && h > 0.5 && h < 100 {
		md.SensorWidthMM, md.SensorHeightMM = ptr(w), ptr(h)
	}
}

// diag35mm is the diagonal of a 36×24 mm frame, in mm.
const diag35mm = 43.26661530556787

// deriveSensor fills the sensor size from the crop factor when the
// focal-plane resolution did not give it: the part of the sensor the frame
// covers (FrameOnSensor), so a 16:9 frame of a 4:3 sensor keeps its width.
func (md *Metadata) deriveSensor() {
	if md.SensorWidthMM != nil || md.FocalLengthMM == nil || md.FocalLength35mm == nil ||
		md.PixelWidth == 0 || md.PixelHeight == 0 {
		return
	}
	diag := diag35mm * *md.FocalLengthMM / *md.FocalLength35mm
	fw, fh := FrameOnSensor(md.PixelWidth, md.PixelHeight)
	md.SensorWidthMM, md.SensorHeightMM = ptr(diag*fw), ptr(diag*fh)
}

// xmpFloat parses a numeric XMP value such as "+100.20", "-90.0" or "35/1".
func xmpFloat(p xmpProps, ns, local string) (*float64, bool, error) {
	s, ok := p.get(ns, local)
	if !ok {
		return nil, false, nil
	}
	if num, den, isRat := strings.Cut(s, "/"); isRat {
		n, err1 := strconv.ParseFloat(num, 64)
		d, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || d == 0 {
			return nil, true, fmt.Errorf("%q is not a number", s)
		}
		return ptr(n / d), true, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, true, fmt.Errorf("%q is not a number", s)
	}
	return ptr(f), true, nil
}

// droneField reads one numeric drone property and warns when it is present
// but not a number.
func (md *Metadata) droneField(p xmpProps, ns, local string, found *bool) *float64 {
	v, ok, err := xmpFloat(p, ns, local)
	if !ok {
		return nil
	}
	*found = true
	if err != nil {
		md.warn("xmp: %s: %v", local, err)
		return nil
	}
	return v
}

// fromXMP fills md from XMP properties: the drone schemas, and the standard
// exif:/tiff:/xmp: properties where EXIF left a gap.
func (md *Metadata) fromXMP(p xmpProps) {
	var d DroneInfo
	found := false
	switch {
	case hasAny(p, nsDJI):
		d.Source = "dji"
		d.GimbalPitch = md.droneField(p, nsDJI, "GimbalPitchDegree", &found)
		d.GimbalYaw = md.droneField(p, nsDJI, "GimbalYawDegree", &found)
		d.GimbalRoll = md.droneField(p, nsDJI, "GimbalRollDegree", &found)
		d.FlightPitch = md.droneField(p, nsDJI, "FlightPitchDegree", &found)
		d.FlightYaw = md.droneField(p, nsDJI, "FlightYawDegree", &found)
		d.FlightRoll = md.droneField(p, nsDJI, "FlightRollDegree", &found)
		d.RelativeAltitude = md.droneField(p, nsDJI, "RelativeAltitude", &found)
		d.AbsoluteAltitude = md.droneField(p, nsDJI, "AbsoluteAltitude", &found)
		d.CalibratedFocalLength = md.droneField(p, nsDJI, "CalibratedFocalLength", &found)
		if md.GPS == nil {
			lat := md.droneField(p, nsDJI, "GpsLatitude", &found)
			lon := md.droneField(p, nsDJI, "GpsLongitude", &found)
			if lon == nil { // early DJI firmware spelled it so
				lon = md.droneField(p, nsDJI, "GpsLongtitude", &found)
			}
			if lat != nil && lon != nil && md.validGPS(*lat, *lon, "xmp") {
				md.GPS = &GPS{Lat: *lat, Lon: *lon}
			}
		}
	case hasAny(p, nsParrot):
		d.Source = "parrot"
		d.GimbalPitch = md.droneField(p, nsParrot, "CameraPitchDegree", &found)
		d.GimbalYaw = md.droneField(p, nsParrot, "CameraYawDegree", &found)
		d.GimbalRoll = md.droneField(p, nsParrot, "CameraRollDegree", &found)
		d.FlightPitch = md.droneField(p, nsParrot, "FlightPitchDegree", &found)
		d.FlightYaw = md.droneField(p, nsParrot, "FlightYawDegree", &found)
		d.FlightRoll = md.droneField(p, nsParrot, "FlightRollDegree", &found)
	}
	if !found {
		if ns := findNS(p, "drone-skydio"); ns != "" {
			d.Source = "skydio"
			d.GimbalPitch = md.droneField(p, ns, "CameraOrientationNED/Pitch", &found)
			d.GimbalYaw = md.droneField(p, ns, "CameraOrientationNED/Yaw", &found)
			d.GimbalRoll = md.droneField(p, ns, "CameraOrientationNED/Roll", &found)
			d.FlightPitch = md.droneField(p, ns, "FlightOrientationNED/Pitch", &found)
			d.FlightYaw = md.droneField(p, ns, "FlightOrientationNED/Yaw", &found)
			d.FlightRoll = md.droneField(p, ns, "FlightOrientationNED/Roll", &found)
			d.RelativeAltitude = md.droneField(p, ns, "RelativeAltitude", &found)
			d.AbsoluteAltitude = md.droneField(p, ns, "AbsoluteAltitude", &found)
			if md.GPS == nil {
				lat := md.droneField(p, ns, "Latitude", &found)
				lon := md.droneField(p, ns, "Longitude", &found)
				if lat != nil && lon != nil && md.validGPS(*lat, *lon, "xmp") {
					md.GPS = &GPS{Lat: *lat, Lon: *lon}
				}
			}
		}
	}
	if !found {
		for _, ns := range []string{nsPix4D, nsSenseFly} {
			if _, ok := p.get(ns, "Pitch"); !ok {
				continue
			}
			d = DroneInfo{Source: "pix4d"}
			// This schema's pitch is 0 at nadir and 90 at the horizon.
			if pitch := md.droneField(p, ns, "Pitch", &found); pitch != nil {
				d.GimbalPitch = ptr(*pitch - 90)
			}
			d.GimbalYaw = md.droneField(p, ns, "Yaw", &found)
			d.GimbalRoll = md.droneField(p, ns, "Roll", &found)
			d.RelativeAltitude = md.droneField(p, ns, "AboveGroundAltitude", &found)
			break
		}
		if hasAny(p, nsFLIR) {
			// FLIR and Teal: the gimbal in the Camera: schema (read above), the
			// vehicle (MAVLink) attitude and height in FLIR:.
			if d.Source == "" || d.Source == "pix4d" {
				d.Source = "flir"
			}
			d.FlightPitch = md.droneField(p, nsFLIR, "MAVPitch", &found)
			d.FlightYaw = md.droneField(p, nsFLIR, "MAVYaw", &found)
			d.FlightRoll = md.droneField(p, nsFLIR, "MAVRoll", &found)
			if d.RelativeAltitude == nil {
				d.RelativeAltitude = md.droneField(p, nsFLIR, "MAVRelativeAltitude", &found)
			}
		}
	} else if d.Source == "parrot" && d.RelativeAltitude == nil {
		// Parrot writes the height in the Camera: schema beside its own.
		for _, ns := range []string{nsPix4D, nsSenseFly} {
			if v := md.droneField(p, ns, "AboveGroundAltitude", &found); v != nil {
				d.RelativeAltitude = v
				break
			}
		}
	}
	if found {
		md.Drone = &d
		if d.RelativeAltitude != nil {
			md.AltitudeRel = d.RelativeAltitude
		}
		if md.AltitudeAbs == nil && d.AbsoluteAltitude != nil {
			md.AltitudeAbs = d.AbsoluteAltitude
		}
	}

	if md.Make == "" {
		md.Make, _ = p.get(nsTIFF, "Make")
	}
	if md.Model == "" {
		md.Model, _ = p.get(nsTIFF, "Model")
	}
	if md.GPS == nil {
		lat, okLat := p.get(nsEXIF, "GPSLatitude")
		lon, okLon := p.get(nsEXIF, "GPSLongitude")
		if okLat && okLon {
			la, err1 := parseXMPCoordinate(lat)
			lo, err2 := parseXMPCoordinate(lon)
			if err := errors.Join(err1, err2); err != nil {
				md.warn("xmp: %v", err)
			} else if md.validGPS(la, lo, "xmp") {
				md.GPS = &GPS{Lat: la, Lon: lo}
			}
		}
	}
	if md.TakenAt == nil {
		for _, k := range []xmpName{{nsEXIF, "DateTimeOriginal"}, {nsXMP, "CreateDate"}} {
			if s, ok := p.get(k.ns, k.local); ok {
				if tm, hasZone, ok := parseXMPDate(s); ok {
					md.TakenAt, md.TakenAtHasZone = &tm, hasZone
					break
				}
				md.warn("xmp: %s %q unreadable", k.local, s)
			}
		}
	}
}

func hasAny(p xmpProps, ns string) bool {
	ns = normNS(ns)
	for k := range p {
		if k.ns == ns {
			return true
		}
	}
	return false
}

// parseXMPCoordinate reads the XMP GPSCoordinate form "DDD,MM,SSk" or
// "DDD,MM.mmk" (k one of N, S, E, W).
func parseXMPCoordinate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return 0, fmt.Errorf("coordinate %q unreadable", s)
	}
	ref := s[len(s)-1]
	sign := 1.0
	switch ref {
	case 'N', 'E', 'n', 'e':
	case 'S', 'W', 's', 'w':
		sign = -1
	default:
		return 0, fmt.Errorf("coordinate %q has no N/S/E/W", s)
	}
	parts := strings.Split(s[:len(s)-1], ",")
	if len(parts) < 1 || len(parts) > 3 {
		return 0, fmt.Errorf("coordinate %q unreadable", s)
	}
	deg := 0.0
	for i, part := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || x < 0 {
			return 0, fmt.Errorf("coordinate %q unreadable", s)
		}
		deg += x / math.Pow(60, float64(i))
	}
	return sign * deg, nil
}

// parseXMPDate reads an XMP date ("2023-05-06T10:11:12+08:00", with or
// without seconds, fraction or zone).
func parseXMPDate(s string) (time.Time, bool, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm, true, true
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if tm, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return tm, false, true
		}
	}
	return time.Time{}, false, false
}
