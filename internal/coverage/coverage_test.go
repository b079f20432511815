package coverage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/coverage"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/testenv"
)

// town is a city with two townships: t1 holds a village with cells a (4 premises) and b (2),
// t2 a village with cell c (1). Round r0 is over, r1 in force; a coordinator holds each township.
type town struct {
	pool                 *pgxpool.Pool
	city, t1, t2, v1, v2 int64
	a, b, c              int64
	paths                map[int64]string
	premises             map[string]int64
	r0, r1               int64
	inspector            int64
	coord1, coord2       db.Actor
}

func newTown(t *testing.T) *town {
	t.Helper()
	ctx := context.Background()
	w := &town{pool: testenv.DB(t), paths: map[int64]string{}, premises: map[string]int64{}}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		add := func(parent int64, level, code string, x0, x1 float64) int64 {
			var id int64
			var path string
			var p *int64
			if parent != 0 {
				p = &parent
			}
			if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, $2, $3, $3,
				ST_Multi(ST_MakeEnvelope($4, 34.0, $5, 34.1, 4326))) RETURNING id, path::text`, p, level, code, x0, x1).Scan(&id, &path); err != nil {
				t.Fatal(err)
			}
			w.paths[id] = path
			return id
		}
		w.city = add(0, "city", "411081", 113.0, 113.4)
		w.t1 = add(w.city, "township", "411081100", 113.0, 113.2)
		w.t2 = add(w.city, "township", "411081101", 113.2, 113.4)
		w.v1 = add(w.t1, "village", "411081100201", 113.0, 113.2)
		w.v2 = add(w.t2, "village", "411081101201", 113.2, 113.4)
		w.a = add(w.v1, "cell", "411081100201-01", 113.0, 113.1)
		w.b = add(w.v1, "cell", "411081100201-02", 113.1, 113.2)
		w.c = add(w.v2, "cell", "411081101201-01", 113.2, 113.4)
		premise := func(name string, cell int64, lon float64) {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
				VALUES ('household', $1, ST_SetSRID(ST_MakePoint($2, 34.05), 4326), $3, $4::ltree) RETURNING id`,
				name, lon, cell, w.paths[cell]).Scan(&id); err != nil {
				t.Fatal(err)
			}
			w.premises[name] = id
		}
		for i := 1; i <= 4; i++ {
			premise(fmt.Sprintf("a%d", i), w.a, 113.05)
		}
		premise("b1", w.b, 113.15)
		premise("b2", w.b, 113.15)
		premise("c1", w.c, 113.3)
		now := time.Now()
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', $1, $2) RETURNING id`,
			now.AddDate(0, -3, 0), now.AddDate(0, -1, 0)).Scan(&w.r0); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第二轮', $1, $2) RETURNING id`,
			now.AddDate(0, 0, -10), now.AddDate(0, 1, 0)).Scan(&w.r1); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash, region_id)
			VALUES ('insp', '检查员', 'inspector', '!', $1) RETURNING id`, w.t1).Scan(&w.inspector); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.coord1 = db.Actor{UserID: 1, Username: "coord1", Role: "township_coordinator", Scope: []string{w.paths[w.t1]}}
	w.coord2 = db.Actor{UserID: 2, Username: "coord2", Role: "township_coordinator", Scope: []string{w.paths[w.t2]}}
	return w
}

// inspect records visits as the system, in one statement per call (as a bulk load would).
func (w *town) inspect(t *testing.T, round int64, evidence string, when time.Time, names ...string) {
	t.Helper()
	ctx := context.Background()
	ids := make([]int64, len(names))
	for i, n := range names {
		ids[i] = w.premises[n]
	}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence)
			SELECT gen_random_uuid(), p, $2, $3, $4, 'clear', $5 FROM unnest($1::bigint[]) p`, ids, round, w.inspector, when, evidence)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *town) get(t *testing.T, a db.Actor, region, round int64) (coverage.Report, error) {
	t.Helper()
	var rep coverage.Report
	err := db.ReadInScope(context.Background(), w.pool, a, func(tx pgx.Tx) error {
		var err error
		rep, err = coverage.NewStore(coverage.Extras{}).Get(context.Background(), tx, region, round)
		return err
	})
	return rep, err
}

func child(rep coverage.Report, id int64) coverage.Numbers {
	for _, c := range rep.Children {
		if c.ID == id {
			return c.Numbers
		}
	}
	return coverage.Numbers{Premises: -1}
}

// TestCoverageKeptWithTheWrites checks the per-cell numbers and their roll-ups after visits in
// two rounds, that they follow a verdict changed later, that only the caller's area is
// answered (another township is 404) and that the daily series sums the days.
func TestCoverageKeptWithTheWrites(t *testing.T) {
	w := newTown(t)
	day := time.Now().AddDate(0, 0, -2)
	w.inspect(t, w.r0, "verified", time.Now().AddDate(0, -2, 0), "a3")
	w.inspect(t, w.r1, "verified", day, "a1", "b1")
	w.inspect(t, w.r1, "flagged", day.Add(24*time.Hour), "a2")

	rep, err := w.get(t, w.coord1, w.v1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Round.ID != w.r1 {
		t.Errorf("round %d, want the current one %d", rep.Round.ID, w.r1)
	}
	a, b := child(rep, w.a), child(rep, w.b)
	if a.Premises != 4 || a.Verified != 1 || a.Flagged != 1 || a.DueAgain != 1 || a.NeverVisited != 1 || a.ShareVerified != 0.25 {
		t.Errorf("cell a: %+v, want 4 premises, 1 verified, 1 flagged, 1 due again, 1 never visited, share 0.25", a)
	}
	if b.Premises != 2 || b.Verified != 1 || b.NeverVisited != 1 {
		t.Errorf("cell b: %+v, want 2 premises, 1 verified, 1 never visited", b)
	}
	if v := rep.Region.Numbers; v.Premises != 6 || v.Verified != 2 || v.Cells != 2 || v.LastInspection == nil {
		t.Errorf("village: %+v, want 6 premises, 2 verified, 2 cells, a last inspection", v)
	}

	// The evidence check changes its mind: the coverage follows at once.
	err = db.AsSystem(context.Background(), w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE inspections SET evidence = 'verified' WHERE premise_id = $1`, w.premises["a2"])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = w.get(t, w.coord1, w.t1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := child(rep, w.v1); v.Verified != 3 || v.Flagged != 0 {
		t.Errorf("village after the verdict changed: %+v, want 3 verified, 0 flagged", v)
	}

	// The earlier round on its own.
	rep, err = w.get(t, w.coord1, w.v1, w.r0)
	if err != nil {
		t.Fatal(err)
	}
	if v := rep.Region.Numbers; v.Verified != 1 || v.DueAgain != 0 || v.NeverVisited != 5 {
		t.Errorf("round 0: %+v, want 1 verified, 0 due again, 5 never visited", v)
	}

	// The city for t1's coordinator shows t1 only; t2's village is 404 for them.
	rep, err = w.get(t, w.coord1, w.city, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Children) != 1 || rep.Children[0].ID != w.t1 || rep.Region.Premises != 6 {
		t.Errorf("city for t1's coordinator: %+v, want t1 alone with 6 premises", rep)
	}
	if _, err := w.get(t, w.coord1, w.v2, 0); !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("another township's village: %v, want not found", err)
	}
	if rep, err := w.get(t, w.coord2, w.t2, 0); err != nil || rep.Region.Premises != 1 || rep.Region.NeverVisited != 1 {
		t.Errorf("t2 for its coordinator: %+v %v, want 1 premise never visited", rep.Region, err)
	}

	var s coverage.Series
	err = db.ReadInScope(context.Background(), w.pool, w.coord1, func(tx pgx.Tx) error {
		var err error
		s, err = coverage.NewStore(coverage.Extras{}).Series(context.Background(), tx, w.t1, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Days) != 2 || s.Days[0].Verified != 2 || s.Days[1].Verified != 3 || s.Premises != 6 || s.Days[1].ShareVerified != 0.5 {
		t.Errorf("series: %+v, want two days at 2 and 3 of 6 verified", s)
	}
}

// TestGapsAndTheirTasks checks the gap lists and that a gap becomes one task per premise,
// once.
func TestGapsAndTheirTasks(t *testing.T) {
	w := newTown(t)
	w.inspect(t, w.r0, "verified", time.Now().AddDate(0, -2, 0), "a3")
	w.inspect(t, w.r1, "verified", time.Now(), "b1", "b2")
	w.inspect(t, w.r1, "flagged", time.Now(), "a1")
	st := coverage.NewStore(coverage.Extras{})
	var g coverage.Gaps
	err := db.ReadInScope(context.Background(), w.pool, w.coord1, func(tx pgx.Tx) error {
		var err error
		g, err = st.Gaps(context.Background(), tx, w.t1, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.LowestCells) != 2 || g.LowestCells[0].CellID != w.a {
		t.Errorf("lowest cells: %+v, want a first of two", g.LowestCells)
	}
	if len(g.NeverInspected) != 2 || len(g.DueAgain) != 1 || g.DueAgain[0].CellID != w.a {
		t.Errorf("never inspected %+v (want a2, a4), due again %+v (want a)", g.NeverInspected, g.DueAgain)
	}
	if len(g.WalkedNotFlown) != 1 || g.WalkedNotFlown[0].CellID != w.b || len(g.FlownNotWalked) != 0 {
		t.Errorf("walked not flown %+v (want b), flown not walked %+v (want none)", g.WalkedNotFlown, g.FlownNotWalked)
	}
	if len(g.FlaggedWorkers) != 1 || g.FlaggedWorkers[0].UserID != w.inspector || g.FlaggedWorkers[0].Flagged != 1 {
		t.Errorf("flagged workers: %+v", g.FlaggedWorkers)
	}

	make := func() coverage.GapTasksResult {
		var res coverage.GapTasksResult
		err := db.InScope(context.Background(), w.pool, w.coord1, func(tx pgx.Tx) error {
			var err error
			res, err = st.MakeGapTasks(context.Background(), tx, tasks.Store{}, coverage.GapTasks{Gap: coverage.GapUnverified, CellID: w.a}, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := make(); res.Added != 4 || res.Open != 0 {
		t.Errorf("first time: %+v, want 4 added (a1 flagged, a2, a3, a4)", res)
	}
	if res := make(); res.Added != 0 || res.Open != 4 {
		t.Errorf("again: %+v, want the 4 already open", res)
	}
	err = db.InScope(context.Background(), w.pool, w.coord2, func(tx pgx.Tx) error {
		_, err := st.MakeGapTasks(context.Background(), tx, tasks.Store{}, coverage.GapTasks{Gap: coverage.GapUnverified, CellID: w.a}, 0)
		return err
	})
	if !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("another township's cell: %v, want not found", err)
	}
}

// TestConcurrentVisitsOfOneCell records two visits of the same cell in two transactions at
// once: both commit, and the cell counts both (the second refresh waits for the first and sees
// it).
func TestConcurrentVisitsOfOneCell(t *testing.T) {
	w := newTown(t)
	ctx := context.Background()
	insert := func(tx pgx.Tx, name string) error {
		_, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence)
			VALUES (gen_random_uuid(), $1, $2, $3, now(), 'clear', 'verified')`, w.premises[name], w.r1, w.inspector)
		return err
	}
	tx1, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback(ctx)
	if err := db.SetActor(ctx, tx1, db.System("test")); err != nil {
		t.Fatal(err)
	}
	if err := insert(tx1, "a1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error { return insert(tx, "a2") })
	}()
	select {
	case err := <-done:
		t.Fatalf("the second writer did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("second writer: %v", err)
	}
	rep, err := w.get(t, w.coord1, w.v1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := child(rep, w.a); a.Verified != 2 {
		t.Errorf("cell a after two concurrent visits: %+v, want 2 verified", a)
	}
}
