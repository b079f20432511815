package coverage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/tasks"
)

// GapLimit is how many entries each list of Gaps holds at most.
const GapLimit = 20

// CellGap is a cell in a list of gaps, with its numbers for the round.
type CellGap struct {
	CellID        int64   `json:"cellId"`
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	Premises      int     `json:"premises"`
	Verified      int     `json:"verified"`
	DueAgain      int     `json:"dueAgain"`
	ShareVerified float64 `json:"shareVerified"`
	DroneShare    float64 `json:"droneShare"`
}

// PremiseGap is a premise never inspected (in no round).
type PremiseGap struct {
	PremiseID int64  `json:"premiseId"`
	Name      string `json:"name"`
	Address   string `json:"address"`
	CellID    int64  `json:"cellId"`
}

// WorkerGap is an inspector with flagged visits in the round.
type WorkerGap struct {
	UserID      int64  `json:"userId"`
	DisplayName string `json:"displayName"`
	Flagged     int    `json:"flagged"`
	Visits      int    `json:"visits"`
}

// Gaps are what a coordinator chases in a region for a round (覆盖缺口).
type Gaps struct {
	Round    Round `json:"round"`
	RegionID int64 `json:"regionId"`
	// LowestCells are the cells with premises and the lowest share verified.
	LowestCells []CellGap `json:"lowestCells"`
	// NeverInspected are premises with no inspection in any round.
	NeverInspected []PremiseGap `json:"neverInspected"`
	// FlownNotWalked are cells under drone footprints with no verified visit in the round;
	// WalkedNotFlown cells with verified visits and no drone footprint.
	FlownNotWalked []CellGap `json:"flownNotWalked"`
	WalkedNotFlown []CellGap `json:"walkedNotFlown"`
	// DueAgain are the cells with the most premises inspected in an earlier round only.
	DueAgain []CellGap `json:"dueAgain"`
	// FlaggedWorkers are the inspectors with the most flagged visits in the round.
	FlaggedWorkers []WorkerGap `json:"flaggedWorkers"`
}

// Gaps answers the gaps of region regionID for round roundID (0: the current one).
func (s *Store) Gaps(ctx context.Context, tx pgx.Tx, regionID, roundID int64) (Gaps, error) {
	if _, err := findRegion(ctx, tx, regionID); err != nil {
		return Gaps{}, err
	}
	round, err := s.FindRound(ctx, tx, regionID, roundID)
	if err != nil {
		return Gaps{}, err
	}
	g := Gaps{Round: round, RegionID: regionID}
	const cellCols = `SELECT cc.cell_id, r.code, r.name, cc.premises, cc.verified, cc.due_again,
			CASE WHEN cc.premises > 0 THEN cc.verified::float8 / cc.premises ELSE 0 END, coalesce(d.share, 0)
		FROM coverage_cells cc JOIN regions r ON r.id = cc.cell_id LEFT JOIN coverage_drone d ON d.cell_id = cc.cell_id
		WHERE cc.round_id = $2 AND cc.cell_id IN (SELECT k FROM sieve_cells_in($1) k) `
	for _, l := range []struct {
		into *[]CellGap
		tail string
	}{
		{&g.LowestCells, `AND cc.premises > 0 ORDER BY 7, cc.premises DESC, cc.cell_id`},
		{&g.FlownNotWalked, `AND coalesce(d.share, 0) > 0 AND cc.verified = 0 ORDER BY d.share DESC, cc.cell_id`},
		{&g.WalkedNotFlown, `AND coalesce(d.share, 0) = 0 AND cc.verified > 0 ORDER BY cc.verified DESC, cc.cell_id`},
		{&g.DueAgain, `AND cc.due_again > 0 ORDER BY cc.due_again DESC, cc.cell_id`},
	} {
		rows, err := tx.Query(ctx, cellCols+l.tail+` LIMIT $3`, regionID, round.ID, GapLimit)
		if err != nil {
			return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
		}
		cells, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CellGap, error) {
			var c CellGap
			return c, r.Scan(&c.CellID, &c.Code, &c.Name, &c.Premises, &c.Verified, &c.DueAgain, &c.ShareVerified, &c.DroneShare)
		})
		if err != nil {
			return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
		}
		*l.into = append([]CellGap{}, cells...)
	}
	const qp = `SELECT p.id, p.name, p.address, p.cell_id FROM premises p
		WHERE p.cell_id IN (SELECT k FROM sieve_cells_in($1) k)
		  AND NOT EXISTS (SELECT 1 FROM inspections i WHERE i.premise_id = p.id)
		ORDER BY p.cell_id, p.id LIMIT $2`
	rows, err := tx.Query(ctx, qp, regionID, GapLimit)
	if err != nil {
		return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PremiseGap, error) {
		var p PremiseGap
		return p, r.Scan(&p.PremiseID, &p.Name, &p.Address, &p.CellID)
	})
	if err != nil {
		return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
	}
	g.NeverInspected = append([]PremiseGap{}, ps...)
	const qw = `SELECT i.inspector_id, coalesce(u.display_name, ''),
			count(*) FILTER (WHERE sieve_inspection_flagged(i.evidence))::int, count(*)::int
		FROM inspections i LEFT JOIN users u ON u.id = i.inspector_id
		WHERE i.round_id = $2 AND i.cell_id IN (SELECT k FROM sieve_cells_in($1) k)
		GROUP BY i.inspector_id, u.display_name
		HAVING count(*) FILTER (WHERE sieve_inspection_flagged(i.evidence)) > 0
		ORDER BY 3 DESC, 1 LIMIT $3`
	rows, err = tx.Query(ctx, qw, regionID, round.ID, GapLimit)
	if err != nil {
		return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkerGap, error) {
		var w WorkerGap
		return w, r.Scan(&w.UserID, &w.DisplayName, &w.Flagged, &w.Visits)
	})
	if err != nil {
		return Gaps{}, fmt.Errorf("coverage: gaps of %d: %w", regionID, err)
	}
	g.FlaggedWorkers = append([]WorkerGap{}, ws...)
	return g, nil
}

// GapKind names the gap a coordinator turns into tasks.
type GapKind string

// The gaps that become tasks: each gives one task per premise of the cell that needs a visit.
const (
	GapUnverified     GapKind = "unverified"      // premises of the cell without a verified visit in the round
	GapNeverInspected GapKind = "never_inspected" // premises of the cell never inspected
	GapDueAgain       GapKind = "due_again"       // premises inspected in an earlier round only
)

// GapTasks is a request to turn the gap of one cell into tasks.
type GapTasks struct {
	Gap     GapKind    `json:"gap"`
	CellID  int64      `json:"cellId"`
	RoundID int64      `json:"roundId"` // 0: the current round
	DueAt   *time.Time `json:"dueAt"`
}

// GapTasksResult says how many tasks the gap gave: added now, or already open.
type GapTasksResult struct {
	Round   Round   `json:"round"`
	CellID  int64   `json:"cellId"`
	Gap     GapKind `json:"gap"`
	Added   int     `json:"added"`
	Open    int     `json:"open"`
	TaskIDs []int64 `json:"taskIds"`
}

// MaxGapTasks is the most tasks one request makes (a cell holds well under this many premises).
const MaxGapTasks = 1000

// MakeGapTasks turns the gap of a cell into tasks for its grid workers (tasks.Gap, one per
// premise; they reach the phone through sync). Adding the same gap again adds nothing: a task
// is identified by round and premise. by is the caller's user id.
func (s *Store) MakeGapTasks(ctx context.Context, tx pgx.Tx, t tasks.Store, req GapTasks, by int64) (GapTasksResult, error) {
	switch req.Gap {
	case GapUnverified, GapNeverInspected, GapDueAgain:
	default:
		return GapTasksResult{}, apperr.Invalidf("invalid_gap", "缺口类型无效（unverified、never_inspected 或 due_again）",
			"gap must be unverified, never_inspected or due_again, not %q", req.Gap)
	}
	cell, err := findRegion(ctx, tx, req.CellID)
	if err != nil {
		return GapTasksResult{}, err
	}
	if cell.level != "cell" {
		return GapTasksResult{}, apperr.Invalidf("not_a_cell", "只能为网格生成任务", "region %d is a %s, not a cell", cell.id, cell.level)
	}
	round, err := s.FindRound(ctx, tx, req.CellID, req.RoundID)
	if err != nil {
		return GapTasksResult{}, err
	}
	const q = `SELECT p.id, p.name FROM premises p
		LEFT JOIN LATERAL (
			SELECT bool_or(i.round_id = $2 AND sieve_inspection_counts(i.evidence)) AS counted,
			       bool_or(i.round_id = $2) AS visited,
			       bool_or(r.starts_at < $3) AS earlier,
			       count(*) AS n
			FROM inspections i JOIN rounds r ON r.id = i.round_id WHERE i.premise_id = p.id) st ON true
		WHERE p.cell_id = $1
		  AND CASE $4 WHEN 'unverified' THEN NOT coalesce(st.counted, false)
		              WHEN 'never_inspected' THEN coalesce(st.n, 0) = 0
		              ELSE NOT coalesce(st.visited, false) AND coalesce(st.earlier, false) END
		ORDER BY p.id LIMIT $5`
	rows, err := tx.Query(ctx, q, req.CellID, round.ID, round.StartsAt, string(req.Gap), MaxGapTasks)
	if err != nil {
		return GapTasksResult{}, fmt.Errorf("coverage: gap of cell %d: %w", req.CellID, err)
	}
	type premise struct {
		id   int64
		name string
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (premise, error) {
		var p premise
		return p, r.Scan(&p.id, &p.name)
	})
	if err != nil {
		return GapTasksResult{}, fmt.Errorf("coverage: gap of cell %d: %w", req.CellID, err)
	}
	titles := map[GapKind]string{GapUnverified: "核查", GapNeverInspected: "首次排查", GapDueAgain: "回头看"}
	out := GapTasksResult{Round: round, CellID: req.CellID, Gap: req.Gap, TaskIDs: []int64{}}
	for _, p := range ps {
		id := p.id
		ref := fmt.Sprintf("round:%d:premise:%d", round.ID, p.id)
		before, err := openTask(ctx, tx, ref)
		if err != nil {
			return GapTasksResult{}, err
		}
		task, err := t.Add(ctx, tx, tasks.New{Kind: tasks.Gap, Ref: ref, PremiseID: &id, DueAt: req.DueAt,
			Title: titles[req.Gap] + "：" + p.name, Detail: round.Name, CreatedBy: by})
		if err != nil {
			return GapTasksResult{}, err
		}
		if before {
			out.Open++
		} else {
			out.Added++
		}
		out.TaskIDs = append(out.TaskIDs, task.ID)
	}
	return out, nil
}

// openTask reports whether an open gap task with ref exists already.
func openTask(ctx context.Context, tx pgx.Tx, ref string) (bool, error) {
	const q = `SELECT EXISTS (SELECT 1 FROM tasks WHERE kind = 'gap' AND ref = $1 AND status = 'open')`
	var ok bool
	if err := tx.QueryRow(ctx, q, ref).Scan(&ok); err != nil {
		return false, fmt.Errorf("coverage: task %s: %w", ref, err)
	}
	return ok, nil
}
