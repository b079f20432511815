// Command premises is the premises import benchmark (issue 4): importing N premises (default
// 400,000) and placing them in about 5,000 grid cells with Sieve's own import, against a bare
// COPY plus one UPDATE ... FROM spatial join in PostGIS on the same data, in the same run.
//
//	go run ./deploy/bench/premises [-n 400000] [-cells 5000] [-rounds 1]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template, and drops it at the end. What is timed:
//
//	bare   COPY (lon, lat) into a plain table, then
//	       UPDATE bare SET cell_id = c.id FROM cells c WHERE ST_Intersects(c.geom, point)
//	       against a plain copy of the cells with a GiST index (no row-level security).
//	sieve  premises.ParseCSV on the CSV bytes, then Store.Import in one transaction as a
//	       city-office user, the way POST /api/v1/premises/import runs it: COPY into a
//	       temporary table, placing every premise in its cell (through region_shapes), one
//	       INSERT ... SELECT into the register with its indexes, row-level security checks,
//	       created_by foreign key and the summary audit entry, and the commit.
//
// The ratio sieve/bare is printed; the target is at most 2. Exits 1 when it is missed.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "premises bench:", err)
		os.Exit(1)
	}
}

// The area: a township-sized box split into square cells.
const minLon, minLat, maxLon, maxLat = 113.2, 34.0, 113.6, 34.35

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("premises", flag.ContinueOnError)
	n := fs.Int("n", 400000, "premises to import")
	nCells := fs.Int("cells", 5000, "about how many grid cells")
	rounds := fs.Int("rounds", 1, "rounds of each (the medians are compared)")
	keep := fs.Bool("keep", false, "keep the scratch database (its name is printed)")
	target := fs.Float64("target", 2, "the ratio sieve/bare to stay under (0: report only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/premises/run.sh)")
	}
	ctx := context.Background()
	pool, drop, err := benchstack.Scratch(ctx, base, "", *keep)
	if err != nil {
		return err
	}
	defer drop()

	cells, err := makeCells(ctx, pool, *nCells)
	if err != nil {
		return err
	}
	office, err := makeUser(ctx, pool)
	if err != nil {
		return err
	}
	csv, lons, lats := makeData(*n)
	fmt.Fprintf(out, "data: %d premises (%.1f MB of CSV), %d grid cells\n", *n, float64(len(csv))/1e6, cells)

	var bare, sieve []time.Duration
	for r := 0; r < *rounds; r++ {
		b, copyT, updT, placed, err := runBare(ctx, pool, lons, lats)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "round %d  bare:  COPY %6.2f s + UPDATE ... FROM %6.2f s = %6.2f s  (%d placed)\n",
			r+1, copyT.Seconds(), updT.Seconds(), b.Seconds(), placed)
		s, rep, err := runSieve(ctx, pool, office, csv, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "round %d  sieve: parse + import + place + commit = %6.2f s  (%d created, %d in cells)\n",
			r+1, s.Seconds(), rep.Created, rep.InCells)
		if rep.Created != int64(*n) || rep.InCells != int64(*n) || placed != int64(*n) {
			return fmt.Errorf("not every premise was placed: bare %d, sieve %d of %d", placed, rep.InCells, *n)
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

// makeCells makes a city, a township and a village covering the box and splits the village
// into square cells sized for about want cells, with Sieve's cell generation.
func makeCells(ctx context.Context, pool *pgxpool.Pool, want int) (int, error) {
	var created int
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		const sql = `WITH c AS (INSERT INTO regions (level, code, name, geom)
				VALUES ('city', 'B', '基准市', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326))) RETURNING id),
			t AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'township', 'B1', '基准镇', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)) FROM c RETURNING id)
			INSERT INTO regions (parent_id, level, code, name, geom)
			SELECT id, 'village', 'B1V', '基准村', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)) FROM t RETURNING id`
		var village int64
		if err := tx.QueryRow(ctx, sql, minLon, minLat, maxLon, maxLat).Scan(&village); err != nil {
			return err
		}
		var area float64
		if err := tx.QueryRow(ctx, `SELECT `+gis.AreaKm2("geom")+` FROM regions WHERE id = $1`, village).Scan(&area); err != nil {
			return err
		}
		size := 1000 * sqrtf(area/float64(want))
		rs := regions.NewStore(premises.NewStore(), media.NewPlacer())
		res, err := rs.GenerateCells(ctx, tx, village, regions.CellSpec{Shape: "square", Size: size})
		created = res.Created
		return err
	})
	return created, err
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

func sqrtf(x float64) float64 {
	r := x
	for i := 0; i < 50; i++ {
		r = (r + x/r) / 2
	}
	return r
}

// makeData returns n random points in the box as CSV and as columns.
func makeData(n int) ([]byte, []float64, []float64) {
	rng := rand.New(rand.NewPCG(4, 400000))
	var b bytes.Buffer
	b.WriteString("name,kind,address,lon,lat\n")
	lons, lats := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		lons[i] = minLon + 1e-6 + rng.Float64()*(maxLon-minLon-2e-6)
		lats[i] = minLat + 1e-6 + rng.Float64()*(maxLat-minLat-2e-6)
		fmt.Fprintf(&b, "住户%d,household,基准村%d号,%.7f,%.7f\n", i, i, lons[i], lats[i])
	}
	return b.Bytes(), lons, lats
}

// runBare times COPY and one UPDATE ... FROM against a plain copy of the cells.
func runBare(ctx context.Context, pool *pgxpool.Pool, lons, lats []float64) (total, copyT, updT time.Duration, placed int64, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return
	}
	defer conn.Release()
	setup := `SELECT set_config('sieve.system', 'on', false);
		DROP TABLE IF EXISTS bare, bare_cells;
		CREATE TABLE bare_cells AS SELECT id, geom FROM regions WHERE level = 'cell';
		CREATE INDEX ON bare_cells USING gist (geom);
		ANALYZE bare_cells;
		CREATE TABLE bare (lon float8, lat float8, cell_id bigint);`
	if _, err = conn.Exec(ctx, setup); err != nil {
		return
	}
	start := time.Now()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"bare"}, []string{"lon", "lat"}, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(lons) {
			return nil, nil
		}
		i++
		return []any{lons[i-1], lats[i-1]}, nil
	}))
	if err != nil {
		return
	}
	copyT = time.Since(start)
	t := time.Now()
	tag, err := conn.Exec(ctx, `UPDATE bare b SET cell_id = c.id FROM bare_cells c
		WHERE ST_Intersects(c.geom, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326))`)
	if err != nil {
		return
	}
	updT = time.Since(t)
	total = time.Since(start)
	placed = tag.RowsAffected()
	_, err = conn.Exec(ctx, `DROP TABLE bare, bare_cells`)
	return
}

// runSieve times the register's own import of the CSV, then empties the register.
func runSieve(ctx context.Context, pool *pgxpool.Pool, office db.Actor, csv []byte, out io.Writer) (time.Duration, premises.ImportReport, error) {
	var rep premises.ImportReport
	start := time.Now()
	batch, err := premises.ParseCSV(csv, gis.WGS84)
	if err != nil {
		return 0, rep, err
	}
	fmt.Fprintf(out, "         (CSV parsed and checked in %.2f s)\n", time.Since(start).Seconds())
	err = db.InScope(ctx, pool, office, func(tx pgx.Tx) error {
		var err error
		rep, err = premises.NewStore().Import(ctx, tx, batch, office.UserID)
		return err
	})
	elapsed := time.Since(start)
	if err != nil {
		return 0, rep, err
	}
	err = db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		// CASCADE: every table that refers to premises (inspections, tasks, and those to come)
		// is emptied with it; this is the bench's own database.
		_, err := tx.Exec(ctx, `TRUNCATE premises CASCADE`)
		return err
	})
	return elapsed, rep, err
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
