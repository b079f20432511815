package leads_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/testenv"
)

// place is a township with a village of two grid cells (west and east halves), a premise in the
// west one, and the west cell's grid worker.
type place struct {
	pool                   *pgxpool.Pool
	township, village      int64
	townshipPath, westPath string
	west, east             int64
	premise, worker        int64
	rs                     *regions.Store
	svc                    *leads.Service
}

func newPlace(t *testing.T) *place {
	t.Helper()
	ctx := context.Background()
	cfg := leads.DefaultConfig()
	st := sites.New(sites.DefaultConfig(), time.Now)
	p := &place{pool: testenv.DB(t), rs: regions.NewStore(premises.NewStore(), sites.Placer{}, tasks.Placer{}, leads.Placer{}),
		svc: leads.NewService(cfg, st, time.Now, leads.MarketEntities{Config: cfg.Market}, leads.PowerUsers{Config: cfg.Power})}
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
		var eastPath string
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'cell', 'w', 'w',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.01, 34.01, 4326))) RETURNING id, path::text`, p.village).Scan(&p.west, &p.westPath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'cell', 'e', 'e',
			ST_Multi(ST_MakeEnvelope(113.01, 34.0, 113.02, 34.01, 4326))) RETURNING id, path::text`, p.village).Scan(&p.east, &eastPath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, address, geom, cell_id, region_path)
			VALUES ('household', '张三', '火龙村一组', ST_SetSRID(ST_MakePoint(113.004, 34.005), 4326), $1, $2::ltree) RETURNING id`,
			p.west, p.westPath).Scan(&p.premise); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id)
			VALUES ('west', 'grid_worker', '!', $1) RETURNING id`, p.village).Scan(&p.worker); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`,
			p.worker, p.west, p.westPath)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *place) coordinator() db.Actor {
	return db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{p.townshipPath}}
}

func (p *place) workerActor() db.Actor {
	return db.Actor{UserID: p.worker, Username: "west", Role: "grid_worker", Scope: []string{p.westPath}}
}

func (p *place) importPower(t *testing.T, csv string) leads.ImportReport {
	t.Helper()
	var rep leads.ImportReport
	err := db.InScope(context.Background(), p.pool, p.coordinator(), func(tx pgx.Tx) error {
		var err error
		rep, err = p.svc.Import(context.Background(), tx, leads.KindPowerUser, "power.csv", strings.NewReader(csv), 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (p *place) lead(t *testing.T, id int64) leads.Lead {
	t.Helper()
	var l leads.Lead
	err := db.AsSystem(context.Background(), p.pool, "test", func(tx pgx.Tx) error {
		var err error
		l, err = p.svc.Get(context.Background(), tx, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLeadsFollowCellsAndVisits: a lead near another open lead is a duplicate; leads move with
// new cells (the leads placer); a clear visit of a lead's premise clears it, a suspected visit
// within ConfirmMetres of a position-only lead confirms it with a site of source lead (no sites
// hook ran: a suspected visit without classes opens no site by itself).
func TestLeadsFollowCellsAndVisits(t *testing.T) {
	p := newPlace(t)
	ctx := context.Background()
	const head = "户号,户名,地址,经度,纬度,用电类别,月份,用电量\n"
	rep := p.importPower(t, head+
		"1,张三,火龙村一组,,,居民,2024-01,2500\n"+ // matched to the premise by name and address
		"2,某作坊,火龙村五组,113.0081,34.0052,动力电,2024-01,900\n"+ // a position, no premise
		"3,某作坊二,火龙村五组,113.0082,34.0053,动力电,2024-01,900\n") // 11 m from the second: the same place
	if rep.Created != 2 || rep.Duplicates != 1 || len(rep.LeadIDs) != 3 {
		t.Fatalf("report %+v: want two leads and a duplicate", rep)
	}
	onPremise, positioned, dup := p.lead(t, rep.LeadIDs[0]), p.lead(t, rep.LeadIDs[1]), p.lead(t, rep.LeadIDs[2])
	if onPremise.PremiseID == nil || *onPremise.PremiseID != p.premise || onPremise.CellID == nil || *onPremise.CellID != p.west ||
		dup.Status != leads.Duplicate || dup.DuplicateOf == nil || *dup.DuplicateOf != positioned.ID {
		t.Fatalf("leads %+v %+v", onPremise, dup)
	}

	// New cells for the village: every lead moves into the new cell that holds it.
	var res regions.CellsResult
	err := db.InScope(ctx, p.pool, p.coordinator(), func(tx pgx.Tx) error {
		var err error
		res, err = p.rs.GenerateCells(ctx, tx, p.village, regions.CellSpec{Shape: "square", Size: 500, Replace: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placed["leads"] != 3 {
		t.Fatalf("placed %v, want the three leads moved", res.Placed)
	}
	var ok bool
	var newCell int64
	err = db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT bool_and(ST_Intersects(r.geom, l.point) AND r.level = 'cell' AND l.region_path = r.path)
			FROM leads l JOIN regions r ON r.id = l.cell_id`).Scan(&ok); err != nil {
			return err
		}
		// The worker holds the new cell of the premise (and of the position-only lead, 400 m east).
		if err := tx.QueryRow(ctx, `SELECT cell_id FROM leads WHERE id = $1`, onPremise.ID).Scan(&newCell); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM cell_assignments WHERE user_id = $1`, p.worker); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path)
			SELECT $1, l.cell_id, l.region_path FROM leads l WHERE l.id IN ($2, $3) GROUP BY l.cell_id, l.region_path`,
			p.worker, onPremise.ID, positioned.ID)
		return err
	})
	if err != nil || !ok {
		t.Fatalf("after new cells, leads are in cells that hold them: %v (%v)", ok, err)
	}

	hook := leads.InspectionHook(p.svc)
	var cells []string
	err = db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT path::text FROM regions WHERE level = 'cell'`)
		if err != nil {
			return err
		}
		cells, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	worker := db.Actor{UserID: p.worker, Username: "west", Role: "grid_worker", Scope: cells}
	// A clear visit of the premise clears the lead on it.
	err = db.InScope(ctx, p.pool, worker, func(tx pgx.Tx) error {
		return hook(ctx, tx, inspections.Recorded{ID: "9b1f0c2e-1111-4a61-8b7c-2d3e4f5a6b71", PremiseID: p.premise, InspectorID: p.worker,
			Outcome: inspections.Clear, Lon: 113.004, Lat: 34.005, VisitedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := p.lead(t, onPremise.ID); l.Status != leads.Cleared || l.OutcomeRef != "9b1f0c2e-1111-4a61-8b7c-2d3e4f5a6b71" || !strings.Contains(l.OutcomeReason, "无异常") {
		t.Fatalf("after a clear visit: %+v", l)
	}
	// A suspected visit 30 m from the position-only lead (a premise beside it) confirms it.
	var beside int64
	err = db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
			SELECT 'idle_factory', '闲置厂房', ST_SetSRID(ST_MakePoint(113.0084, 34.0052), 4326), cell_id, region_path
			FROM leads WHERE id = $1 RETURNING id`, positioned.ID).Scan(&beside)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.InScope(ctx, p.pool, worker, func(tx pgx.Tx) error {
		return hook(ctx, tx, inspections.Recorded{ID: "9b1f0c2e-2222-4a61-8b7c-2d3e4f5a6b72", PremiseID: beside, InspectorID: p.worker,
			Outcome: inspections.Suspected, Lon: 113.0084, Lat: 34.0052, VisitedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	l := p.lead(t, positioned.ID)
	if l.Status != leads.Confirmed || l.SiteID == nil || l.OutcomeRef != "9b1f0c2e-2222-4a61-8b7c-2d3e4f5a6b72" {
		t.Fatalf("after a suspected visit beside it: %+v", l)
	}
	var source, ref string
	var sitePremise *int64
	var taskStatus string
	err = db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT source, source_ref, premise_id FROM sites WHERE id = $1`, *l.SiteID).Scan(&source, &ref, &sitePremise); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1`, *positioned.TaskID).Scan(&taskStatus)
	})
	if err != nil || source != "lead" || !strings.HasPrefix(ref, "lead:") || sitePremise == nil || *sitePremise != beside || taskStatus != "done" {
		t.Fatalf("site %s %s %v, task %s (%v): want a site of source lead at the visited premise, the task done",
			source, ref, sitePremise, taskStatus, err)
	}
	// The duplicate stays as it was: it has no task and no outcome of its own.
	if d := p.lead(t, dup.ID); d.Status != leads.Duplicate {
		t.Fatalf("duplicate after the visits: %+v", d)
	}
}

// TestDuplicatesInOneFile: the set-wise import resolves leads at each other's places in file
// order, as one lead at a time would: A is open, B (80 m from A) repeats A, C (80 m from B,
// 160 m from A) is open, since B, a duplicate, is no open lead for it. Only A and C get a task,
// due VerifyWithin after the import. A second file's E, 50 m from C, repeats C (an open lead of
// an earlier import), and its A (the same account and month) is known.
func TestDuplicatesInOneFile(t *testing.T) {
	p := newPlace(t)
	const head = "户号,户名,地址,经度,纬度,用电类别,月份,用电量\n"
	row := func(acct string, lon float64) string {
		return fmt.Sprintf("%s,%s厂,火龙村,%.6f,34.005,动力电,2024-05,900\n", acct, acct, lon)
	}
	const m80 = 80 / 92290.0 // degrees of longitude at 34.005°N
	rep := p.importPower(t, head+row("A", 113.005)+row("B", 113.005+m80)+row("C", 113.005+2*m80))
	if rep.Created != 2 || rep.Duplicates != 1 || rep.Refused != 0 || len(rep.LeadIDs) != 3 {
		t.Fatalf("report %+v: want A and C open, B a duplicate", rep)
	}
	a, b, c := p.lead(t, rep.LeadIDs[0]), p.lead(t, rep.LeadIDs[1]), p.lead(t, rep.LeadIDs[2])
	if a.Status != leads.Open || b.Status != leads.Duplicate || b.DuplicateOf == nil || *b.DuplicateOf != a.ID ||
		c.Status != leads.Open || c.DuplicateOf != nil {
		t.Fatalf("A %s, B %s of %v, C %s of %v", a.Status, b.Status, b.DuplicateOf, c.Status, c.DuplicateOf)
	}
	if a.TaskID == nil || c.TaskID == nil || b.TaskID != nil || b.DueAt != nil || a.DueAt == nil {
		t.Fatalf("tasks: A %v, B %v (due %v), C %v", a.TaskID, b.TaskID, b.DueAt, c.TaskID)
	}
	var titles []string
	var dueOK bool
	err := db.AsSystem(context.Background(), p.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(context.Background(), `SELECT array_agg(title ORDER BY id), bool_and(due_at > now() + interval '13 days')
			FROM tasks WHERE kind = 'lead' AND id = ANY ($1)`, []int64{*a.TaskID, *c.TaskID}).Scan(&titles, &dueOK); err != nil {
			return err
		}
		return nil
	})
	if err != nil || len(titles) != 2 || titles[0] != "核查线索：A厂" || !dueOK {
		t.Fatalf("tasks %v due ok %v: %v", titles, dueOK, err)
	}
	again := p.importPower(t, head+row("E", 113.005+2*m80+50/92290.0)+row("A", 113.005))
	if again.Created != 0 || again.Duplicates != 1 || again.Known != 1 {
		t.Fatalf("second file %+v: want E a duplicate of C, A known", again)
	}
	if e := p.lead(t, again.LeadIDs[0]); e.DuplicateOf == nil || *e.DuplicateOf != c.ID {
		t.Fatalf("E repeats %v, want C %d", e.DuplicateOf, c.ID)
	}
}
