// Package evidence judges whether an inspection (排查记录) was really done: pure rules over the
// visit's device fix, its photos' EXIF position and time, photo reuse across premises and the
// worker's pace, each with a reason code and a threshold from Config. No database: the
// inspections domain gathers an Input and stores the Verdict. Formalism (形式主义) — checks
// reported but never done — is what the seed warns about; a visit counts toward coverage only
// when its verdict is verified (or a coordinator overruled its flags).
//
// THIS FILE IS THE CONTRACT between the inspections domain and the rules: the types below are
// what both sides build against. Judge is written in rules.go.
package evidence

import "time"

// Status is a verdict's outcome.
type Status string

// The verdict statuses: no flag → verified; any flag → flagged; any reject → rejected.
// Pending is the inspections domain's state while photos are still being processed.
const (
	Pending  Status = "pending"
	Verified Status = "verified"
	Flagged  Status = "flagged"
	Rejected Status = "rejected"
)

// Severity says what a finding does to the verdict.
type Severity string

// The severities: Flag makes the verdict flagged, Reject rejected, Info nothing (listed for a
// coordinator's review).
const (
	Info   Severity = "info"
	Flag   Severity = "flag"
	Reject Severity = "reject"
)

// Point is a WGS-84 position.
type Point struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// Match is a stored photo whose perceptual hash is near one of this visit's photos, attached
// to another visit (of another premise).
type Match struct {
	MediaID      int64     `json:"mediaId"`
	Distance     int       `json:"distance"` // Hamming distance of the 64-bit pHashes
	SameBytes    bool      `json:"sameBytes"`
	InspectionID string    `json:"inspectionId"`
	PremiseID    int64     `json:"premiseId"`
	VisitedAt    time.Time `json:"visitedAt"` // of that other visit
}

// Photo is one photo cited by the visit, as the media jobs read it.
type Photo struct {
	MediaID int64
	GPS     *Point     // EXIF GPS, WGS-84 as the phone's camera wrote it; nil when absent
	TakenAt *time.Time // EXIF capture time; nil when absent
	// Matches are the photos near this one (pHash distance ≤ Config.SimilarMaxDistance, or the
	// same SHA-256) attached to visits of OTHER premises, earlier or later in visit time; the
	// rules decide which count (only visits earlier by visit time make this one reused).
	Matches []Match
}

// Visit is one of the worker's other visits, for the pace rule.
type Visit struct {
	ID        string
	PremiseID int64
	VisitedAt time.Time
	Fix       *Point
	// Premise is the register point of that visit's premise, used for pace when Fix is nil
	// (optional: with neither, that visit is not timed for speed).
	Premise *Point
}

// Input is everything the rules look at for one inspection.
type Input struct {
	// ID is this inspection's id (optional but recommended): the visit itself is skipped when it
	// turns up among Neighbours or Matches, and it breaks ties of equal visit times for reuse.
	ID string
	// PremiseID is the premise visited: the pace gap rule spares visits to the same premise
	// (with 0, only neighbours with PremiseID 0 count as the same premise).
	PremiseID int64
	Outcome   string // clear, suspected, closed, refused, not_found
	VisitedAt time.Time
	Premise   Point // the register's point of the premise visited
	// Fix is the device position as sent, converted to WGS-84 (nil: none sent); SentCRS is what
	// the phone declared (wgs84 or gcj02), for the GCJ-02 trap rule.
	Fix       *Point
	AccuracyM *float64
	SentCRS   string
	Photos    []Photo
	// Neighbours are the same worker's other visits within a few hours of this one either side,
	// in any order (the rules sort them by visit time).
	Neighbours []Visit
}

// Finding is one reason the rules found, with the measured value and the threshold it crossed.
type Finding struct {
	Code      string   `json:"code"`
	Severity  Severity `json:"severity"`
	Detail    string   `json:"detail"`
	Value     float64  `json:"value"`
	Threshold float64  `json:"threshold"`
	MediaID   *int64   `json:"mediaId,omitempty"`
}

// Verdict is the rules' answer.
type Verdict struct {
	Status   Status    `json:"status"`
	Findings []Finding `json:"flags"`
}

// Config holds every threshold of the rules (SIEVE_EVIDENCE_* in internal/config).
type Config struct {
	PoorFixM           float64       // accuracy worse than this → poor_fix (100 m)
	FarMinM            float64       // far_from_premise beyond max(FarMinM, FarAccuracyFactor × accuracy) (50 m)
	FarAccuracyFactor  float64       // (2)
	RejectBeyondM      float64       // fix farther than this from the premise → reject (500 m)
	PhotoFarM          float64       // EXIF GPS farther than this from the premise → photo_far (100 m)
	PhotoBefore        time.Duration // capture earlier than visit − this → photo_time (30 min)
	PhotoAfter         time.Duration // capture later than visit + this → photo_time (15 min)
	GalleryAge         time.Duration // capture more than this before the visit → gallery_photo (24 h)
	ReuseMaxDistance   int           // pHash distance ≤ this to an earlier visit's photo → photo_reused (6)
	SimilarMaxDistance int           // distances above ReuseMaxDistance up to this → photo_similar, info (10)
	PaceMaxKmh         float64       // implied speed between consecutive visits → pace (80 km/h)
	PaceMinGap         time.Duration // less than this between visits to different premises → pace (2 min)
	PaceMaxPerHour     int           // more visits than this within any hour → pace (12)
	CRSMismatchM       float64       // distance under this after a GCJ-02 ⇄ WGS-84 conversion → crs_mismatch, info (50 m)
}

// DefaultConfig is the rules' thresholds as issue 10 sets them.
func DefaultConfig() Config {
	return Config{PoorFixM: 100, FarMinM: 50, FarAccuracyFactor: 2, RejectBeyondM: 500, PhotoFarM: 100,
		PhotoBefore: 30 * time.Minute, PhotoAfter: 15 * time.Minute, GalleryAge: 24 * time.Hour,
		ReuseMaxDistance: 6, SimilarMaxDistance: 10, PaceMaxKmh: 80, PaceMinGap: 2 * time.Minute,
		PaceMaxPerHour: 12, CRSMismatchM: 50}
}
