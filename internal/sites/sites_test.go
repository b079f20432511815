package sites_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/testenv"
)

// place is a township with a village of two grid cells (west and east halves), a second
// township, premises in the west cell (one of them an exited firm), a grid worker of each
// cell, an inspector of 应急管理 and one of 市场监管.
type place struct {
	pool                     *pgxpool.Pool
	township, village, other int64
	townshipPath, otherPath  string
	west, east               int64
	westPath, eastPath       string
	premise, exited          int64
	westWorker, eastWorker   int64
	emergency, market, round int64
	survey                   int64
	svc                      *sites.Service
	rs                       *regions.Store
	now                      time.Time
}

func newPlace(t *testing.T) *place {
	t.Helper()
	ctx := context.Background()
	p := &place{pool: testenv.DB(t), rs: regions.NewStore(premises.NewStore(), sites.Placer{}, tasks.Placer{}),
		now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	p.svc = sites.New(sites.DefaultConfig(), func() time.Time { return p.now })
	err := db.AsSystem(ctx, p.pool, "test", func(tx pgx.Tx) error {
		var city int64
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.4, 34.2, 4326))) RETURNING id`).Scan(&city); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'township', '411081113', '朱阁镇',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 113.2, 34.2, 4326))) RETURNING id, path::text`, city).Scan(&p.township, &p.townshipPath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'township', '411081101', '顺店镇',
			ST_Multi(ST_MakeEnvelope(113.2, 34.0, 113.4, 34.2, 4326))) RETURNING id, path::text`, city).Scan(&p.other, &p.otherPath); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom) VALUES ($1, 'village', '411081113201', '大墙王村',
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
		p.west, p.westPath = cell("411081113201-01", 113.0, 113.01)
		p.east, p.eastPath = cell("411081113201-02", 113.01, 113.02)
		premise := func(name string, lon float64, tags ...string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, address, contact_name, contact_phone, tags, geom, cell_id, region_path)
				VALUES ('enterprise', $1, '朱阁镇大墙王村', '王建国', '13800000000', $4, ST_SetSRID(ST_MakePoint($2, 34.005), 4326), $3, $5::ltree)
				RETURNING id`, name, lon, p.west, append([]string{}, tags...), p.westPath).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		p.premise = premise("恒信化工作坊", 113.004)
		p.exited = premise("禹州市恒发溶解乙炔气厂", 113.008, "exited_hazchem")
		user := func(name, role string, region int64, dept string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id, department)
				VALUES ($1, $2, '!', $3, nullif($4, '')) RETURNING id`, name, role, region, dept).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		p.westWorker = user("west", "grid_worker", p.village, "")
		p.eastWorker = user("east", "grid_worker", p.village, "")
		for _, a := range []struct {
			id   int64
			cell int64
			path string
		}{{p.westWorker, p.west, p.westPath}, {p.eastWorker, p.east, p.eastPath}} {
			if _, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) VALUES ($1, $2, $3::ltree)`,
				a.id, a.cell, a.path); err != nil {
				return err
			}
		}
		p.emergency = user("emergency", "inspector", p.township, "emergency_management")
		p.market = user("market", "inspector", p.township, "market_regulation")
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', now() - interval '10 days',
			now() + interval '50 days') RETURNING id`).Scan(&p.round); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO surveys (region_id, operator_id, name, flight_date) VALUES ($1, $2, '朱阁航测', '2026-04-20')
			RETURNING id`, p.township, p.westWorker).Scan(&p.survey)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *place) coordinator() db.Actor {
	return db.Actor{UserID: p.emergency, Username: "coord", Role: "township_coordinator", Scope: []string{p.townshipPath}}
}

func (p *place) otherCoordinator() db.Actor {
	return db.Actor{UserID: p.market, Username: "coord2", Role: "township_coordinator", Scope: []string{p.otherPath}}
}

func (p *place) inspector(id int64) db.Actor {
	return db.Actor{UserID: id, Username: "inspector", Role: "inspector", Scope: []string{p.townshipPath}}
}

func (p *place) as(t *testing.T, a db.Actor, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := db.InScope(ctx, p.pool, a, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func (p *place) system(t *testing.T, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	p.as(t, db.System("test"), fn)
}

func fp(v float64) *float64 { return &v }

// site opens a site by hand at lon, 34.005 as the township's coordinator.
func (p *place) site(t *testing.T, lon float64, classes ...sites.Class) sites.Site {
	t.Helper()
	var s sites.Site
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		s, err = p.svc.Create(ctx, tx, sites.NewSite{Lon: fp(lon), Lat: fp(34.005), Classes: classes, FirmName: "某作坊"}, 0)
		return err
	})
	return s
}

var mediaSeq int

// medium stores an image as the system: a photo at lon, lat, or a drone image with a square
// footprint of half-side d degrees around lon, lat.
func (p *place) medium(t *testing.T, drone bool, lon, lat, d float64) int64 {
	t.Helper()
	mediaSeq++
	sum := make([]byte, 32)
	rand.Read(sum)
	var id int64
	p.system(t, func(ctx context.Context, tx pgx.Tx) error {
		kind, survey := "photo", (*int64)(nil)
		if drone {
			kind, survey = "drone", &p.survey
		}
		return tx.QueryRow(ctx, `INSERT INTO media (kind, survey_id, uploaded_by, region_path, sha256, size, format, content_type,
				object_key, status, taken_at, point, footprint, thumbs)
			VALUES ($1, $2, $3, $4::ltree, $5, 1000, 'jpeg', 'image/jpeg', $6, 'processed', now(),
				ST_SetSRID(ST_MakePoint($7, $8), 4326),
				CASE WHEN $1 = 'drone' THEN ST_MakeEnvelope($7 - $9, $8 - $9, $7 + $9, $8 + $9, 4326) END,
				'{"list": {"key": "x"}}')
			RETURNING id`, kind, survey, p.westWorker, p.townshipPath, sum, fmt.Sprintf("t/%d", mediaSeq), lon, lat, d).Scan(&id)
	})
	return id
}

// inspection records a suspected (or clear) inspection of premise as the system.
func (p *place) inspection(t *testing.T, premise int64, findings []string, removed *bool) string {
	t.Helper()
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	outcome := "clear"
	if len(findings) > 0 {
		outcome = "suspected"
	}
	p.system(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, findings,
			equipment_removed) VALUES ($1, $2, $3, $4, now(), $5, $6, $7)`, id, premise, p.round, p.westWorker, outcome,
			append([]string{}, findings...), removed)
		return err
	})
	return id
}

func TestMoveEveryPair(t *testing.T) {
	p := newPlace(t)
	for _, from := range sites.Statuses {
		for _, to := range sites.Statuses {
			s := p.site(t, 113.005)
			p.system(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE sites SET status = $2, closed_at = CASE WHEN $2 = 'closed' THEN now() END WHERE id = $1`,
					s.ID, string(from))
				return err
			})
			var err error
			var moved sites.Site
			ctx := context.Background()
			_ = db.InScope(ctx, p.pool, p.coordinator(), func(tx pgx.Tx) error {
				moved, err = p.svc.Move(ctx, tx, s.ID, to, "核查", p.emergency)
				return err
			})
			if sites.CanMove(from, to) {
				if err != nil || moved.Status != to {
					t.Errorf("%s → %s: %v (%s), want allowed", from, to, err, moved.Status)
				}
				continue
			}
			if e, ok := apperr.As(err); !ok || e.Status != 409 || e.Code != "invalid_transition" {
				t.Errorf("%s → %s: %v, want 409 invalid_transition", from, to, err)
			}
		}
	}
}

// TestCaseToClosure walks a case from suspected to closed: each move is an event naming who
// and why, the actions have departments and deadlines, an inspector records only their own
// department's, an overdue one counts on the site and shows in the township's list, and
// closing adds the two re-inspection tasks that the cell's grid worker sees.
func TestCaseToClosure(t *testing.T) {
	p := newPlace(t)
	s := p.site(t, 113.005, sites.Unlicensed, sites.FactoryInFactory)
	ctx := context.Background()
	move := func(to sites.Status) {
		p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
			_, err := p.svc.Move(ctx, tx, s.ID, to, "现场核查："+string(to), p.emergency)
			return err
		})
	}
	move(sites.VerifiedIllegal)
	move(sites.UnderDisposal)

	past := time.Now().Add(-48 * time.Hour)
	later := time.Now().Add(72 * time.Hour)
	var overdue sites.ActionRecord
	p.as(t, p.inspector(p.emergency), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		overdue, err = p.svc.AddAction(ctx, tx, s.ID, sites.NewAction{Action: sites.StopProduction,
			Department: sites.EmergencyManagement, Responsible: "张三", Deadline: &past}, sites.Caller{UserID: p.emergency, Inspector: true})
		if err != nil {
			return err
		}
		_, err = p.svc.AddAction(ctx, tx, s.ID, sites.NewAction{Action: sites.Fine, AmountYuan: fp(50000),
			Department: sites.EmergencyManagement, Responsible: "张三", Deadline: &later}, sites.Caller{UserID: p.emergency, Inspector: true})
		if err != nil {
			return err
		}
		// Another department's action: 403.
		_, err = p.svc.AddAction(ctx, tx, s.ID, sites.NewAction{Action: sites.EliminateHazards,
			Department: sites.MarketRegulation, Responsible: "李四", Deadline: &later}, sites.Caller{UserID: p.emergency, Inspector: true})
		if e, ok := apperr.As(err); !ok || e.Status != 403 {
			t.Errorf("another department's action: %v, want 403", err)
		}
		// An action the classes do not call for: 422.
		_, err = p.svc.AddAction(ctx, tx, s.ID, sites.NewAction{Action: sites.SealUp,
			Department: sites.EmergencyManagement, Responsible: "李四", Deadline: &later}, sites.Caller{UserID: p.emergency, Inspector: true})
		if e, ok := apperr.As(err); !ok || e.Code != "action_not_offered" {
			t.Errorf("seal_up for an unlicensed site: %v, want action_not_offered", err)
		}
		return nil
	})
	p.as(t, p.inspector(p.market), func(ctx context.Context, tx pgx.Tx) error {
		_, err := p.svc.UpdateAction(ctx, tx, overdue.ID, sites.ActionPatch{Result: ptr("已停产")}, sites.Caller{UserID: p.market, Inspector: true})
		if e, ok := apperr.As(err); !ok || e.Status != 403 {
			t.Errorf("market inspector completing an emergency action: %v, want 403", err)
		}
		return nil
	})
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		got, err := p.svc.Store.Get(ctx, tx, s.ID)
		if err != nil {
			return err
		}
		if got.OverdueActions != 1 {
			t.Errorf("overdue actions on the site: %d, want 1", got.OverdueActions)
		}
		list, err := p.svc.Store.Overdue(ctx, tx, p.township, 0, 50)
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].ID != overdue.ID || !list[0].Overdue || list[0].FirmName != "某作坊" {
			t.Errorf("township's overdue list %+v, want the one action", list)
		}
		return nil
	})
	p.as(t, p.otherCoordinator(), func(ctx context.Context, tx pgx.Tx) error {
		list, err := p.svc.Store.Overdue(ctx, tx, 0, 0, 50)
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("another township's coordinator sees %v", list)
		}
		if _, err := p.svc.Store.Get(ctx, tx, s.ID); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("another township's coordinator gets the site: %v", err)
		}
		if _, err := p.svc.Move(ctx, tx, s.ID, sites.Rectified, "", p.market); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("another township's coordinator moves the site: %v", err)
		}
		return nil
	})
	p.as(t, p.inspector(p.emergency), func(ctx context.Context, tx pgx.Tx) error {
		_, err := p.svc.UpdateAction(ctx, tx, overdue.ID, sites.ActionPatch{Result: ptr("已停产"), Done: ptr(true)},
			sites.Caller{UserID: p.emergency, Inspector: true})
		return err
	})
	move(sites.Rectified)
	move(sites.Closed)

	var events []sites.Event
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		events, err = p.svc.Store.Events(ctx, tx, s.ID)
		return err
	})
	if len(events) != 5 || events[0].From != nil || *events[4].From != sites.Rectified || events[4].To != sites.Closed ||
		events[4].Reason != "现场核查：closed" || events[4].By == nil || *events[4].By != p.emergency || events[4].Actor != "coord" {
		t.Errorf("events %+v", events)
	}

	// The closure's re-inspection tasks, 30 and 90 days on, seen by the west cell's worker.
	var got []tasks.Task
	p.as(t, db.Actor{UserID: p.westWorker, Username: "west", Role: "grid_worker", Scope: []string{p.westPath}},
		func(ctx context.Context, tx pgx.Tx) error {
			var err error
			got, err = tasks.Store{}.List(ctx, tx, tasks.Filter{Kind: tasks.SiteReinspection})
			return err
		})
	refs := map[string]tasks.Task{}
	for _, x := range got {
		refs[x.Ref] = x
	}
	var closedAt time.Time
	p.system(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT closed_at FROM sites WHERE id = $1`, s.ID).Scan(&closedAt)
	})
	for _, days := range []int{30, 90} {
		x, ok := refs[fmt.Sprintf("site:%d:%dd", s.ID, days)]
		if !ok || x.SiteID == nil || *x.SiteID != s.ID || x.CellID == nil || *x.CellID != p.west || x.DueAt == nil ||
			!x.DueAt.Equal(closedAt.Add(time.Duration(days)*24*time.Hour)) {
			t.Errorf("re-inspection at %d days: %+v (%v), want in the west cell, due %d days after %s", days, x, ok, days, closedAt)
		}
	}
	_ = ctx
}

func ptr[T any](v T) *T { return &v }

// TestImagesByPlace: a drone image stored before the site links when the site is created, one
// whose footprint misses it does not; a photo within 30 m links, one 100 m away does not; an
// image stored after the site links through link_media_to_sites(media), as the placement job
// runs it; moving the site links the images of its new place.
func TestImagesByPlace(t *testing.T) {
	p := newPlace(t)
	over := p.medium(t, true, 113.0051, 34.0051, 0.001) // footprint covers the site
	miss := p.medium(t, true, 113.0080, 34.0080, 0.001) // footprint ~300 m away
	near := p.medium(t, false, 113.0052, 34.0051, 0)    // ~25 m
	far := p.medium(t, false, 113.0060, 34.0050, 0)     // ~92 m
	s := p.site(t, 113.005)
	links := func() map[int64]string {
		out := map[int64]string{}
		p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
			list, err := p.svc.Store.Media(ctx, tx, s.ID)
			for _, m := range list {
				out[m.MediaID] = m.Reason
				if m.Thumbnail == "" || (m.MediaID == over && m.Source != "drone_survey") || (m.MediaID == near && m.Source != "phone") {
					t.Errorf("medium %+v: want a thumbnail and the right source", m)
				}
			}
			return err
		})
		return out
	}
	got := links()
	if got[over] != "footprint" || got[near] != "near" || got[miss] != "" || got[far] != "" {
		t.Fatalf("links %v: want %d by footprint, %d near, not %d or %d", got, over, near, miss, far)
	}
	later := p.medium(t, true, 113.0049, 34.0049, 0.001)
	p.system(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT link_media_to_sites(ARRAY[$1]::bigint[], NULL, 30)`, later)
		return err
	})
	if got := links(); got[later] != "footprint" {
		t.Errorf("an image stored after the site: links %v", got)
	}
	// By hand, then moving the site to the missed image's place.
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := p.svc.LinkMedia(ctx, tx, s.ID, []int64{far})
		return err
	})
	if got := links(); got[far] != "manual" {
		t.Errorf("linked by hand: %v", got)
	}
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := p.svc.Update(ctx, tx, s.ID, sites.Patch{Lon: fp(113.0080), Lat: fp(34.0080)})
		return err
	})
	got = links()
	if got[miss] != "footprint" || got[over] != "" || got[near] != "" || got[far] != "manual" {
		t.Errorf("after the move: links %v, want %d by footprint, the manual link kept, the old place's gone", got, miss)
	}
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := p.svc.UnlinkMedia(ctx, tx, s.ID, []int64{far})
		return err
	})
	if got := links(); got[far] != "" {
		t.Errorf("unlinked by hand: %v", got)
	}
	p.as(t, p.otherCoordinator(), func(ctx context.Context, tx pgx.Tx) error {
		if _, err := p.svc.LinkMedia(ctx, tx, s.ID, []int64{far}); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("another township links media: %v", err)
		}
		return nil
	})
}

// TestFromInspection: a suspected inspection opens a site holding its photos; a second one of
// the same premise, and one of another premise 40 m away, are linked to it; one 300 m away
// opens another; a clear visit opens nothing; an exited firm's check that finds the equipment
// still there opens a site classed exited_producing.
func TestFromInspection(t *testing.T) {
	p := newPlace(t)
	ctx := context.Background()
	photo := p.medium(t, false, 113.004, 34.005, 0)
	drone := p.medium(t, true, 113.004, 34.005, 0.001)
	from := func(v sites.SuspectedVisit) (int64, bool) {
		var id int64
		var created bool
		p.system(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			id, created, err = p.svc.FromInspection(ctx, tx, v)
			return err
		})
		return id, created
	}
	i1 := p.inspection(t, p.premise, []string{"unlicensed"}, nil)
	id, created := from(sites.SuspectedVisit{InspectionID: i1, PremiseID: p.premise, Lon: 113.004, Lat: 34.005,
		InspectorID: p.westWorker, VisitedAt: time.Now(), Findings: []string{"unlicensed"}, MediaIDs: []int64{photo}})
	if id == 0 || !created {
		t.Fatalf("first suspected inspection: site %d created %v", id, created)
	}
	i2 := p.inspection(t, p.premise, []string{"factory_in_factory"}, nil)
	if again, created := from(sites.SuspectedVisit{InspectionID: i2, PremiseID: p.premise, Lon: 113.004, Lat: 34.005,
		Findings: []string{"factory_in_factory"}}); again != id || created {
		t.Errorf("same premise: site %d created %v, want site %d linked", again, created, id)
	}
	if again, created := from(sites.SuspectedVisit{InspectionID: i2, Lon: 113.0044, Lat: 34.005,
		Findings: []string{"unlicensed"}}); again != id || created {
		t.Errorf("40 m away: site %d created %v, want site %d linked", again, created, id)
	}
	i3 := p.inspection(t, p.premise, []string{"other"}, nil)
	if other, created := from(sites.SuspectedVisit{InspectionID: i3, Lon: 113.0070, Lat: 34.005, Findings: []string{"other"}}); other == id || !created {
		t.Errorf("300 m away: site %d created %v, want a new site", other, created)
	}
	clear := p.inspection(t, p.premise, nil, nil)
	if none, _ := from(sites.SuspectedVisit{InspectionID: clear, PremiseID: p.premise, Lon: 113.004, Lat: 34.005}); none != 0 {
		t.Errorf("a clear visit opened site %d", none)
	}
	var s sites.Site
	var media []sites.Medium
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if s, err = p.svc.Store.Get(ctx, tx, id); err != nil {
			return err
		}
		media, err = p.svc.Store.Media(ctx, tx, id)
		return err
	})
	if s.Status != sites.Suspected || s.Source != sites.FromInspectionSource || s.SourceRef != i1 || s.PremiseID == nil ||
		*s.PremiseID != p.premise || s.FirmName != "恒信化工作坊" || s.LegalRep != "王建国" || len(s.InspectionIDs) != 2 ||
		len(s.Classes) != 2 || s.CellID == nil || *s.CellID != p.west {
		t.Errorf("site %+v", s)
	}
	reasons := map[int64]string{}
	for _, m := range media {
		reasons[m.MediaID] = m.Reason
	}
	if reasons[photo] == "" || reasons[drone] != "footprint" {
		t.Errorf("site media %v: want the inspection's photo and the drone image over it", reasons)
	}

	// The east cell's worker inspects a place 37 m from a site in the west cell, which they do
	// not hold: the inspection joins that site, and names them among its participants.
	border := p.site(t, 113.0098)
	ib := p.inspection(t, p.premise, []string{"other"}, nil)
	p.as(t, db.Actor{UserID: p.eastWorker, Username: "east", Role: "grid_worker", Scope: []string{p.eastPath}},
		func(ctx context.Context, tx pgx.Tx) error {
			got, created, err := p.svc.FromInspection(ctx, tx, sites.SuspectedVisit{InspectionID: ib, Lon: 113.0102, Lat: 34.005,
				InspectorID: p.eastWorker, Findings: []string{"other"}})
			if err != nil || got != border.ID || created {
				t.Errorf("east worker near a west site: site %d created %v (%v), want site %d joined", got, created, err, border.ID)
			}
			return nil
		})
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		got, err := p.svc.Store.Get(ctx, tx, border.ID)
		if err != nil {
			return err
		}
		if len(got.InspectionIDs) != 1 || got.InspectionIDs[0] != ib || fmt.Sprint(got.Participants) != "[east]" ||
			fmt.Sprint(got.Classes) != "[other]" {
			t.Errorf("joined site %+v", got)
		}
		return nil
	})

	// The exited firm: equipment not removed, no finding.
	no := false
	ie := p.inspection(t, p.exited, nil, &no)
	eid, created := from(sites.SuspectedVisit{InspectionID: ie, PremiseID: p.exited, Lon: 113.008, Lat: 34.005, EquipmentRemoved: &no})
	if eid == 0 || !created || eid == id {
		t.Fatalf("exited firm producing: site %d created %v", eid, created)
	}
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		s, err = p.svc.Store.Get(ctx, tx, eid)
		return err
	})
	if len(s.Classes) != 1 || s.Classes[0] != sites.ExitedProducing {
		t.Errorf("exited firm's site classes %v, want exited_producing", s.Classes)
	}
	yes := true
	ok := p.inspection(t, p.exited, nil, &yes)
	if none, _ := from(sites.SuspectedVisit{InspectionID: ok, PremiseID: p.exited, Lon: 113.008, Lat: 34.005, EquipmentRemoved: &yes}); none != 0 {
		t.Errorf("an exited firm with its equipment removed opened site %d", none)
	}
	_ = ctx
}

// TestRegeneratingCellsKeepsSitesPlaced: new cells for the village move the sites into the new
// cells that hold them, and the links' site paths follow.
func TestRegeneratingCellsKeepsSitesPlaced(t *testing.T) {
	p := newPlace(t)
	p.medium(t, false, 113.0051, 34.005, 0)
	a := p.site(t, 113.005)
	b := p.site(t, 113.015)
	var res regions.CellsResult
	p.as(t, p.coordinator(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		res, err = p.rs.GenerateCells(ctx, tx, p.village, regions.CellSpec{Shape: "square", Size: 300, Replace: true})
		return err
	})
	if res.Placed["sites"] != 2 {
		t.Errorf("placed %v, want both sites moved", res.Placed)
	}
	p.system(t, func(ctx context.Context, tx pgx.Tx) error {
		var ok, links bool
		if err := tx.QueryRow(ctx, `SELECT bool_and(ST_Intersects(r.geom, s.point) AND r.level = 'cell' AND s.region_path = r.path)
			FROM sites s JOIN regions r ON r.id = s.cell_id WHERE s.id = ANY ($1)`, []int64{a.ID, b.ID}).Scan(&ok); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT bool_and(l.site_path = s.region_path) AND count(*) > 0
			FROM media_site_links l JOIN sites s ON s.id = l.site_id`).Scan(&links); err != nil {
			return err
		}
		if !ok || !links {
			t.Errorf("after new cells: sites in cells that hold them %v, link paths follow %v", ok, links)
		}
		return nil
	})
}

// TestExitedRegister: the seed's four are in the register, the demo's tagged premise is linked
// by name, a CSV adds and updates, a coordinator imports only their township's firms.
func TestExitedRegister(t *testing.T) {
	p := newPlace(t)
	var st sites.Store
	p.as(t, db.Actor{UserID: p.emergency, Username: "admin", Role: "city_admin"}, func(ctx context.Context, tx pgx.Tx) error {
		list, err := st.ListExited(ctx, tx)
		if err != nil {
			return err
		}
		if len(list) != 4 || list[1].Name != "禹州市恒发溶解乙炔气厂" || list[1].PremiseID == nil || *list[1].PremiseID != p.exited {
			t.Errorf("register %+v: want the seed's four, the second linked to premise %d", list, p.exited)
		}
		rep, err := st.ImportExited(ctx, tx, []byte("序号,企业名称,地址,乡镇代码\n5,禹州市某化工厂,禹州市朱阁镇,411081113\n2,禹州市恒发溶解乙炔气厂,禹州市朱阁镇大墙王村,411081113\n"))
		if err != nil {
			return err
		}
		if rep.Added != 1 || rep.Updated != 1 {
			t.Errorf("import %+v, want 1 added, 1 updated", rep)
		}
		return nil
	})
	p.as(t, p.otherCoordinator(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := st.ImportExited(ctx, tx, []byte("企业名称,地址,乡镇代码\n某厂,朱阁,411081113\n"))
		if e, ok := apperr.As(err); !ok || e.Code != "outside_scope" {
			t.Errorf("another township's firm: %v, want outside_scope", err)
		}
		return nil
	})
}
