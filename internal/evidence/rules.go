package evidence

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/chinatime"
)

// The reason codes of the findings. Each is listed with its severity, what Value measures and
// what Threshold is:
//
//	no_fix            flag    0                             1 (a device position is required)
//	mock_location     flag    accuracy (m; 0, negative or not a number → 0) 0
//	poor_fix          flag    accuracy (m)                  PoorFixM
//	far_from_premise  flag    distance fix↔premise (m)      max(FarMinM, FarAccuracyFactor × accuracy)
//	fix_too_far       reject  distance fix↔premise (m)      RejectBeyondM
//	no_photo          flag    0 (photos)                    1
//	photo_no_gps      flag    0                             1
//	photo_far         flag    distance EXIF GPS↔premise (m) PhotoFarM
//	photo_no_time     flag    0                             1
//	photo_time        flag    capture − visit (min, signed) −PhotoBefore or +PhotoAfter (min)
//	gallery_photo     flag    hours before the visit        GalleryAge (h)
//	photo_reused      flag    pHash distance                ReuseMaxDistance
//	photo_reused      reject  0 (same SHA-256)              ReuseMaxDistance
//	photo_similar     info    pHash distance                SimilarMaxDistance
//	pace              flag    km/h, minutes or visits/hour  PaceMaxKmh, PaceMinGap (min), PaceMaxPerHour
//	crs_mismatch      info    distance after conversion (m) CRSMismatchM
//
// Photo findings carry the photo's MediaID.
const (
	CodeNoFix          = "no_fix"
	CodeMockLocation   = "mock_location"
	CodePoorFix        = "poor_fix"
	CodeFarFromPremise = "far_from_premise"
	CodeFixTooFar      = "fix_too_far"
	CodeNoPhoto        = "no_photo"
	CodePhotoNoGPS     = "photo_no_gps"
	CodePhotoFar       = "photo_far"
	CodePhotoNoTime    = "photo_no_time"
	CodePhotoTime      = "photo_time"
	CodeGalleryPhoto   = "gallery_photo"
	CodePhotoReused    = "photo_reused"
	CodePhotoSimilar   = "photo_similar"
	CodePace           = "pace"
	CodeCRSMismatch    = "crs_mismatch"
)

// Judge applies the rules to one inspection and returns its verdict: no flag → verified, any
// flag → flagged, any reject → rejected; info findings never change the status. Judge is pure
// and deterministic: the same Config and Input give the same Verdict, findings in a fixed order
// (device fix, then photos in their order, then pace). Findings is never nil.
//
// Decisions the rules make beyond the thresholds:
//   - No device fix at all is flagged (no_fix): a visit counts only when its evidence holds.
//   - An accuracy that is 0, negative or not a number is treated as a mock fix (mock_location);
//     no accuracy at all is allowed and leaves the far threshold at FarMinM.
//   - A fix beyond RejectBeyondM gets fix_too_far (reject) instead of far_from_premise.
//   - A photo more than GalleryAge old gets gallery_photo instead of photo_time.
//   - Reuse counts only matches from visits earlier by visit time; at the same instant the one
//     with the smaller inspection id is the earlier (with Input.ID empty, a tie counts as
//     earlier). Each photo gets at most one reuse or similar finding: the worst match.
//   - Pace positions: a visit's (judged) fix, or its premise's register point when it has no
//     fix; a pair with neither is not timed. Speed is taken between this visit and the visits
//     just before and after it, over the distance beyond FarMinM (the noise the far rule
//     already allows one fix). The gap rule looks at every visit to another premise less than
//     PaceMinGap away in time; the hourly count takes every window [s, s+1h) holding this visit.
//   - GCJ-02 trap: a fix or photo position that fails its distance rule is also tried converted
//     GCJ-02 → WGS-84 and WGS-84 → GCJ-02 (either way: phones declare wrongly both ways, and
//     some cameras write GCJ-02 into EXIF). When one lands under CRSMismatchM — or within the
//     rule's own tolerance, max(FarMinM, FarAccuracyFactor × accuracy) for a fix, PhotoFarM for
//     a photo, so that a client's CRS bug never costs the worker more than GPS noise would —
//     crs_mismatch (info) is noted and the converted position is judged (and used for pace).
//     Value is the distance after conversion, Threshold CRSMismatchM.
func Judge(cfg Config, in Input) Verdict {
	j := judge{cfg: cfg, in: in, findings: []Finding{}}
	pos := j.fix()
	j.photos()
	j.pace(pos)
	return Verdict{Status: StatusOf(j.findings), Findings: j.findings}
}

// StatusOf is the status the findings give: rejected with any Reject, else flagged with any
// Flag, else verified.
func StatusOf(findings []Finding) Status {
	s := Verified
	for _, f := range findings {
		switch f.Severity {
		case Reject:
			return Rejected
		case Flag:
			s = Flagged
		}
	}
	return s
}

// NeedsPhoto reports whether an outcome must come with at least one photo: every outcome but
// closed, refused and not_found (nothing to photograph inside).
func NeedsPhoto(outcome string) bool {
	switch outcome {
	case "closed", "refused", "not_found":
		return false
	}
	return true
}

// DistanceM is the great-circle distance between two WGS-84 points in metres (haversine on the
// mean Earth radius; well under a metre off at the distances the rules compare).
func DistanceM(a, b Point) float64 {
	const earthRadiusM = 6371008.8
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// judge holds one run of the rules.
type judge struct {
	cfg      Config
	in       Input
	findings []Finding
}

func (j *judge) add(code string, sev Severity, value, threshold float64, media *int64, format string, a ...any) {
	j.findings = append(j.findings, Finding{Code: code, Severity: sev, Detail: fmt.Sprintf(format, a...),
		Value: round1(value), Threshold: round1(threshold), MediaID: media})
}

// fix judges the device position and returns the position to use for pace (nil: none usable).
func (j *judge) fix() *Point {
	cfg, in := j.cfg, j.in
	if in.Fix == nil || !valid(*in.Fix) {
		j.add(CodeNoFix, Flag, 0, 1, nil, "无设备定位")
		return nil
	}
	acc := 0.0
	if in.AccuracyM != nil {
		acc = *in.AccuracyM
		switch {
		case !(acc > 0) || math.IsInf(acc, 0):
			j.add(CodeMockLocation, Flag, 0, 0, nil, "定位精度为 %g 米：模拟定位（真实设备不会报告此值）", acc)
			acc = 0
		case acc > cfg.PoorFixM:
			j.add(CodePoorFix, Flag, acc, cfg.PoorFixM, nil, "定位精度 %s 米（阈值 %s 米）", meters(acc), meters(cfg.PoorFixM))
		}
	}
	far := math.Max(cfg.FarMinM, cfg.FarAccuracyFactor*acc)
	p, d := j.locate(*in.Fix, "设备定位", declared(in.SentCRS), far, nil)
	switch {
	case d > cfg.RejectBeyondM:
		j.add(CodeFixTooFar, Reject, d, cfg.RejectBeyondM, nil, "定位距场所 %s 米（拒收阈值 %s 米）", meters(d), meters(cfg.RejectBeyondM))
	case d > far:
		j.add(CodeFarFromPremise, Flag, d, far, nil, "定位距场所 %s 米（阈值 %s 米）", meters(d), meters(far))
	}
	return &p
}

// locate measures a position against the premise, with the GCJ-02 trap. A position that fails
// its rule (farther than tolerance, and not under CRSMismatchM) is tried converted GCJ-02 →
// WGS-84 and WGS-84 → GCJ-02; a conversion that lands under CRSMismatchM, or within the rule's
// own tolerance, is taken and noted as crs_mismatch. sent is the CRS the position was declared
// in ("" when none was, as for EXIF).
func (j *judge) locate(p Point, what string, sent gis.CRS, tolerance float64, media *int64) (Point, float64) {
	ok := func(d float64) bool { return d < j.cfg.CRSMismatchM || d <= tolerance }
	d := DistanceM(p, j.in.Premise)
	if ok(d) || math.IsNaN(d) {
		return p, d
	}
	best, bestD, how := p, d, ""
	lon, lat := gis.GCJ02ToWGS84(p.Lon, p.Lat)
	if q := (Point{Lon: lon, Lat: lat}); ok(DistanceM(q, j.in.Premise)) {
		best, bestD, how = q, DistanceM(q, j.in.Premise), "实为 GCJ-02，按 GCJ-02 换算为 WGS-84"
		if sent == gis.WGS84 {
			how = "声明为 WGS-84 但实为 GCJ-02"
		}
	}
	lon, lat = gis.WGS84ToGCJ02(p.Lon, p.Lat)
	if q := (Point{Lon: lon, Lat: lat}); ok(DistanceM(q, j.in.Premise)) && DistanceM(q, j.in.Premise) < bestD {
		best, bestD, how = q, DistanceM(q, j.in.Premise), "坐标系换算方向有误，按 WGS-84 换算为 GCJ-02"
		if sent == gis.GCJ02 {
			how = "声明为 GCJ-02 但实为 WGS-84"
		}
	}
	if how == "" {
		return p, d
	}
	j.add(CodeCRSMismatch, Info, bestD, j.cfg.CRSMismatchM, media,
		"%s%s：原距场所 %s 米，换算后 %s 米，属客户端坐标系错误，按换算后位置判定",
		what, how, meters(d), meters(bestD))
	return best, bestD
}

// declared reads the CRS a phone declared; anything but gcj02 was taken as WGS-84.
func declared(s string) gis.CRS {
	if c, err := gis.ParseCRS(s); err == nil && c == gis.GCJ02 {
		return gis.GCJ02
	}
	return gis.WGS84
}

// photos judges each photo's position, capture time and reuse, and the absence of photos.
func (j *judge) photos() {
	cfg, in := j.cfg, j.in
	if len(in.Photos) == 0 && NeedsPhoto(in.Outcome) {
		j.add(CodeNoPhoto, Flag, 0, 1, nil, "结果为“%s”却没有照片（至少 1 张）", outcomeName(in.Outcome))
	}
	for _, ph := range in.Photos {
		id := ph.MediaID
		media := &id
		label := fmt.Sprintf("照片 #%d", id)
		if ph.GPS == nil || !valid(*ph.GPS) {
			j.add(CodePhotoNoGPS, Flag, 0, 1, media, "%s没有 EXIF 位置", label)
		} else if _, d := j.locate(*ph.GPS, label+"的 EXIF 位置", "", cfg.PhotoFarM, media); d > cfg.PhotoFarM {
			j.add(CodePhotoFar, Flag, d, cfg.PhotoFarM, media, "%s拍摄位置距场所 %s 米（阈值 %s 米）", label, meters(d), meters(cfg.PhotoFarM))
		}
		if ph.TakenAt == nil {
			j.add(CodePhotoNoTime, Flag, 0, 1, media, "%s没有拍摄时间", label)
		} else {
			delta := ph.TakenAt.Sub(in.VisitedAt)
			switch {
			case delta < -cfg.GalleryAge:
				j.add(CodeGalleryPhoto, Flag, -delta.Hours(), cfg.GalleryAge.Hours(), media,
					"%s拍摄于记录前 %s：疑为相册旧照（阈值 %s）", label, span(-delta), span(cfg.GalleryAge))
			case delta < -cfg.PhotoBefore:
				j.add(CodePhotoTime, Flag, delta.Minutes(), -cfg.PhotoBefore.Minutes(), media,
					"%s拍摄于记录前 %s（允许 %s 内）", label, span(-delta), span(cfg.PhotoBefore))
			case delta > cfg.PhotoAfter:
				j.add(CodePhotoTime, Flag, delta.Minutes(), cfg.PhotoAfter.Minutes(), media,
					"%s拍摄于记录后 %s（允许 %s 内）", label, span(delta), span(cfg.PhotoAfter))
			}
		}
		j.reuse(ph, label, media)
	}
}

// reuse judges a photo's matches: only those attached to visits earlier by visit time count.
func (j *judge) reuse(ph Photo, label string, media *int64) {
	cfg := j.cfg
	var reused, similar *Match
	for i := range ph.Matches {
		m := &ph.Matches[i]
		if !j.earlier(*m) {
			continue
		}
		switch {
		case m.SameBytes || m.Distance <= cfg.ReuseMaxDistance:
			if reused == nil || worse(*m, *reused) {
				reused = m
			}
		case m.Distance <= cfg.SimilarMaxDistance:
			if similar == nil || worse(*m, *similar) {
				similar = m
			}
		}
	}
	switch {
	case reused != nil && reused.SameBytes:
		j.add(CodePhotoReused, Reject, 0, float64(cfg.ReuseMaxDistance), media,
			"%s与场所 #%d 在 %s 的记录所附照片为同一文件", label, reused.PremiseID, stamp(reused.VisitedAt))
	case reused != nil:
		j.add(CodePhotoReused, Flag, float64(reused.Distance), float64(cfg.ReuseMaxDistance), media,
			"%s与场所 #%d 在 %s 的记录所附照片相同（感知哈希距离 %d，阈值 %d）",
			label, reused.PremiseID, stamp(reused.VisitedAt), reused.Distance, cfg.ReuseMaxDistance)
	case similar != nil:
		j.add(CodePhotoSimilar, Info, float64(similar.Distance), float64(cfg.SimilarMaxDistance), media,
			"%s与场所 #%d 在 %s 的记录所附照片相似（感知哈希距离 %d，复用阈值 %d），请人工复核",
			label, similar.PremiseID, stamp(similar.VisitedAt), similar.Distance, cfg.ReuseMaxDistance)
	}
}

// earlier reports whether a match's visit comes before this one in visit time (ties broken by
// inspection id; this visit itself never counts).
func (j *judge) earlier(m Match) bool {
	if j.in.ID != "" && m.InspectionID == j.in.ID {
		return false
	}
	if !m.VisitedAt.Equal(j.in.VisitedAt) {
		return m.VisitedAt.Before(j.in.VisitedAt)
	}
	return j.in.ID == "" || m.InspectionID < j.in.ID
}

// worse orders matches: same bytes first, then the smaller distance, then the earlier visit.
func worse(a, b Match) bool {
	if a.SameBytes != b.SameBytes {
		return a.SameBytes
	}
	if a.Distance != b.Distance {
		return a.Distance < b.Distance
	}
	return a.VisitedAt.Before(b.VisitedAt)
}

// stop is one visit on the worker's timeline.
type stop struct {
	id      string
	premise int64
	at      time.Time
	pos     *Point
	self    bool
}

// pace judges the worker's timeline around this visit.
func (j *judge) pace(pos *Point) {
	cfg, in := j.cfg, j.in
	if pos == nil {
		p := in.Premise
		pos = &p
	}
	stops := make([]stop, 0, len(in.Neighbours)+1)
	stops = append(stops, stop{id: in.ID, premise: in.PremiseID, at: in.VisitedAt, pos: pos, self: true})
	for _, v := range in.Neighbours {
		if in.ID != "" && v.ID == in.ID {
			continue
		}
		p := v.Fix
		if p == nil || !valid(*p) {
			p = v.Premise
		}
		stops = append(stops, stop{id: v.ID, premise: v.PremiseID, at: v.VisitedAt, pos: p})
	}
	slices.SortStableFunc(stops, func(a, b stop) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	k := slices.IndexFunc(stops, func(s stop) bool { return s.self })

	// Speed to the visits just before and after.
	var fastest float64
	var fastestTo *stop
	for _, o := range []int{k - 1, k + 1} {
		if o < 0 || o >= len(stops) || stops[o].pos == nil {
			continue
		}
		dt := math.Abs(stops[o].at.Sub(in.VisitedAt).Seconds())
		d := math.Max(0, DistanceM(*pos, *stops[o].pos)-cfg.FarMinM)
		kmh := d / math.Max(dt, 1) * 3.6
		if kmh > cfg.PaceMaxKmh && kmh > fastest {
			fastest, fastestTo = kmh, &stops[o]
		}
	}
	if fastestTo != nil {
		j.add(CodePace, Flag, fastest, cfg.PaceMaxKmh, nil, "与 %s 的另一记录之间需时速 %.0f 公里（阈值 %.0f 公里）",
			stamp(fastestTo.at), fastest, cfg.PaceMaxKmh)
	}

	// Gap to visits of other premises.
	var closest time.Duration = -1
	var closestTo *stop
	for i := range stops {
		o := &stops[i]
		if o.self || o.premise == in.PremiseID {
			continue
		}
		dt := o.at.Sub(in.VisitedAt).Abs()
		if dt < cfg.PaceMinGap && (closest < 0 || dt < closest) {
			closest, closestTo = dt, o
		}
	}
	if closestTo != nil {
		j.add(CodePace, Flag, closest.Minutes(), cfg.PaceMinGap.Minutes(), nil, "与 %s 另一场所的记录仅隔 %s（至少 %s）",
			stamp(closestTo.at), span(closest), span(cfg.PaceMinGap))
	}

	// Visits within any hour holding this one.
	most, from := 0, time.Time{}
	for i := range stops {
		s := stops[i].at
		if s.After(in.VisitedAt) || !s.Add(time.Hour).After(in.VisitedAt) {
			continue
		}
		n := 0
		for _, o := range stops[i:] {
			if !o.at.Before(s.Add(time.Hour)) {
				break
			}
			n++
		}
		if n > most {
			most, from = n, s
		}
	}
	if most > cfg.PaceMaxPerHour {
		j.add(CodePace, Flag, float64(most), float64(cfg.PaceMaxPerHour), nil, "自 %s 起一小时内 %d 条记录（阈值 %d 条）",
			stamp(from), most, cfg.PaceMaxPerHour)
	}
}

// valid reports whether a point is a finite longitude/latitude.
func valid(p Point) bool {
	return p.Lon >= -180 && p.Lon <= 180 && p.Lat >= -90 && p.Lat <= 90
}

func round1(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*10) / 10
}

// meters prints a distance for a Detail: whole metres, one decimal under 10 m.
func meters(m float64) string {
	if math.Abs(m) < 10 {
		return fmt.Sprintf("%.1f", m)
	}
	return fmt.Sprintf("%.0f", m)
}

// span prints a duration for a Detail in Chinese: 天, 小时, 分钟 or 秒.
func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f 天", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.1f 小时", d.Hours())
	case d >= 2*time.Minute:
		return fmt.Sprintf("%.0f 分钟", d.Minutes())
	}
	return fmt.Sprintf("%.0f 秒", d.Seconds())
}

// stamp prints a visit time for a Detail, in China Standard Time (UTC+8, no daylight saving).
func stamp(t time.Time) string {
	return t.In(chinatime.Zone).Format("01-02 15:04")
}

func outcomeName(o string) string {
	switch o {
	case "clear":
		return "无问题"
	case "suspected":
		return "疑似问题"
	}
	return o
}
