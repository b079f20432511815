package changes

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/tasks"
)

// premiseHead and premiseTail select a premise (from the source between them; readState joins
// premiseSelect and premiseTail to the feed) with the round
// in force for it (the township's own round before a city-wide one, the latest first) and
// whether it is due in that round: no inspection of it in the round other than rejected ones.
// Under the caller's policies: inspections of others in the caller's cells count. Each
// row-level policy costs per row it is checked on, so the rounds in force are read once, and
// the inspection is looked up per premise (LATERAL ... LIMIT 1, on inspections_premise): as a
// plain NOT EXISTS the planner may hash every inspection the caller sees.
const (
	roundsInForce = `rs AS MATERIALIZED (SELECT r.id, r.region_path, r.starts_at FROM rounds r
	  WHERE r.starts_at <= now() AND r.ends_at > now())`
	premiseSelect = `p.id, p.kind, p.name, p.address, p.contact_name, p.contact_phone, p.tags,
	  ST_X(p.geom), ST_Y(p.geom), p.cell_id, p.updated_at, r.id, r.id IS NOT NULL AND d.done IS NULL`
	premiseTail = `
	LEFT JOIN LATERAL (SELECT r.id FROM rs r WHERE r.region_path IS NULL OR r.region_path @> p.region_path
	  ORDER BY r.region_path IS NULL, nlevel(r.region_path) DESC, r.starts_at DESC, r.id DESC LIMIT 1) r ON true
	LEFT JOIN LATERAL (SELECT true AS done FROM inspections i
	  WHERE i.premise_id = p.id AND i.round_id = r.id AND i.evidence <> 'rejected' LIMIT 1) d ON true`
	premiseHead = `WITH ` + roundsInForce + ` SELECT ` + premiseSelect + ` FROM `
)

// Which premises: those of some cells after an id (a fill), or by id and by inspection (the ids
// are joined in, so that the lookup stays an index condition under row-level security).
const (
	premisesInCells = premiseHead + `premises p` + premiseTail + ` WHERE p.cell_id = ANY ($1) AND p.id > $2 ORDER BY p.id LIMIT $3`
	premisesByID    = premiseHead + `(SELECT unnest($1::bigint[]) AS id
	  UNION SELECT i.premise_id FROM inspections i WHERE i.id = ANY ($2::uuid[])) ids JOIN premises p ON p.id = ids.id` + premiseTail
)

const taskCols = `SELECT t.id, t.kind, t.ref, t.premise_id, t.site_id, ST_X(t.point), ST_Y(t.point), t.cell_id,
	  t.assignee_id, t.title, t.detail, t.due_at, t.status, t.done_at, t.done_ref, t.created_at, t.updated_at
	FROM tasks t`

// Which tasks: the open ones of some cells for anyone of the cell or for the caller, and (in a
// full snapshot, $4) the caller's own anywhere, after an id; or by id.
const (
	tasksInCells = taskCols + ` WHERE t.status = 'open'
	  AND ((t.cell_id = ANY ($1) AND (t.assignee_id IS NULL OR t.assignee_id = $3)) OR ($4 AND t.assignee_id = $3))
	  AND t.id > $2 ORDER BY t.id LIMIT $5`
	tasksByID = taskCols + ` WHERE t.id = ANY ($1)`
)

const inspectionCols = `SELECT i.id::text, i.premise_id, i.cell_id, i.inspector_id, i.visited_at, i.outcome,
	  i.evidence, i.round_id FROM inspections i`

const (
	ownInspectionsAfter = inspectionCols + ` WHERE i.inspector_id = $1
	  AND i.id > coalesce(nullif($2, '')::uuid, '00000000-0000-0000-0000-000000000000') ORDER BY i.id LIMIT $3`
	inspectionsByID = inspectionCols + ` WHERE i.id = ANY ($1::uuid[])`
)

func scanPremise(r pgx.Row) (Premise, error) {
	var p Premise
	err := r.Scan(&p.ID, &p.Kind, &p.Name, &p.Address, &p.ContactName, &p.ContactPhone, &p.Tags,
		&p.Lon, &p.Lat, &p.CellID, &p.UpdatedAt, &p.RoundID, &p.Due)
	return p, err
}

func scanTask(r pgx.Row) (tasks.Task, error) {
	var t tasks.Task
	err := r.Scan(&t.ID, &t.Kind, &t.Ref, &t.PremiseID, &t.SiteID, &t.Lon, &t.Lat, &t.CellID, &t.AssigneeID,
		&t.Title, &t.Detail, &t.DueAt, &t.Status, &t.DoneAt, &t.DoneRef, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

func scanInspection(r pgx.Row) (Inspection, error) {
	var in Inspection
	err := r.Scan(&in.ID, &in.PremiseID, &in.CellID, &in.InspectorID, &in.VisitedAt, &in.Outcome, &in.Evidence, &in.RoundID)
	return in, err
}

// collect runs a query and scans its rows.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error), what string) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("changes: read %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("changes: read %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes: read %s: %w", what, err)
	}
	return out, nil
}

func premisesOf(ctx context.Context, tx querier, q string, cells []int64, after int64, limit int) ([]Premise, error) {
	rows, err := tx.Query(ctx, q, cells, after, limit)
	return collect(rows, err, scanPremise, "premises")
}

func tasksOf(ctx context.Context, tx querier, q string, cells []int64, after, user int64, own bool, limit int) ([]tasks.Task, error) {
	rows, err := tx.Query(ctx, q, cells, after, user, own, limit)
	return collect(rows, err, scanTask, "tasks")
}

func ownInspections(ctx context.Context, tx querier, user int64, after string, limit int) ([]Inspection, error) {
	rows, err := tx.Query(ctx, ownInspectionsAfter, user, after, limit)
	return collect(rows, err, scanInspection, "inspections")
}

// current reads, in one round trip, the current state of the premises, tasks and inspections
// that changed (and of the inspections' premises), as the caller's policies show them: a row
// missing from the maps is gone or out of the caller's sight.
func (b *builder) current(ctx context.Context, premiseIDs, taskIDs []int64, inspectionIDs []string) (
	map[int64]Premise, map[int64]tasks.Task, map[string]Inspection, error) {
	ps, ts, is := map[int64]Premise{}, map[int64]tasks.Task{}, map[string]Inspection{}
	var batch pgx.Batch
	if len(premiseIDs) > 0 || len(inspectionIDs) > 0 {
		batch.Queue(premisesByID, premiseIDs, inspectionIDs).Query(func(rows pgx.Rows) error {
			list, err := collect(rows, nil, scanPremise, "premises")
			for _, p := range list {
				ps[p.ID] = p
			}
			return err
		})
	}
	if len(taskIDs) > 0 {
		batch.Queue(tasksByID, taskIDs).Query(func(rows pgx.Rows) error {
			list, err := collect(rows, nil, scanTask, "tasks")
			for _, t := range list {
				ts[t.ID] = t
			}
			return err
		})
	}
	if len(inspectionIDs) > 0 {
		batch.Queue(inspectionsByID, inspectionIDs).Query(func(rows pgx.Rows) error {
			list, err := collect(rows, nil, scanInspection, "inspections")
			for _, in := range list {
				is[in.ID] = in
			}
			return err
		})
	}
	if batch.Len() == 0 {
		return ps, ts, is, nil
	}
	if err := b.tx.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, nil, nil, fmt.Errorf("changes: read current rows: %w", err)
	}
	return ps, ts, is, nil
}
