package tracks_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/testenv"
	"github.com/sieve-city/sieve/internal/tracks"
)

// The places of the synthetic city (禹州-like extent 113.0-113.6 E, 34.0-34.4 N).
var (
	yard    = [2]float64{113.300, 34.200} // a yard where tankers unload: the lead
	depot   = [2]float64{113.400, 34.250} // the carriers' depot, on the city's exclusion list
	firm    = [2]float64{113.450, 34.100} // a licensed chemical firm in the premises register
	hamlet  = [2]float64{113.200, 34.300} // one stop, once: not enough for a lead
	outside = [2]float64{113.590, 34.390} // inside the extent, outside the city's outline
)

// newCity makes the city (an outline cut at its north-east corner, so outside lies in the
// extent but not in the city), the depot on the exclusion list and the licensed firm.
func newCity(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := testenv.DB(t)
	ctx := context.Background()
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市',
			ST_Multi(ST_GeomFromText('POLYGON((113.0 34.0, 113.6 34.0, 113.6 34.35, 113.55 34.4, 113.0 34.4, 113.0 34.0))', 4326)))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO track_exclusions (kind, name, geom, radius_m)
			VALUES ('depot', '禹州危运车队停车场', ST_SetSRID(ST_MakePoint($1, $2), 4326), 150)`, depot[0], depot[1]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO premises (kind, name, geom, tags) VALUES ('enterprise', '禹州某化工有限公司',
			ST_SetSRID(ST_MakePoint($1, $2), 4326), '{危化品企业}')`, firm[0], firm[1])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// track writes one vehicle's points every 30 s.
type track struct {
	plate string
	t     time.Time
	lon   float64
	lat   float64
	rng   *rand.Rand
	rows  []string
}

func newTrack(plate string, start time.Time, at [2]float64, seed uint64) *track {
	return &track{plate: plate, t: start, lon: at[0], lat: at[1], rng: rand.New(rand.NewPCG(seed, 7))}
}

const step = 30 * time.Second

func (v *track) point(lon, lat float64) {
	v.rows = append(v.rows, fmt.Sprintf("%s,%s,%.6f,%.6f,%d,%d", v.plate, v.t.Format(time.RFC3339), lon, lat, 0, 90))
	v.t = v.t.Add(step)
}

// stop stays at the current place for d with GPS jitter of up to 25 m.
func (v *track) stop(d time.Duration) {
	for i := 0; i <= int(d/step); i++ {
		jx := (v.rng.Float64()*2 - 1) * 25 / (111320 * math.Cos(v.lat*math.Pi/180))
		jy := (v.rng.Float64()*2 - 1) * 25 / 110574
		v.point(v.lon+jx, v.lat+jy)
	}
}

// drive goes to the place at about 40 km/h (333 m a point).
func (v *track) drive(to [2]float64) {
	dx := (to[0] - v.lon) * 111320 * math.Cos(v.lat*math.Pi/180)
	dy := (to[1] - v.lat) * 110574
	n := int(math.Ceil(math.Hypot(dx, dy) / 333))
	lon0, lat0 := v.lon, v.lat
	for i := 1; i <= n; i++ {
		f := float64(i) / float64(n)
		v.point(lon0+(to[0]-lon0)*f, lat0+(to[1]-lat0)*f)
	}
	v.lon, v.lat = to[0], to[1]
}

var day = time.Date(2026, 5, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

// scenario: 豫K10001 stops 30 min at the yard twice (and 10 min at a light: too short); 豫K10002
// drives past the yard; 豫K10003 stops 40 min at the excluded depot and 30 min at the licensed
// firm; 豫K10004 stops 25 min at the yard once and 25 min at the hamlet; 豫K10005 stops an hour
// outside the city's outline.
func scenario() []string {
	a := newTrack("豫K10001", day, [2]float64{113.25, 34.15}, 1)
	a.drive(yard)
	a.stop(30 * time.Minute)
	a.drive([2]float64{113.35, 34.22})
	a.stop(10 * time.Minute)
	a.drive([2]float64{113.25, 34.15})
	a.drive(yard)
	a.stop(30 * time.Minute)
	a.drive([2]float64{113.25, 34.15})

	b := newTrack("豫K10002", day, [2]float64{113.28, 34.18}, 2)
	b.drive([2]float64{113.32, 34.22}) // through the yard

	c := newTrack("豫K10003", day, [2]float64{113.38, 34.24}, 3)
	c.drive(depot)
	c.stop(40 * time.Minute)
	c.drive(firm)
	c.stop(30 * time.Minute)

	d := newTrack("豫K 10004", day.Add(3*time.Hour), [2]float64{113.26, 34.25}, 4)
	d.drive(yard)
	d.stop(25 * time.Minute)
	d.drive(hamlet)
	d.stop(25 * time.Minute)

	e := newTrack("豫K10005", day, [2]float64{113.58, 34.37}, 5)
	e.drive(outside)
	e.stop(time.Hour)

	var all []string
	for _, v := range []*track{a, b, c, d, e} {
		all = append(all, v.rows...)
	}
	return all
}

func csvOf(rows []string) string {
	return "车牌号,定位时间,经度,纬度,速度,方向\n" + strings.Join(rows, "\n") + "\n"
}

type result struct {
	cands []leads.Candidate
	errs  []leads.LineError
	stays []tracks.Stay
	n     int
}

func importFile(t *testing.T, pool *pgxpool.Pool, body string) result {
	t.Helper()
	ctx := context.Background()
	src := tracks.New(tracks.DefaultConfig())
	var r result
	err := db.InScope(ctx, pool, db.Actor{Username: "city", Role: "city_admin"}, func(tx pgx.Tx) error {
		var err error
		if r.cands, r.errs, err = src.Import(ctx, tx, leads.Input{Name: "t.csv", Body: strings.NewReader(body)}); err != nil {
			return err
		}
		if r.stays, err = tracks.Stays(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM track_points`).Scan(&r.n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// metres between two points (local plane).
func metres(lon1, lat1, lon2, lat2 float64) float64 {
	return math.Hypot((lon2-lon1)*111320*math.Cos(lat1*math.Pi/180), (lat2-lat1)*110574)
}

func TestStaysAndPlaces(t *testing.T) {
	pool := newCity(t)
	rows := scenario()
	r := importFile(t, pool, csvOf(rows))
	if len(r.errs) != 0 || r.n != len(rows) {
		t.Fatalf("staged %d of %d rows, refused %v", r.n, len(rows), r.errs)
	}
	type want struct {
		plate    string
		at       [2]float64
		min, max time.Duration
		excluded string
	}
	wants := []want{
		{"豫K10001", yard, 30 * time.Minute, 31 * time.Minute, ""},
		{"豫K10001", yard, 30 * time.Minute, 31 * time.Minute, ""},
		{"豫K10003", depot, 40 * time.Minute, 41 * time.Minute, "depot:禹州危运车队停车场"},
		{"豫K10003", firm, 30 * time.Minute, 31 * time.Minute, "premise:禹州某化工有限公司"},
		{"豫K10004", yard, 25 * time.Minute, 26 * time.Minute, ""},
		{"豫K10004", hamlet, 25 * time.Minute, 26 * time.Minute, ""},
		{"豫K10005", outside, 60 * time.Minute, 61 * time.Minute, "outside_city"},
	}
	if len(r.stays) != len(wants) {
		t.Fatalf("got %d stays, want %d: %+v", len(r.stays), len(wants), r.stays)
	}
	for i, w := range wants {
		s := r.stays[i]
		d := s.Ended.Sub(s.Started)
		if s.Plate != w.plate || d < w.min || d > w.max || metres(s.Lon, s.Lat, w.at[0], w.at[1]) > 30 || s.ExcludedBy != w.excluded {
			t.Errorf("stay %d: got %s %s for %s at %.5f,%.5f excluded %q; want %s %s–%s at %v excluded %q",
				i, s.Plate, s.Started.Format(time.TimeOnly), d, s.Lon, s.Lat, s.ExcludedBy, w.plate, w.min, w.max, w.at, w.excluded)
		}
	}
	// One place: the yard, 3 stops by 2 vehicles; the hamlet's single stop is not a lead.
	if len(r.cands) != 1 {
		t.Fatalf("got %d candidates, want 1 (the yard): %+v", len(r.cands), r.cands)
	}
	c := r.cands[0]
	if metres(*c.Lon, *c.Lat, yard[0], yard[1]) > 30 {
		t.Errorf("the place is at %.5f,%.5f, %.0f m from the yard", *c.Lon, *c.Lat, metres(*c.Lon, *c.Lat, yard[0], yard[1]))
	}
	if c.Detail["stops"] != 3 || c.Detail["vehicles"] != 2 {
		t.Errorf("detail %v, want 3 stops by 2 vehicles", c.Detail)
	}
	if want := "2 辆危化品车在此停留 3 次，累计 1.4 小时"; c.Reasons[0] != want {
		t.Errorf("reason %q, want %q", c.Reasons[0], want)
	}
	if want := tracks.Score(3, 2, 0, 86.5/60); math.Abs(c.Score-want) > 0.002 || c.Score <= 0 || c.Score >= 1 {
		t.Errorf("score %g, want %g in (0,1)", c.Score, want)
	}
	if !strings.HasPrefix(c.SourceKey, "vt:32649:") {
		t.Errorf("source key %q, want one in UTM zone 49N", c.SourceKey)
	}
	if got := c.Detail["plates"]; !slices.Equal(got.([]string), []string{"豫K10001", "豫K10004"}) {
		t.Errorf("plates %v", got)
	}
}

// The same points again, and the same points in another order, name the same places: the
// leads core then adds nothing.
func TestReimportSameKeys(t *testing.T) {
	pool := newCity(t)
	rows := scenario()
	first := importFile(t, pool, csvOf(rows))
	again := importFile(t, pool, csvOf(rows))
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	mixed := importFile(t, pool, csvOf(shuffled))
	keys := func(r result) []string {
		var k []string
		for _, c := range r.cands {
			k = append(k, fmt.Sprintf("%s %.3f %v", c.SourceKey, c.Score, c.Reasons))
		}
		return k
	}
	if len(first.cands) == 0 || !slices.Equal(keys(first), keys(again)) || !slices.Equal(keys(first), keys(mixed)) {
		t.Errorf("keys differ:\n first %v\n again %v\n shuffled %v", keys(first), keys(again), keys(mixed))
	}
}

// A vehicle stopping at the yard on a second day, in a file of its own that overlaps the first
// (the same two stops of 豫K10001 and one more), keeps the place's key.
func TestOverlappingFileKeepsKey(t *testing.T) {
	pool := newCity(t)
	first := importFile(t, pool, csvOf(scenario()))
	a := newTrack("豫K10001", day, [2]float64{113.25, 34.15}, 1)
	a.drive(yard)
	a.stop(30 * time.Minute)
	a.drive([2]float64{113.25, 34.15})
	a.drive(yard)
	a.stop(30 * time.Minute)
	f := newTrack("豫K10006", day.Add(24*time.Hour), [2]float64{113.27, 34.21}, 6)
	f.drive(yard)
	f.stop(45 * time.Minute)
	second := importFile(t, pool, csvOf(append(a.rows, f.rows...)))
	if len(first.cands) != 1 || len(second.cands) != 1 || first.cands[0].SourceKey != second.cands[0].SourceKey {
		t.Fatalf("first %+v\nsecond %+v", first.cands, second.cands)
	}
	if second.cands[0].Detail["stops"] != 3 || second.cands[0].Detail["vehicles"] != 2 {
		t.Errorf("second file's place: %v", second.cands[0].Detail)
	}
}

// Every bad row is reported by its line, the good ones staged.
func TestBadRows(t *testing.T) {
	pool := newCity(t)
	body := strings.Join([]string{
		"plate,time,lon,lat,speed,heading",               // 1
		"豫K1,2026-05-01T09:00:00+08:00,113.3,34.2,30,90", // 2 good
		"豫K1,2026-13-45T09:00:00+08:00,113.3,34.2,,",     // 3 bad time
		"豫K1,2026-05-01 09:00:30,113.3,34.2,,",           // 4 no zone
		"豫K1,2026-05-01 09:01:00+08:00,abc,34.2,,",       // 5 not a number
		"豫K1,2026-05-01T09:01:30Z,0,0,,",                 // 6 outside the city
		"豫K1,2026-05-01T09:02:00+0800,34.2,113.3,,",      // 7 swapped
		",2026-05-01T09:02:30+08:00,113.3,34.2,,",        // 8 no plate
		"豫K1,2026-05-01T09:03:00+08:00",                  // 9 no position
		"豫K1,2026-05-01T09:03:30+08:00,113.3,34.2,-5,",   // 10 bad speed
		"豫K1,2026-05-01T09:04:00+08:00,113.3,34.2,,400",  // 11 bad heading
		"", // 12 blank: skipped
		"豫K1,2026/05/01 09:04:30 +08:00,113.3,34.2,,",    // 13 good
		"豫K1,2026-05-01T09:05:00.5+08:00,113.30001,34.2", // 14 good
	}, "\n")
	r := importFile(t, pool, body)
	want := []string{"3 invalid_time", "4 time_without_zone", "5 invalid_position", "6 outside_city", "7 lat_lon_swapped",
		"8 missing_plate", "9 missing_position", "10 invalid_speed", "11 invalid_heading"}
	var got []string
	for _, e := range r.errs {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Code))
		if e.Message == "" {
			t.Errorf("line %d: no message", e.Line)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("refused\n %v\nwant\n %v", got, want)
	}
	if r.n != 3 {
		t.Errorf("staged %d rows, want 3", r.n)
	}
}

// A file of many bad rows keeps only the first MaxLineErrors of them, and counts the rest.
func TestManyBadRowsBounded(t *testing.T) {
	pool := newCity(t)
	var b bytes.Buffer
	b.WriteString("plate,time,lon,lat\n")
	for i := range tracks.MaxLineErrors + 500 {
		fmt.Fprintf(&b, "豫K1,2026-05-01T09:%02d:00+08:00,0,0\n", i%60)
	}
	r := importFile(t, pool, b.String())
	if len(r.errs) != tracks.MaxLineErrors+1 || r.errs[len(r.errs)-1].Code != "too_many_errors" ||
		!strings.Contains(r.errs[len(r.errs)-1].Message, "500") {
		t.Errorf("got %d errors, last %+v", len(r.errs), r.errs[len(r.errs)-1])
	}
}

func TestMissingColumns(t *testing.T) {
	pool := newCity(t)
	ctx := context.Background()
	err := db.InScope(ctx, pool, db.Actor{Username: "city", Role: "city_admin"}, func(tx pgx.Tx) error {
		_, _, err := tracks.New(tracks.DefaultConfig()).Import(ctx, tx, leads.Input{Body: strings.NewReader("plate,time,lon\nA,2026-05-01T09:00:00Z,113.3\n")})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "missing_columns") {
		t.Errorf("got %v, want missing_columns", err)
	}
}

// Through the leads core (leads.Service.Import, what POST /api/v1/leads/import?kind=vehicle_track
// and sieve import leads run): the yard becomes one open lead with its task; the same file again
// adds nothing (the file is known), the same points in another order and in GBK add nothing
// either (the place's key is known).
func TestLeadsImport(t *testing.T) {
	pool := newCity(t)
	ctx := context.Background()
	svc := leads.NewService(leads.DefaultConfig(), sites.New(sites.DefaultConfig(), time.Now), time.Now,
		tracks.New(tracks.DefaultConfig()))
	imp := func(data []byte) leads.ImportReport {
		t.Helper()
		var rep leads.ImportReport
		err := db.InScope(ctx, pool, db.Actor{Username: "city", Role: "city_admin"}, func(tx pgx.Tx) error {
			var err error
			rep, err = svc.Import(ctx, tx, tracks.Kind, "tracks.csv", bytes.NewReader(data), 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rows := scenario()
	first := imp([]byte(csvOf(rows)))
	if first.Candidates != 1 || first.Created != 1 || len(first.Errors) != 0 {
		t.Fatalf("first import: %+v", first)
	}
	var lead struct {
		status, key string
		task        *int64
		reasons     []string
	}
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status, source_key, task_id, reasons FROM leads WHERE id = $1`, first.LeadIDs[0]).
			Scan(&lead.status, &lead.key, &lead.task, &lead.reasons)
	}); err != nil {
		t.Fatal(err)
	}
	if lead.status != "open" || lead.task == nil || !strings.HasPrefix(lead.key, "vt:") || !strings.Contains(lead.reasons[0], "2 辆危化品车在此停留 3 次") {
		t.Errorf("lead %+v", lead)
	}
	if again := imp([]byte(csvOf(rows))); !again.AlreadyImported || again.Created != 0 {
		t.Errorf("same file again: %+v", again)
	}
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if mixed := imp([]byte(csvOf(shuffled))); mixed.AlreadyImported || mixed.Known != 1 || mixed.Created != 0 || mixed.Duplicates != 0 {
		t.Errorf("same points in another order: %+v", mixed)
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csvOf(rows[:len(rows)-1])))
	if err != nil {
		t.Fatal(err)
	}
	if g := imp(gbk); g.Encoding != "gb18030" || g.Known != 1 || g.Created != 0 {
		t.Errorf("in GBK: %+v", g)
	}
}

// The tracks' own size limit (Config.MaxBytes, not the leads' 32 MB): a file past it fails the
// import with 413 file_too_large while its rows are being COPYed, and the transaction keeps
// nothing (no import record, no lead); a GBK file in the limit imports.
func TestTrackFileLimit(t *testing.T) {
	pool := newCity(t)
	ctx := context.Background()
	lcfg := leads.DefaultConfig()
	lcfg.MaxBytes = 1 << 10 // the tabular kinds' limit does not apply to tracks
	file := []byte(csvOf(scenario()))
	tcfg := tracks.DefaultConfig()
	tcfg.MaxBytes = int64(len(file)) - 1
	imp := func(cfg tracks.Config, body []byte) (leads.ImportReport, error) {
		svc := leads.NewService(lcfg, sites.New(sites.DefaultConfig(), time.Now), time.Now, tracks.New(cfg))
		var rep leads.ImportReport
		err := db.InScope(ctx, pool, db.Actor{Username: "city", Role: "city_admin"}, func(tx pgx.Tx) error {
			var err error
			rep, err = svc.Import(ctx, tx, tracks.Kind, "tracks.csv", bytes.NewReader(body), 0)
			return err
		})
		return rep, err
	}
	_, err := imp(tcfg, file)
	if e, ok := apperr.As(err); !ok || e.Status != 413 || e.Code != "file_too_large" {
		t.Fatalf("one byte over the limit: %v, want 413 file_too_large", err)
	}
	var imports, kept int
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM lead_imports), (SELECT count(*) FROM leads)`).Scan(&imports, &kept)
	}); err != nil || imports != 0 || kept != 0 {
		t.Fatalf("after the refusal: %d imports, %d leads (%v)", imports, kept, err)
	}
	tcfg.MaxBytes = int64(len(file))
	if rep, err := imp(tcfg, file); err != nil || rep.Created != 1 {
		t.Fatalf("exactly at the limit: %+v %v", rep, err)
	}
}

// The leads' reader and position rule hold for tracks too: a ';'-separated file with a 坐标系
// column of GCJ-02 (a phone map platform's export) is read, its points converted to WGS-84.
func TestSeparatorAndCRS(t *testing.T) {
	pool := newCity(t)
	r := importFile(t, pool, "车牌号;定位时间;经度;纬度;坐标系\n豫K1;2026-05-01T09:00:00+08:00;113.3;34.2;gcj02\n")
	if len(r.errs) != 0 || r.n != 1 {
		t.Fatalf("staged %d, refused %v", r.n, r.errs)
	}
	ctx := context.Background()
	var lon, lat float64
	if err := db.InScope(ctx, pool, db.Actor{Username: "city", Role: "city_admin"}, func(tx pgx.Tx) error {
		if _, _, err := tracks.New(tracks.DefaultConfig()).Import(ctx, tx, leads.Input{Body: strings.NewReader(
			"车牌号;定位时间;经度;纬度;坐标系\n豫K1;2026-05-01T09:00:00+08:00;113.3;34.2;gcj02\n")}); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT lon, lat FROM track_points`).Scan(&lon, &lat)
	}); err != nil {
		t.Fatal(err)
	}
	if d := metres(lon, lat, 113.3, 34.2); d < 300 || d > 900 {
		t.Errorf("GCJ-02 point staged at %.6f,%.6f, %.0f m from the raw one (want the ~600 m offset removed)", lon, lat, d)
	}
}
