package leads

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/inspections"
)

// InspectionHook is the inspections → leads hook (inspections.Hooks.Recorded, given at wiring
// time after sites.InspectionHook): a grid worker's visit decides the open leads of its place,
// in the transaction that records it, acting as the worker.
//
//   - A suspected visit confirms the open leads on its premise or within ConfirmMetres of it,
//     with the site the sites hook opened or joined for this inspection; when that hook opened
//     none (a suspected visit without classes), a site of source lead is opened here.
//   - A clear visit (无异常) clears the open leads on its premise (not those merely near it: the
//     worker saw that premise, not the place of a position-only lead).
//
// Their tasks are done, naming the inspection.
func InspectionHook(s *Service) func(context.Context, pgx.Tx, inspections.Recorded) error {
	return func(ctx context.Context, tx pgx.Tx, r inspections.Recorded) error {
		if r.Outcome != inspections.Suspected && r.Outcome != inspections.Clear {
			return nil
		}
		// Every inspection passes here: the lookup goes by the leads' premise and cell indexes
		// (sieve_cells_near), never a scan of the leads.
		const sql = `WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326) AS g)
			SELECT ` + cols + ` FROM leads l, pt WHERE l.status = 'open'
			AND (l.premise_id = $1 OR ($4 AND l.cell_id = ANY (sieve_cells_near(pt.g, $5))
				AND ST_DWithin(l.point::geography, pt.g::geography, $5)))
			ORDER BY l.id`
		rows, err := tx.Query(ctx, sql, r.PremiseID, r.Lon, r.Lat, r.Outcome == inspections.Suspected, s.cfg.ConfirmMetres)
		if err != nil {
			return fmt.Errorf("leads: leads of inspection %s: %w", r.ID, err)
		}
		open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lead, error) { return scan(r) })
		if err != nil || len(open) == 0 {
			return err
		}
		if r.Outcome == inspections.Clear {
			for _, l := range open {
				if _, err := s.clear(ctx, tx, l, "网格员排查无异常（inspection "+r.ID+"）", r.ID, r.InspectorID); err != nil {
					return err
				}
			}
			return nil
		}
		var siteID *int64
		var id int64
		err = tx.QueryRow(ctx, `SELECT site_id FROM site_inspections WHERE inspection_id = $1 ORDER BY site_id LIMIT 1`, r.ID).Scan(&id)
		switch {
		case err == nil:
			siteID = &id
		case err != pgx.ErrNoRows:
			return fmt.Errorf("leads: site of inspection %s: %w", r.ID, err)
		}
		for _, l := range open {
			l := l
			if siteID == nil && r.PremiseID != 0 { // the new site is the visited premise's
				p := r.PremiseID
				l.PremiseID, l.Lon, l.Lat = &p, r.Lon, r.Lat
			}
			done, err := s.confirm(ctx, tx, l, siteID, "网格员排查疑似（inspection "+r.ID+"）", r.ID, r.InspectorID)
			if err != nil {
				return err
			}
			siteID = done.SiteID // the next lead of the place joins the same site
		}
		return nil
	}
}

// Placer places leads again when grid cells change: the leads domain's regions.Placer, given
// to regions.NewStore where the binary is wired (and in api.New's default).
type Placer struct{}

// Name is the placer's key in the regions reports' placed counts.
func (Placer) Name() string { return "leads" }

// PlaceIn places again the leads of region regionID after its cells changed and returns how
// many moved, in one bulk change (one summary audit entry).
func (Placer) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	var moved int64
	sum := audit.Summary{Entity: "leads", Action: "place", RegionID: regionID}
	err := db.Bulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT place_leads_in_region($1)`, regionID).Scan(&moved); err != nil {
			return fmt.Errorf("leads: place in region %d: %w", regionID, err)
		}
		sum.Counts = map[string]int64{"moved": moved}
		return nil
	})
	return moved, err
}
