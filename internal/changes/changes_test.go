package changes_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// town is a village with three grid cells side by side (a, b, c), a city-wide round in force,
// worker w holding a and b and worker x holding c, premises in each cell, tasks and one of w's
// inspections.
type town struct {
	pool                *pgxpool.Pool
	village             int64
	cells               map[string]int64
	paths               map[string]string
	premises            map[string]int64 // by name: a1 a2 a3 b1 b2 c1 c2
	w, x                int64
	round               int64
	inspection          string
	taskA, taskC, taskX int64 // in a for the cell; in c assigned to w; in a assigned to x
}

func newTown(t *testing.T) *town {
	t.Helper()
	ctx := context.Background()
	tw := &town{pool: testenv.DB(t), cells: map[string]int64{}, paths: map[string]string{}, premises: map[string]int64{}}
	err := db.AsSystem(ctx, tw.pool, "test", func(tx pgx.Tx) error {
		var city, township int64
		q := `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, $2, $3, $3,
			ST_Multi(ST_MakeEnvelope($4, 34.0, $5, 34.01, 4326))) RETURNING id, path::text`
		var path string
		if err := tx.QueryRow(ctx, q, nil, "city", "411081", 113.0, 113.03).Scan(&city, &path); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, q, city, "township", "411081100", 113.0, 113.03).Scan(&township, &path); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, q, township, "village", "411081100201", 113.0, 113.03).Scan(&tw.village, &path); err != nil {
			return err
		}
		for i, name := range []string{"a", "b", "c"} {
			var id int64
			if err := tx.QueryRow(ctx, q, tw.village, "cell", "411081100201-0"+name, 113.0+0.01*float64(i),
				113.01+0.01*float64(i)).Scan(&id, &path); err != nil {
				return err
			}
			tw.cells[name], tw.paths[name] = id, path
		}
		for _, name := range []string{"a1", "a2", "a3", "b1", "b2", "c1", "c2"} {
			id, err := tw.addPremise(ctx, tx, name, name[:1])
			if err != nil {
				return err
			}
			tw.premises[name] = id
		}
		user := func(name string, cells ...string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id)
				VALUES ($1, 'grid_worker', '!', $2) RETURNING id`, name, tw.village).Scan(&id); err != nil {
				t.Fatal(err)
			}
			for _, c := range cells {
				tw.assign(ctx, t, tx, id, c)
			}
			return id
		}
		tw.w, tw.x = user("worker.w", "a", "b"), user("worker.x", "c")
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', now() - interval '1 day',
			now() + interval '30 days') RETURNING id`).Scan(&tw.round); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome)
			VALUES (gen_random_uuid(), $1, $2, $3, now(), 'clear') RETURNING id::text`,
			tw.premises["a1"], tw.round, tw.w).Scan(&tw.inspection); err != nil {
			return err
		}
		task := func(premise string, assignee *int64) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO tasks (kind, ref, premise_id, point, assignee_id, title)
				SELECT 'recheck', $1, p.id, p.geom, $2, '抽查回访' FROM premises p WHERE p.id = $3 RETURNING id`,
				premise+fmt.Sprint(assignee != nil), assignee, tw.premises[premise]).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		tw.taskA, tw.taskC, tw.taskX = task("a2", nil), task("c1", &tw.w), task("a3", &tw.x)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// addPremise adds a premise in the middle of cell (a, b or c).
func (tw *town) addPremise(ctx context.Context, tx pgx.Tx, name, cell string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
		VALUES ('household', $1, ST_SetSRID(ST_MakePoint($2, 34.005), 4326), $3, $4::ltree) RETURNING id`,
		name, tw.x0(cell)+0.005, tw.cells[cell], tw.paths[cell]).Scan(&id)
	return id, err
}

func (tw *town) x0(cell string) float64 { return 113.0 + 0.01*float64(cell[0]-'a') }

func (tw *town) assign(ctx context.Context, t *testing.T, tx pgx.Tx, user int64, cell string) {
	t.Helper()
	if _, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`,
		user, tw.cells[cell], tw.paths[cell]); err != nil {
		t.Fatal(err)
	}
}

// system runs fn as the system, committed.
func (tw *town) system(t *testing.T, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := db.AsSystem(ctx, tw.pool, "test", func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// actor is worker user as the API makes it: scoped to the paths of their cells.
func (tw *town) actor(t *testing.T, user int64) db.Actor {
	t.Helper()
	var scope []string
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(array_agg(cell_path::text ORDER BY cell_id), '{}') FROM cell_assignments WHERE user_id = $1`,
			user).Scan(&scope)
	})
	return db.Actor{UserID: user, Username: "worker", Role: "grid_worker", Scope: scope}
}

// page syncs one page as user.
func (tw *town) page(t *testing.T, f *changes.Feed, user int64, cursor string) (changes.Page, error) {
	t.Helper()
	return f.Sync(context.Background(), tw.pool, tw.actor(t, user), cursor, true)
}

// syncAll follows hasMore and returns the items and the cursor to keep; it checks that no page
// holds more than the feed's page size and that only a snapshot's first page resets.
func (tw *town) syncAll(t *testing.T, f *changes.Feed, user int64, cursor string) ([]changes.Item, string) {
	t.Helper()
	var items []changes.Item
	for i := 0; ; i++ {
		p, err := tw.page(t, f, user, cursor)
		if err != nil {
			t.Fatalf("sync page %d: %v", i, err)
		}
		if len(p.Items) > f.Config().PageSize {
			t.Fatalf("page %d holds %d items, more than %d", i, len(p.Items), f.Config().PageSize)
		}
		if p.Reset != (i == 0 && cursor == "") {
			t.Fatalf("page %d: reset %v", i, p.Reset)
		}
		if i > 0 && cursor == "" {
			t.Fatal("a page answered without a cursor")
		}
		items, cursor = append(items, p.Items...), p.Cursor
		if !p.HasMore {
			return items, cursor
		}
		if i > 100 {
			t.Fatal("sync does not end")
		}
	}
}

// keys lists items as kind:id:op[:reason], sorted, and fails on an item sent twice.
func keys(t *testing.T, items []changes.Item) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		k := it.Kind + ":" + it.ID + ":" + it.Op
		if it.Op == changes.OpDelete {
			k += ":" + it.Reason
			if it.Message == "" {
				t.Errorf("tombstone %s without a message", k)
			}
		}
		if seen[k] {
			t.Errorf("%s sent twice in one sync", k)
		}
		seen[k] = true
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (tw *town) premiseKey(name, op string) string {
	return "premise:" + strconv.FormatInt(tw.premises[name], 10) + ":" + op
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// TestSync: a full snapshot of the worker's cells in pages; an empty delta; a delta after edits,
// moves both ways, a set-wise bulk insert, a closed task and a verdict; a cell taken away
// (tombstone) and one given (its content).
func TestSync(t *testing.T) {
	tw := newTown(t)
	f := changes.New(changes.Config{PageSize: 3}, changes.Deps{}, nil)
	id := func(n int64) string { return strconv.FormatInt(n, 10) }

	items, cursor := tw.syncAll(t, f, tw.w, "")
	same(t, "snapshot", keys(t, items), sorted(
		tw.premiseKey("a1", "upsert"), tw.premiseKey("a2", "upsert"), tw.premiseKey("a3", "upsert"),
		tw.premiseKey("b1", "upsert"), tw.premiseKey("b2", "upsert"),
		"task:"+id(tw.taskA)+":upsert", "task:"+id(tw.taskC)+":upsert", // not taskX: assigned to x
		"inspection:"+tw.inspection+":upsert"))
	for _, it := range items {
		if it.Kind == changes.KindPremise && it.Premise.Due != (it.Premise.ID != tw.premises["a1"]) {
			t.Errorf("premise %s: due %v (a1 is inspected, the rest are due)", it.Premise.Name, it.Premise.Due)
		}
		if it.Kind == changes.KindPremise && (it.Premise.RoundID == nil || *it.Premise.RoundID != tw.round) {
			t.Errorf("premise %s: round %v, want %d", it.Premise.Name, it.Premise.RoundID, tw.round)
		}
		if it.Kind == changes.KindInspection && (it.Inspection.Evidence != "pending" || it.Inspection.RoundID != tw.round) {
			t.Errorf("inspection: %+v", it.Inspection)
		}
	}

	items, cursor = tw.syncAll(t, f, tw.w, cursor)
	if len(items) != 0 {
		t.Fatalf("delta without changes: %v", keys(t, items))
	}

	var added []int64
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		steps := []struct {
			q    string
			args []any
		}{
			{`UPDATE premises SET name = '王家' WHERE id = $1`, []any{tw.premises["a2"]}},
			{`UPDATE premises SET geom = ST_SetSRID(ST_MakePoint($2, 34.005), 4326), cell_id = $3, region_path = $4::ltree WHERE id = $1`,
				[]any{tw.premises["a3"], tw.x0("c") + 0.002, tw.cells["c"], tw.paths["c"]}},
			{`UPDATE premises SET geom = ST_SetSRID(ST_MakePoint($2, 34.005), 4326), cell_id = $3, region_path = $4::ltree WHERE id = $1`,
				[]any{tw.premises["c1"], tw.x0("b") + 0.002, tw.cells["b"], tw.paths["b"]}},
			{`UPDATE premises SET name = '无关' WHERE id = $1`, []any{tw.premises["c2"]}},
			{`UPDATE tasks SET status = 'done', done_at = now() WHERE id = $1`, []any{tw.taskA}},
			{`UPDATE inspections SET evidence = 'verified' WHERE id = $1::uuid`, []any{tw.inspection}},
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s.q, s.args...); err != nil {
				return fmt.Errorf("%s: %w", s.q, err)
			}
		}
		// A bulk insert: one statement, two rows, inside db.Bulk (audit off): the feed still
		// gets both, set-wise.
		return db.Bulk(ctx, tx, audit.Summary{Entity: "premises", Action: "import"}, func(s *audit.Summary) error {
			rows, err := tx.Query(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
				SELECT 'household', n, ST_SetSRID(ST_MakePoint($1, 34.005), 4326), $2, $3::ltree
				FROM unnest(ARRAY['新1', '新2']) AS n RETURNING id`, tw.x0("a")+0.001, tw.cells["a"], tw.paths["a"])
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				added = append(added, id)
			}
			s.Counts = map[string]int64{"created": int64(len(added))}
			return rows.Err()
		})
	})
	var xids int
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(DISTINCT xid) FROM changes WHERE entity = 'premise' AND entity_id = ANY ($1)`,
			[]string{id(added[0]), id(added[1])}).Scan(&xids)
	})
	if xids != 1 {
		t.Errorf("the bulk insert's changes came from %d transactions, want its one", xids)
	}

	items, cursor = tw.syncAll(t, f, tw.w, cursor)
	same(t, "delta", keys(t, items), sorted(
		tw.premiseKey("a2", "upsert"),
		tw.premiseKey("a3", "delete")+":moved_out",
		tw.premiseKey("c1", "upsert"),
		"premise:"+id(added[0])+":upsert", "premise:"+id(added[1])+":upsert",
		"task:"+id(tw.taskA)+":delete:closed",
		"inspection:"+tw.inspection+":upsert",
		tw.premiseKey("a1", "upsert"), // its inspection changed, so whether it is due may have
	))
	for _, it := range items {
		switch {
		case it.Kind == changes.KindPremise && it.ID == id(tw.premises["a3"]) && it.Message != "premise moved out of your cells":
			t.Errorf("moved-out tombstone message %q", it.Message)
		case it.Kind == changes.KindPremise && it.ID == id(tw.premises["a2"]) && it.Premise.Name != "王家":
			t.Errorf("a2 arrived as %q, want its new name", it.Premise.Name)
		case it.Kind == changes.KindInspection && it.Inspection.Evidence != "verified":
			t.Errorf("the verdict arrived as %q", it.Inspection.Evidence)
		}
	}

	// b is taken from w, c given: a tombstone for b, then c's content (a3 and c2, and the task
	// in c assigned to w again).
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM cell_assignments WHERE user_id = $1 AND cell_id = $2`, tw.w, tw.cells["b"]); err != nil {
			return err
		}
		tw.assign(ctx, t, tx, tw.w, "c")
		return nil
	})
	items, _ = tw.syncAll(t, f, tw.w, cursor)
	same(t, "cells changed", keys(t, items), sorted(
		"cell:"+id(tw.cells["b"])+":delete:cell_unassigned",
		tw.premiseKey("a3", "upsert"), tw.premiseKey("c2", "upsert"),
		"task:"+id(tw.taskC)+":upsert"))
	for _, it := range items {
		if it.Kind == changes.KindCell && it.Message != "cell no longer yours" {
			t.Errorf("cell tombstone message %q", it.Message)
		}
	}
}

// TestSyncDuringWrite: a transaction writes first and commits last; another writes after it and
// commits at once. A sync while the first is open must not move its cursor past the first's
// change (a cursor on the sequence alone would: it has seen the later number); once the first
// commits, the next sync brings it.
func TestSyncDuringWrite(t *testing.T) {
	tw := newTown(t)
	f := changes.New(changes.DefaultConfig(), changes.Deps{}, nil)
	ctx := context.Background()
	_, cursor := tw.syncAll(t, f, tw.w, "")

	open, err := tw.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := db.SetActor(ctx, open, db.System("test")); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Exec(ctx, `UPDATE premises SET name = '慢事务' WHERE id = $1`, tw.premises["a1"]); err != nil {
		t.Fatal(err)
	}
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE premises SET name = '快事务' WHERE id = $1`, tw.premises["a2"])
		return err
	})
	// The slow transaction took the lower sequence number; only the fast one is committed.
	var slowSeq, fastSeq int64
	if err := open.QueryRow(ctx, `SELECT max(seq) FROM changes WHERE entity = 'premise' AND entity_id = $1`,
		strconv.FormatInt(tw.premises["a1"], 10)).Scan(&slowSeq); err != nil {
		t.Fatal(err)
	}
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT max(seq) FROM changes WHERE entity = 'premise' AND entity_id = $1`,
			strconv.FormatInt(tw.premises["a2"], 10)).Scan(&fastSeq)
	})
	if slowSeq >= fastSeq {
		t.Fatalf("sequence numbers: slow %d, fast %d; the test needs the slow one first", slowSeq, fastSeq)
	}

	during, cursor := tw.syncAll(t, f, tw.w, cursor)
	for _, it := range during {
		if it.ID == strconv.FormatInt(tw.premises["a1"], 10) {
			t.Fatalf("sync saw the uncommitted change: %+v", it)
		}
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := tw.syncAll(t, f, tw.w, cursor)
	names := map[string]bool{}
	for _, it := range append(during, after...) {
		if it.Premise != nil {
			names[it.Premise.Name] = true
		}
	}
	if !names["慢事务"] || !names["快事务"] {
		t.Fatalf("the syncs during and after the open write brought %v, want both changes", names)
	}
	// Only a transaction really in progress is waited for: the fast one came while the slow one
	// was still open.
	fast := false
	for _, it := range during {
		fast = fast || (it.Premise != nil && it.Premise.Name == "快事务")
	}
	if !fast {
		t.Error("the committed change waited for the open transaction")
	}
}

// TestSyncExpired: pruning deletes changes older than the retention and marks the cut; a cursor
// below the cut answers cursor_expired, as does one older than the retention; a new snapshot
// syncs on. A bad cursor is refused.
func TestSyncExpired(t *testing.T) {
	tw := newTown(t)
	f := changes.New(changes.DefaultConfig(), changes.Deps{}, nil)
	_, old := tw.syncAll(t, f, tw.w, "")
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE premises SET name = '改' WHERE id = $1`, tw.premises["a1"])
		return err
	})
	// The fresh cursor's base must have seen the change as committed with nothing older still
	// running (an autovacuum's transaction can be), or it rightly counts as possibly behind the cut.
	var xid int64
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT max(xid) FROM changes`).Scan(&xid)
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var xmin int64
		tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin)
		})
		if xmin > xid || time.Now().After(deadline) {
			break
		}
	}
	_, fresh := tw.syncAll(t, f, tw.w, old)

	var n int64
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		n, err = changes.Prune(ctx, tx, time.Now().Add(time.Hour))
		return err
	})
	if n == 0 {
		t.Fatal("prune deleted nothing")
	}
	if _, err := tw.page(t, f, tw.w, old); !errors.Is(err, changes.ErrCursorExpired) {
		t.Fatalf("a cursor below the pruned changes: %v, want cursor_expired", err)
	}
	if _, err := tw.page(t, f, tw.w, fresh); err != nil {
		t.Fatalf("a cursor past the pruned changes: %v", err)
	}
	later := changes.New(changes.DefaultConfig(), changes.Deps{}, func() time.Time { return time.Now().Add(31 * 24 * time.Hour) })
	if _, err := tw.page(t, later, tw.w, fresh); !errors.Is(err, changes.ErrCursorExpired) {
		t.Fatalf("a cursor older than the retention: %v, want cursor_expired", err)
	}
	if _, err := tw.page(t, f, tw.w, "not-a-cursor"); !errors.Is(err, changes.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// TestSyncSettingsEndWithTheBatch: a delta page's first read runs in the implicit transaction
// of its one batch (no BEGIN or COMMIT): the actor's settings, the read-only mode and the
// generic plans must end with it, so that the next user of the pooled connection starts clean.
func TestSyncSettingsEndWithTheBatch(t *testing.T) {
	tw := newTown(t)
	ctx := context.Background()
	cfg := tw.pool.Config().Copy()
	cfg.MinConns, cfg.MaxConns = 1, 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	f := changes.New(changes.DefaultConfig(), changes.Deps{}, nil)
	a := tw.actor(t, tw.w)
	var cursor string
	for {
		p, err := f.Sync(ctx, one, a, cursor, false)
		if err != nil {
			t.Fatal(err)
		}
		if cursor = p.Cursor; !p.HasMore {
			break
		}
	}
	tw.system(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE premises SET name = name || '!' WHERE id = $1`, tw.premises["a2"])
		return err
	})
	p, err := f.Sync(ctx, one, a, cursor, false)
	if err != nil || len(p.Items) != 1 || p.Items[0].Premise == nil || p.Items[0].Premise.Name != "a2!" {
		t.Fatalf("the delta: %+v, %v", p.Items, err)
	}
	conn, err := one.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if s := conn.Conn().PgConn().TxStatus(); s != 'I' {
		t.Errorf("the connection after a delta page is in transaction state %q, want idle", s)
	}
	var user, scope, readOnly, plans string
	err = conn.QueryRow(ctx, `SELECT coalesce(current_setting('sieve.user_id', true), ''), coalesce(current_setting('sieve.scope', true), ''),
		current_setting('transaction_read_only'), current_setting('plan_cache_mode')`).Scan(&user, &scope, &readOnly, &plans)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || scope != "" || readOnly != "off" || plans != "auto" {
		t.Errorf("after a delta page: sieve.user_id %q, sieve.scope %q, read-only %s, plan_cache_mode %s: want them all back", user, scope, readOnly, plans)
	}
}
