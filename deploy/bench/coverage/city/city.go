// Package city builds the benchmark city of the coverage and tiles benchmarks (issue 12) in a
// scratch database: a city, a township and a village over one box split into about N square
// grid cells by Sieve's cell generation, P premises placed in them, a round in force with
// verified visits of about half the premises (and some flagged ones), a city-office user, and
// an API server with that user's token.
package city

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

// The box the city covers.
const MinLon, MinLat, MaxLon, MaxLat = 113.2, 34.0, 113.6, 34.35

// City is the built benchmark city.
type City struct {
	Pool            *pgxpool.Pool
	CityID, RoundID int64
	Cells, Premises int
	Inspections     int64
	Setup, Refresh  time.Duration // building it all; the inspections' statement with its coverage refresh
	URL, Token      string        // the API server and the city office's bearer token
	close           func()
}

// Close stops the server and drops the scratch database (unless keep was set).
func (c *City) Close() { c.close() }

// Build makes the city in a scratch database made from sieve_template on base (SIEVE_DB_URL).
func Build(ctx context.Context, base string, nCells, nPremises int, keep bool) (*City, error) {
	start := time.Now()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("sieve_bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		admin.Close(ctx)
		return nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	pool, err := db.Open(ctx, u.String(), 8)
	c := &City{Pool: pool}
	var srv *httptest.Server
	c.close = func() {
		if srv != nil {
			srv.Close()
		}
		if pool != nil {
			pool.Close()
		}
		if keep {
			fmt.Fprintln(os.Stderr, "kept database", name)
		} else {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
		admin.Close(context.Background())
	}
	fail := func(err error) (*City, error) { c.close(); return nil, err }
	if err != nil {
		return fail(err)
	}
	if _, err := db.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return fail(err)
	}
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 4),
		time.Hour, 10*time.Second, time.Now)
	var office accounts.User
	err = db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		const q = `WITH c AS (INSERT INTO regions (level, code, name, geom)
				VALUES ('city', 'B', '基准市', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326))) RETURNING id),
			t AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'township', 'B1', '基准镇', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)) FROM c RETURNING id, parent_id)
			INSERT INTO regions (parent_id, level, code, name, geom)
			SELECT id, 'village', 'B1V', '基准村', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)) FROM t RETURNING id, (SELECT id FROM c)`
		var village int64
		if err := tx.QueryRow(ctx, q, MinLon, MinLat, MaxLon, MaxLat).Scan(&village, &c.CityID); err != nil {
			return err
		}
		var area float64
		if err := tx.QueryRow(ctx, `SELECT `+gis.AreaKm2("geom")+` FROM regions WHERE id = $1`, village).Scan(&area); err != nil {
			return err
		}
		rs := regions.NewStore(premises.NewStore(), media.NewPlacer())
		res, err := rs.GenerateCells(ctx, tx, village, regions.CellSpec{Shape: "square", Size: 1000 * math.Sqrt(area/float64(nCells))})
		if err != nil {
			return err
		}
		c.Cells = res.Created
		// Premises at random points, placed in their cells through region_shapes.
		const qp = `INSERT INTO premises (kind, name, geom, cell_id, region_path)
			SELECT 'household', '住户' || g, pt, s.region_id, s.path
			FROM (SELECT g, ST_SetSRID(ST_MakePoint($1::float8 + random() * ($3::float8 - $1::float8), $2::float8 + random() * ($4::float8 - $2::float8)), 4326) AS pt
			      FROM generate_series(1, $5::int) g) p
			LEFT JOIN LATERAL (SELECT region_id, path FROM region_shapes s WHERE s.level = 'cell' AND ST_Intersects(s.geom, p.pt)
			                   ORDER BY region_id LIMIT 1) s ON true`
		// A bulk load: one statement, without the per-row audit (sieve.bulk, as db.Bulk sets it).
		if _, err := tx.Exec(ctx, `SELECT setseed(0.12), set_config('sieve.bulk', 'on', true)`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, qp, MinLon, MinLat, MaxLon, MaxLat, nPremises)
		c.Premises = int(tag.RowsAffected())
		if err != nil {
			return err
		}
		office, err = acc.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: "bench-office",
			Password: "bench password 1", Role: accounts.CityAdmin})
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('基准轮', now() - interval '20 days',
			now() + interval '20 days') RETURNING id`).Scan(&c.RoundID)
	})
	if err != nil {
		return fail(err)
	}
	// Visits of about 55 % of the premises over 20 days, 1 in 10 flagged, in one statement:
	// its coverage refresh (every cell) is timed apart.
	t0 := time.Now()
	err = db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('sieve.bulk', 'on', true)`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence)
			SELECT gen_random_uuid(), p.id, $1, $2, now() - (p.id % 20) * interval '1 day', 'clear',
			       CASE WHEN p.id % 10 = 0 THEN 'flagged' ELSE 'verified' END
			FROM premises p WHERE p.id % 20 < 11`, c.RoundID, office.ID)
		c.Inspections = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fail(err)
	}
	c.Refresh = time.Since(t0)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return fail(err)
	}
	s := api.New(api.Deps{Pool: pool, Accounts: acc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), BodyLimit: 1 << 20, UploadLimit: 1 << 20})
	srv = httptest.NewServer(s.Handler())
	c.URL = srv.URL
	if c.Token, err = acc.CreateSession(ctx, pool, office.ID); err != nil {
		return fail(err)
	}
	c.Setup = time.Since(start)
	return c, nil
}
