package evidence

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkJudge judges a visit with 3 photos (each with two near matches) among a dozen
// neighbours: the whole evidence check may take 20 ms, the rules' share of it is this.
func BenchmarkJudge(b *testing.B) {
	in := genuine()
	in.Photos = nil
	for i := range 3 {
		in.Photos = append(in.Photos, Photo{MediaID: int64(101 + i), GPS: ptr(at(testPremise, float64(i*5), 0)),
			TakenAt: ptr(visit.Add(-time.Duration(i+1) * time.Minute)),
			Matches: []Match{{MediaID: 900, Distance: 8, InspectionID: "x", PremiseID: 9, VisitedAt: visit.Add(-time.Hour)},
				{MediaID: 901, Distance: 3, InspectionID: "y", PremiseID: 8, VisitedAt: visit.Add(time.Hour)}}})
	}
	for i := range 12 {
		in.Neighbours = append(in.Neighbours, Visit{ID: fmt.Sprint("n", i), PremiseID: int64(10 + i),
			VisitedAt: visit.Add(time.Duration(2*i-11) * 5 * time.Minute), Fix: ptr(at(testPremise, float64(i*40), 30))})
	}
	cfg := DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		Judge(cfg, in)
	}
}
