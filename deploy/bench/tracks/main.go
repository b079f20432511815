// Command tracks is the vehicle-track leads benchmark (issue 14): importing N hazardous-chemical
// vehicle-track points (default 300 vehicles × 3,334 points = 1,000,200) and finding their stays
// and places with Sieve's vehicle_track source, against COPY-ing the same CSV file into a plain
// PostGIS table with a geometry, in the same run on the same warm database.
//
//	go run ./deploy/bench/tracks [-vehicles 300] [-points 3334] [-rounds 3] [-target 2]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template, and drops it at the end. The points are generated deterministically: every
// vehicle drives at 30-60 km/h with a fix every 30 s and stops 10-60 minutes (with GPS jitter)
// at one of 40 yards, 10 depots on the exclusion list or somewhere of its own, then drives on.
// What is timed, each from the same CSV bytes in memory (an upload is in memory when the
// handler gets it):
//
//	bare   COPY base (plate, t, lon, lat, speed, heading) FROM STDIN (FORMAT csv, HEADER): the
//	       server parses the file; geom is a stored generated column ST_SetSRID(ST_MakePoint(lon, lat), 4326);
//	       no index; committed.
//	sieve  leads.Service.Import of kind vehicle_track in one transaction as a city-office
//	       user, what POST /api/v1/leads/import?kind=vehicle_track and sieve import leads run on
//	       the uploaded bytes: the encoding check, the file's claim, the CSV read and checked row
//	       by row in Go, COPY into the temporary table, the stays (sieve_track_stays),
//	       exclusions, the city outline, ST_ClusterDBSCAN, the places, and each place stored as
//	       a lead with its task; committed. Between rounds the leads, their tasks and the import
//	       records are deleted (not timed), so each round imports anew.
//
// The ratio sieve/bare of the medians is printed; the target is at most 2. Exits 1 when missed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tracks"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tracks bench:", err)
		os.Exit(1)
	}
}

// The city: Yuzhou's extent.
const minLon, minLat, maxLon, maxLat = 113.07, 33.99, 113.66, 34.41

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tracks", flag.ContinueOnError)
	vehicles := fs.Int("vehicles", 300, "vehicles")
	points := fs.Int("points", 3334, "points per vehicle")
	rounds := fs.Int("rounds", 3, "rounds of each (the medians are compared)")
	keep := fs.Bool("keep", false, "keep the scratch database and the CSV file (their names are printed)")
	target := fs.Float64("target", 2, "the ratio sieve/bare to stay under (0: report only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds: at least 1")
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/tracks/run.sh)")
	}
	ctx := context.Background()
	pool, drop, err := benchstack.Scratch(ctx, base, "", *keep)
	if err != nil {
		return err
	}
	defer drop()
	yards, depots := places()
	if err := makeCity(ctx, pool, depots); err != nil {
		return err
	}
	office, err := makeUser(ctx, pool)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sieve-tracks-bench")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "kept data in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	file := filepath.Join(dir, "tracks.csv")
	n, size, err := makeData(file, *vehicles, *points, yards, depots)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data: %d points of %d vehicles (%.1f MB of CSV), %d yards, %d excluded depots\n",
		n, *vehicles, float64(size)/1e6, len(yards), len(depots))

	var bare, sieve []time.Duration
	for r := 0; r < *rounds; r++ {
		b, copied, err := runBare(ctx, pool, data)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "round %d  bare:  COPY into PostGIS = %6.2f s  (%d rows)\n", r+1, b.Seconds(), copied)
		s, res, err := runSieve(ctx, pool, office, data)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "round %d  sieve: leads import (check + COPY + stays + places + leads + commit) = %6.2f s  (%d staged, %d stays, %d excluded, %d places, %d leads, %d refused; ratio %.2f)\n",
			r+1, s.Seconds(), res.staged, res.stays, res.excluded, res.places, res.created, res.refused, s.Seconds()/b.Seconds())
		if copied != int64(n) || res.staged != int64(n) || res.refused != 0 || res.places == 0 || res.created == 0 {
			return fmt.Errorf("not every point was imported or no place found: bare %d, sieve %d of %d, %d places", copied, res.staged, n, res.places)
		}
		bare, sieve = append(bare, b), append(sieve, s)
	}
	mb, ms := median(bare), median(sieve)
	ratio := ms.Seconds() / mb.Seconds()
	fmt.Fprintf(out, "median: bare %.2f s, sieve %.2f s, ratio %.2f (target <= %.2f)\n", mb.Seconds(), ms.Seconds(), ratio, *target)
	if *target > 0 && ratio > *target {
		return fmt.Errorf("ratio %.2f misses the target of %.2f", ratio, *target)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// places are the 40 yards vehicles stop at and the 10 depots on the exclusion list.
func places() (yards, depots [][2]float64) {
	rng := rand.New(rand.NewPCG(14, 2))
	pick := func() [2]float64 {
		return [2]float64{minLon + 0.05 + rng.Float64()*(maxLon-minLon-0.1), minLat + 0.05 + rng.Float64()*(maxLat-minLat-0.1)}
	}
	for range 40 {
		yards = append(yards, pick())
	}
	for range 10 {
		depots = append(depots, pick())
	}
	return yards, depots
}

// makeCity adds the city's outline (a polygon of 200 vertices inside the extent) and the depots.
func makeCity(ctx context.Context, pool *pgxpool.Pool, depots [][2]float64) error {
	return db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		const city = `INSERT INTO regions (level, code, name, geom) VALUES ('city', 'B', '基准市',
			ST_Multi(ST_Intersection(ST_MakeEnvelope($1, $2, $3, $4, 4326),
				ST_Buffer(ST_SetSRID(ST_MakePoint(($1 + $3) / 2, ($2 + $4) / 2), 4326), 0.36, 50))))`
		if _, err := tx.Exec(ctx, city, minLon, minLat, maxLon, maxLat); err != nil {
			return err
		}
		for i, d := range depots {
			if _, err := tx.Exec(ctx, `INSERT INTO track_exclusions (kind, name, geom, radius_m)
				VALUES ('depot', $1, ST_SetSRID(ST_MakePoint($2, $3), 4326), 200)`, fmt.Sprintf("车队%d", i+1), d[0], d[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// makeUser adds a city-office user (市安委办, role city_admin) to import as.
func makeUser(ctx context.Context, pool *pgxpool.Pool) (db.Actor, error) {
	a := db.Actor{Username: "bench-office", Role: "city_admin", RemoteAddr: "127.0.0.1"}
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash)
			VALUES ($1, '基准测试', $2, '!') RETURNING id`, a.Username, a.Role).Scan(&a.UserID)
	})
	return a, err
}

// makeData writes the points to file, vehicle by vehicle interleaved in time (as a platform
// exports a day: every vehicle's fix of 08:00:00, then of 08:00:30, ...), and returns how many
// and the file's size.
func makeData(file string, vehicles, points int, yards, depots [][2]float64) (int, int64, error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "plate,time,lon,lat,speed,heading")
	zone := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, 5, 1, 6, 0, 0, 0, zone)
	type vehicle struct {
		plate      string
		rng        *rand.Rand
		lon, lat   float64
		to         [2]float64
		speed      float64 // m per 30 s
		stopLeft   int
		centreLon  float64
		centreLat  float64
		headingDeg float64
	}
	vs := make([]*vehicle, vehicles)
	for i := range vs {
		rng := rand.New(rand.NewPCG(uint64(i), 300))
		v := &vehicle{plate: fmt.Sprintf("豫K%05d", 10000+i), rng: rng,
			lon: minLon + 0.1 + rng.Float64()*(maxLon-minLon-0.2), lat: minLat + 0.1 + rng.Float64()*(maxLat-minLat-0.2)}
		vs[i] = v
	}
	dest := func(v *vehicle) [2]float64 {
		switch x := v.rng.Float64(); {
		case x < 0.5:
			return yards[v.rng.IntN(len(yards))]
		case x < 0.7:
			return depots[v.rng.IntN(len(depots))]
		default:
			return [2]float64{minLon + 0.1 + v.rng.Float64()*(maxLon-minLon-0.2), minLat + 0.1 + v.rng.Float64()*(maxLat-minLat-0.2)}
		}
	}
	for _, v := range vs {
		v.to = dest(v)
		v.speed = 250 + v.rng.Float64()*250
	}
	n := 0
	for p := range points {
		t := start.Add(time.Duration(p) * 30 * time.Second).Format(time.RFC3339)
		for _, v := range vs {
			kx := 111320 * math.Cos(v.lat*math.Pi/180)
			var speed float64
			if v.stopLeft > 0 {
				v.stopLeft--
				v.lon = v.centreLon + (v.rng.Float64()*2-1)*20/kx
				v.lat = v.centreLat + (v.rng.Float64()*2-1)*20/110574
				if v.stopLeft == 0 {
					v.to = dest(v)
					v.speed = 250 + v.rng.Float64()*250
				}
			} else {
				dx, dy := (v.to[0]-v.lon)*kx, (v.to[1]-v.lat)*110574
				d := math.Hypot(dx, dy)
				if d <= v.speed {
					v.lon, v.lat = v.to[0], v.to[1]
					v.centreLon, v.centreLat = v.to[0], v.to[1]
					v.stopLeft = 20 + v.rng.IntN(101) // 10-60 minutes
				} else {
					v.lon += dx / d * v.speed / kx
					v.lat += dy / d * v.speed / 110574
					v.headingDeg = math.Mod(math.Atan2(dx, dy)*180/math.Pi+360, 360)
				}
				speed = v.speed * 120 / 1000
			}
			fmt.Fprintf(w, "%s,%s,%.6f,%.6f,%.0f,%.0f\n", v.plate, t, v.lon, v.lat, speed, v.headingDeg)
			n++
		}
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return n, st.Size(), f.Close()
}

// runBare COPYs the file into a fresh plain table with a geometry and commits.
func runBare(ctx context.Context, pool *pgxpool.Pool, data []byte) (time.Duration, int64, error) {
	const create = `DROP TABLE IF EXISTS bare_points;
		CREATE TABLE bare_points (plate text, t timestamptz, lon float8, lat float8, speed real, heading real,
			geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED)`
	if _, err := pool.Exec(ctx, create); err != nil {
		return 0, 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	start := time.Now()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data),
		`COPY bare_points (plate, t, lon, lat, speed, heading) FROM STDIN (FORMAT csv, HEADER)`)
	if err != nil {
		return 0, 0, err
	}
	return time.Since(start), tag.RowsAffected(), nil
}

type sieveResult struct {
	staged                  int64
	stays, excluded, places int
	created, refused        int
}

// runSieve imports the bytes as the city office through the leads service and commits, after
// clearing what an earlier round left.
func runSieve(ctx context.Context, pool *pgxpool.Pool, office db.Actor, data []byte) (time.Duration, sieveResult, error) {
	var res sieveResult
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM leads; DELETE FROM tasks WHERE kind = 'lead'; DELETE FROM lead_imports`)
		return err
	})
	if err != nil {
		return 0, res, err
	}
	cfg := leads.DefaultConfig()
	cfg.MaxBytes = 0 // no limit (the tracks have their own, 1 GB)
	svc := leads.NewService(cfg, sites.New(sites.DefaultConfig(), time.Now), time.Now, tracks.New(tracks.DefaultConfig()))
	var counting time.Duration
	start := time.Now()
	err = db.InScope(ctx, pool, office, func(tx pgx.Tx) error {
		rep, err := svc.Import(ctx, tx, tracks.Kind, "tracks.csv", bytes.NewReader(data), office.UserID)
		if err != nil {
			return err
		}
		res.places, res.created, res.refused = rep.Candidates, rep.Created, rep.Refused
		// Counting what was staged is not part of the work: its time is taken off.
		c0 := time.Now()
		defer func() { counting = time.Since(c0) }()
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM track_points), (SELECT count(*) FROM track_stays),
			(SELECT count(*) FROM track_stays WHERE excluded_by IS NOT NULL)`).Scan(&res.staged, &res.stays, &res.excluded)
	})
	return time.Since(start) - counting, res, err
}
