package tasks_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/testenv"
)

// place is a village with two grid cells (west and east halves), a premise in the west one,
// and a grid worker for each cell.
type place struct {
	pool                   *pgxpool.Pool
	township, village      int64
	townshipPath           string
	west, east             int64
	westPath, eastPath     string
	premise                int64
	westWorker, eastWorker int64
	rs                     *regions.Store
}

func newPlace(t *testing.T) *place {
	t.Helper()
	ctx := context.Background()
	p := &place{pool: testenv.DB(t), rs: regions.NewStore(premises.NewStore(), tasks.Placer{})}
	err := db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		var city int64
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.2, 34.2, 4326))) RETURNING id`).Scan(&city); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'township', '411081100', '火龙镇',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.2, 34.2, 4326))) RETURNING id, path::text`, city).Scan(&p.township, &p.townshipPath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'village', '411081100201', '火龙村',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.02, 34.01, 4326))) RETURNING id`, p.township).Scan(&p.village); err != nil {
			return err
		}
		cell := func(code string, x0, x1 float64) (int64, string) {
			var id int64
			var path string
			if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'cell', $2, $2,
				ST_Multi(ST_MakeEnvelope($3, 34.0, $4, 34.01, 4326))) RETURNING id, path::text`, p.village, code, x0, x1).Scan(&id, &path); err != nil {
				t.Fatal(err)
			}
			return id, path
		}
		p.west, p.westPath = cell("411081100201-01", 113.0, 113.01)
		p.east, p.eastPath = cell("411081100201-02", 113.01, 113.02)
		if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
			VALUES ('household', '张家', ST_SetSRID(ST_MakePoint(113.004, 34.005), 4326), $1, $2::ltree) RETURNING id`,
			p.west, p.westPath).Scan(&p.premise); err != nil {
			return err
		}
		worker := func(name string, cell int64, path string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id)
				VALUES ($1, 'grid_worker', '!', $2) RETURNING id`, name, p.village).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`,
				id, cell, path); err != nil {
				t.Fatal(err)
			}
			return id
		}
		p.westWorker = worker("west", p.west, p.westPath)
		p.eastWorker = worker("east", p.east, p.eastPath)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *place) coordinator() db.Actor {
	return db.Actor{UserID: 0, Username: "coord", Role: "township_coordinator", Scope: []string{p.townshipPath}}
}

func worker(id int64, path string) db.Actor {
	return db.Actor{UserID: id, Username: "worker", Role: "grid_worker", Scope: []string{path}}
}

func (p *place) as(t *testing.T, a db.Actor, fn func(tx pgx.Tx) error) error {
	t.Helper()
	return db.InScope(context.Background(), p.pool, a, fn)
}

// TestTasks: a task takes its premise's point and cell; adding it again returns the same task;
// the cell's worker sees it, the other cell's worker does not unless it is assigned to them;
// closing it twice is refused; regenerating the cells places it in the new cell.
func TestTasks(t *testing.T) {
	p := newPlace(t)
	ctx := context.Background()
	var st tasks.Store
	var first tasks.Task
	err := p.as(t, p.coordinator(), func(tx pgx.Tx) error {
		var err error
		first, err = st.Add(ctx, tx, tasks.New{Kind: tasks.Recheck, Ref: "insp-1", PremiseID: &p.premise, Title: "抽查回访：张家"})
		if err != nil {
			return err
		}
		again, err := st.Add(ctx, tx, tasks.New{Kind: tasks.Recheck, Ref: "insp-1", PremiseID: &p.premise, Title: "抽查回访：张家"})
		if err != nil {
			return err
		}
		if again.ID != first.ID {
			t.Errorf("adding the same task again made task %d beside %d", again.ID, first.ID)
		}
		_, err = st.Add(ctx, tx, tasks.New{Kind: tasks.Recheck, Ref: "insp-2", PremiseID: &p.premise, AssigneeID: &p.eastWorker, Title: "抽查回访：张家（交叉）"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.CellID == nil || *first.CellID != p.west || first.Lon != 113.004 || first.Status != tasks.Open {
		t.Fatalf("task %+v: want open, in the west cell %d, at the premise's point", first, p.west)
	}

	seen := func(a db.Actor) map[string]bool {
		got := map[string]bool{}
		if err := p.as(t, a, func(tx pgx.Tx) error {
			list, err := st.List(ctx, tx, tasks.Filter{})
			for _, x := range list {
				got[x.Ref] = true
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := seen(worker(p.westWorker, p.westPath)); !got["insp-1"] || !got["insp-2"] {
		t.Errorf("the west cell's worker sees %v, want both tasks of their cell", got)
	}
	if got := seen(worker(p.eastWorker, p.eastPath)); got["insp-1"] || !got["insp-2"] {
		t.Errorf("the east cell's worker sees %v, want only the task assigned to them", got)
	}

	err = p.as(t, worker(p.westWorker, p.westPath), func(tx pgx.Tx) error {
		done, err := st.Close(ctx, tx, tasks.Recheck, "insp-1", "visit-9", false)
		if err != nil {
			return err
		}
		if done.Status != tasks.Done || done.DoneRef != "visit-9" || done.DoneAt == nil {
			t.Errorf("closed task %+v, want done by visit-9", done)
		}
		if _, err := st.Close(ctx, tx, tasks.Recheck, "insp-1", "visit-10", false); !errors.Is(err, tasks.ErrNotOpen) {
			t.Errorf("closing again: %v, want task_not_open", err)
		}
		if _, err := st.Close(ctx, tx, tasks.Recheck, "nope", "", false); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("closing an unknown task: %v, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// New cells for the village: both tasks (open and done) move into the new cells that hold them.
	var res regions.CellsResult
	err = p.as(t, p.coordinator(), func(tx pgx.Tx) error {
		var err error
		res, err = p.rs.GenerateCells(ctx, tx, p.village, regions.CellSpec{Shape: "square", Size: 500, Replace: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placed["tasks"] != 2 {
		t.Errorf("placed %v, want both tasks moved", res.Placed)
	}
	var cellOK bool
	err = db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT bool_and(ST_Intersects(r.geom, t.point) AND r.level = 'cell' AND t.region_path = r.path)
			FROM tasks t JOIN regions r ON r.id = t.cell_id`).Scan(&cellOK)
	})
	if err != nil || !cellOK {
		t.Errorf("after new cells, tasks are in cells that hold them: %v (%v)", cellOK, err)
	}
}

// TestAddMany: tasks added in one statement are what Add makes of each (the premise's point and
// cell, or the point's; the title and detail clipped), in the order given; a ref with an open
// task already answers that task; a task without a place is refused, nothing added.
func TestAddMany(t *testing.T) {
	p := newPlace(t)
	ctx := context.Background()
	var st tasks.Store
	lon, lat := 113.015, 34.005 // the east cell
	due := time.Now().Add(14 * 24 * time.Hour).Truncate(time.Second)
	err := p.as(t, p.coordinator(), func(tx pgx.Tx) error {
		old, err := st.Add(ctx, tx, tasks.New{Kind: tasks.Lead, Ref: "7", PremiseID: &p.premise, Title: "核查线索：旧"})
		if err != nil {
			return err
		}
		ids, err := st.AddMany(ctx, tx, tasks.Lead, []tasks.New{
			{Ref: "8", Lon: &lon, Lat: &lat, Title: "核查线索：东", Detail: strings.Repeat("因", 2500), DueAt: &due},
			{Ref: "7", PremiseID: &p.premise, Title: "核查线索：旧"},
			{Ref: "9", PremiseID: &p.premise, Title: "核查线索：张家"},
		})
		if err != nil {
			return err
		}
		if len(ids) != 3 || ids[1] != old.ID || ids[0] == ids[2] {
			t.Fatalf("ids %v, want the open task %d second", ids, old.ID)
		}
		east, err := st.Get(ctx, tx, ids[0])
		if err != nil {
			return err
		}
		if east.CellID == nil || *east.CellID != p.east || east.DueAt == nil || !east.DueAt.Equal(due) || len([]rune(east.Detail)) != 2000 {
			t.Errorf("east task %+v: want the east cell, due %s, detail of 2000", east, due)
		}
		west, err := st.Get(ctx, tx, ids[2])
		if err != nil {
			return err
		}
		if west.CellID == nil || *west.CellID != p.west || west.Lon != 113.004 || west.Title != "核查线索：张家" {
			t.Errorf("premise task %+v: want the west cell at the premise", west)
		}
		if _, err := st.AddMany(ctx, tx, tasks.Lead, []tasks.New{{Ref: "10", Title: "无处"}}); err == nil {
			t.Error("a task without a place was added")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
