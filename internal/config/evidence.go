package config

import (
	"strconv"

	"github.com/sieve-city/sieve/internal/evidence"
)

// evidence reads the thresholds of the evidence rules (README, "The evidence check"), each
// SIEVE_EVIDENCE_<NAME>: metres and km/h as numbers, times as durations, counts and pHash
// distances as whole numbers.
func (r *reader) evidence(c *evidence.Config) {
	r.positive("SIEVE_EVIDENCE_POOR_FIX_M", &c.PoorFixM)
	r.positive("SIEVE_EVIDENCE_FAR_MIN_M", &c.FarMinM)
	r.positive("SIEVE_EVIDENCE_FAR_ACCURACY_FACTOR", &c.FarAccuracyFactor)
	r.positive("SIEVE_EVIDENCE_REJECT_BEYOND_M", &c.RejectBeyondM)
	r.positive("SIEVE_EVIDENCE_PHOTO_FAR_M", &c.PhotoFarM)
	r.dur("SIEVE_EVIDENCE_PHOTO_BEFORE", &c.PhotoBefore)
	r.dur("SIEVE_EVIDENCE_PHOTO_AFTER", &c.PhotoAfter)
	r.dur("SIEVE_EVIDENCE_GALLERY_AGE", &c.GalleryAge)
	r.distance("SIEVE_EVIDENCE_REUSE_MAX_DISTANCE", &c.ReuseMaxDistance)
	r.distance("SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE", &c.SimilarMaxDistance)
	r.positive("SIEVE_EVIDENCE_PACE_MAX_KMH", &c.PaceMaxKmh)
	r.dur("SIEVE_EVIDENCE_PACE_MIN_GAP", &c.PaceMinGap)
	r.distance("SIEVE_EVIDENCE_PACE_MAX_PER_HOUR", &c.PaceMaxPerHour)
	r.positive("SIEVE_EVIDENCE_CRS_MISMATCH_M", &c.CRSMismatchM)
	switch {
	case c.SimilarMaxDistance < c.ReuseMaxDistance:
		r.fail("SIEVE_EVIDENCE_SIMILAR_MAX_DISTANCE", strconv.Itoa(c.SimilarMaxDistance), "at least SIEVE_EVIDENCE_REUSE_MAX_DISTANCE")
	case c.PaceMaxPerHour < 1:
		r.fail("SIEVE_EVIDENCE_PACE_MAX_PER_HOUR", strconv.Itoa(c.PaceMaxPerHour), "at least 1")
	case c.GalleryAge < c.PhotoBefore:
		r.fail("SIEVE_EVIDENCE_GALLERY_AGE", c.GalleryAge.String(), "at least SIEVE_EVIDENCE_PHOTO_BEFORE ("+c.PhotoBefore.String()+")")
	}
}

// positive reads a number greater than 0.
func (r *reader) positive(name string, dst *float64) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || f > 1e7 {
		r.fail(name, v, "a positive number")
		return
	}
	*dst = f
}

// distance reads a whole number from 0 to 64 (a pHash distance, a count).
func (r *reader) distance(name string, dst *int) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 64 {
		r.fail(name, v, "a whole number from 0 to 64")
		return
	}
	*dst = n
}
