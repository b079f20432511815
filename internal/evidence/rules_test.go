package evidence

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sieve-city/sieve/gis"
)

// premise is the register point the table tests visit, in Yuzhou (禹州).
var testPremise = Point{Lon: 113.47, Lat: 34.16}

var visit = time.Date(2026, 11, 20, 9, 12, 0, 0, time.FixedZone("CST", 8*3600))

func ptr[T any](v T) *T { return &v }

// at is the point east and north metres from p (exact for the haversine of DistanceM along one axis).
func at(p Point, east, north float64) Point {
	const r = 6371008.8
	return Point{Lon: p.Lon + east/(r*math.Cos(p.Lat*math.Pi/180))*180/math.Pi, Lat: p.Lat + north/r*180/math.Pi}
}

// genuine is a visit that passes every rule: fix 5 m off with 10 m accuracy, one photo taken
// five minutes before the record at the premise.
func genuine() Input {
	return Input{
		ID: "self", PremiseID: 1, Outcome: "clear", VisitedAt: visit, Premise: testPremise,
		Fix: ptr(at(testPremise, 0, 5)), AccuracyM: ptr(10.0), SentCRS: "wgs84",
		Photos: []Photo{{MediaID: 101, GPS: ptr(at(testPremise, 3, 0)), TakenAt: ptr(visit.Add(-5 * time.Minute))}},
	}
}

// codes lists "code/severity" of a verdict's findings.
func codes(v Verdict) []string {
	out := []string{}
	for _, f := range v.Findings {
		out = append(out, f.Code+"/"+string(f.Severity))
	}
	return out
}

func TestGenuineIsVerified(t *testing.T) {
	v := Judge(DefaultConfig(), genuine())
	if v.Status != Verified || len(v.Findings) != 0 {
		t.Fatalf("genuine: %s %v", v.Status, codes(v))
	}
}

// TestRules checks each rule at (within a centimetre or a second), just under and just over
// its threshold. want lists the findings expected ("code/severity"), in order.
func TestRules(t *testing.T) {
	cfg := DefaultConfig()
	north := func(m float64) func(*Input) { return func(in *Input) { in.Fix = ptr(at(testPremise, 0, m)) } }
	acc := func(a float64) func(*Input) { return func(in *Input) { in.AccuracyM = ptr(a) } }
	photoAt := func(m float64) func(*Input) { return func(in *Input) { in.Photos[0].GPS = ptr(at(testPremise, m, 0)) } }
	taken := func(d time.Duration) func(*Input) {
		return func(in *Input) { in.Photos[0].TakenAt = ptr(visit.Add(d)) }
	}
	match := func(m Match) func(*Input) {
		return func(in *Input) {
			if m.PremiseID == 0 {
				m.PremiseID = 9
			}
			in.Photos[0].Matches = append(in.Photos[0].Matches, m)
		}
	}
	before := visit.Add(-48 * time.Hour)
	after := visit.Add(48 * time.Hour)
	neighbour := func(v Visit) func(*Input) {
		return func(in *Input) { in.Neighbours = append(in.Neighbours, v) }
	}
	// 80 km/h over ten minutes, beyond the FarMinM allowance.
	speedM := 80/3.6*600 + cfg.FarMinM
	hourly := func(n int, step time.Duration) func(*Input) {
		return func(in *Input) {
			for i := 1; i < n; i++ {
				in.Neighbours = append(in.Neighbours, Visit{ID: string(rune('a' + i)), PremiseID: int64(100 + i),
					VisitedAt: visit.Add(time.Duration(i) * step), Fix: ptr(at(testPremise, float64(i*20), 0))})
			}
		}
	}
	gcj := func(p Point) Point { lon, lat := gis.WGS84ToGCJ02(p.Lon, p.Lat); return Point{lon, lat} }
	wgs := func(p Point) Point { lon, lat := gis.GCJ02ToWGS84(p.Lon, p.Lat); return Point{lon, lat} }

	tests := []struct {
		name   string
		change []func(*Input)
		want   []string
		status Status
	}{
		// device fix
		{"no fix", []func(*Input){func(in *Input) { in.Fix = nil }}, []string{"no_fix/flag"}, Flagged},
		{"accuracy exactly 0", []func(*Input){acc(0)}, []string{"mock_location/flag"}, Flagged},
		{"accuracy 0.1", []func(*Input){acc(0.1)}, []string{}, Verified},
		{"negative accuracy", []func(*Input){acc(-1)}, []string{"mock_location/flag"}, Flagged},
		{"NaN accuracy", []func(*Input){acc(math.NaN())}, []string{"mock_location/flag"}, Flagged},
		{"no accuracy", []func(*Input){func(in *Input) { in.AccuracyM = nil }}, []string{}, Verified},
		{"accuracy at 100", []func(*Input){acc(100)}, []string{}, Verified},
		{"accuracy 99.9", []func(*Input){acc(99.9)}, []string{}, Verified},
		{"accuracy 100.1", []func(*Input){acc(100.1)}, []string{"poor_fix/flag"}, Flagged},
		{"fix at 50 m", []func(*Input){north(49.99)}, []string{}, Verified},
		{"fix 49 m", []func(*Input){north(49)}, []string{}, Verified},
		{"fix 51 m", []func(*Input){north(51)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix at 2×accuracy 80 m", []func(*Input){acc(40), north(79.99)}, []string{}, Verified},
		{"fix 79 m, accuracy 40", []func(*Input){acc(40), north(79)}, []string{}, Verified},
		{"fix 81 m, accuracy 40", []func(*Input){acc(40), north(81)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix 60 m, accuracy 20 (floor 50)", []func(*Input){acc(20), north(60)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix 60 m, no accuracy", []func(*Input){func(in *Input) { in.AccuracyM = nil }, north(60)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix at 500 m", []func(*Input){north(499.99)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix 499 m", []func(*Input){north(499)}, []string{"far_from_premise/flag"}, Flagged},
		{"fix 501 m", []func(*Input){north(501)}, []string{"fix_too_far/reject"}, Rejected},
		{"fix 5 km, poor accuracy", []func(*Input){acc(3000), north(5000)}, []string{"poor_fix/flag", "fix_too_far/reject"}, Rejected},
		// photos
		{"photo at 100 m", []func(*Input){photoAt(99.99)}, []string{}, Verified},
		{"photo 99 m", []func(*Input){photoAt(99)}, []string{}, Verified},
		{"photo 101 m", []func(*Input){photoAt(101)}, []string{"photo_far/flag"}, Flagged},
		{"photo no GPS", []func(*Input){func(in *Input) { in.Photos[0].GPS = nil }}, []string{"photo_no_gps/flag"}, Flagged},
		{"photo no time", []func(*Input){func(in *Input) { in.Photos[0].TakenAt = nil }}, []string{"photo_no_time/flag"}, Flagged},
		{"clear without photo", []func(*Input){func(in *Input) { in.Photos = nil }}, []string{"no_photo/flag"}, Flagged},
		{"suspected without photo", []func(*Input){func(in *Input) { in.Photos, in.Outcome = nil, "suspected" }}, []string{"no_photo/flag"}, Flagged},
		{"closed without photo", []func(*Input){func(in *Input) { in.Photos, in.Outcome = nil, "closed" }}, []string{}, Verified},
		{"refused without photo", []func(*Input){func(in *Input) { in.Photos, in.Outcome = nil, "refused" }}, []string{}, Verified},
		{"not found without photo", []func(*Input){func(in *Input) { in.Photos, in.Outcome = nil, "not_found" }}, []string{}, Verified},
		{"taken at visit − 30 min", []func(*Input){taken(-30 * time.Minute)}, []string{}, Verified},
		{"taken 29 min before", []func(*Input){taken(-29 * time.Minute)}, []string{}, Verified},
		{"taken 30 min 1 s before", []func(*Input){taken(-30*time.Minute - time.Second)}, []string{"photo_time/flag"}, Flagged},
		{"taken at visit + 15 min", []func(*Input){taken(15 * time.Minute)}, []string{}, Verified},
		{"taken 14 min after", []func(*Input){taken(14 * time.Minute)}, []string{}, Verified},
		{"taken 15 min 1 s after", []func(*Input){taken(15*time.Minute + time.Second)}, []string{"photo_time/flag"}, Flagged},
		{"taken exactly 24 h before", []func(*Input){taken(-24 * time.Hour)}, []string{"photo_time/flag"}, Flagged},
		{"taken 23 h before", []func(*Input){taken(-23 * time.Hour)}, []string{"photo_time/flag"}, Flagged},
		{"taken 24 h 1 s before", []func(*Input){taken(-24*time.Hour - time.Second)}, []string{"gallery_photo/flag"}, Flagged},
		// reuse
		{"match 6 earlier", []func(*Input){match(Match{MediaID: 7, Distance: 6, InspectionID: "x", VisitedAt: before})}, []string{"photo_reused/flag"}, Flagged},
		{"match 5 earlier", []func(*Input){match(Match{MediaID: 7, Distance: 5, InspectionID: "x", VisitedAt: before})}, []string{"photo_reused/flag"}, Flagged},
		{"match 7 earlier", []func(*Input){match(Match{MediaID: 7, Distance: 7, InspectionID: "x", VisitedAt: before})}, []string{"photo_similar/info"}, Verified},
		{"match 10 earlier", []func(*Input){match(Match{MediaID: 7, Distance: 10, InspectionID: "x", VisitedAt: before})}, []string{"photo_similar/info"}, Verified},
		{"match 11 earlier", []func(*Input){match(Match{MediaID: 7, Distance: 11, InspectionID: "x", VisitedAt: before})}, []string{}, Verified},
		{"match 0 later", []func(*Input){match(Match{MediaID: 7, Distance: 0, InspectionID: "x", VisitedAt: after})}, []string{}, Verified},
		{"match 8 later", []func(*Input){match(Match{MediaID: 7, Distance: 8, InspectionID: "x", VisitedAt: after})}, []string{}, Verified},
		{"same bytes earlier", []func(*Input){match(Match{MediaID: 7, SameBytes: true, InspectionID: "x", VisitedAt: before})}, []string{"photo_reused/reject"}, Rejected},
		{"same bytes later", []func(*Input){match(Match{MediaID: 7, SameBytes: true, InspectionID: "x", VisitedAt: after})}, []string{}, Verified},
		{"same bytes beats a nearer hash", []func(*Input){match(Match{MediaID: 7, Distance: 2, InspectionID: "x", VisitedAt: before}),
			match(Match{MediaID: 8, SameBytes: true, InspectionID: "y", VisitedAt: before})}, []string{"photo_reused/reject"}, Rejected},
		{"reuse beats similar", []func(*Input){match(Match{MediaID: 7, Distance: 8, InspectionID: "x", VisitedAt: before}),
			match(Match{MediaID: 8, Distance: 4, InspectionID: "y", VisitedAt: before})}, []string{"photo_reused/flag"}, Flagged},
		{"same instant, smaller id is first", []func(*Input){match(Match{MediaID: 7, Distance: 1, InspectionID: "a", VisitedAt: visit})}, []string{"photo_reused/flag"}, Flagged},
		{"same instant, larger id is later", []func(*Input){match(Match{MediaID: 7, Distance: 1, InspectionID: "z", VisitedAt: visit})}, []string{}, Verified},
		{"itself among matches", []func(*Input){match(Match{MediaID: 7, SameBytes: true, InspectionID: "self", VisitedAt: before})}, []string{}, Verified},
		// pace: speed
		{"speed at 80 km/h", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute), Fix: ptr(at(testPremise, 0, 5+speedM-0.01))})}, []string{}, Verified},
		{"speed 79 km/h", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute), Fix: ptr(at(testPremise, 0, 5+speedM*79/80))})}, []string{}, Verified},
		{"speed 81 km/h", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute), Fix: ptr(at(testPremise, 0, 5+speedM*81/80))})}, []string{"pace/flag"}, Flagged},
		{"speed 81 km/h to the next", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(10 * time.Minute), Fix: ptr(at(testPremise, 0, 5+speedM*81/80))})}, []string{"pace/flag"}, Flagged},
		{"speed only to consecutive visits", []func(*Input){
			neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute), Fix: ptr(at(testPremise, 0, 5+speedM*3))}),
			neighbour(Visit{ID: "m", PremiseID: 3, VisitedAt: visit.Add(-5 * time.Minute), Fix: ptr(at(testPremise, 100, 0))}),
		}, []string{}, Verified},
		{"speed from the premise point when no fix", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute), Premise: ptr(at(testPremise, 0, speedM*81/80))})}, []string{"pace/flag"}, Flagged},
		{"no fix nor premise point: not timed", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute)})}, []string{}, Verified},
		{"jitter at the same premise seconds apart", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 1, VisitedAt: visit.Add(-10 * time.Second), Fix: ptr(at(testPremise, 30, 0))})}, []string{}, Verified},
		// pace: gap
		{"gap exactly 2 min", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-2 * time.Minute), Fix: ptr(at(testPremise, 40, 0))})}, []string{}, Verified},
		{"gap 2 min 1 s", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(2*time.Minute + time.Second), Fix: ptr(at(testPremise, 40, 0))})}, []string{}, Verified},
		{"gap 1 min 59 s", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(2*time.Minute - time.Second), Fix: ptr(at(testPremise, 40, 0))})}, []string{"pace/flag"}, Flagged},
		{"gap 30 s at the same premise", []func(*Input){neighbour(Visit{ID: "n", PremiseID: 1, VisitedAt: visit.Add(30 * time.Second), Fix: ptr(at(testPremise, 10, 0))})}, []string{}, Verified},
		{"itself among neighbours", []func(*Input){neighbour(Visit{ID: "self", PremiseID: 1, VisitedAt: visit, Fix: ptr(at(testPremise, 0, 5))})}, []string{}, Verified},
		// pace: per hour
		{"12 visits in an hour", []func(*Input){hourly(12, 5*time.Minute)}, []string{}, Verified},
		{"13 visits 5 min apart span exactly an hour", []func(*Input){hourly(13, 5*time.Minute)}, []string{}, Verified},
		{"13 visits within 59:48", []func(*Input){hourly(13, 4*time.Minute+59*time.Second)}, []string{"pace/flag"}, Flagged},
		// GCJ-02 trap
		{"GCJ-02 fix declared WGS-84", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 10))) }}, []string{"crs_mismatch/info"}, Verified},
		{"WGS-84 fix declared GCJ-02 (converted wrongly)", []func(*Input){func(in *Input) {
			in.SentCRS, in.Fix = "gcj02", ptr(wgs(at(testPremise, 0, 10)))
		}}, []string{"crs_mismatch/info"}, Verified},
		{"converted fix at 50 m", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 49.99))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted fix 49 m", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 49))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted fix 51 m: a far fix", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 51))) }}, []string{"fix_too_far/reject"}, Rejected},
		{"GCJ-02 photo", []func(*Input){func(in *Input) { in.Photos[0].GPS = ptr(gcj(at(testPremise, 20, 0))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted photo at 100 m (PhotoFarM)", []func(*Input){func(in *Input) { in.Photos[0].GPS = ptr(gcj(at(testPremise, 0, 99.99))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted photo 99 m", []func(*Input){func(in *Input) { in.Photos[0].GPS = ptr(gcj(at(testPremise, 0, 99))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted photo 101 m: a far photo", []func(*Input){func(in *Input) { in.Photos[0].GPS = ptr(gcj(at(testPremise, 0, 101))) }}, []string{"photo_far/flag"}, Flagged},
		{"converted fix at 2×accuracy 80 m", []func(*Input){acc(40), func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 79.99))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted fix 79 m, accuracy 40", []func(*Input){acc(40), func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 79))) }}, []string{"crs_mismatch/info"}, Verified},
		{"converted fix 81 m, accuracy 40", []func(*Input){acc(40), func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 81))) }}, []string{"fix_too_far/reject"}, Rejected},
		{"GCJ-02 fix declared WGS-84, 300 m off anyway: judged as stored", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 300))) }}, []string{"fix_too_far/reject"}, Rejected},
		{"converted fix drives pace", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 10))) },
			neighbour(Visit{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-3 * time.Minute), Fix: ptr(at(testPremise, 0, 20))})}, []string{"crs_mismatch/info"}, Verified},
		// verdict
		{"info does not change a flag", []func(*Input){func(in *Input) { in.Fix = ptr(gcj(at(testPremise, 0, 10))) }, taken(-time.Hour)}, []string{"crs_mismatch/info", "photo_time/flag"}, Flagged},
		{"reject wins over flags", []func(*Input){acc(0), north(800), func(in *Input) { in.Photos = nil }}, []string{"mock_location/flag", "fix_too_far/reject", "no_photo/flag"}, Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := genuine()
			for _, c := range tt.change {
				c(&in)
			}
			v := Judge(cfg, in)
			if got := codes(v); !slices.Equal(got, tt.want) || v.Status != tt.status {
				t.Fatalf("got %s %v, want %s %v", v.Status, got, tt.status, tt.want)
			}
			for _, f := range v.Findings {
				if f.Detail == "" || !hasHan(f.Detail) {
					t.Errorf("%s: detail %q is not Chinese", f.Code, f.Detail)
				}
				if strings.HasPrefix(f.Code, "photo_") && (f.MediaID == nil || *f.MediaID != 101) {
					t.Errorf("%s: media id %v", f.Code, f.MediaID)
				}
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("verdict does not encode: %v", err)
			}
		})
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// TestFindingValues checks Value and Threshold of a few findings and a Detail's wording.
func TestFindingValues(t *testing.T) {
	in := genuine()
	in.Fix = ptr(at(testPremise, 0, 812))
	v := Judge(DefaultConfig(), in)
	f := v.Findings[0]
	if f.Code != CodeFixTooFar || f.Value != 812 || f.Threshold != 500 || f.Detail != "定位距场所 812 米（拒收阈值 500 米）" {
		t.Fatalf("finding %+v", f)
	}
	in = genuine()
	in.Photos[0].TakenAt = ptr(visit.Add(-72 * time.Hour))
	f = Judge(DefaultConfig(), in).Findings[0]
	if f.Code != CodeGalleryPhoto || f.Value != 72 || f.Threshold != 24 {
		t.Fatalf("finding %+v", f)
	}
	in = genuine()
	in.Photos[0].TakenAt = ptr(visit.Add(-45 * time.Minute))
	f = Judge(DefaultConfig(), in).Findings[0]
	if f.Code != CodePhotoTime || f.Value != -45 || f.Threshold != -30 {
		t.Fatalf("finding %+v", f)
	}
}

// TestConfigIsUsed checks that the thresholds come from the Config, not constants.
func TestConfigIsUsed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FarMinM, cfg.PhotoFarM, cfg.ReuseMaxDistance, cfg.PaceMaxPerHour = 200, 300, 2, 1
	in := genuine()
	in.Fix = ptr(at(testPremise, 0, 150))
	in.Photos[0].GPS = ptr(at(testPremise, 0, 250))
	in.Photos[0].Matches = []Match{{MediaID: 7, Distance: 4, InspectionID: "x", VisitedAt: visit.Add(-time.Hour)}}
	in.Neighbours = []Visit{{ID: "n", PremiseID: 2, VisitedAt: visit.Add(-10 * time.Minute)}}
	v := Judge(cfg, in)
	if got := codes(v); !slices.Equal(got, []string{"photo_similar/info", "pace/flag"}) {
		t.Fatalf("got %v", got)
	}
}
