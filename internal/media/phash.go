package media

import (
	"context"
	"fmt"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
)

// PHashMatch is a stored photo whose perceptual hash lies near a query's: the evidence check
// reads photo reuse (重复使用照片) from it.
type PHashMatch struct {
	MediaID    int64
	UploadedBy int64
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
func (Store) SimilarByPHash(ctx context.Context, q db.Querier, phash int64, maxDistance int, limit int) ([]PHashMatch, error) {
	probes, err := imagery.PHashProbes(uint64(phash), maxDistance)
	if err != nil {
		return nil, fmt.Errorf("media: similar photos: %w", err)
	}
	const sql = `WITH near AS (
			SELECT DISTINCT c.media_id, c.phash FROM media_phash_chunks c
			WHERE c.chunk_key = ANY ($1::integer[]) AND bit_count((c.phash # $2)::bit(64)) <= $3)
		SELECT m.id, m.uploaded_by, m.phash, bit_count((m.phash # $2)::bit(64))::integer AS d, m.sha256
		FROM near JOIN media m ON m.id = near.media_id AND m.phash = near.phash
		ORDER BY d, m.id
		LIMIT CASE WHEN $4 > 0 THEN $4 END`
	rows, err := q.Query(ctx, sql, probes, phash, maxDistance, limit)
	if err != nil {
		return nil, fmt.Errorf("media: similar photos: %w", err)
	}
	defer rows.Close()
	var out []PHashMatch
	for rows.Next() {
		var (
			m PHashMatch
			h int64
		)
		if err := rows.Scan(&m.MediaID, &m.UploadedBy, &h, &m.Distance, &m.SHA256); err != nil {
			return nil, fmt.Errorf("media: similar photos: %w", err)
		}
		m.PHash = uint64(h)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("media: similar photos: %w", err)
	}
	return out, nil
}
