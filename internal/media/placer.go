package media

import (
	"context"
	"fmt"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Placer places photos and drone images again when grid cells change: it is media's placer for
// package regions (regions.Placer), given to regions.NewStore where the binary is wired. It
// holds nothing and needs nothing of the rest of the package: one SQL function does the work.
type Placer struct{}

// NewPlacer returns media's placer.
func NewPlacer() Placer { return Placer{} }

// Name is the placer's key in the regions reports' placed counts.
func (Placer) Name() string { return "media" }

// PlaceIn places again the media of region regionID (those whose point or footprint meets it,
// or that had cells under it) after its cells changed, and returns how many media's cells
// changed (place_media_in_region, migration 0014). media_cells is written by the system only,
// so it runs as the system in one bulk change (db.SystemBulk: one summary audit entry, media
// place, attributed to the caller, whom regions has already allowed to change the region).
func (Placer) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	var placed int64
	sum := audit.Summary{Entity: "media", Action: "place", RegionID: regionID}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT place_media_in_region($1)`, regionID).Scan(&placed); err != nil {
			return fmt.Errorf("media: place in region %d: %w", regionID, err)
		}
		sum.Counts = map[string]int64{"placed": placed}
		return nil
	})
	return placed, err
}
