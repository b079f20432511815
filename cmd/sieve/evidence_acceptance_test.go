// The acceptance set of the evidence check (issue 10, "Done means"): planted fakes and genuine
// visits on the demo city, recorded through the inspections service and judged by the real
// rules of internal/evidence, with the photo-reuse lookup through media's pHash index.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/evidence"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/testenv"
)

// scene is a photo-like picture: smooth random shapes, so that each scene's pHash is far from
// every other's and near its own copies.
func scene(seed int64) *image.RGBA {
	r := rand.New(rand.NewSource(seed))
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	type blob struct {
		x, y, rad float64
		c         color.RGBA
	}
	var blobs []blob
	for i := 0; i < 12; i++ {
		blobs = append(blobs, blob{r.Float64() * 640, r.Float64() * 480, 40 + r.Float64()*160,
			color.RGBA{uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256)), 255}})
	}
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			var cr, cg, cb, w float64 = 128, 128, 128, 1
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y)
				k := math.Exp(-d * d / (b.rad * b.rad))
				cr, cg, cb, w = cr+k*float64(b.c.R)*3, cg+k*float64(b.c.G)*3, cb+k*float64(b.c.B)*3, w+k*3
			}
			img.Set(x, y, color.RGBA{uint8(cr / w), uint8(cg / w), uint8(cb / w), 255})
		}
	}
	return img
}

// The copies a worker makes of someone's photo to pass it off as their own. Measured on these
// scenes: re-encoding at quality 55 moves the pHash 0-4 bits, halving the size 0-2, cropping 2 %
// of each side 2-8 (so a crop can land in photo_similar, 7-10, instead of photo_reused).
func reencode(img image.Image, q int) image.Image {
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: q})
	out, _ := jpeg.Decode(&b)
	return out
}

func resize(img image.Image, f float64) image.Image {
	return imaging.Resize(img, int(float64(img.Bounds().Dx())*f), 0, imaging.Lanczos)
}

func crop(img image.Image, margin float64) image.Image {
	b := img.Bounds()
	mx, my := int(float64(b.Dx())*margin), int(float64(b.Dy())*margin)
	return imaging.Crop(img, image.Rect(b.Min.X+mx, b.Min.Y+my, b.Max.X-mx, b.Max.Y-my))
}

// offset returns the point d metres from (lon, lat) towards bearing (degrees).
func offset(lon, lat, d, bearing float64) (float64, float64) {
	const r = 6371008.8
	br := bearing * math.Pi / 180
	dLat := d * math.Cos(br) / r
	dLon := d * math.Sin(br) / (r * math.Cos(lat*math.Pi/180))
	return lon + dLon*180/math.Pi, lat + dLat*180/math.Pi
}

// acceptance is the planted world on the demo city.
type acceptance struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	svc    *inspections.Service
	n      int
	rng    *rand.Rand
	photos int
	last   int64 // the last photo stored
}

type worker struct {
	id       int64
	name     string
	scope    []string
	premises []premisePoint
	next     int
}

type premisePoint struct {
	id       int64
	lon, lat float64
}

// newWorker adds a grid worker holding the demo cell with the most premises not taken yet.
func (a *acceptance) newWorker(name string, taken map[int64]bool) *worker {
	w := &worker{name: name}
	err := db.AsSystem(a.ctx, a.pool, "test", func(tx pgx.Tx) error {
		var cell int64
		var path string
		skip := []int64{0} // never NULL: <> ALL(NULL) matches nothing
		for id := range taken {
			skip = append(skip, id)
		}
		if err := tx.QueryRow(a.ctx, `SELECT c.id, c.path::text FROM regions c JOIN premises p ON p.cell_id = c.id
			WHERE c.level = 'cell' AND c.id <> ALL($1) GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1`, skip).Scan(&cell, &path); err != nil {
			return err
		}
		taken[cell] = true
		if err := tx.QueryRow(a.ctx, `INSERT INTO users (username, role, password_hash, region_id) SELECT $1, 'grid_worker', '!', parent_id
			FROM regions WHERE id = $2 RETURNING id`, name, cell).Scan(&w.id); err != nil {
			return err
		}
		if _, err := tx.Exec(a.ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`, w.id, cell, path); err != nil {
			return err
		}
		w.scope = []string{path}
		rows, err := tx.Query(a.ctx, `SELECT id, ST_X(geom), ST_Y(geom) FROM premises WHERE cell_id = $1 ORDER BY id`, cell)
		if err != nil {
			return err
		}
		w.premises, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (premisePoint, error) {
			var p premisePoint
			return p, r.Scan(&p.id, &p.lon, &p.lat)
		})
		return err
	})
	if err != nil {
		a.t.Fatal(err)
	}
	if len(w.premises) < 6 {
		a.t.Fatalf("%s: cell with %d premises, want 6 or more", name, len(w.premises))
	}
	return w
}

// shot is a photo as the media jobs leave it: its pHash, its EXIF position and time.
type shot struct {
	img    image.Image
	sameAs int64 // reuse this medium (the same bytes)
	gps    *[2]float64
	taken  *time.Time
}

// photo stores a processed photo of w and returns its id.
func (a *acceptance) photo(w *worker, s shot) int64 {
	if s.sameAs != 0 {
		return s.sameAs
	}
	a.photos++
	h := int64(imagery.PerceptualHash(s.img))
	sum := sha256.Sum256([]byte(fmt.Sprint("acceptance-photo-", a.photos)))
	var id int64
	err := db.AsSystem(a.ctx, a.pool, "test", func(tx pgx.Tx) error {
		var lon, lat *float64
		if s.gps != nil {
			lon, lat = &s.gps[0], &s.gps[1]
		}
		return tx.QueryRow(a.ctx, `INSERT INTO media (kind, uploaded_by, sha256, size, format, content_type, object_key, status,
				taken_at, point, phash, metadata_at, thumbs_at)
			VALUES ('photo', $1, $2, 1000, 'jpeg', 'image/jpeg', $3, 'processed', $4,
				CASE WHEN $5::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($5, $6), 4326) END, $7, now(), now())
			RETURNING id`, w.id, sum[:], fmt.Sprint("acceptance/", a.photos), s.taken, lon, lat, h).Scan(&id)
	})
	if err != nil {
		a.t.Fatal(err)
	}
	a.last = id
	return id
}

// visit is one planted visit.
type visit struct {
	premise premisePoint
	at      time.Time
	fix     *inspections.Position
	outcome string
	shots   []shot
}

// record sends the visit as w through the service (the path POST /inspections takes) and
// returns its id.
func (a *acceptance) record(w *worker, v visit) string {
	a.n++
	id := fmt.Sprintf("acce0000-0000-4000-8000-%012d", a.n)
	var media []int64
	for _, s := range v.shots {
		media = append(media, a.photo(w, s))
	}
	outcome := v.outcome
	if outcome == "" {
		outcome = inspections.Clear
	}
	pid := v.premise.id
	req := inspections.Request{ID: id, PremiseID: &pid, VisitedAt: v.at, Position: v.fix, Outcome: outcome, MediaIDs: media}
	actor := db.Actor{UserID: w.id, Username: w.name, Role: "grid_worker", Scope: w.scope}
	err := db.InScope(a.ctx, a.pool, actor, func(tx pgx.Tx) error {
		_, _, err := a.svc.Record(a.ctx, tx, w.id, req)
		return err
	})
	if err != nil {
		a.t.Fatalf("record %s: %v", id, err)
	}
	return id
}

// takePremise returns w's next premise.
func (w *worker) takePremise() premisePoint {
	p := w.premises[w.next%len(w.premises)]
	w.next++
	return p
}

func ptr[T any](v T) *T { return &v }

// TestEvidenceAcceptance plants, on the demo city, fakes of each kind the issue lists and
// genuine visits, records them through the inspections service and judges them with the real
// rules: at least 95 % of the fakes must be flagged or rejected, at most 2 % of the genuine
// visits may be anything but verified.
func TestEvidenceAcceptance(t *testing.T) {
	url := testenv.DatabaseURL(t)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"demo", "--premises", "20000", "--photos", "0"}, envOf("SIEVE_DB_URL", url, "SIEVE_LOG_LEVEL", "error"),
		strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errb.String())
	}
	pool, err := db.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := jobs.New(pool, jobs.Options{}, testenv.Logger())
	svc, err := inspections.New(inspections.Deps{Pool: pool, Jobs: q, Evidence: evidence.DefaultConfig(), Now: time.Now, Log: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	a := &acceptance{t: t, ctx: ctx, pool: pool, svc: svc, rng: rand.New(rand.NewSource(10))}
	taken := map[int64]bool{}
	// The day of the planted visits: yesterday, from 08:00 Beijing time, inside the demo round.
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Truncate(24 * time.Hour).Add(-24*time.Hour + 8*time.Hour)

	genuine, fakes := map[string]string{}, map[string]string{}
	noise := func(p premisePoint, maxM float64) *inspections.Position {
		lon, lat := offset(p.lon, p.lat, a.rng.Float64()*maxM, a.rng.Float64()*360)
		return &inspections.Position{Lon: lon, Lat: lat, AccuracyM: ptr(5 + a.rng.Float64()*20), CRS: "wgs84"}
	}
	near := func(p premisePoint, maxM float64) *[2]float64 {
		lon, lat := offset(p.lon, p.lat, a.rng.Float64()*maxM, a.rng.Float64()*360)
		return &[2]float64{lon, lat}
	}
	seed := int64(1000)
	newScene := func() image.Image { seed++; return scene(seed) }

	// Genuine workers: visits 12-25 minutes apart, GPS noise of tens of metres, photos taken
	// minutes before the record near the premise; some positions in GCJ-02, some register
	// points a few tens of metres off, some closed doors without photos.
	originals := map[string]image.Image{} // photos of genuine visits that fakers copy later
	latest := day                         // the last genuine visit: the copies come after it
	for g := 0; g < 4; g++ {
		w := a.newWorker(fmt.Sprintf("genuine%d", g), taken)
		at := day
		for i := 0; i < 12; i++ {
			p := w.takePremise()
			at = at.Add(time.Duration(12+a.rng.Intn(14)) * time.Minute)
			v := visit{premise: p, at: at, fix: noise(p, 30)}
			kind := "noise"
			switch i % 4 {
			case 1: // the register's point is 35 m off: the phone and the photos agree with each other
				lon, lat := offset(p.lon, p.lat, 35, float64(a.rng.Intn(360)))
				v.fix = &inspections.Position{Lon: lon, Lat: lat, AccuracyM: ptr(20.0), CRS: "wgs84"}
				kind = "register point off"
			case 2: // the phone's map SDK sends GCJ-02
				glon, glat := gis.WGS84ToGCJ02(v.fix.Lon, v.fix.Lat)
				v.fix = &inspections.Position{Lon: glon, Lat: glat, AccuracyM: v.fix.AccuracyM, CRS: "gcj02"}
				kind = "gcj02"
			case 3:
				if i == 3 {
					v.outcome, kind = inspections.Closed, "closed, no photo"
				}
			}
			if v.outcome == "" {
				for k := 0; k < 1+i%2; k++ {
					img := newScene()
					v.shots = append(v.shots, shot{img: img, gps: near(p, 25), taken: ptr(at.Add(-time.Duration(1+a.rng.Intn(20)) * time.Minute))})
					if g == 0 && k == 0 {
						originals[fmt.Sprint(i)] = img
					}
				}
			}
			genuine[a.record(w, v)] = kind
			if at.After(latest) {
				latest = at
			}
		}
	}

	// Fakers: each a different worker, so that one kind of fake does not give another away.
	fix := func(p premisePoint) *inspections.Position { return noise(p, 20) }
	good := func(p premisePoint, at time.Time) shot {
		return shot{img: newScene(), gps: near(p, 20), taken: ptr(at.Add(-5 * time.Minute))}
	}
	plant := func(name, kind string, n int, make func(w *worker, i int, p premisePoint, at time.Time) visit) {
		w := a.newWorker(name, taken)
		// After every genuine original by visit time: the first use of a photo keeps its verdict,
		// so a copy dated before its original would flag the original instead.
		at := latest.Add(time.Hour)
		for i := 0; i < n; i++ {
			at = at.Add(time.Duration(15+a.rng.Intn(10)) * time.Minute)
			p := w.takePremise()
			fakes[a.record(w, make(w, i, p, at))] = kind
		}
	}
	var copies []image.Image
	for _, img := range originals {
		copies = append(copies, img)
	}
	plant("reencoded", "reused photo, re-encoded", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{{img: reencode(copies[i%len(copies)], 55), gps: near(p, 20), taken: ptr(at.Add(-3 * time.Minute))}}}
	})
	plant("resized", "reused photo, resized", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{{img: resize(copies[(i+1)%len(copies)], 0.5), gps: near(p, 20), taken: ptr(at.Add(-3 * time.Minute))}}}
	})
	plant("cropped", "reused photo, cropped", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{{img: crop(copies[(i+2)%len(copies)], 0.02), gps: near(p, 20), taken: ptr(at.Add(-3 * time.Minute))}}}
	})
	var same int64
	plant("samebytes", "the same photo (bytes) as another premise's", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		// The faker uploads the first visit's photo once and cites it on every later visit.
		s := good(p, at)
		if i == 1 {
			same = a.last
		}
		if i > 0 {
			s.sameAs = same
		}
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{s}}
	})
	plant("gallery", "gallery photo (days old)", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{{img: newScene(), gps: near(p, 20), taken: ptr(at.Add(-time.Duration(50+i*20) * time.Hour))}}}
	})
	plant("photofar", "photo taken far away", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		lon, lat := offset(p.lon, p.lat, 800+float64(i)*400, float64(i*70))
		return visit{premise: p, at: at, fix: fix(p), shots: []shot{{img: newScene(), gps: &[2]float64{lon, lat}, taken: ptr(at.Add(-4 * time.Minute))}}}
	})
	plant("fixfar", "fix far from the premise", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		lon, lat := offset(p.lon, p.lat, 150+float64(i)*300, float64(i*70))
		return visit{premise: p, at: at, fix: &inspections.Position{Lon: lon, Lat: lat, AccuracyM: ptr(10.0), CRS: "wgs84"}, shots: []shot{good(p, at)}}
	})
	plant("mock", "mock location (accuracy 0)", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: &inspections.Position{Lon: p.lon, Lat: p.lat, AccuracyM: ptr(0.0), CRS: "wgs84"}, shots: []shot{good(p, at)}}
	})
	plant("nophoto", "clear without a photo", 5, func(w *worker, i int, p premisePoint, at time.Time) visit {
		return visit{premise: p, at: at, fix: fix(p)}
	})
	// A desk session: one point (the village office), a visit every 70 seconds down the list,
	// with photos of the ceiling taken at the desk.
	desk := a.newWorker("desk", taken)
	office := desk.premises[0]
	at := day.Add(3 * time.Hour)
	for i := 0; i < 15; i++ {
		at = at.Add(70 * time.Second)
		p := desk.takePremise()
		fakes[a.record(desk, visit{premise: p, at: at, fix: &inspections.Position{Lon: office.lon, Lat: office.lat, AccuracyM: ptr(12.0), CRS: "wgs84"},
			shots: []shot{{img: newScene(), gps: &[2]float64{office.lon, office.lat}, taken: ptr(at.Add(-30 * time.Second))}}})] = "desk session"
	}

	// Judge everything (the check runs as the job would, in visit order of arrival).
	judge := func(set map[string]string) map[string]evidence.Verdict {
		out := map[string]evidence.Verdict{}
		for id := range set {
			v, err := svc.Check(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = v
		}
		return out
	}
	// Twice: the second pass sees every visit, as the job's re-runs do.
	judge(genuine)
	judge(fakes)
	gv, fv := judge(genuine), judge(fakes)

	var missed, wrong []string
	for id, kind := range fakes {
		if s := fv[id].Status; s != evidence.Flagged && s != evidence.Rejected {
			missed = append(missed, fmt.Sprintf("%s (%s): %s", id, kind, s))
		}
	}
	for id, kind := range genuine {
		if s := gv[id].Status; s != evidence.Verified {
			wrong = append(wrong, fmt.Sprintf("%s (%s): %s %+v", id, kind, s, gv[id].Findings))
		}
	}
	caught := 1 - float64(len(missed))/float64(len(fakes))
	falseAlarm := float64(len(wrong)) / float64(len(genuine))
	t.Logf("fakes caught %.1f %% (%d of %d), genuine not verified %.1f %% (%d of %d)",
		100*caught, len(fakes)-len(missed), len(fakes), 100*falseAlarm, len(wrong), len(genuine))
	if caught < 0.95 {
		t.Errorf("fakes caught %.1f %%, want at least 95 %%; missed:\n%s", 100*caught, strings.Join(missed, "\n"))
	}
	if falseAlarm > 0.02 {
		t.Errorf("genuine visits not verified %.1f %%, want at most 2 %%:\n%s", 100*falseAlarm, strings.Join(wrong, "\n"))
	}
}
