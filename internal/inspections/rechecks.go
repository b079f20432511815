package inspections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tasks"
)

// RecheckRequest is the body of POST /rechecks: a random sample of a round's visits in a
// region, to be visited again by someone else (抽查回访).
type RecheckRequest struct {
	RegionID int64    `json:"regionId"`
	RoundID  int64    `json:"roundId"`
	Share    *float64 `json:"share"` // of each worker's verified clear visits (default 0.1)
}

// RecheckReport says what POST /rechecks did.
type RecheckReport struct {
	Sampled    int64 `json:"sampled"`    // verified clear visits drawn (at least one per worker)
	Flagged    int64 `json:"flagged"`    // flagged or rejected visits, all of them
	Assigned   int64 `json:"assigned"`   // re-check tasks handed out (new or already open)
	Unassigned int64 `json:"unassigned"` // drawn but nobody other than the worker could take it
}

// RecheckStats is one worker's re-check record (GET /rechecks/summary).
type RecheckStats struct {
	InspectorID  int64   `json:"inspectorId"`
	Username     string  `json:"username"`
	Rechecked    int64   `json:"rechecked"`
	Disagreed    int64   `json:"disagreed"`
	Disagreement float64 `json:"disagreement"` // disagreed / rechecked
}

// drawn is a visit drawn for a re-check and who gets it.
type drawn struct {
	id        string
	premiseID int64
	flagged   bool
	assignee  *int64
}

// Rechecks draws the sample in the caller's transaction and adds a re-check task for each
// drawn visit: a stratified random sample (share of each worker's verified clear visits, at
// least one) plus every flagged or rejected one. Each goes to another grid worker of the same
// village (fewest open re-checks first, then at random) or, when there is none, an inspector
// (联合执法) whose area holds it; never to the worker whose visit it checks (the SQL excludes
// them, and recording refuses them).
func (s *Service) Rechecks(ctx context.Context, tx pgx.Tx, by int64, r RecheckRequest) (RecheckReport, error) {
	share := 0.1
	if r.Share != nil {
		share = *r.Share
	}
	if share <= 0 || share > 1 {
		return RecheckReport{}, invalid("invalid_recheck", "抽查比例须在 0 到 1 之间", "share must lie in (0, 1]")
	}
	if r.RegionID <= 0 || r.RoundID <= 0 {
		return RecheckReport{}, invalid("invalid_recheck", "须指定区域和轮次", "regionId and roundId are required")
	}
	var path string
	if err := tx.QueryRow(ctx, `SELECT path::text FROM regions WHERE id = $1`, r.RegionID).Scan(&path); err != nil {
		return RecheckReport{}, fmt.Errorf("inspections: re-check region %d: %w", r.RegionID, db.MapError(err))
	}
	if err := tx.QueryRow(ctx, `SELECT 1 FROM rounds WHERE id = $1`, r.RoundID).Scan(new(int)); err != nil {
		return RecheckReport{}, fmt.Errorf("inspections: re-check round %d: %w", r.RoundID, db.MapError(err))
	}
	list, err := s.store.draw(ctx, tx, path, r.RoundID, share)
	if err != nil {
		return RecheckReport{}, err
	}
	var rep RecheckReport
	for _, d := range list {
		if d.flagged {
			rep.Flagged++
		} else {
			rep.Sampled++
		}
		if d.assignee == nil {
			rep.Unassigned++
			continue
		}
		p := d.premiseID
		if _, err := s.tasks.Add(ctx, tx, tasks.New{Kind: tasks.Recheck, Ref: d.id, PremiseID: &p, AssigneeID: d.assignee,
			Title: "抽查回访 re-check", Detail: "visit again the premise of inspection " + d.id, CreatedBy: by}); err != nil {
			return rep, err
		}
		rep.Assigned++
	}
	return rep, nil
}

// draw picks the visits of a region and round to re-check and their assignees.
func (Store) draw(ctx context.Context, q db.Querier, path string, round int64, share float64) ([]drawn, error) {
	const sql = `WITH v AS (
			SELECT i.id, i.premise_id, i.inspector_id, i.cell_id, i.region_path, i.evidence, i.outcome
			FROM inspections i
			WHERE i.round_id = $2 AND i.region_path <@ $1::ltree AND i.recheck_of IS NULL
			  AND NOT EXISTS (SELECT 1 FROM inspections r WHERE r.recheck_of = i.id)),
		clear AS (
			SELECT *, row_number() OVER (PARTITION BY inspector_id ORDER BY random()) AS k,
				count(*) OVER (PARTITION BY inspector_id) AS n
			FROM v WHERE evidence = 'verified' AND outcome = 'clear'),
		picked AS (
			SELECT id, premise_id, inspector_id, cell_id, region_path, false AS flagged FROM clear
			WHERE k <= greatest(1, ceil(n * $3::float8))
			UNION ALL
			SELECT id, premise_id, inspector_id, cell_id, region_path, true FROM v WHERE evidence IN ('flagged', 'rejected'))
		SELECT p.id::text, p.premise_id, p.flagged, coalesce(w.id, ins.id)
		FROM picked p
		LEFT JOIN LATERAL (
			SELECT u.id FROM users u JOIN cell_assignments ca ON ca.user_id = u.id
			WHERE u.role = 'grid_worker' AND u.disabled_at IS NULL AND u.id <> p.inspector_id
			  AND nlevel(p.region_path) > 1 AND subpath(ca.cell_path, 0, nlevel(ca.cell_path) - 1) = subpath(p.region_path, 0, nlevel(p.region_path) - 1)
			GROUP BY u.id
			ORDER BY (SELECT count(*) FROM tasks t WHERE t.assignee_id = u.id AND t.status = 'open' AND t.kind = 'recheck'), random()
			LIMIT 1) w ON true
		LEFT JOIN LATERAL (
			SELECT u.id FROM users u
			WHERE w.id IS NULL AND u.role = 'inspector' AND u.disabled_at IS NULL AND u.id <> p.inspector_id
			  AND u.region_path @> p.region_path
			ORDER BY random() LIMIT 1) ins ON true
		ORDER BY p.flagged, p.id`
	rows, err := q.Query(ctx, sql, path, round, share)
	if err != nil {
		return nil, fmt.Errorf("inspections: draw re-checks: %w", err)
	}
	defer rows.Close()
	var out []drawn
	for rows.Next() {
		var d drawn
		if err := rows.Scan(&d.id, &d.premiseID, &d.flagged, &d.assignee); err != nil {
			return nil, fmt.Errorf("inspections: draw re-checks: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecheckSummary gives, per worker whose visits were re-checked in a region (0: all visible)
// and round (0: all), how many were re-checked and how many the re-check contradicted.
func (Store) RecheckSummary(ctx context.Context, q db.Querier, regionID, roundID int64) ([]RecheckStats, error) {
	const sql = `SELECT o.inspector_id, coalesce(u.username, ''), count(DISTINCT o.id),
			count(DISTINCT o.id) FILTER (WHERE o.disputed_by IS NOT NULL)
		FROM inspections r JOIN inspections o ON o.id = r.recheck_of
		LEFT JOIN users u ON u.id = o.inspector_id
		WHERE ($1::bigint = 0 OR o.region_path <@ (SELECT path FROM regions WHERE id = $1))
		  AND ($2::bigint = 0 OR o.round_id = $2)
		GROUP BY o.inspector_id, u.username ORDER BY o.inspector_id`
	rows, err := q.Query(ctx, sql, regionID, roundID)
	if err != nil {
		return nil, fmt.Errorf("inspections: re-check summary: %w", err)
	}
	defer rows.Close()
	out := []RecheckStats{}
	for rows.Next() {
		var st RecheckStats
		if err := rows.Scan(&st.InspectorID, &st.Username, &st.Rechecked, &st.Disagreed); err != nil {
			return nil, fmt.Errorf("inspections: re-check summary: %w", err)
		}
		if st.Rechecked > 0 {
			st.Disagreement = float64(st.Disagreed) / float64(st.Rechecked)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
