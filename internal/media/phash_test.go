package media

import (
	"bytes"
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// storeHashes records one photo per hash as the system (with a SHA-256 of its index, object
// keys bench/<i>), which the database indexes as it stores them (migration 0024's trigger); it
// returns their ids in the order of hashes.
func storeHashes(t *testing.T, pool *pgxpool.Pool, hashes []uint64) []int64 {
	t.Helper()
	ctx := context.Background()
	signed := make([]int64, len(hashes))
	for i, h := range hashes {
		signed[i] = int64(h)
	}
	var ids []int64
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		var user int64
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash)
			VALUES ('phash-uploader', '测试', 'city_admin', '!') RETURNING id`).Scan(&user); err != nil {
			return err
		}
		return db.SystemBulk(ctx, tx, audit.Summary{Entity: "media", Action: "test_load"}, func(s *audit.Summary) error {
			const q = `INSERT INTO media (kind, uploaded_by, sha256, size, format, content_type, object_key, phash, region_path)
				SELECT 'photo', $1, sha256(t.i::text::bytea), 1, 'jpeg', 'image/jpeg', 'test/' || t.i, t.h, '1.2'
				FROM unnest($2::bigint[]) WITH ORDINALITY AS t(h, i) ORDER BY t.i RETURNING id`
			rows, err := tx.Query(ctx, q, user, signed)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return err
			}
			s.Counts = map[string]int64{"created": int64(len(ids))}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(hashes) {
		t.Fatalf("stored %d of %d", len(ids), len(hashes))
	}
	return ids
}

// flip returns h with n distinct random bits flipped.
func flip(rng *rand.Rand, h uint64, n int) uint64 {
	for _, b := range rng.Perm(64)[:n] {
		h ^= 1 << b
	}
	return h
}

// TestSimilarByPHashExact: the lookup through the chunk index finds exactly the media that a
// scan of every stored hash finds, at every radius up to 10, nearest first, with random hashes
// and copies planted at distances 0–12 from the queries (also with the flipped bits spread one
// per chunk, the case the pigeonhole bound is tight on).
func TestSimilarByPHashExact(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(6, 10))
	queries := make([]uint64, 40)
	var hashes []uint64
	for i := range queries {
		q := rng.Uint64()
		queries[i] = q
		for d := 0; d <= 12; d++ {
			hashes = append(hashes, flip(rng, q, d))
		}
		spread := q
		for k := 0; k < 10; k++ { // 10 bits, as evenly over the 4 chunks as they go: 3 3 2 2
			spread ^= 1 << (imagery.PHashChunkBits*(k%imagery.PHashChunks) + rng.IntN(imagery.PHashChunkBits))
		}
		hashes = append(hashes, spread)
	}
	for i := 0; i < 3000; i++ {
		hashes = append(hashes, rng.Uint64())
	}
	hashes = append(hashes, hashes[0]) // the same hash twice: both are found
	ids := storeHashes(t, pool, hashes)

	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		// The chunk keys written in SQL are imagery's.
		rows, err := tx.Query(ctx, `SELECT media_id, phash, array_agg(chunk_key ORDER BY chunk_key) FROM media_phash_chunks GROUP BY 1, 2`)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var (
				id, h int64
				keys  []int32
			)
			if err := rows.Scan(&id, &h, &keys); err != nil {
				return err
			}
			want := imagery.PHashChunkKeys(uint64(h))
			if !slices.Equal(keys, want[:]) {
				t.Errorf("medium %d (%016x): keys %x, imagery's %x", id, uint64(h), keys, want)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != len(hashes) {
			t.Errorf("%d media indexed, want %d", n, len(hashes))
		}

		var st Store
		for _, r := range []int{0, 1, 3, 4, 6, 7, 9, 10} {
			for _, q := range queries {
				got, err := st.SimilarByPHash(ctx, tx, int64(q), r, 0)
				if err != nil {
					return err
				}
				rows, err := tx.Query(ctx, `SELECT id, bit_count((phash # $1)::bit(64))::integer FROM media
					WHERE phash IS NOT NULL AND bit_count((phash # $1)::bit(64)) <= $2 ORDER BY 2, 1`, int64(q), r)
				if err != nil {
					return err
				}
				type hit struct{ id, d int64 }
				want, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hit, error) {
					var h hit
					err := row.Scan(&h.id, &h.d)
					return h, err
				})
				if err != nil {
					return err
				}
				if len(want) < 1 {
					t.Fatalf("r=%d: the scan finds nothing near %016x: the planted copies are missing", r, q)
				}
				if len(got) != len(want) {
					t.Fatalf("r=%d, query %016x: %d matches, the scan %d: %+v vs %+v", r, q, len(got), len(want), got, want)
				}
				for i, m := range got {
					if m.MediaID != want[i].id || int64(m.Distance) != want[i].d ||
						m.Distance != bits.OnesCount64(m.PHash^q) || len(m.SHA256) != 32 || m.UploadedBy == 0 {
						t.Fatalf("r=%d, query %016x: match %d is %+v, the scan's %+v", r, q, i, m, want[i])
					}
				}
			}
		}

		// Several hashes in one statement: each answer is the one lookup's, also with a limit.
		hs := make([]int64, len(queries))
		for i, q := range queries {
			hs[i] = int64(q)
		}
		for _, c := range []struct{ r, limit int }{{10, 0}, {6, 0}, {10, 5}} {
			many, err := st.SimilarByPHashes(ctx, tx, hs, c.r, c.limit)
			if err != nil {
				return err
			}
			if len(many) != len(hs) {
				t.Fatalf("r=%d: %d answers for %d hashes", c.r, len(many), len(hs))
			}
			for i, h := range hs {
				one, err := st.SimilarByPHash(ctx, tx, h, c.r, c.limit)
				if err != nil {
					return err
				}
				if len(one) == 0 || !slices.EqualFunc(one, many[i], func(a, b PHashMatch) bool {
					return a.MediaID == b.MediaID && a.Distance == b.Distance && a.PHash == b.PHash && bytes.Equal(a.SHA256, b.SHA256)
				}) {
					t.Fatalf("r=%d limit %d, hash %d: set-wise %+v, alone %+v", c.r, c.limit, i, many[i], one)
				}
			}
		}

		// Nearest first, and limit keeps the nearest.
		got, err := st.SimilarByPHash(ctx, tx, int64(queries[0]), 10, 3)
		if err != nil {
			return err
		}
		if len(got) != 3 || got[0].Distance != 0 || got[1].Distance != 0 || got[2].Distance != 1 {
			t.Errorf("limit 3 near the first query: %+v, want two at 0 and one at 1", got)
		}
		if got[0].MediaID != ids[0] || got[1].MediaID != ids[len(ids)-1] {
			t.Errorf("limit 3: the two copies at 0 are %d and %d, want %d and %d", got[0].MediaID, got[1].MediaID, ids[0], ids[len(ids)-1])
		}

		// Removing a medium removes its keys.
		if _, err := tx.Exec(ctx, `DELETE FROM media WHERE id = $1`, ids[0]); err != nil {
			return err
		}
		got, err = st.SimilarByPHash(ctx, tx, int64(queries[0]), 0, 0)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].MediaID != ids[len(ids)-1] {
			t.Errorf("after removing %d: %+v, want only %d", ids[0], got, ids[len(ids)-1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Only the system reads the index: the city office, which sees every medium, finds nothing.
	office := db.Actor{Username: "office", Role: "city_admin"}
	err = db.InScope(ctx, pool, office, func(tx pgx.Tx) error {
		got, err := Store{}.SimilarByPHash(ctx, tx, int64(queries[1]), 10, 0)
		if err == nil && len(got) != 0 {
			t.Errorf("as the city office: %d matches, want none", len(got))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSimilarByPHashRadius: radii outside 0..10 are refused, not answered approximately.
func TestSimilarByPHashRadius(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	for _, r := range []int{-1, MaxPHashDistance + 1} {
		err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
			_, err := Store{}.SimilarByPHash(ctx, tx, 1, r, 0)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "media: similar photos") {
			t.Errorf("radius %d: %v, want an error", r, err)
		}
	}
}

// TestSimilarByPHashUsesIndex: under the tables' row-level security, as the system, the lookup
// reads the chunk index (integer equality is leakproof), without touching the heap; with
// sequential scans priced out, a condition the policies kept from the index would still scan.
func TestSimilarByPHashUsesIndex(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	hashes := make([]uint64, 2000)
	for i := range hashes {
		hashes[i] = rng.Uint64()
	}
	storeHashes(t, pool, hashes)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE media_phash_chunks`); err != nil {
		t.Fatal(err)
	}
	probes, err := imagery.PHashProbes(hashes[7], 10)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	err = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `EXPLAIN SELECT media_id, phash FROM media_phash_chunks
			WHERE chunk_key = ANY ($1::integer[]) AND bit_count((phash # $2)::bit(64)) <= 10`, probes, int64(hashes[7]))
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "Index Only Scan using media_phash_chunks_key") || !strings.Contains(joined, "Index Cond: (chunk_key = ANY") {
		t.Fatalf("the lookup does not read the chunk index:\n%s", joined)
	}
}

// TestThumbnailJobIndexesPHash: the thumbnail job writes a photo's four keys with its pHash,
// so the next lookup finds it.
func TestThumbnailJobIndexesPHash(t *testing.T) {
	e := newEnv(t, Hooks{})
	e.startJobs()
	ctx := context.Background()
	data := photo(t)
	m, created, err := e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(data), Size: int64(len(data)), Name: "a.jpg"})
	if err != nil || !created {
		t.Fatalf("ingest: %v %v", created, err)
	}
	var phash *int64
	for deadline := time.Now().Add(45 * time.Second); phash == nil; time.Sleep(100 * time.Millisecond) {
		err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT phash FROM media WHERE id = $1`, m.ID).Scan(&phash)
		})
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no pHash after 45 s")
		}
	}
	err = db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		var keys []int32
		if err := tx.QueryRow(ctx, `SELECT array_agg(chunk_key ORDER BY chunk_key) FROM media_phash_chunks WHERE media_id = $1`, m.ID).
			Scan(&keys); err != nil {
			return err
		}
		if want := imagery.PHashChunkKeys(uint64(*phash)); !slices.Equal(keys, want[:]) {
			t.Errorf("keys %x, want %x", keys, want)
		}
		got, err := Store{}.SimilarByPHash(ctx, tx, flipOne(*phash), 6, 0)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].MediaID != m.ID || got[0].Distance != 1 || !bytes.Equal(got[0].SHA256, sha(data)) {
			t.Errorf("lookup at distance 1: %+v, want medium %d", got, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipOne returns h with its lowest bit flipped: a copy one bit away.
func flipOne(h int64) int64 { return h ^ 1 }
