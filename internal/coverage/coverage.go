// Package coverage answers how far the sweep stands (覆盖率): per grid cell, rolled up to
// village, township and city, for an inspection round (the current one by default), how many
// premises the register holds, how many have a verified inspection, how many were flagged, never
// visited or are due again, the latest visit and the drone share; a daily series of the share
// verified; and the gaps a coordinator chases (lowest cells, premises never inspected, cells
// flown but not walked and walked but not flown, re-inspections due, workers with the most
// flagged visits), which can be turned into tasks for the cells' workers.
//
// The per-cell numbers are kept current by the database with the writes (migration 0023:
// statement-level triggers on inspections, premises, rounds and media_cells call
// sieve_coverage_refresh for the cells a statement touched), so a read sums at most one row per
// cell and never scans premises or inspections. What counts as a verified visit is one SQL
// function, sieve_inspection_counts(evidence). Cells are found with sieve_cells_in (the
// cells-first pattern) and their rows read under the caller's row-level security.
//
// Open sites and overdue actions are plug-ins (Extra): the sites domain gives their per-cell
// counting queries when it is wired, and until then the numbers are null.
package coverage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// ErrNoRound is returned when no round is in force for the region and none was named.
var ErrNoRound = apperr.New(http.StatusNotFound, "no_round", "no inspection round is in force here", "该区域没有进行中的排查轮次")

// Extra is a per-cell count that another domain plugs into coverage (open sites 未结案疑似点,
// overdue actions 逾期处置). Query is SQL returning (cell_id bigint, n bigint) rows for the cells
// named by the token {{cells}} (a bigint[] expression put in its place), read in the caller's
// transaction and so under its policies, for example
//
//	SELECT cell_id, count(*) AS n FROM sites WHERE cell_id = ANY ({{cells}}) AND status <> 'closed' GROUP BY cell_id
type Extra struct {
	Query string
}

// Extras are the plug-in counts. A nil field is not wired yet: its numbers answer null.
type Extras struct {
	OpenSites      *Extra
	OverdueActions *Extra
}

// Store reads coverage in the caller's transaction.
type Store struct {
	extras Extras
}

// NewStore returns a Store with the plug-in counts given (zero Extras: none).
func NewStore(x Extras) *Store { return &Store{extras: x} }

// Round is an inspection round (排查轮次).
type Round struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name"`
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
}

// Numbers are the coverage figures of one area for a round.
type Numbers struct {
	Premises      int     `json:"premises"`      // in the register
	Verified      int     `json:"verified"`      // with a verified inspection in the round
	Flagged       int     `json:"flagged"`       // flagged in the round, none verified
	NeverVisited  int     `json:"neverVisited"`  // no inspection in this round or an earlier one
	DueAgain      int     `json:"dueAgain"`      // inspected in an earlier round only (回头看)
	ShareVerified float64 `json:"shareVerified"` // verified / premises (0 without premises)
	// LastInspection is the latest visit of the round in the area.
	LastInspection *time.Time `json:"lastInspection"`
	// DroneShare is the part of the area under drone image footprints: the mean over its cells.
	DroneShare float64 `json:"droneShare"`
	Cells      int     `json:"cells"`
	// OpenSites and OverdueActions are null until the sites domain plugs them in (Extras).
	OpenSites      *int64 `json:"openSites"`
	OverdueActions *int64 `json:"overdueActions"`
}

// Worker is a grid worker (网格员) holding a cell.
type Worker struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"displayName"`
}

// Area is one region with its numbers.
type Area struct {
	ID    int64  `json:"id"`
	Level string `json:"level"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Numbers
	// Workers are the grid workers of a cell (empty above cell level).
	Workers []Worker `json:"workers"`
}

// Report is the coverage of a region and of each of its children, for a round.
type Report struct {
	Round    Round  `json:"round"`
	Region   Area   `json:"region"`
	Children []Area `json:"children"`
}

type region struct {
	id                int64
	level, code, name string
	depth             int
}

// findRegion looks the region up under the caller's policies: not visible is ErrNotFound.
func findRegion(ctx context.Context, tx pgx.Tx, id int64) (region, error) {
	const q = `SELECT id, level, code, name, nlevel(path) FROM regions WHERE id = $1`
	var r region
	err := tx.QueryRow(ctx, q, id).Scan(&r.id, &r.level, &r.code, &r.name, &r.depth)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, apperr.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("coverage: region %d: %w", id, err)
	}
	return r, nil
}

// FindRound returns round roundID (0: the round in force now for the region, the latest
// started when several are), as the caller sees rounds.
func (s *Store) FindRound(ctx context.Context, tx pgx.Tx, regionID, roundID int64) (Round, error) {
	const q = `SELECT r.id, r.name, r.starts_at, r.ends_at FROM rounds r
		WHERE ($2::bigint <> 0 AND r.id = $2)
		   OR ($2 = 0 AND r.starts_at <= now() AND r.ends_at > now()
		       AND (r.region_path IS NULL OR r.region_path @> (SELECT path FROM regions WHERE id = $1)
		            OR r.region_path <@ (SELECT path FROM regions WHERE id = $1)))
		ORDER BY r.region_path IS NULL, r.starts_at DESC LIMIT 1`
	var r Round
	err := tx.QueryRow(ctx, q, regionID, roundID).Scan(&r.ID, &r.Name, &r.StartsAt, &r.EndsAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && roundID != 0:
		return r, apperr.ErrNotFound
	case errors.Is(err, pgx.ErrNoRows):
		return r, ErrNoRound
	case err != nil:
		return r, fmt.Errorf("coverage: round: %w", err)
	}
	return r, nil
}

// Get answers the coverage of region regionID and of its children for round roundID (0: the
// current one). A region the caller cannot see is ErrNotFound; the children are those whose
// cells the caller sees.
func (s *Store) Get(ctx context.Context, tx pgx.Tx, regionID, roundID int64) (Report, error) {
	reg, err := findRegion(ctx, tx, regionID)
	if err != nil {
		return Report{}, err
	}
	round, err := s.FindRound(ctx, tx, regionID, roundID)
	if err != nil {
		return Report{}, err
	}
	// One pass over the region's coverage rows: a total for the region (child 0) and one per
	// child, the child being the path label below the region's (paths are ids).
	const q = `WITH cells AS (SELECT k FROM sieve_cells_in($1) k),
	rows AS (
		SELECT CASE WHEN nlevel(cc.cell_path) > $3 THEN ltree2text(subpath(cc.cell_path, $3, 1))::bigint ELSE cc.cell_id END AS child,
			cc.premises, cc.verified, cc.flagged, cc.never_visited, cc.due_again, cc.last_inspection,
			coalesce(d.share, 0) AS drone
		FROM coverage_cells cc LEFT JOIN coverage_drone d ON d.cell_id = cc.cell_id
		WHERE cc.round_id = $2 AND cc.cell_id IN (SELECT k FROM cells))
	SELECT coalesce(CASE WHEN GROUPING(child) = 1 THEN 0 ELSE child END, 0),
		sum(premises)::int, sum(verified)::int, sum(flagged)::int, sum(never_visited)::int, sum(due_again)::int,
		max(last_inspection), coalesce(avg(drone), 0), count(*)::int
	FROM rows GROUP BY GROUPING SETS ((child), ())`
	rows, err := tx.Query(ctx, q, regionID, round.ID, reg.depth)
	if err != nil {
		return Report{}, fmt.Errorf("coverage: region %d: %w", regionID, err)
	}
	byChild := map[int64]Numbers{}
	var order []int64
	for rows.Next() {
		var child int64
		var n Numbers
		if err := rows.Scan(&child, &n.Premises, &n.Verified, &n.Flagged, &n.NeverVisited, &n.DueAgain,
			&n.LastInspection, &n.DroneShare, &n.Cells); err != nil {
			rows.Close()
			return Report{}, fmt.Errorf("coverage: region %d: %w", regionID, err)
		}
		byChild[child] = n
		if child != 0 {
			order = append(order, child)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("coverage: region %d: %w", regionID, err)
	}
	if err := s.addExtras(ctx, tx, regionID, reg.depth, byChild); err != nil {
		return Report{}, err
	}
	out := Report{Round: round, Region: Area{ID: reg.id, Level: reg.level, Code: reg.code, Name: reg.name,
		Numbers: finish(byChild[0]), Workers: []Worker{}}, Children: []Area{}}
	if reg.level == "cell" {
		out.Children = []Area{}
		if out.Region.Workers, err = workers(ctx, tx, reg.id); err != nil {
			return Report{}, err
		}
		return out, nil
	}
	if len(order) == 0 {
		return out, nil
	}
	const qc = `SELECT id, level, code, name FROM regions WHERE id = ANY ($1) ORDER BY code`
	crow, err := tx.Query(ctx, qc, order)
	if err != nil {
		return Report{}, fmt.Errorf("coverage: children of %d: %w", regionID, err)
	}
	for crow.Next() {
		var a Area
		if err := crow.Scan(&a.ID, &a.Level, &a.Code, &a.Name); err != nil {
			crow.Close()
			return Report{}, fmt.Errorf("coverage: children of %d: %w", regionID, err)
		}
		a.Numbers = finish(byChild[a.ID])
		a.Workers = []Worker{}
		out.Children = append(out.Children, a)
	}
	crow.Close()
	if err := crow.Err(); err != nil {
		return Report{}, fmt.Errorf("coverage: children of %d: %w", regionID, err)
	}
	if reg.level == "village" {
		for i := range out.Children {
			if out.Children[i].Workers, err = workers(ctx, tx, out.Children[i].ID); err != nil {
				return Report{}, err
			}
		}
	}
	return out, nil
}

// finish fills the share from the counts and the plug-ins' zero where they are wired.
func finish(n Numbers) Numbers {
	if n.Premises > 0 {
		n.ShareVerified = float64(n.Verified) / float64(n.Premises)
	}
	return n
}

// addExtras adds the plug-in counts, per child and in total, when they are wired.
func (s *Store) addExtras(ctx context.Context, tx pgx.Tx, regionID int64, depth int, by map[int64]Numbers) error {
	for _, x := range []struct {
		extra *Extra
		set   func(n *Numbers, v int64)
	}{
		{s.extras.OpenSites, func(n *Numbers, v int64) { n.OpenSites = &v }},
		{s.extras.OverdueActions, func(n *Numbers, v int64) { n.OverdueActions = &v }},
	} {
		if x.extra == nil {
			continue
		}
		for k, n := range by {
			x.set(&n, 0)
			by[k] = n
		}
		q := `WITH cells AS (SELECT array_agg(k) AS ids FROM sieve_cells_in($1) k),
		e AS (` + x.extra.Query + `)
		SELECT CASE WHEN GROUPING(child) = 1 THEN 0 ELSE child END, coalesce(sum(n), 0)::bigint FROM (
			SELECT CASE WHEN nlevel(s.path) > $2 THEN ltree2text(subpath(s.path, $2, 1))::bigint ELSE s.region_id END AS child, e.n
			FROM e JOIN region_shapes s ON s.region_id = e.cell_id) x
		GROUP BY GROUPING SETS ((child), ())`
		q = strings.ReplaceAll(q, "{{cells}}", "(SELECT ids FROM cells)::bigint[]") // an array expression, not a subquery: ANY (subquery) would compare with whole arrays
		rows, err := tx.Query(ctx, q, regionID, depth)
		if err != nil {
			return fmt.Errorf("coverage: plug-in count: %w", err)
		}
		for rows.Next() {
			var child, v int64
			if err := rows.Scan(&child, &v); err != nil {
				rows.Close()
				return fmt.Errorf("coverage: plug-in count: %w", err)
			}
			if n, ok := by[child]; ok {
				x.set(&n, v)
				by[child] = n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("coverage: plug-in count: %w", err)
		}
	}
	return nil
}

// workers answers the grid workers holding cell cellID.
func workers(ctx context.Context, tx pgx.Tx, cellID int64) ([]Worker, error) {
	const q = `SELECT u.id, u.display_name FROM cell_assignments a JOIN users u ON u.id = a.user_id
		WHERE a.cell_id = $1 ORDER BY u.id`
	rows, err := tx.Query(ctx, q, cellID)
	if err != nil {
		return nil, fmt.Errorf("coverage: workers of %d: %w", cellID, err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Worker, error) {
		var w Worker
		return w, r.Scan(&w.ID, &w.DisplayName)
	})
	if err != nil {
		return nil, fmt.Errorf("coverage: workers of %d: %w", cellID, err)
	}
	return ws, nil
}

// Day is one point of the daily series.
type Day struct {
	Day           string  `json:"day"`      // YYYY-MM-DD, Asia/Shanghai
	Verified      int     `json:"verified"` // premises verified by the end of the day
	ShareVerified float64 `json:"shareVerified"`
}

// Series is the share verified by day of a region for a round (覆盖率走势).
type Series struct {
	Round    Round `json:"round"`
	RegionID int64 `json:"regionId"`
	Premises int   `json:"premises"`
	Days     []Day `json:"days"`
}

// Series answers the daily series of region regionID for round roundID (0: the current one),
// from the round's first day with a verified visit to its last; the share is taken against
// today's register.
func (s *Store) Series(ctx context.Context, tx pgx.Tx, regionID, roundID int64) (Series, error) {
	if _, err := findRegion(ctx, tx, regionID); err != nil {
		return Series{}, err
	}
	round, err := s.FindRound(ctx, tx, regionID, roundID)
	if err != nil {
		return Series{}, err
	}
	out := Series{Round: round, RegionID: regionID, Days: []Day{}}
	const qt = `SELECT coalesce(sum(premises), 0)::int FROM coverage_cells
		WHERE round_id = $2 AND cell_id IN (SELECT k FROM sieve_cells_in($1) k)`
	if err := tx.QueryRow(ctx, qt, regionID, round.ID).Scan(&out.Premises); err != nil {
		return Series{}, fmt.Errorf("coverage: series of %d: %w", regionID, err)
	}
	const q = `SELECT to_char(day, 'YYYY-MM-DD'), (sum(sum(verified)) OVER (ORDER BY day))::int FROM coverage_days
		WHERE round_id = $2 AND cell_id IN (SELECT k FROM sieve_cells_in($1) k)
		GROUP BY day ORDER BY day`
	rows, err := tx.Query(ctx, q, regionID, round.ID)
	if err != nil {
		return Series{}, fmt.Errorf("coverage: series of %d: %w", regionID, err)
	}
	days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Day, error) {
		var d Day
		err := r.Scan(&d.Day, &d.Verified)
		if out.Premises > 0 {
			d.ShareVerified = float64(d.Verified) / float64(out.Premises)
		}
		return d, err
	})
	if err != nil {
		return Series{}, fmt.Errorf("coverage: series of %d: %w", regionID, err)
	}
	out.Days = append(out.Days, days...)
	return out, nil
}

// Naive is the baseline the benchmark compares Get with: the same region total computed by one
// GROUP BY over the premises of the region and their inspections, as the system (no policies),
// which is what Get would cost without coverage_cells.
func Naive(ctx context.Context, q db.Querier, regionID, roundID int64) (Numbers, error) {
	const sql = `SELECT count(*)::int, count(*) FILTER (WHERE v.counted)::int, count(*) FILTER (WHERE v.flagged AND NOT v.counted)::int,
			max(v.last)
		FROM premises p
		JOIN regions c ON c.id = p.cell_id AND c.path <@ (SELECT path FROM regions WHERE id = $1)
		LEFT JOIN (SELECT i.premise_id, bool_or(sieve_inspection_counts(i.evidence)) AS counted,
				bool_or(sieve_inspection_flagged(i.evidence)) AS flagged, max(i.visited_at) AS last
			FROM inspections i WHERE i.round_id = $2 GROUP BY i.premise_id) v ON v.premise_id = p.id`
	var n Numbers
	if err := q.QueryRow(ctx, sql, regionID, roundID).Scan(&n.Premises, &n.Verified, &n.Flagged, &n.LastInspection); err != nil {
		return n, fmt.Errorf("coverage: naive aggregate: %w", err)
	}
	return finish(n), nil
}
