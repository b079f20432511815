// Command phash is the photo-reuse lookup benchmark (issue 10): finding the stored photos whose
// perceptual hash lies within 6 or 10 bits of a new one, among N stored hashes (default
// 1,000,000), through media.Store.SimilarByPHash (multi-index hashing, migration 0018) against
// the bare scan, in the same run.
//
//	go run ./deploy/bench/phash [-n 1000000] [-lookups 2000] [-scans 50]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template, and drops it at the end. The data: N media rows with uniformly random 64-bit
// pHashes loaded by COPY (as the system, in one bulk change), plus, for every other query,
// planted copies at distances 0–10 from it (re-encoded or resized photos), then indexed with
// media_phash_index(NULL), as the migration's backfill does, and VACUUM ANALYZE (what autovacuum
// leaves a settled table in). What is timed, one lookup at a time, inside one open transaction
// as the system (the evidence check's position):
//
//	index  media.Store{}.SimilarByPHash(ctx, tx, q, r, 0)
//	scan   SELECT id, bit_count((phash # $1)::bit(64)) FROM media
//	       WHERE phash IS NOT NULL AND bit_count((phash # $1)::bit(64)) <= $2
//
// at r = 6 (photo_reused) and r = 10 (photo_similar). Every index answer is checked against an
// exact comparison with all N hashes in Go, and every scan answer too, so a fast wrong answer
// fails the run. p50 and p99 are printed; exits 1 when the index's p99 at r = 10 misses -target.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "phash bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("phash", flag.ContinueOnError)
	n := fs.Int("n", 1000000, "random hashes stored")
	lookups := fs.Int("lookups", 2000, "index lookups at each radius")
	scans := fs.Int("scans", 50, "scan lookups at each radius (a scan reads every hash)")
	target := fs.Duration("target", 10*time.Millisecond, "p99 of the index lookup at r=10 to stay under (0: report only)")
	explain := fs.Bool("explain", false, "print the plan of one lookup at r=10 and one scan")
	keep := fs.Bool("keep", false, "keep the scratch database (its name is printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/phash/run.sh)")
	}
	ctx := context.Background()
	pool, drop, err := benchstack.Scratch(ctx, base, "phash_", *keep)
	if err != nil {
		return err
	}
	defer drop()

	rng := mrand.New(mrand.NewPCG(10, 1000000))
	queries := make([]uint64, max(*lookups, *scans))
	for i := range queries {
		queries[i] = rng.Uint64()
	}
	stored := makeHashes(rng, *n, queries)
	start := time.Now()
	if err := load(ctx, pool, stored); err != nil {
		return err
	}
	var keys int64
	if err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM media_phash_chunks`).Scan(&keys)
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "data: %d hashes (%d random, %d planted near the queries), %d index keys, loaded and indexed in %.1f s\n",
		len(stored), *n, len(stored)-*n, keys, time.Since(start).Seconds())
	if keys != int64(4*len(stored)) {
		return fmt.Errorf("%d index keys for %d hashes, want 4 each", keys, len(stored))
	}

	fmt.Fprintf(out, "load average before the lookups: %s\n", benchstack.LoadAverage())
	defer func() { fmt.Fprintf(out, "load average after: %s\n", benchstack.LoadAverage()) }()
	return db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		if *explain {
			if err := printPlans(ctx, tx, out, queries[0]); err != nil {
				return err
			}
		}
		p99 := map[int]time.Duration{}
		for _, r := range []int{6, 10} {
			idx, found, err := timeIndex(ctx, tx, stored, queries[:*lookups], r)
			if err != nil {
				return err
			}
			scan, err := timeScan(ctx, tx, stored, queries[:*scans], r)
			if err != nil {
				return err
			}
			p99[r] = percentile(idx, 99)
			fmt.Fprintf(out, "r=%-2d index: %d lookups p50 %7.3f ms  p99 %7.3f ms  (%d matches, all exact) | scan: %d lookups p50 %7.1f ms  p99 %7.1f ms | p99 scan/index %.0f×\n",
				r, len(idx), ms(percentile(idx, 50)), ms(p99[r]), found, len(scan), ms(percentile(scan, 50)), ms(percentile(scan, 99)),
				float64(percentile(scan, 99))/float64(p99[r]))
		}
		fmt.Fprintf(out, "target: index p99 at r=10 <= %v: %.3f ms\n", *target, ms(p99[10]))
		if *target > 0 && p99[10] > *target {
			return fmt.Errorf("index p99 at r=10 %v misses the target of %v", p99[10], *target)
		}
		return nil
	})
}

// makeHashes returns n random hashes and, for every other query, copies of it at distances 0,
// 3, 6, 7 and 10 (bits flipped at random places).
func makeHashes(rng *mrand.Rand, n int, queries []uint64) []uint64 {
	hs := make([]uint64, n, n+len(queries)/2*5)
	for i := range hs {
		hs[i] = rng.Uint64()
	}
	for i := 0; i < len(queries); i += 2 {
		for _, d := range []int{0, 3, 6, 7, 10} {
			h := queries[i]
			for _, b := range rng.Perm(64)[:d] {
				h ^= 1 << b
			}
			hs = append(hs, h)
		}
	}
	return hs
}

// load stores one photo per hash (COPY through a temporary table, as the system, one bulk change), indexes them as the
// migration's backfill does, and vacuums the index table.
func load(ctx context.Context, pool *pgxpool.Pool, hashes []uint64) error {
	err := db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		var user int64
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash)
			VALUES ('bench-uploader', '基准测试', 'city_admin', '!') RETURNING id`).Scan(&user); err != nil {
			return err
		}
		return db.SystemBulk(ctx, tx, audit.Summary{Entity: "media", Action: "bench_load"}, func(s *audit.Summary) error {
			sum := make([]byte, 32)
			i := 0
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(hashes) {
					return nil, nil
				}
				if _, err := rand.Read(sum); err != nil {
					return nil, err
				}
				row := []any{"photo", user, fmt.Sprintf("1.%d.%d", 2+i%26, 100+i%725), slices.Clone(sum), int64(1),
					"jpeg", "image/jpeg", fmt.Sprintf("bench/%d.jpg", i), int64(hashes[i]), "processed"}
				i++
				return row, nil
			})
			// COPY does not write to a table with row-level security: a temporary table takes
			// the rows, one INSERT ... SELECT moves them.
			const stage = `CREATE TEMPORARY TABLE bench_media (kind text, uploaded_by bigint, region_path text,
				sha256 bytea, size bigint, format text, content_type text, object_key text, phash bigint, status text)
				ON COMMIT DROP`
			if _, err := tx.Exec(ctx, stage); err != nil {
				return err
			}
			cols := []string{"kind", "uploaded_by", "region_path", "sha256", "size", "format", "content_type", "object_key", "phash", "status"}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_media"}, cols, src); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format, content_type, object_key, phash, status)
				SELECT kind, uploaded_by, region_path::ltree, sha256, size, format, content_type, object_key, phash, status
				FROM bench_media`)
			if err != nil {
				return err
			}
			s.Counts = map[string]int64{"created": tag.RowsAffected()}
			_, err = tx.Exec(ctx, `SELECT media_phash_index(NULL)`)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE media`); err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE media_phash_chunks`)
	return err
}

// near returns the stored hashes within r of q, compared one by one, sorted.
func near(stored []uint64, q uint64, r int) []uint64 {
	var hs []uint64
	for _, h := range stored {
		if bits.OnesCount64(h^q) <= r {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	return hs
}

// timeIndex runs the lookups through SimilarByPHash and checks each answer.
func timeIndex(ctx context.Context, tx pgx.Tx, stored, queries []uint64, r int) ([]time.Duration, int, error) {
	var st media.Store
	times := make([]time.Duration, 0, len(queries))
	found := 0
	for _, q := range queries {
		t0 := time.Now()
		ms, err := st.SimilarByPHash(ctx, tx, int64(q), r, 0)
		times = append(times, time.Since(t0))
		if err != nil {
			return nil, 0, err
		}
		got := make([]uint64, len(ms))
		for i, m := range ms {
			if m.Distance != bits.OnesCount64(m.PHash^q) || (i > 0 && m.Distance < ms[i-1].Distance) {
				return nil, 0, fmt.Errorf("index r=%d: match %+v: wrong distance or order", r, m)
			}
			got[i] = m.PHash
		}
		slices.Sort(got)
		if want := near(stored, q, r); !slices.Equal(got, want) {
			return nil, 0, fmt.Errorf("index r=%d, query %016x: found %x, the exact comparison %x", r, q, got, want)
		}
		found += len(ms)
	}
	return times, found, nil
}

// scanQuery is the baseline: every stored hash compared with the query.
const scanQuery = `SELECT phash FROM media WHERE phash IS NOT NULL AND bit_count((phash # $1)::bit(64)) <= $2`

// timeScan runs the lookups as a bare scan of media and checks each answer.
func timeScan(ctx context.Context, tx pgx.Tx, stored, queries []uint64, r int) ([]time.Duration, error) {
	times := make([]time.Duration, 0, len(queries))
	for _, q := range queries {
		t0 := time.Now()
		rows, err := tx.Query(ctx, scanQuery, int64(q), r)
		if err != nil {
			return nil, err
		}
		hs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		times = append(times, time.Since(t0))
		if err != nil {
			return nil, err
		}
		got := make([]uint64, len(hs))
		for i, h := range hs {
			got[i] = uint64(h)
		}
		slices.Sort(got)
		if want := near(stored, q, r); !slices.Equal(got, want) {
			return nil, fmt.Errorf("scan r=%d, query %016x: found %x, the exact comparison %x", r, q, got, want)
		}
	}
	return times, nil
}

// printPlans prints EXPLAIN ANALYZE of the index lookup's candidate query (its probe keys as
// SimilarByPHash makes them) and of the scan, for q at r = 10.
func printPlans(ctx context.Context, tx pgx.Tx, out io.Writer, q uint64) error {
	probes, err := imagery.PHashProbes(q, 10)
	if err != nil {
		return err
	}
	plans := []struct {
		sql  string
		args []any
	}{
		{`SELECT DISTINCT media_id, phash FROM media_phash_chunks
			WHERE chunk_key = ANY ($1::integer[]) AND bit_count((phash # $2)::bit(64)) <= $3`, []any{probes, int64(q), 10}},
		{scanQuery, []any{int64(q), 10}},
	}
	for _, p := range plans {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+p.sql, p.args...)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(out, "   ", l)
		}
	}
	return nil
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
