package evidence

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/chinatime"
)

// The kinds of planted cases: genuine visits and one kind per way of faking one.
const (
	PlantGenuine    = "genuine"     // a real visit: GPS noise, register point off, GCJ-02 slips, fresh photos
	PlantReused     = "reused"      // a photo of an earlier visit elsewhere, re-encoded, resized or cropped
	PlantReusedCopy = "reused_copy" // the very file of an earlier visit elsewhere
	PlantGallery    = "gallery"     // a photo from the gallery, taken days before, even at the premise
	PlantFarPhoto   = "far_photo"   // a photo taken far from the premise
	PlantFarFix     = "far_fix"     // the record made far from the premise
	PlantDesk       = "desk"        // a desk session ticking through a list, minutes apart, from one place
	PlantMock       = "mock"        // a mock-location app placing the fix on the register point
)

// PlantedCase is one visit of a planted set: what the rules get and whether it is a fake.
type PlantedCase struct {
	Kind  string
	Fake  bool
	Input Input
}

// PlantCounts says how many cases of each kind Planted makes (desk: visits, in sessions of
// 15 to 30).
type PlantCounts struct {
	Genuine, Reused, ReusedCopy, Gallery, FarPhoto, FarFix, Desk, Mock int
}

// DefaultPlantCounts is 1,000 genuine visits and 100 fakes of each kind.
func DefaultPlantCounts() PlantCounts {
	return PlantCounts{Genuine: 1000, Reused: 100, ReusedCopy: 100, Gallery: 100, FarPhoto: 100, FarFix: 100, Desk: 100, Mock: 100}
}

// Planted makes a deterministic set of planted visits over Yuzhou (禹州) from a seed: the same
// seed gives the same set. Genuine visits are the hard honest ones: GPS noise of tens of metres
// (Rayleigh error with the reported accuracy as its 68 % radius), register points up to 30 m
// off the door, GCJ-02 positions declared as such and declared wrongly (both ways), cameras
// writing GCJ-02 into EXIF, photos taken minutes before the record, similar-looking photos
// elsewhere and their own photos reused by someone later. Each fake changes only what its kind
// fakes and keeps the rest genuine, so the rule for that kind is what has to catch it.
func Planted(seed uint64, n PlantCounts) []PlantedCase {
	p := planter{rng: rand.New(rand.NewPCG(seed, seed^0x5eed5eed5eed5eed))}
	var out []PlantedCase
	add := func(kind string, count int, fake func(*Input)) {
		for range count {
			in := p.genuine()
			for fake != nil && len(in.Photos) == 0 { // the photo fakes need a photo to fake
				in = p.genuine()
			}
			if fake != nil {
				fake(&in)
			}
			out = append(out, PlantedCase{Kind: kind, Fake: kind != PlantGenuine, Input: in})
		}
	}
	add(PlantGenuine, n.Genuine, nil)
	add(PlantReused, n.Reused, func(in *Input) {
		ph := &in.Photos[p.rng.IntN(len(in.Photos))]
		// re-encoded: 0-2 bits; resized: 1-4; cropped a little: 3-6.
		d := []int{p.rng.IntN(3), 1 + p.rng.IntN(4), 3 + p.rng.IntN(4)}[p.rng.IntN(3)]
		ph.Matches = append(ph.Matches, p.elsewhere(in.VisitedAt, d, false))
	})
	add(PlantReusedCopy, n.ReusedCopy, func(in *Input) {
		ph := &in.Photos[p.rng.IntN(len(in.Photos))]
		ph.Matches = append(ph.Matches, p.elsewhere(in.VisitedAt, 0, true))
	})
	add(PlantGallery, n.Gallery, func(in *Input) {
		ph := &in.Photos[p.rng.IntN(len(in.Photos))]
		ph.TakenAt = ptrTo(in.VisitedAt.Add(-25*time.Hour - time.Duration(p.rng.Float64()*60*24*float64(time.Hour))))
	})
	add(PlantFarPhoto, n.FarPhoto, func(in *Input) {
		ph := &in.Photos[p.rng.IntN(len(in.Photos))]
		ph.GPS = ptrTo(p.around(in.Premise, 150+p.rng.Float64()*4850))
	})
	add(PlantFarFix, n.FarFix, func(in *Input) {
		in.Fix = ptrTo(p.around(in.Premise, 150+p.rng.Float64()*9850))
	})
	add(PlantMock, n.Mock, func(in *Input) {
		in.Fix, in.AccuracyM, in.SentCRS = ptrTo(in.Premise), ptrTo(0.0), "wgs84"
	})
	for left := n.Desk; left > 0; {
		size := min(left, 15+p.rng.IntN(16))
		out = append(out, p.desk(size)...)
		left -= size
	}
	return out
}

// planter draws the cases.
type planter struct {
	rng  *rand.Rand
	next int64
}

func ptrTo[T any](v T) *T { return &v }

// Yuzhou's extent, roughly.
const (
	plantWest, plantEast   = 113.30, 113.65
	plantSouth, plantNorth = 34.05, 34.30
)

func (p *planter) id() (string, int64) {
	p.next++
	return fmt.Sprintf("planted-%06d", p.next), 1_000_000 + p.next
}

// around is a point dist metres from c in a random direction.
func (p *planter) around(c Point, dist float64) Point {
	a := p.rng.Float64() * 2 * math.Pi
	return offset(c, dist*math.Cos(a), dist*math.Sin(a))
}

// noisy is a GPS reading of the true position t whose reported accuracy is acc: the error is
// Rayleigh distributed with acc as its 68 % radius (what Android's accuracy means).
func (p *planter) noisy(t Point, acc float64) Point {
	sigma := acc / 1.5096 // r68 = σ·√(−2 ln 0.32)
	return offset(t, p.rng.NormFloat64()*sigma, p.rng.NormFloat64()*sigma)
}

// accuracy is a phone's reported accuracy outdoors: mostly 3-15 m, one in ten 15-40 m.
func (p *planter) accuracy() float64 {
	if p.rng.IntN(10) == 0 {
		return 15 + p.rng.Float64()*25
	}
	return 3 + p.rng.Float64()*12
}

func gcjOf(w Point) Point {
	lon, lat := gis.WGS84ToGCJ02(w.Lon, w.Lat)
	return Point{Lon: lon, Lat: lat}
}
func wgsOfGCJ(g Point) Point {
	lon, lat := gis.GCJ02ToWGS84(g.Lon, g.Lat)
	return Point{Lon: lon, Lat: lat}
}

// genuine draws a real visit with its day around it.
func (p *planter) genuine() Input {
	r := p.rng
	village := Point{Lon: plantWest + r.Float64()*(plantEast-plantWest), Lat: plantSouth + r.Float64()*(plantNorth-plantSouth)}
	door := p.around(village, r.Float64()*600)
	id, premiseID := p.id()
	visited := time.Date(2026, 11, 1+r.IntN(28), 8, 30, 0, 0, chinatime.Zone).
		Add(time.Duration(r.Float64() * 8 * float64(time.Hour))).Truncate(time.Second)
	in := Input{ID: id, PremiseID: premiseID, VisitedAt: visited,
		Premise: p.around(door, r.Float64()*30)} // the register point, up to 30 m off the door

	// The device fix: standing up to 10 m from the door, with noise; the CRS as the phone sent it.
	acc := p.accuracy()
	fix := p.noisy(p.around(door, r.Float64()*10), acc)
	switch x := r.IntN(20); {
	case x < 13: // WGS-84, declared so
		in.SentCRS = "wgs84"
	case x < 16: // GCJ-02, declared so: converted on the way in
		in.SentCRS, fix = "gcj02", wgsOfGCJ(gcjOf(fix))
	case x < 18: // GCJ-02 declared as WGS-84: stored as sent
		in.SentCRS, fix = "wgs84", gcjOf(fix)
	default: // WGS-84 declared as GCJ-02: converted when it should not have been
		in.SentCRS, fix = "gcj02", wgsOfGCJ(fix)
	}
	in.Fix, in.AccuracyM = &fix, &acc

	switch x := r.IntN(20); {
	case x < 15:
		in.Outcome = "clear"
	case x < 17:
		in.Outcome = "suspected"
	default:
		in.Outcome = []string{"closed", "refused", "not_found"}[r.IntN(3)]
	}
	photos := 1 + r.IntN(3)
	if !NeedsPhoto(in.Outcome) && r.IntN(10) < 7 {
		photos = 0
	}
	gcjCamera := r.IntN(10) == 0 // some phones' cameras write GCJ-02 into EXIF
	for range photos {
		p.next++
		gps := p.noisy(p.around(door, r.Float64()*15), p.accuracy())
		if gcjCamera {
			gps = gcjOf(gps)
		}
		taken := visited.Add(-time.Duration(r.Float64() * 20 * float64(time.Minute)))
		if r.IntN(10) == 0 { // added after saving the record
			taken = visited.Add(time.Duration(r.Float64() * 5 * float64(time.Minute)))
		}
		ph := Photo{MediaID: p.next, GPS: &gps, TakenAt: &taken}
		switch r.IntN(20) {
		case 0: // a similar-looking gate elsewhere, earlier
			ph.Matches = append(ph.Matches, p.elsewhere(visited, 7+r.IntN(4), false))
		case 1: // someone reused this photo later: the first use keeps its verdict
			m := p.elsewhere(visited, r.IntN(7), r.IntN(2) == 0)
			m.VisitedAt = visited.Add(time.Duration(1+r.IntN(240)) * time.Hour)
			ph.Matches = append(ph.Matches, m)
		}
		in.Photos = append(in.Photos, ph)
	}
	in.Neighbours = p.day(village, visited)
	return in
}

// elsewhere is a match with a photo of an earlier visit to another premise.
func (p *planter) elsewhere(visited time.Time, distance int, same bool) Match {
	p.next++
	return Match{MediaID: p.next, Distance: distance, SameBytes: same, InspectionID: fmt.Sprintf("other-%06d", p.next),
		PremiseID: 2_000_000 + p.next, VisitedAt: visited.Add(-time.Duration(1+p.rng.IntN(480)) * time.Hour)}
}

// day is an honest worker's other visits of the day around visited, in the same village: 4 to
// 20 minutes apart on foot.
func (p *planter) day(village Point, visited time.Time) []Visit {
	r := p.rng
	var out []Visit
	for _, dir := range []time.Duration{-1, 1} {
		at := visited
		for range r.IntN(7) {
			at = at.Add(dir * time.Duration((4+r.ExpFloat64()*8)*float64(time.Minute))).Truncate(time.Second)
			id, premise := p.id()
			reg := p.around(village, r.Float64()*600)
			v := Visit{ID: id, PremiseID: premise, VisitedAt: at, Premise: &reg}
			if r.IntN(10) > 0 {
				fix := p.noisy(p.around(reg, r.Float64()*30), p.accuracy())
				v.Fix = &fix
			}
			out = append(out, v)
		}
	}
	return out
}

// desk is a session of size records made from one desk, ticking through a list of premises
// of the village one to three minutes apart; each record is a fake.
func (p *planter) desk(size int) []PlantedCase {
	r := p.rng
	village := Point{Lon: plantWest + r.Float64()*(plantEast-plantWest), Lat: plantSouth + r.Float64()*(plantNorth-plantSouth)}
	desk := p.around(village, r.Float64()*300)
	start := time.Date(2026, 11, 1+r.IntN(28), 14, 0, 0, 0, chinatime.Zone)
	cases := make([]PlantedCase, size)
	at := start
	for i := range cases {
		at = at.Add(time.Duration((60 + r.Float64()*120) * float64(time.Second))).Truncate(time.Second)
		id, premise := p.id()
		acc := p.accuracy()
		fix := p.noisy(desk, acc)
		in := Input{ID: id, PremiseID: premise, Outcome: "clear", VisitedAt: at,
			Premise: p.around(village, r.Float64()*1500), Fix: &fix, AccuracyM: &acc, SentCRS: "wgs84"}
		if r.IntN(2) == 0 { // a photo of something on the desk, just taken
			p.next++
			gps, taken := p.noisy(desk, 10), at.Add(-time.Duration(r.IntN(60))*time.Second)
			in.Photos = []Photo{{MediaID: p.next, GPS: &gps, TakenAt: &taken}}
		}
		cases[i] = PlantedCase{Kind: PlantDesk, Fake: true, Input: in}
	}
	for i := range cases {
		for k, o := range cases {
			if k != i {
				cases[i].Input.Neighbours = append(cases[i].Input.Neighbours,
					Visit{ID: o.Input.ID, PremiseID: o.Input.PremiseID, VisitedAt: o.Input.VisitedAt, Fix: o.Input.Fix, Premise: &o.Input.Premise})
			}
		}
	}
	return cases
}

// offset is the point east and north metres from c.
func offset(c Point, east, north float64) Point {
	const r = 6371008.8
	return Point{Lon: c.Lon + east/(r*math.Cos(c.Lat*math.Pi/180))*180/math.Pi, Lat: c.Lat + north/r*180/math.Pi}
}
