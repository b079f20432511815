package config

import (
	"fmt"
	"strconv"

	"github.com/sieve-city/sieve/internal/evidence"
)

// The evidence check's thresholds (SIEVE_EVIDENCE_*), read into Config.Evidence with the
// defaults of evidence.DefaultConfig.

// EvidenceConfig is the thresholds the evidence rules judge inspections with.
func (c Config) EvidenceConfig() evidence.Config { return c.Evidence }

// evidence reads the SIEVE_EVIDENCE_* variables.
func (r *reader) evidence(e *evidence.Config) {
	r.float("SIEVE_EVIDENCE_POOR_FIX_M", &e.PoorFixM)
	r.float("SIEVE_EVIDENCE_FAR_MIN_M", &e.FarMinM)
	r.float("SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR", &e.FarAccuracyFactor)
	r.float("SIEVE_EVIDENCE_REJECT_BEYOND_M", &e.RejectBeyondM)
	r.float("SIEVE_EVIDENCE_PHOTO_FAR_M", &e.PhotoFarM)
	r.dur("SIEVE_EVIDENCE_PHOTO_BEFORE", &e.PhotoBefore)
	r.dur("SIEVE_EVIDENCE_PHOTO_AFTER", &e.PhotoAfter)
	r.dur("SIEVE_EVIDENCE_GALLERY_AGE", &e.GalleryAge)
	r.int("SIEVE_EVIDENCE_REUSE_MAX_DISTANCE", &e.ReuseMaxDistance)
	r.int("SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE", &e.SimilarMaxDistance)
	r.float("SIEVE_EVIDENCE_PACE_MAX_KMH", &e.PaceMaxKmh)
	r.dur("SIEVE_EVIDENCE_PACE_MIN_GAP", &e.PaceMinGap)
	r.int("SIEVE_EVIDENCE_PACE_MAX_PER_HOUR", &e.PaceMaxPerHour)
	r.float("SIEVE_EVIDENCE_CRS_MISMATCH_M", &e.CRSMismatchM)
}

// validateEvidence checks the thresholds that parsed against each other and their ranges.
func validateEvidence(e evidence.Config, bad func(name, format string, a ...any)) {
	between := func(name string, v, lo, hi float64) {
		if !(v >= lo && v <= hi) {
			bad(name, "between %g and %g, got %g", lo, hi, v)
		}
	}
	between("SIEVE_EVIDENCE_POOR_FIX_M", e.PoorFixM, 1, 10000)
	between("SIEVE_EVIDENCE_FAR_MIN_M", e.FarMinM, 1, 10000)
	between("SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR", e.FarAccuracyFactor, 0, 10)
	between("SIEVE_EVIDENCE_REJECT_BEYOND_M", e.RejectBeyondM, 1, 100000)
	if e.RejectBeyondM <= e.FarMinM {
		bad("SIEVE_EVIDENCE_REJECT_BEYOND_M", "must exceed SIEVE_EVIDENCE_FAR_MIN_M (%g), got %g", e.FarMinM, e.RejectBeyondM)
	}
	between("SIEVE_EVIDENCE_PHOTO_FAR_M", e.PhotoFarM, 1, 100000)
	if e.GalleryAge <= e.PhotoBefore {
		bad("SIEVE_EVIDENCE_GALLERY_AGE", "must exceed SIEVE_EVIDENCE_PHOTO_BEFORE (%s), got %s", e.PhotoBefore, e.GalleryAge)
	}
	between("SIEVE_EVIDENCE_REUSE_MAX_DISTANCE", float64(e.ReuseMaxDistance), 0, 32)
	between("SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE", float64(e.SimilarMaxDistance), 0, 32)
	if e.SimilarMaxDistance < e.ReuseMaxDistance {
		bad("SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE", "at least SIEVE_EVIDENCE_REUSE_MAX_DISTANCE (%d), got %d", e.ReuseMaxDistance, e.SimilarMaxDistance)
	}
	between("SIEVE_EVIDENCE_PACE_MAX_KMH", e.PaceMaxKmh, 1, 1000)
	between("SIEVE_EVIDENCE_PACE_MAX_PER_HOUR", float64(e.PaceMaxPerHour), 1, 1000)
	// The GCJ-02 offset over Yuzhou is ~580-610 m: a tolerance near it would pardon far fixes.
	between("SIEVE_EVIDENCE_CRS_MISMATCH_M", e.CRSMismatchM, 1, 200)
}

// int reads an integer.
func (r *reader) int(name string, dst *int) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, v, "an integer")
		return
	}
	*dst = n
}

// evidenceString prints the thresholds for the start-up log.
func evidenceString(e evidence.Config) string {
	return fmt.Sprintf("evidence.poor_fix_m=%g evidence.far_min_m=%g evidence.far_accuracy_factor=%g evidence.reject_beyond_m=%g "+
		"evidence.photo_far_m=%g evidence.photo_before=%s evidence.photo_after=%s evidence.gallery_age=%s "+
		"evidence.reuse_max_distance=%d evidence.similar_max_distance=%d evidence.pace_max_kmh=%g evidence.pace_min_gap=%s "+
		"evidence.pace_max_per_hour=%d evidence.crs_mismatch_m=%g",
		e.PoorFixM, e.FarMinM, e.FarAccuracyFactor, e.RejectBeyondM, e.PhotoFarM, e.PhotoBefore, e.PhotoAfter, e.GalleryAge,
		e.ReuseMaxDistance, e.SimilarMaxDistance, e.PaceMaxKmh, e.PaceMinGap, e.PaceMaxPerHour, e.CRSMismatchM)
}
