package sites

import (
	"context"
	"fmt"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Placer places sites again when grid cells change: the sites domain's regions.Placer, given to
// regions.NewStore where the binary is wired (and in api.New's default).
type Placer struct{}

// Name is the placer's key in the regions reports' placed counts.
func (Placer) Name() string { return "sites" }

// PlaceIn places again the sites of region regionID after its cells changed (their point in
// the region, or their path under it) and returns how many moved, in one bulk change (one
// summary audit entry). It runs as the system: the site paths copied on media_site_links
// follow, and only the system writes those.
func (Placer) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	var moved int64
	sum := audit.Summary{Entity: "sites", Action: "place", RegionID: regionID}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT place_sites_in_region($1)`, regionID).Scan(&moved); err != nil {
			return fmt.Errorf("sites: place in region %d: %w", regionID, err)
		}
		sum.Counts = map[string]int64{"moved": moved}
		return nil
	})
	return moved, err
}
