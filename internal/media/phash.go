package media

import (
	"context"
	"fmt"
	"slices"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
)

// PHashMatch is a stored photo whose perceptual hash lies near a query's: the evidence check
// reads photo reuse (重复使用照片) from it.
type PHashMatch struct {
	MediaID    int64
	UploadedBy int64  // 0 for a public tip's photo (no account)
	PHash      uint64 // the stored hash (media.phash as unsigned 64 bits)
	Distance   int    // Hamming distance to the query, 0..64
	SHA256     []byte // of the stored original: the same bytes as the query's photo when equal
}

// MaxPHashDistance is the largest distance SimilarByPHash answers (imagery.MaxPHashRadius).
const MaxPHashDistance = imagery.MaxPHashRadius

// SimilarByPHash returns the stored media whose pHash lies within maxDistance (0..10) bits of
// phash, nearest first (then by id), at most limit of them (limit ≤ 0: all). It is exact: the
// same media as comparing every stored hash (media.phash) with bit_count, but through the
// multi-index-hashing table media_phash_chunks (migration 0018): the probe keys of
// imagery.PHashProbes, each an integer equality, in one index-only scan, then the exact distance
// of the few candidates.
//
// Row-level security: every condition on the table is integer equality on chunk_key, which is
// leakproof, so PostgreSQL uses the index under the policies (a condition on bits of
// media.phash would not be, and would scan). Only the system reads media_phash_chunks: the
// evidence job calls this as the system, which sees every photo of the city; in any other
// actor's transaction it finds nothing.
func (s Store) SimilarByPHash(ctx context.Context, q db.Querier, phash int64, maxDistance int, limit int) ([]PHashMatch, error) {
	out, err := s.SimilarByPHashes(ctx, q, []int64{phash}, maxDistance, limit)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// SimilarByPHashes is SimilarByPHash for several hashes at once, in one statement: out[i] answers
// phashes[i]. The probe keys of all the hashes go into one index scan, and each candidate is
// measured against every hash: a medium within maxDistance of a hash has a chunk among that
// hash's probes (the pigeonhole bound the keys are built on), so each answer is still exact.
// The evidence check asks it once for all the photos of an inspection.
func (Store) SimilarByPHashes(ctx context.Context, q db.Querier, phashes []int64, maxDistance int, limit int) ([][]PHashMatch, error) {
	if maxDistance < 0 || maxDistance > MaxPHashDistance {
		return nil, fmt.Errorf("media: similar photos: pHash search radius %d outside [0, %d]", maxDistance, MaxPHashDistance)
	}
	out := make([][]PHashMatch, len(phashes))
	if len(phashes) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, SimilarSQL, Probes(phashes, maxDistance), phashes, maxDistance, limit)
	if err != nil {
		return nil, fmt.Errorf("media: similar photos: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m PHashMatch
			k int
			h int64
		)
		if err := rows.Scan(&k, &m.MediaID, &m.UploadedBy, &h, &m.Distance, &m.SHA256); err != nil {
			return nil, fmt.Errorf("media: similar photos: %w", err)
		}
		m.PHash = uint64(h)
		out[k-1] = append(out[k-1], m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("media: similar photos: %w", err)
	}
	return out, nil
}

// Probes is the probe keys of all of phashes at radius r (0..MaxPHashDistance), sorted, each once.
func Probes(phashes []int64, r int) []int32 {
	var probes []int32
	for _, h := range phashes {
		keys, _ := imagery.PHashProbes(uint64(h), r) // r is checked by the callers
		probes = append(probes, keys...)
	}
	slices.Sort(probes)
	return slices.Compact(probes)
}

// SimilarSQL is SimilarByPHashes' statement: $1 the probe keys (Probes), $2 the hashes, $3 the
// radius, $4 the limit per hash (≤ 0: none). Exported for the benchmarks' EXPLAIN.
const SimilarSQL = `WITH q AS (SELECT t.k::integer, t.h FROM unnest($2::bigint[]) WITH ORDINALITY AS t(h, k)),
		near AS (
			SELECT DISTINCT q.k, c.media_id, c.phash, bit_count((c.phash # q.h)::bit(64))::integer AS d
			FROM media_phash_chunks c JOIN q ON bit_count((c.phash # q.h)::bit(64)) <= $3
			WHERE c.chunk_key = ANY ($1::integer[])),
		ranked AS (
			SELECT near.k, m.id, coalesce(m.uploaded_by, 0) AS uploaded_by, m.phash, near.d, m.sha256,
			  row_number() OVER (PARTITION BY near.k ORDER BY near.d, m.id) AS n
			FROM near JOIN media m ON m.id = near.media_id AND m.phash = near.phash)
		SELECT k, id, uploaded_by, phash, d, sha256 FROM ranked WHERE $4 <= 0 OR n <= $4
		ORDER BY k, d, id`
