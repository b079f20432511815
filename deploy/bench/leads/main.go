// Command leads is the leads import benchmark (issue 14): does importing leads stay as fast
// when the city already holds many open leads? Each lead is de-duplicated against the open
// leads and sites of its place; under row-level security a spatial filter cannot use the
// tables' spatial indexes, so the lookup goes by the cells near the point (sieve_cells_near,
// migration 0028) and the cell index. In one run:
//
//	empty    import a power-user file of -n flagged accounts (动力电 at random places) into a
//	         city of -cells grid cells with no leads, as a township coordinator
//	loaded   the same with -m open leads already in the city (another -n accounts)
//	lookup   the de-duplication lookup alone, -lookups times at random points, in the
//	         coordinator's scoped transaction, through the cells (what Import runs) and the
//	         plain ST_DWithin filter (what it would run without them)
//
//	go run ./deploy/bench/leads [-n 2000] [-m 50000] [-cells 2500] [-lookups 200]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template and drops it at the end. Exits 1 when loaded/empty exceeds -target (2).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/sites"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "leads bench:", err)
		os.Exit(1)
	}
}

// The city's box: 0.5° × 0.3° (about 46 × 33 km), cut into a square lattice of cells.
const lon0, lat0, width, height = 113.0, 34.0, 0.5, 0.3

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("leads", flag.ContinueOnError)
	n := fs.Int("n", 2000, "flagged accounts per imported file")
	m := fs.Int("m", 50000, "open leads already in the city for the loaded import")
	cells := fs.Int("cells", 2500, "grid cells (a square number)")
	lookups := fs.Int("lookups", 200, "de-duplication lookups timed each way")
	target := fs.Float64("target", 2, "loaded/empty import time to stay under (0: report only)")
	explain := fs.Bool("explain", false, "print the plans of one lookup each way")
	custom := fs.Bool("custom-plans", false, "plan every lookup for its point (plan_cache_mode = force_custom_plan)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/leads/run.sh)")
	}
	ctx := context.Background()
	pool, drop, err := scratch(ctx, base)
	if err != nil {
		return err
	}
	defer drop()
	side := 1
	for side*side < *cells {
		side++
	}
	township, tpath, err := city(ctx, pool, side)
	if err != nil {
		return err
	}
	coord := db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{tpath}}
	cfg := leads.DefaultConfig()
	cfg.MaxBytes = 1 << 30
	svc := leads.NewService(cfg, sites.New(sites.DefaultConfig(), time.Now), time.Now, leads.PowerUsers{Config: cfg.Power})
	rng := mrand.New(mrand.NewPCG(14, 2024))
	fmt.Fprintf(out, "city: %d cells, township %d; load average %s\n", side*side, township, benchstack.LoadAverage())

	importFile := func(prefix string) (time.Duration, leads.ImportReport, error) {
		file := powerFile(rng, prefix, *n)
		var rep leads.ImportReport
		start := time.Now()
		err := db.InScope(ctx, pool, coord, func(tx pgx.Tx) error {
			var err error
			rep, err = svc.Import(ctx, tx, leads.KindPowerUser, prefix+".csv", bytes.NewReader(file), 0)
			return err
		})
		return time.Since(start), rep, err
	}
	empty, rep, err := importFile("a")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "empty:  %d accounts → %d leads, %d duplicates in %.2f s\n", *n, rep.Created, rep.Duplicates, empty.Seconds())
	if rep.Created+rep.Duplicates != *n {
		return fmt.Errorf("empty import: %d leads and duplicates of %d accounts (%d refused)", rep.Created+rep.Duplicates, *n, rep.Refused)
	}
	start := time.Now()
	if err := preload(ctx, pool, rng, *m); err != nil {
		return err
	}
	fmt.Fprintf(out, "loaded %d open leads in %.1f s\n", *m, time.Since(start).Seconds())
	loaded, rep, err := importFile("b")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "loaded: %d accounts → %d leads, %d duplicates in %.2f s\n", *n, rep.Created, rep.Duplicates, loaded.Seconds())

	// The lookup alone, both ways, at the same random points.
	const viaCells = `SELECT (SELECT d.id FROM leads d WHERE d.status = 'open'
			AND d.cell_id = ANY (sieve_cells_near(p, 100)) AND ST_DWithin(d.point::geography, p::geography, 100) ORDER BY d.id LIMIT 1)
		FROM (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS p) x`
	const plain = `SELECT (SELECT d.id FROM leads d WHERE d.status = 'open'
			AND ST_DWithin(d.point::geography, p::geography, 100) ORDER BY d.id LIMIT 1)
		FROM (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS p) x`
	pts := make([][2]float64, *lookups)
	for i := range pts {
		pts[i] = [2]float64{lon0 + rng.Float64()*width, lat0 + rng.Float64()*height}
	}
	var cellTimes, plainTimes []time.Duration
	err = db.ReadInScope(ctx, pool, coord, func(tx pgx.Tx) error {
		if *custom {
			if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
				return err
			}
		}
		for _, q := range []string{viaCells, plain} {
			if !*explain {
				break
			}
			rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, pts[0][0], pts[0][1])
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			fmt.Fprintln(out, strings.Join(plan, "\n"))
		}
		for _, p := range pts {
			var a, b *int64
			t0 := time.Now()
			if err := tx.QueryRow(ctx, viaCells, p[0], p[1]).Scan(&a); err != nil {
				return err
			}
			t1 := time.Now()
			if err := tx.QueryRow(ctx, plain, p[0], p[1]).Scan(&b); err != nil {
				return err
			}
			cellTimes, plainTimes = append(cellTimes, t1.Sub(t0)), append(plainTimes, time.Since(t1))
			if (a == nil) != (b == nil) {
				var detail string
				id := a
				if id == nil {
					id = b
				}
				_ = tx.QueryRow(ctx, `SELECT format('lead %s at %s in cell %s, %s m away; cells near: %s', d.id, ST_AsText(d.point), d.cell_id,
						ST_Distance(d.point::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography),
						sieve_cells_near(ST_SetSRID(ST_MakePoint($2, $3), 4326), 100))
					FROM leads d WHERE d.id = $1`, *id, p[0], p[1]).Scan(&detail)
				return fmt.Errorf("at %v the two lookups disagree: %v vs %v (%s)", p, a != nil, b != nil, detail)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cp, pp := median(cellTimes), median(plainTimes)
	fmt.Fprintf(out, "lookup among %d open leads, median of %d: through the cells %.3f ms, plain ST_DWithin %.3f ms (%.0f×), answers equal\n",
		*m+2**n, len(pts), ms(cp), ms(pp), float64(pp)/float64(cp))
	ratio := loaded.Seconds() / empty.Seconds()
	fmt.Fprintf(out, "loaded/empty: %.2f (target ≤ %g); load average %s\n", ratio, *target, benchstack.LoadAverage())
	if *target > 0 && ratio > *target {
		return fmt.Errorf("loaded/empty %.2f misses the target of %g", ratio, *target)
	}
	return nil
}

// city makes a city, a township and a village covering the box, and side × side square cells.
func city(ctx context.Context, pool *pgxpool.Pool, side int) (int64, string, error) {
	var township int64
	var tpath string
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		var cityID, village int64
		box := fmt.Sprintf("ST_Multi(ST_MakeEnvelope(%g, %g, %g, %g, 4326))", lon0, lat0, lon0+width, lat0+height)
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市', `+box+`) RETURNING id`).Scan(&cityID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'township', '411081100', '火龙镇', `+box+`)
			RETURNING id, path::text`, cityID).Scan(&township, &tpath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'village', '411081100201', '火龙村', `+box+`)
			RETURNING id`, township).Scan(&village); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO regions (parent_id, level, code, name, geom)
			SELECT $1, 'cell', '411081100201-' || i || '-' || j, '网格' || i || '-' || j,
				ST_Multi(ST_MakeEnvelope($2::float8 + i * $4::float8 / $6::int, $3::float8 + j * $5::float8 / $6::int,
					$2::float8 + (i + 1) * $4::float8 / $6::int, $3::float8 + (j + 1) * $5::float8 / $6::int, 4326))
			FROM generate_series(0, $6::int - 1) i, generate_series(0, $6::int - 1) j`,
			village, lon0, lat0, width, height, side)
		if err != nil {
			return err
		}
		var shapes int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM region_shapes WHERE level = 'cell'`).Scan(&shapes); err != nil {
			return err
		}
		if shapes != side*side {
			return fmt.Errorf("%d cell shapes, want %d", shapes, side*side)
		}
		return nil
	})
	return township, tpath, err
}

// powerFile is one month of -n 动力电 accounts at random places, each a lead (industrial power
// at an account that is no registered chemical firm).
func powerFile(rng *mrand.Rand, prefix string, n int) []byte {
	var b strings.Builder
	b.WriteString("户号,户名,地址,经度,纬度,用电类别,月份,用电量\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s%06d,作坊%s%d,某村,%.6f,%.6f,动力电,2024-06,%d\n", prefix, i, prefix, i,
			lon0+rng.Float64()*width, lat0+rng.Float64()*height, 500+rng.IntN(5000))
	}
	return []byte(b.String())
}

// preload stores m open leads at random places in one statement, as the system (placed by their
// trigger), and analyses the table.
func preload(ctx context.Context, pool *pgxpool.Pool, rng *mrand.Rand, m int) error {
	lons, lats := make([]float64, m), make([]float64, m)
	for i := range lons {
		lons[i], lats[i] = lon0+rng.Float64()*width, lat0+rng.Float64()*height
	}
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO leads (kind, source_key, name, point, score)
			SELECT 'market_entity', 'preload:' || i, '预置线索', ST_SetSRID(ST_MakePoint(x, y), 4326), 0.8
			FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS u(x, y, i)`, lons, lats)
		return err
	})
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `ANALYZE leads`)
	return err
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scratch makes a migrated scratch database from sieve_template; drop removes it.
func scratch(ctx context.Context, base string) (*pgxpool.Pool, func(), error) {
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("sieve_bench_leads_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	u.Path = "/" + name
	pool, err := db.Open(ctx, u.String(), 4)
	drop := func() {
		if pool != nil {
			pool.Close()
		}
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		admin.Close(context.Background())
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	if _, err := db.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		drop()
		return nil, nil, err
	}
	return pool, drop, nil
}
