// Package tasks is the work handed to the grid worker of a cell (任务): re-checks of other
// workers' visits (抽查回访), re-inspections of closed sites (回头看), leads and public tips to
// verify, coverage gaps a coordinator turned into work. Domains add their tasks in their own
// transaction (Store.Add) and close them when the work is done (Store.Close); phone sync hands
// them to the phone. Premises merely due in the current round are not tasks: sync derives them.
//
// A task lies at a point (its premise's by default) and so in a grid cell, computed by the
// database from region_shapes (migration 0015) and placed again by Placer when cells change.
// Row-level security shows a task to the people of its area and to its assignee.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Kind is what sort of work a task is.
type Kind string

// The kinds of tasks.
const (
	Recheck          Kind = "recheck"           // 抽查回访: visit again a premise another worker inspected
	SiteReinspection Kind = "site_reinspection" // 回头看: re-inspect a closed site
	Lead             Kind = "lead"              // 线索核查: verify a big-data lead
	Tip              Kind = "tip"               // 举报核查: verify a public tip
	Gap              Kind = "gap"               // 覆盖缺口: a coverage gap turned into work
)

// Status of a task.
const (
	Open      = "open"
	Done      = "done"
	Cancelled = "cancelled"
)

// Task is one piece of work in a cell.
type Task struct {
	ID         int64      `json:"id"`
	Kind       Kind       `json:"kind"`
	Ref        string     `json:"ref"` // the source's id: an inspection, a site, a lead
	PremiseID  *int64     `json:"premiseId"`
	SiteID     *int64     `json:"siteId"`
	Lon        float64    `json:"lon"`
	Lat        float64    `json:"lat"`
	CellID     *int64     `json:"cellId"`
	AssigneeID *int64     `json:"assigneeId"`
	Title      string     `json:"title"`
	Detail     string     `json:"detail"`
	DueAt      *time.Time `json:"dueAt"`
	Status     string     `json:"status"`
	DoneAt     *time.Time `json:"doneAt"`
	DoneRef    string     `json:"doneRef"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// New is a task to add. The point is the premise's when PremiseID is set and Lon/Lat are not.
type New struct {
	Kind       Kind
	Ref        string
	PremiseID  *int64
	SiteID     *int64
	Lon, Lat   *float64 // WGS-84
	AssigneeID *int64
	Title      string
	Detail     string
	DueAt      *time.Time
	CreatedBy  int64 // 0 for the system
}

// Store reads and writes tasks in the caller's transaction. It holds nothing.
type Store struct{}

// NewStore returns a Store.
func NewStore() Store { return Store{} }

var errNoPoint = apperr.Invalidf("task_without_place", "任务缺少位置（场所或经纬度）", "a task needs a premise or a point")

const cols = `t.id, t.kind, t.ref, t.premise_id, t.site_id, ST_X(t.point), ST_Y(t.point), t.cell_id, t.assignee_id,
	t.title, t.detail, t.due_at, t.status, t.done_at, t.done_ref, t.created_at, t.updated_at`

func scan(r pgx.Row) (Task, error) {
	var t Task
	err := r.Scan(&t.ID, &t.Kind, &t.Ref, &t.PremiseID, &t.SiteID, &t.Lon, &t.Lat, &t.CellID, &t.AssigneeID,
		&t.Title, &t.Detail, &t.DueAt, &t.Status, &t.DoneAt, &t.DoneRef, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// Add adds an open task, or returns the open task of the same kind and ref unchanged (adding
// again is a no-op, so a retried domain write does not hand out the work twice).
func (Store) Add(ctx context.Context, q db.Querier, n New) (Task, error) {
	if n.Kind == "" {
		return Task{}, errors.New("tasks: kind is required")
	}
	if err := n.check(); err != nil {
		return Task{}, err
	}
	const sql = `INSERT INTO tasks (kind, ref, premise_id, site_id, point, assignee_id, title, detail, due_at, created_by)
		SELECT $1, $2, $3, $4,
			coalesce(CASE WHEN $5::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($5, $6), 4326) END,
			         (SELECT p.geom FROM premises p WHERE p.id = $3)),
			$7, left($8, 200), left($9, 2000), $10, nullif($11::bigint, 0)
		ON CONFLICT (kind, ref) WHERE status = 'open' DO NOTHING
		RETURNING id`
	var id int64
	err := q.QueryRow(ctx, sql, string(n.Kind), n.Ref, n.PremiseID, n.SiteID, n.Lon, n.Lat, n.AssigneeID,
		n.Title, n.Detail, n.DueAt, n.CreatedBy).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return open(ctx, q, n.Kind, n.Ref)
	}
	if err != nil {
		return Task{}, addError(err, fmt.Sprintf("add %s %s", n.Kind, n.Ref))
	}
	return Store{}.Get(ctx, q, id)
}

// check trims n's ref and title and checks what Add and AddMany need of a task.
func (n *New) check() error {
	n.Title, n.Ref = strings.TrimSpace(n.Title), strings.TrimSpace(n.Ref)
	switch {
	case n.Ref == "" || len(n.Ref) > 100:
		return fmt.Errorf("tasks: ref %q must be 1-100 characters", n.Ref)
	case n.Title == "":
		return errors.New("tasks: title is required")
	case n.PremiseID == nil && (n.Lon == nil || n.Lat == nil):
		return errNoPoint
	}
	return nil
}

// addError is the answer to a failed insert of tasks: a NULL point (the premise named is not
// visible to the caller) is errNoPoint.
func addError(err error, what string) error {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) && pe.SQLState() == "23502" {
		return errNoPoint.Wrap(err)
	}
	return fmt.Errorf("tasks: %s: %w", what, db.MapError(err))
}

// AddMany adds the tasks of ns (one kind) in one statement, as Add does each: a task whose kind
// and ref has an open task already is that task. It returns their ids in the order of ns. For
// bulk writers (a leads import adds a task a lead); the change feed gets its rows from the
// tasks' statement triggers as for any write.
func (Store) AddMany(ctx context.Context, q db.Querier, kind Kind, ns []New) ([]int64, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	refs, titles, details := make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns))
	premises, sites, assignees, by := make([]*int64, len(ns)), make([]*int64, len(ns)), make([]*int64, len(ns)), make([]int64, len(ns))
	lons, lats := make([]*float64, len(ns)), make([]*float64, len(ns))
	dues := make([]*time.Time, len(ns))
	for i, n := range ns {
		if n.Kind != "" && n.Kind != kind {
			return nil, fmt.Errorf("tasks: add many %s: a task of kind %s", kind, n.Kind)
		}
		if err := n.check(); err != nil {
			return nil, err
		}
		refs[i], titles[i], details[i] = n.Ref, n.Title, n.Detail
		premises[i], sites[i], assignees[i], by[i] = n.PremiseID, n.SiteID, n.AssigneeID, n.CreatedBy
		lons[i], lats[i], dues[i] = n.Lon, n.Lat, n.DueAt
	}
	const sql = `WITH n AS (
			SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::float8[], $7::bigint[], $8::text[],
				$9::text[], $10::timestamptz[], $11::bigint[]) WITH ORDINALITY
				AS n(ref, premise_id, site_id, lon, lat, assignee_id, title, detail, due_at, created_by, i)),
		ins AS (
			INSERT INTO tasks (kind, ref, premise_id, site_id, point, assignee_id, title, detail, due_at, created_by)
			SELECT $1, n.ref, n.premise_id, n.site_id,
				coalesce(CASE WHEN n.lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326) END,
				         (SELECT p.geom FROM premises p WHERE p.id = n.premise_id)),
				n.assignee_id, left(n.title, 200), left(n.detail, 2000), n.due_at, nullif(n.created_by, 0)
			FROM n ORDER BY n.i
			ON CONFLICT (kind, ref) WHERE status = 'open' DO NOTHING
			RETURNING id, ref)
		SELECT coalesce((SELECT ins.id FROM ins WHERE ins.ref = n.ref),
			(SELECT t.id FROM tasks t WHERE t.kind = $1 AND t.ref = n.ref AND t.status = 'open'))
		FROM n ORDER BY n.i`
	rows, err := q.Query(ctx, sql, string(kind), refs, premises, sites, lons, lats, assignees, titles, details, dues, by)
	if err != nil {
		return nil, fmt.Errorf("tasks: add many %s: %w", kind, db.MapError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[*int64])
	if err != nil {
		return nil, addError(err, "add many "+string(kind))
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		if id == nil { // an open task the caller cannot see took the ref
			return nil, fmt.Errorf("tasks: add many %s: ref %s: %w", kind, refs[i], apperr.ErrNotFound)
		}
		out[i] = *id
	}
	return out, nil
}

func open(ctx context.Context, q db.Querier, kind Kind, ref string) (Task, error) {
	const sql = `SELECT ` + cols + ` FROM tasks t WHERE t.kind = $1 AND t.ref = $2 AND t.status = 'open'`
	t, err := scan(q.QueryRow(ctx, sql, string(kind), ref))
	if err != nil {
		return Task{}, fmt.Errorf("tasks: open %s %s: %w", kind, ref, db.MapError(err))
	}
	return t, nil
}

// Get returns task id if the caller may see it, or apperr.ErrNotFound.
func (Store) Get(ctx context.Context, q db.Querier, id int64) (Task, error) {
	const sql = `SELECT ` + cols + ` FROM tasks t WHERE t.id = $1`
	t, err := scan(q.QueryRow(ctx, sql, id))
	if err != nil {
		return Task{}, fmt.Errorf("tasks: get %d: %w", id, db.MapError(err))
	}
	return t, nil
}

// ErrNotOpen answers closing a task that is done or cancelled already.
var ErrNotOpen = apperr.New(http.StatusConflict, "task_not_open", "the task is already done or cancelled", "任务已完成或已取消")

// Close marks the open task of kind and ref done (or cancelled when cancel), naming what closed
// it (doneRef: an inspection id ...). Closing a task that is not open is apperr.ErrNotFound
// when none exists and ErrNotOpen when it was closed before.
func (Store) Close(ctx context.Context, q db.Querier, kind Kind, ref, doneRef string, cancel bool) (Task, error) {
	status := Done
	if cancel {
		status = Cancelled
	}
	const sql = `UPDATE tasks SET status = $3, done_at = now(), done_ref = $4, updated_at = now()
		WHERE kind = $1 AND ref = $2 AND status = 'open' RETURNING id`
	var id int64
	err := q.QueryRow(ctx, sql, string(kind), ref, status, doneRef).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tasks WHERE kind = $1 AND ref = $2)`, string(kind), ref).Scan(&exists); err != nil {
			return Task{}, fmt.Errorf("tasks: close %s %s: %w", kind, ref, err)
		}
		if exists {
			return Task{}, ErrNotOpen
		}
		return Task{}, fmt.Errorf("tasks: close %s %s: %w", kind, ref, apperr.ErrNotFound)
	}
	if err != nil {
		return Task{}, fmt.Errorf("tasks: close %s %s: %w", kind, ref, db.MapError(err))
	}
	return Store{}.Get(ctx, q, id)
}

// Filter narrows a listing. Zero values do not filter.
type Filter struct {
	CellIDs    []int64 // in these cells
	AssigneeID int64   // assigned to this user
	Kind       Kind
	Status     string // default: open
	After      int64  // cursor: tasks with a larger id
	Limit      int
}

// List returns the tasks the caller may see that match f, by id. Cells are matched by id
// (bigint equality is leakproof, so the index works under row-level security).
func (Store) List(ctx context.Context, q db.Querier, f Filter) ([]Task, error) {
	if f.Status == "" {
		f.Status = Open
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + cols + ` FROM tasks t
		WHERE t.id > $1 AND t.status = $2
		  AND ($3::bigint[] IS NULL OR t.cell_id = ANY ($3))
		  AND ($4 = 0 OR t.assignee_id = $4)
		  AND ($5 = '' OR t.kind = $5)
		ORDER BY t.id LIMIT $6`
	rows, err := q.Query(ctx, sql, f.After, f.Status, f.CellIDs, f.AssigneeID, string(f.Kind), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("tasks: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("tasks: scan: %w", err)
	}
	return out, nil
}

// Placer places tasks again when grid cells change: the tasks domain's regions.Placer.
type Placer struct{}

// Name is the placer's key in the regions reports' placed counts.
func (Placer) Name() string { return "tasks" }

// PlaceIn places again the tasks of region regionID after its cells changed and returns how
// many moved, in one bulk change (one summary audit entry).
func (Placer) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	var moved int64
	sum := audit.Summary{Entity: "tasks", Action: "place", RegionID: regionID}
	err := db.Bulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT place_tasks_in_region($1)`, regionID).Scan(&moved); err != nil {
			return fmt.Errorf("tasks: place in region %d: %w", regionID, err)
		}
		sum.Counts = map[string]int64{"moved": moved}
		return nil
	})
	return moved, err
}
