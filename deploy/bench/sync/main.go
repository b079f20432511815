// Command sync is the phone-sync benchmark (issue 10): the delta sync of a grid worker holding 5
// cells and 2,000 premises after 50 changes in those cells, against the bare SQL that selects
// the same 50 rows, in the same run.
//
//	go run ./deploy/bench/sync [-cells 5] [-premises 2000] [-changes 50] [-noise 0] [-n 300]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template, and drops it at the end. The worker gets a full snapshot first (its cursor);
// then 50 premises of its cells are edited, one transaction each (a coordinator's edits), and
// -noise more in other cells. What is timed, each -n times, medians compared:
//
//	bare   SELECT of the 50 changed premises by id (ids known in advance) from a plain copy of
//	       the register (no row-level security, no transaction), one round trip on the pool.
//	sync   changes.Feed.Sync from the cursor, the way GET /api/v1/sync runs it: a read-only
//	       transaction scoped to the worker (row-level security), the feed read between two
//	       snapshots, the current rows with their due flags, the items, the new cursor.
//	http   GET /api/v1/sync?cursor= through the Go client against the real API in-process
//	       (token check from its cache, JSON, gzip), reported beside the two, as is an empty
//	       scoped read-only transaction (db.ReadInScope: BEGIN, the actor's settings, COMMIT),
//	       the floor under any scoped read, and the same SELECT of the 50 rows by id from the
//	       register in the worker's scoped transaction (row-level security on each row).
//
// It also prints the first snapshot page (500 premises) on the wire, plain and gzipped. The
// ratio sync/bare is printed; the target is at most 3. Exits 1 when it is missed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/db"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sync bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	nCells := fs.Int("cells", 5, "the worker's cells")
	nPremises := fs.Int("premises", 2000, "premises in the worker's cells")
	nChanges := fs.Int("changes", 50, "premises of the worker's cells edited after the snapshot")
	noise := fs.Int("noise", 0, "premises edited in other cells (of another worker) after the snapshot")
	n := fs.Int("n", 300, "timed repetitions of each")
	target := fs.Float64("target", 3, "the ratio sync/bare to stay under (0: report only)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of 2,000 delta syncs (after the timed runs) to this file")
	memprofile := fs.String("memprofile", "", "write an allocation profile of 2,000 delta syncs (after the timed runs) to this file, and print the allocations per sync")
	keep := fs.Bool("keep", false, "keep the scratch database (its name is printed) for EXPLAIN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nChanges > *nPremises || *nChanges > changes.MaxPageSize {
		return fmt.Errorf("-changes must be at most -premises and %d", changes.MaxPageSize)
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/sync/run.sh)")
	}
	ctx := context.Background()
	pool, drop, err := scratch(ctx, base, *keep, out)
	if err != nil {
		return err
	}
	defer drop()

	w, err := makeTown(ctx, pool, *nCells, *nPremises, max(*noise, 1))
	if err != nil {
		return err
	}
	feed := changes.New(changes.DefaultConfig(), changes.Deps{}, nil)
	syncPage := func(cursor string) (changes.Page, error) {
		return feed.Sync(ctx, pool, w.actor, cursor, false)
	}
	cursor, snapshot := "", 0
	for {
		p, err := syncPage(cursor)
		if err != nil {
			return err
		}
		snapshot, cursor = snapshot+len(p.Items), p.Cursor
		if !p.HasMore {
			break
		}
	}
	changed, err := edit(ctx, pool, w.mine[:*nChanges], w.others[:*noise])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data: %d cells, %d premises (snapshot %d items), %d changes in them, %d elsewhere\n",
		*nCells, *nPremises, snapshot, *nChanges, *noise)

	// The API, in-process, for the http figure.
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1),
		time.Hour, 10*time.Second, time.Now)
	srv := api.New(api.Deps{Pool: pool, Accounts: acc, Changes: feed, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), BodyLimit: 1 << 20, UploadLimit: 1 << 20})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tok, err := acc.CreateSession(ctx, pool, w.actor.UserID)
	if err != nil {
		return err
	}
	c := client.New(ts.URL, client.WithToken(tok))

	// The first snapshot page (500 premises) on the wire, plain and gzipped.
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/sync", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept-Encoding", enc)
		t0 := time.Now()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		size, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "snapshot page %s: %d bytes in %.1f ms (Content-Encoding %q)\n", enc, size,
			ms2(time.Since(t0)), resp.Header.Get("Content-Encoding"))
	}

	// Check the delta once: exactly the changed premises.
	p, err := syncPage(cursor)
	if err != nil {
		return err
	}
	if len(p.Items) != len(changed) || p.HasMore {
		return fmt.Errorf("the delta holds %d items (more: %v), want the %d changed premises", len(p.Items), p.HasMore, len(changed))
	}
	for _, it := range p.Items {
		if it.Op != changes.OpUpsert || it.Premise == nil || !strings.HasSuffix(it.Premise.Name, "（更正）") {
			return fmt.Errorf("the delta holds %+v, want the changed premises as they are now", it)
		}
	}
	hp, err := c.Sync(ctx, cursor)
	if err != nil || len(hp.Items) != len(changed) {
		return fmt.Errorf("the delta over HTTP: %d items, %v", len(hp.Items), err)
	}

	const bare = `SELECT p.id, p.kind, p.name, p.address, p.contact_name, p.contact_phone, p.tags,
		ST_X(p.geom), ST_Y(p.geom), p.cell_id, p.updated_at FROM bare_premises p WHERE p.id = ANY ($1)`
	bareOnce := func() error {
		rows, err := pool.Query(ctx, bare, changed)
		if err != nil {
			return err
		}
		ps, err := pgx.CollectRows(rows, scanPremise)
		if err != nil {
			return err
		}
		if len(ps) != len(changed) {
			return fmt.Errorf("bare selected %d rows", len(ps))
		}
		return nil
	}
	// Warm up, then interleave the three so that the machine's load falls on all alike.
	for i := 0; i < 20; i++ {
		if err := bareOnce(); err != nil {
			return err
		}
		if _, err := syncPage(cursor); err != nil {
			return err
		}
	}
	// The floor under row-level security: the same 50 rows by id, from the register itself, in the
	// worker's scoped transaction.
	const scoped = `SELECT p.id, p.kind, p.name, p.address, p.contact_name, p.contact_phone, p.tags,
		ST_X(p.geom), ST_Y(p.geom), p.cell_id, p.updated_at FROM premises p WHERE p.id = ANY ($1)`
	scopedOnce := func() error {
		return db.ReadInScope(ctx, pool, w.actor, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, scoped, changed)
			if err != nil {
				return err
			}
			ps, err := pgx.CollectRows(rows, scanPremise)
			if err != nil {
				return err
			}
			if len(ps) != len(changed) {
				return fmt.Errorf("scoped selected %d rows", len(ps))
			}
			return nil
		})
	}
	emptyScope := func() error {
		return db.ReadInScope(ctx, pool, w.actor, func(pgx.Tx) error { return nil })
	}
	var tb, ts2, th, te, tr []time.Duration
	for i := 0; i < *n; i++ {
		te0 := time.Now()
		if err := emptyScope(); err != nil {
			return err
		}
		te1 := time.Now()
		if err := scopedOnce(); err != nil {
			return err
		}
		te, tr = append(te, te1.Sub(te0)), append(tr, time.Since(te1))
		t0 := time.Now()
		if err := bareOnce(); err != nil {
			return err
		}
		t1 := time.Now()
		if _, err := syncPage(cursor); err != nil {
			return err
		}
		t2 := time.Now()
		if _, err := c.Sync(ctx, cursor); err != nil {
			return err
		}
		t3 := time.Now()
		tb, ts2, th = append(tb, t1.Sub(t0)), append(ts2, t2.Sub(t1)), append(th, t3.Sub(t2))
	}
	mb, ms, mh, me, mr := median(tb), median(ts2), median(th), median(te), median(tr)
	ratio := float64(ms) / float64(mb)
	fmt.Fprintf(out, "median of %d: bare SQL %.2f ms, sync %.2f ms, http %.2f ms; "+
		"ratio sync/bare %.2f (target <= %.2f), http/bare %.2f\n", *n, ms2(mb), ms2(ms), ms2(mh), ratio, *target, float64(mh)/float64(mb))
	fmt.Fprintf(out, "beside: an empty scoped transaction %.2f ms; the same 50 rows by id in the worker's scoped transaction %.2f ms (sync/that %.2f)\n",
		ms2(me), ms2(mr), float64(ms)/float64(mr))
	if *memprofile != "" {
		if err := allocs(*memprofile, out, func() error { _, err := syncPage(cursor); return err }); err != nil {
			return err
		}
	}
	if *cpuprofile != "" {
		if err := benchstack.CPUProfile(*cpuprofile, 2000, func() error { _, err := syncPage(cursor); return err }); err != nil {
			return err
		}
	}
	if *target > 0 && ratio > *target {
		return fmt.Errorf("ratio %.2f misses the target of %.2f", ratio, *target)
	}
	return nil
}

// scanPremise reads a row of the bare query into the premise the phone gets, as a client of
// the bare query would: the comparison is of the same rows read into the same values.
func scanPremise(r pgx.CollectableRow) (changes.Premise, error) {
	var p changes.Premise
	err := r.Scan(&p.ID, &p.Kind, &p.Name, &p.Address, &p.ContactName, &p.ContactPhone, &p.Tags, &p.Lon, &p.Lat, &p.CellID, &p.UpdatedAt)
	return p, err
}

// allocs writes the allocation profile of 2,000 calls of fn to file and prints the allocations
// and bytes per call.
func allocs(file string, out io.Writer, fn func() error) error {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 2000
	for i := 0; i < n; i++ {
		if err := fn(); err != nil {
			return err
		}
	}
	runtime.ReadMemStats(&after)
	fmt.Fprintf(out, "allocations per delta sync: %d (%d bytes)\n", (after.Mallocs-before.Mallocs)/n, (after.TotalAlloc-before.TotalAlloc)/n)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func ms2(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// town is the benchmark's data: the worker (as the API scopes them) and the ids of the premises
// in their cells and in the other cells.
type town struct {
	actor  db.Actor
	mine   []int64
	others []int64
}

// makeTown builds a village of nCells cells for the worker and as many for another, spreads
// nPremises premises over the worker's and at least noise over the other's, opens a round in
// force and records inspections of a quarter of the worker's premises, and copies the register
// into bare_premises for the bare query.
func makeTown(ctx context.Context, pool *pgxpool.Pool, nCells, nPremises, noise int) (*town, error) {
	w := &town{}
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		const region = `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, $2, $3, $3,
			ST_Multi(ST_MakeEnvelope($4, 34.0, $5, 34.1, 4326))) RETURNING id, path::text`
		var city, township, village int64
		var path string
		width := 0.01 * float64(2*nCells)
		if err := tx.QueryRow(ctx, region, nil, "city", "411081", 113.0, 113.0+width).Scan(&city, &path); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, region, city, "township", "411081100", 113.0, 113.0+width).Scan(&township, &path); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, region, township, "village", "411081100201", 113.0, 113.0+width).Scan(&village, &path); err != nil {
			return err
		}
		var worker, other int64
		const user = `INSERT INTO users (username, role, password_hash, region_id) VALUES ($1, 'grid_worker', '!', $2) RETURNING id`
		if err := tx.QueryRow(ctx, user, "bench.worker", village).Scan(&worker); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, user, "bench.other", village).Scan(&other); err != nil {
			return err
		}
		w.actor = db.Actor{UserID: worker, Username: "bench.worker", Role: "grid_worker"}
		for i := 0; i < 2*nCells; i++ {
			var cell int64
			x0 := 113.0 + 0.01*float64(i)
			if err := tx.QueryRow(ctx, region, village, "cell", fmt.Sprintf("411081100201-%02d", i), x0, x0+0.01).Scan(&cell, &path); err != nil {
				return err
			}
			holder, count := worker, nPremises/nCells
			if i >= nCells {
				holder, count = other, (noise+nCells-1)/nCells
			} else {
				w.actor.Scope = append(w.actor.Scope, path)
			}
			if i == nCells-1 {
				count = nPremises - (nCells-1)*(nPremises/nCells)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`,
				holder, cell, path); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `INSERT INTO premises (kind, name, address, contact_name, contact_phone, geom, cell_id, region_path)
				SELECT 'household', '村民' || n || '户', '第' || (n % 12 + 1) || '组', '张三', '13800000000',
				  ST_SetSRID(ST_MakePoint($1 + 0.0099 * random(), 34.0 + 0.0999 * random()), 4326), $2, $3::ltree
				FROM generate_series(1, $4::int) AS n RETURNING id`, x0, cell, path, count)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if holder == worker {
				w.mine = append(w.mine, ids...)
			} else {
				w.others = append(w.others, ids...)
			}
		}
		var round int64
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', now() - interval '10 days',
			now() + interval '60 days') RETURNING id`).Scan(&round); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome)
			SELECT gen_random_uuid(), id, $1, $2, now() - interval '1 day', 'clear' FROM unnest($3::bigint[]) AS id
			WHERE id % 4 = 0`, round, worker, w.mine); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE bare_premises AS SELECT * FROM premises; ALTER TABLE bare_premises ADD PRIMARY KEY (id); ANALYZE bare_premises`)
		return err
	})
	if err != nil {
		return nil, err
	}
	_, err = pool.Exec(ctx, `ANALYZE`)
	return w, err
}

// edit renames each premise in its own transaction, as a coordinator's edits come, and copies
// the worker's edits into bare_premises; it returns the ids of the worker's.
func edit(ctx context.Context, pool *pgxpool.Pool, mine, others []int64) ([]int64, error) {
	for _, id := range append(append([]int64(nil), mine...), others...) {
		err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE premises SET name = name || '（更正）', updated_at = now() WHERE id = $1`, id)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return mine, db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE bare_premises b SET name = p.name, updated_at = p.updated_at FROM premises p
			WHERE p.id = b.id AND p.id = ANY ($1)`, mine)
		return err
	})
}

// scratch creates a migrated database from sieve_template and returns a pool on it.
func scratch(ctx context.Context, base string, keep bool, out io.Writer) (*pgxpool.Pool, func(), error) {
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("sieve_bench_sync_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	pool, err := db.Open(ctx, u.String(), 4)
	drop := func() {
		if pool != nil {
			pool.Close()
		}
		if keep {
			fmt.Fprintf(out, "kept the database %s\n", name)
			admin.Close(context.Background())
			return
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
