package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/evidence"
)

// TestEvidenceConfig: the rules' thresholds default to issue 10's values, are read from
// SIEVE_EVIDENCE_*, and a bad value stops start-up naming the variable.
func TestEvidenceConfig(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.Evidence != evidence.DefaultConfig() {
		t.Fatalf("defaults: %+v %v", c.Evidence, err)
	}
	c, err = Load(env(map[string]string{"SIEVE_EVIDENCE_PHOTO_FAR_M": "150", "SIEVE_EVIDENCE_GALLERY_AGE": "48h",
		"SIEVE_EVIDENCE_REUSE_MAX_DISTANCE": "5"}))
	if err != nil || c.Evidence.PhotoFarM != 150 || c.Evidence.GalleryAge != 48*time.Hour || c.Evidence.ReuseMaxDistance != 5 {
		t.Fatalf("read: %+v %v", c.Evidence, err)
	}
	for name, v := range map[string]string{"SIEVE_EVIDENCE_POOR_FIX_M": "-1", "SIEVE_EVIDENCE_PACE_MIN_GAP": "soon",
		"SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE": "3", "SIEVE_EVIDENCE_REUSE_MAX_DISTANCE": "65"} {
		if _, err := Load(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming it", name, v, err)
		}
	}
}
