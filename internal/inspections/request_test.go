package inspections

import (
	"errors"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/evidence"
)

func TestCanonicalHash(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 12, 0, 0, time.FixedZone("CST", 8*3600))
	p := int64(41247)
	a := Request{ID: "0B9E2F0C-6A53-4C1E-9A57-3D1C2C8E1F40", PremiseID: &p, VisitedAt: at, Outcome: Clear,
		Position: &Position{Lon: 113.54304, Lat: 34.23618}, InspectorID: &p}
	b := Request{ID: "0b9e2f0c-6a53-4c1e-9a57-3d1c2c8e1f40", PremiseID: &p, VisitedAt: at.UTC(), Outcome: Clear,
		Position: &Position{Lon: 113.54304, Lat: 34.23618, CRS: "wgs84"}, Findings: []string{}, MediaIDs: []int64{}}
	if string(hashOf(canonical(a))) != string(hashOf(canonical(b))) {
		t.Error("the same visit written two ways hashes differently (case, zone, defaults, the ignored inspectorId)")
	}
	c := b
	c.Note = "x"
	if string(hashOf(canonical(c))) == string(hashOf(canonical(b))) {
		t.Error("another note hashes the same")
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p := int64(1)
	ok := func() Request {
		return canonical(Request{ID: "0b9e2f0c-6a53-4c1e-9a57-3d1c2c8e1f40", PremiseID: &p, VisitedAt: now.Add(-time.Hour), Outcome: Clear})
	}
	tests := []struct {
		name string
		edit func(r *Request)
		code string
	}{
		{"fine", func(r *Request) {}, ""},
		{"clock skew within 10 min", func(r *Request) { r.VisitedAt = now.Add(9 * time.Minute) }, ""},
		{"future", func(r *Request) { r.VisitedAt = now.Add(11 * time.Minute) }, "visit_in_future"},
		{"findings on clear", func(r *Request) { r.Findings = []string{"unlicensed"} }, "findings_not_suspected"},
		{"findings on suspected", func(r *Request) { r.Outcome, r.Findings = Suspected, []string{"unlicensed"} }, ""},
		{"unknown finding", func(r *Request) { r.Outcome, r.Findings = Suspected, []string{"arson"} }, "invalid_inspection"},
		{"no premise", func(r *Request) { r.PremiseID = nil }, "invalid_inspection"},
		{"both", func(r *Request) { r.NewPremise = &NewPremise{Name: "x", Position: Position{CRS: "wgs84"}} }, "invalid_inspection"},
		{"bad crs", func(r *Request) { r.Position = &Position{Lon: 113, Lat: 34, CRS: "bd09"} }, "unsupported_crs"},
		{"negative accuracy", func(r *Request) { a := -1.0; r.Position = &Position{Lon: 113, Lat: 34, CRS: "wgs84", AccuracyM: &a} }, "invalid_position"},
		{"duplicate photos", func(r *Request) { r.MediaIDs = []int64{3, 3} }, "invalid_inspection"},
		{"not a uuid", func(r *Request) { r.ID = "123" }, "invalid_inspection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.edit(&r)
			err := validate(r, now)
			var ae *apperr.Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.code != "" && (!errors.As(err, &ae) || ae.Code != tt.code):
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

func TestDisagrees(t *testing.T) {
	for _, tt := range []struct {
		orig, recheck string
		want          bool
	}{
		{Clear, Suspected, true}, {Suspected, Clear, true}, {Clear, NotFound, true}, {NotFound, NotFound, false},
		{Clear, Clear, false}, {Clear, Closed, false}, {Closed, Clear, false},
	} {
		if got := disagrees(tt.orig, tt.recheck); got != tt.want {
			t.Errorf("disagrees(%s, %s) = %v", tt.orig, tt.recheck, got)
		}
	}
}

func TestOverruled(t *testing.T) {
	v := evidence.Verdict{Status: evidence.Flagged, Findings: []evidence.Finding{
		{Code: "photo_far", Severity: evidence.Flag}, {Code: "photo_similar", Severity: evidence.Info}}}
	if !overruled(v, []string{"photo_far"}) {
		t.Error("the reviewed flag with an info finding beside it is not overruled")
	}
	v.Findings = append(v.Findings, evidence.Finding{Code: "pace", Severity: evidence.Flag})
	if overruled(v, []string{"photo_far"}) {
		t.Error("a new flag after the review is overruled")
	}
}
