package inspections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
)

// Near is a stored photo whose perceptual hash lies within some Hamming distance of a query.
type Near struct {
	MediaID  int64
	Distance int
}

// PHashIndex finds stored photos near 64-bit perceptual hashes, for the photo-reuse rule. The
// evidence check asks it once per inspection, for all its photos, as the system. ScanIndex is a
// plain scan; an index of hash chunks (MediaIndex, over internal/media's SimilarByPHashes) is
// what the service uses by default; ScanIndex stays as the benchmark's baseline.
type PHashIndex interface {
	// Similar returns, for each of phashes, up to limit photos within maxDistance of it,
	// nearest first (then by id).
	Similar(ctx context.Context, q db.Querier, phashes []int64, maxDistance, limit int) ([][]Near, error)
}

// ScanIndex answers PHashIndex by scanning every stored hash (bit_count of the xor), once per hash.
type ScanIndex struct{}

// Similar returns up to limit photos within maxDistance of each of phashes, nearest first.
func (ScanIndex) Similar(ctx context.Context, q db.Querier, phashes []int64, maxDistance, limit int) ([][]Near, error) {
	const sql = `SELECT id, d FROM (SELECT id, bit_count((phash # $1)::bit(64))::int AS d FROM media WHERE phash IS NOT NULL) m
		WHERE d <= $2 ORDER BY d, id LIMIT $3`
	out := make([][]Near, len(phashes))
	for i, h := range phashes {
		rows, err := q.Query(ctx, sql, h, maxDistance, limit)
		if err != nil {
			return nil, fmt.Errorf("inspections: similar photos: %w", err)
		}
		if out[i], err = pgx.CollectRows(rows, pgx.RowToStructByPos[Near]); err != nil {
			return nil, fmt.Errorf("inspections: similar photos: %w", err)
		}
	}
	return out, nil
}

// MediaIndex answers PHashIndex from the pHash index of internal/media (hash chunks, migration
// 0018: a few hundred index probes per hash instead of a scan, all the hashes in one statement;
// exact, tested against the scan there). It sees the index only as the system, which is how
// the evidence check runs.
type MediaIndex struct{}

// Similar returns up to limit photos within maxDistance of each of phashes, nearest first.
func (MediaIndex) Similar(ctx context.Context, q db.Querier, phashes []int64, maxDistance, limit int) ([][]Near, error) {
	all, err := media.Store{}.SimilarByPHashes(ctx, q, phashes, maxDistance, limit)
	if err != nil {
		return nil, fmt.Errorf("inspections: similar photos: %w", err)
	}
	out := make([][]Near, len(all))
	for i, ms := range all {
		out[i] = make([]Near, len(ms))
		for j, m := range ms {
			out[i][j] = Near{MediaID: m.MediaID, Distance: m.Distance}
		}
	}
	return out, nil
}
