package changes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sieve-city/sieve/internal/tasks"
)

// A premise is read with its region path and the rounds in force in which it has an inspection
// that counts (any but rejected ones; under the caller's policies, so inspections of others in
// the caller's cells count). The round in force for it and whether it is due there are worked
// out in Go (roundFor, resolve) from the rounds in force that the page's first statement read
// (readState): that rule then has one owner, and no statement sorts the rounds once per premise.
//
// premiseCols are the columns; inspected is the rounds' lookup per premise (on
// inspections_premise), for the fills; readState looks them up for all its premises at once.
const (
	premiseCols = `p.id, p.kind, p.name, p.address, p.contact_name, p.contact_phone, p.tags,
	  ST_X(p.geom), ST_Y(p.geom), p.cell_id, p.updated_at, p.region_path::text`
	inspected = `ARRAY(SELECT i.round_id FROM inspections i
	  WHERE i.premise_id = p.id AND i.round_id = ANY ($%d::bigint[]) AND i.evidence <> 'rejected')`
)

// Which premises: those of some cells after an id (a fill), or by id and by inspection (the ids
// are joined in, so that the lookup stays an index condition under row-level security). The
// last argument is the ids of the rounds in force.
var (
	premisesInCells = `SELECT ` + premiseCols + `, ` + fmt.Sprintf(inspected, 4) + ` FROM premises p
	  WHERE p.cell_id = ANY ($1) AND p.id > $2 ORDER BY p.id LIMIT $3`
	premisesByID = `SELECT ` + premiseCols + `, ` + fmt.Sprintf(inspected, 3) + ` FROM (SELECT unnest($1::bigint[]) AS id
	  UNION SELECT i.premise_id FROM inspections i WHERE i.id = ANY ($2::uuid[])) ids JOIN premises p ON p.id = ids.id`
)

// round is a round in force for the phone's premises.
type round struct {
	id   int64
	path string // its region's path; "" for a city-wide round
}

// roundFor is the round in force for a premise at path (valid: it has one) among rounds, which
// are in the rule's order: a region's own rounds before city-wide ones, the deeper region first,
// then the latest start, then the highest id (readState sorts them so). The first whose region
// holds the premise wins: a city-wide round, or a region whose path is the premise's or an
// ancestor of it (ltree's @>). A premise without a path is only in city-wide rounds.
func roundFor(rounds []round, path string, valid bool) *int64 {
	for i := range rounds {
		r := &rounds[i]
		if r.path == "" || (valid && (path == r.path || strings.HasPrefix(path, r.path+"."))) {
			return &r.id
		}
	}
	return nil
}

// resolve sets the round in force for p and whether p is due (待排查) in it: no inspection that
// counts in that round (done lists the rounds in force that have one).
func resolve(p *Premise, rounds []round, path pgtype.Text, done []int64) {
	p.RoundID = roundFor(rounds, path.String, path.Valid)
	p.Due = p.RoundID != nil && !slices.Contains(done, *p.RoundID)
}

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

// premiseScanner scans premise rows (premiseCols and the rounds inspected) against the rounds
// in force.
func premiseScanner(rounds []round) func(r pgx.Row) (Premise, error) {
	return func(r pgx.Row) (Premise, error) {
		var p Premise
		var path pgtype.Text
		var done []int64
		err := r.Scan(&p.ID, &p.Kind, &p.Name, &p.Address, &p.ContactName, &p.ContactPhone, &p.Tags,
			&p.Lon, &p.Lat, &p.CellID, &p.UpdatedAt, &path, &done)
		resolve(&p, rounds, path, done)
		return p, err
	}
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

func premisesOf(ctx context.Context, tx querier, rounds []round, cells []int64, after int64, limit int) ([]Premise, error) {
	rows, err := tx.Query(ctx, premisesInCells, cells, after, limit, roundIDs(rounds))
	return collect(rows, err, premiseScanner(rounds), "premises")
}

func roundIDs(rounds []round) []int64 {
	ids := make([]int64, len(rounds))
	for i, r := range rounds {
		ids[i] = r.id
	}
	return ids
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
	map[int64]*Premise, map[int64]*tasks.Task, map[string]Inspection, error) {
	ps, ts, is := map[int64]*Premise{}, map[int64]*tasks.Task{}, map[string]Inspection{}
	var batch pgx.Batch
	if len(premiseIDs) > 0 || len(inspectionIDs) > 0 {
		batch.Queue(premisesByID, premiseIDs, inspectionIDs, roundIDs(b.rounds)).Query(func(rows pgx.Rows) error {
			list, err := collect(rows, nil, premiseScanner(b.rounds), "premises")
			for i := range list {
				ps[list[i].ID] = &list[i]
			}
			return err
		})
	}
	if len(taskIDs) > 0 {
		batch.Queue(tasksByID, taskIDs).Query(func(rows pgx.Rows) error {
			list, err := collect(rows, nil, scanTask, "tasks")
			for i := range list {
				ts[list[i].ID] = &list[i]
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
