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

// PHashIndex finds stored photos near a 64-bit perceptual hash, for the photo-reuse rule. The
// evidence check asks it once per photo, as the system. ScanIndex is a plain scan; an index of
// hash chunks (MediaIndex, over internal/media's SimilarByPHash) is what the service uses by
// default; ScanIndex stays as the benchmark's baseline.
type PHashIndex interface {
	Similar(ctx context.Context, q db.Querier, phash int64, maxDistance, limit int) ([]Near, error)
}

// ScanIndex answers PHashIndex by scanning every stored hash (bit_count of the xor).
type ScanIndex struct{}

// Similar returns up to limit photos within maxDistance of phash, nearest first.
func (ScanIndex) Similar(ctx context.Context, q db.Querier, phash int64, maxDistance, limit int) ([]Near, error) {
	const sql = `SELECT id, d FROM (SELECT id, bit_count((phash # $1)::bit(64))::int AS d FROM media WHERE phash IS NOT NULL) m
		WHERE d <= $2 ORDER BY d, id LIMIT $3`
	rows, err := q.Query(ctx, sql, phash, maxDistance, limit)
	if err != nil {
		return nil, fmt.Errorf("inspections: similar photos: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Near])
}

// MediaIndex answers PHashIndex from the pHash index of internal/media (hash chunks, migration
// 0018: a few hundred index probes instead of a scan; exact, tested against the scan there).
// It sees the index only as the system, which is how the evidence check runs.
type MediaIndex struct{}

// Similar returns up to limit photos within maxDistance of phash, nearest first.
func (MediaIndex) Similar(ctx context.Context, q db.Querier, phash int64, maxDistance, limit int) ([]Near, error) {
	ms, err := media.Store{}.SimilarByPHash(ctx, q, phash, maxDistance, limit)
	if err != nil {
		return nil, fmt.Errorf("inspections: similar photos: %w", err)
	}
	out := make([]Near, len(ms))
	for i, m := range ms {
		out[i] = Near{MediaID: m.MediaID, Distance: m.Distance}
	}
	return out, nil
}
