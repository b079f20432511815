package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/evidence"
)

// TestEvidenceDefaults checks that with no variable set the rules get evidence.DefaultConfig.
func TestEvidenceDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.EvidenceConfig() != evidence.DefaultConfig() {
		t.Fatalf("evidence defaults: %+v", c.EvidenceConfig())
	}
	if !strings.Contains(c.String(), "evidence.far_min_m=50 ") || !strings.Contains(c.String(), "evidence.gallery_age=24h0m0s") {
		t.Fatalf("evidence missing from %q", c.String())
	}
}

// TestEvidenceValues checks that every SIEVE_EVIDENCE_* variable lands in its field.
func TestEvidenceValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SIEVE_EVIDENCE_POOR_FIX_M":           "80",
		"SIEVE_EVIDENCE_FAR_MIN_M":            "60.5",
		"SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR":  "1.5",
		"SIEVE_EVIDENCE_REJECT_BEYOND_M":      "800",
		"SIEVE_EVIDENCE_PHOTO_FAR_M":          "150",
		"SIEVE_EVIDENCE_PHOTO_BEFORE":         "45m",
		"SIEVE_EVIDENCE_PHOTO_AFTER":          "10m",
		"SIEVE_EVIDENCE_GALLERY_AGE":          "12h",
		"SIEVE_EVIDENCE_REUSE_MAX_DISTANCE":   "4",
		"SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE": "12",
		"SIEVE_EVIDENCE_PACE_MAX_KMH":         "60",
		"SIEVE_EVIDENCE_PACE_MIN_GAP":         "90s",
		"SIEVE_EVIDENCE_PACE_MAX_PER_HOUR":    "20",
		"SIEVE_EVIDENCE_CRS_MISMATCH_M":       "40",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := evidence.Config{PoorFixM: 80, FarMinM: 60.5, FarAccuracyFactor: 1.5, RejectBeyondM: 800, PhotoFarM: 150,
		PhotoBefore: 45 * time.Minute, PhotoAfter: 10 * time.Minute, GalleryAge: 12 * time.Hour, ReuseMaxDistance: 4,
		SimilarMaxDistance: 12, PaceMaxKmh: 60, PaceMinGap: 90 * time.Second, PaceMaxPerHour: 20, CRSMismatchM: 40}
	if got := c.EvidenceConfig(); got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// TestEvidenceErrorsNameTheVariable checks that a bad threshold stops start-up naming it.
func TestEvidenceErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		key  string
	}{
		{"not a number", map[string]string{"SIEVE_EVIDENCE_POOR_FIX_M": "far"}, "SIEVE_EVIDENCE_POOR_FIX_M"},
		{"NaN", map[string]string{"SIEVE_EVIDENCE_FAR_MIN_M": "NaN"}, "SIEVE_EVIDENCE_FAR_MIN_M"},
		{"zero metres", map[string]string{"SIEVE_EVIDENCE_FAR_MIN_M": "0"}, "SIEVE_EVIDENCE_FAR_MIN_M"},
		{"negative factor", map[string]string{"SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR": "-1"}, "SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR"},
		{"reject inside far", map[string]string{"SIEVE_EVIDENCE_REJECT_BEYOND_M": "40"}, "SIEVE_EVIDENCE_REJECT_BEYOND_M"},
		{"photo far zero", map[string]string{"SIEVE_EVIDENCE_PHOTO_FAR_M": "0"}, "SIEVE_EVIDENCE_PHOTO_FAR_M"},
		{"bad duration", map[string]string{"SIEVE_EVIDENCE_PHOTO_BEFORE": "half an hour"}, "SIEVE_EVIDENCE_PHOTO_BEFORE"},
		{"zero duration", map[string]string{"SIEVE_EVIDENCE_PHOTO_AFTER": "0s"}, "SIEVE_EVIDENCE_PHOTO_AFTER"},
		{"gallery inside the photo window", map[string]string{"SIEVE_EVIDENCE_GALLERY_AGE": "20m"}, "SIEVE_EVIDENCE_GALLERY_AGE"},
		{"bad int", map[string]string{"SIEVE_EVIDENCE_REUSE_MAX_DISTANCE": "six"}, "SIEVE_EVIDENCE_REUSE_MAX_DISTANCE"},
		{"reuse beyond 32 bits", map[string]string{"SIEVE_EVIDENCE_REUSE_MAX_DISTANCE": "40", "SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE": "50"}, "SIEVE_EVIDENCE_REUSE_MAX_DISTANCE"},
		{"similar under reuse", map[string]string{"SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE": "5"}, "SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE"},
		{"speed zero", map[string]string{"SIEVE_EVIDENCE_PACE_MAX_KMH": "0"}, "SIEVE_EVIDENCE_PACE_MAX_KMH"},
		{"gap negative", map[string]string{"SIEVE_EVIDENCE_PACE_MIN_GAP": "-2m"}, "SIEVE_EVIDENCE_PACE_MIN_GAP"},
		{"per hour zero", map[string]string{"SIEVE_EVIDENCE_PACE_MAX_PER_HOUR": "0"}, "SIEVE_EVIDENCE_PACE_MAX_PER_HOUR"},
		{"crs tolerance near the GCJ-02 offset", map[string]string{"SIEVE_EVIDENCE_CRS_MISMATCH_M": "600"}, "SIEVE_EVIDENCE_CRS_MISMATCH_M"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.vars))
			if err == nil {
				t.Fatalf("%v accepted", tt.vars)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %q does not name %s", err, tt.key)
			}
		})
	}
}
