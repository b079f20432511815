package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
)

// TestSuspectedInspectionToClosure is issue 11's end to end, as far as it goes without the
// inspections API and phone sync (the lead wires FromInspection to the inspections hook and
// extends this to the worker's sync): a grid worker's photo and a drone image over a premise,
// a suspected inspection of it (recorded as the system, as migration 0011's rows are) → a site
// holding the photo and the drone image → verified → disposal actions with deadlines, one
// overdue in the township's list → rectified → closed → its re-inspection tasks in the cell
// of the worker, who sees them. Everything after the inspection goes through the Go client.
func TestSuspectedInspectionToClosure(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	startWorkers(t, h.pool, h.srv.Media)
	ctx := context.Background()
	admin := client.New(h.url, client.WithToken(h.token(w.users["admin"])), client.WithLanguage("en"))
	// The photo fixture lies in k1b: give the worker that cell too.
	if _, err := admin.UpdateUser(ctx, w.users["worker"].ID, client.UserPatch{CellIDs: &[]int64{w.k1, w.k1b}}); err != nil {
		t.Fatal(err)
	}
	wtok := h.token(w.users["worker"])
	photo := h.upload(wtok, "IMG_0001.JPG", fixtureBytes(t, "marker_6.jpg")) // at 113.4721, 34.1512
	dtok := h.token(w.users["drone"])
	_, body := h.as(dtok, http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t1))
	var sv media.Survey
	mustJSON(t, body, &sv)
	files := map[string][]byte{"DJI_0001.JPG": fixtureBytes(t, "dji_attr.jpg")} // nadir over the same place
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	sl := h.slotsFor(dtok, uploads, files, "DJI_0001.JPG")[0]
	putSlot(t, sl, files["DJI_0001.JPG"], -1)
	_, body = h.as(dtok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), "")
	var drone media.Medium
	mustJSON(t, body, &drone)
	coordTok := h.token(w.users["coord"])
	h.waitProcessed(coordTok, photo.medium.ID)
	h.waitProcessed(coordTok, drone.ID)

	// The premise the worker finds suspected, and the round in force.
	var premise, round int64
	inspection := "6f1c2a4e-8d3b-4c59-9a7e-1b2c3d4e5f60"
	var siteID int64
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, address, geom, cell_id, region_path)
			SELECT 'idle_factory', '火龙村闲置厂房', '火龙镇火龙村', ST_SetSRID(ST_MakePoint(113.47212, 34.15121), 4326), id, path
			FROM regions WHERE id = $1 RETURNING id`, w.k1b).Scan(&premise); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', now() - interval '1 day',
			now() + interval '60 days') RETURNING id`).Scan(&round); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The worker records the suspected visit through the API, as the phone does; the inspections
	// domain's hook (sites.InspectionHook, wired as in cmd/sieve) opens the site in the same
	// transaction.
	worker := client.New(h.url, client.WithToken(wtok), client.WithLanguage("en"))
	acc := 8.0
	rec, created, err := worker.RecordInspection(ctx, client.InspectionRequest{ID: inspection, PremiseID: &premise,
		VisitedAt: time.Now().Add(-time.Hour), Position: &inspections.Position{Lon: 113.47213, Lat: 34.15122, AccuracyM: &acc, CRS: "wgs84"},
		Outcome: "suspected", Findings: []string{"non_chemical_producing", "affiliated_leased"}, MediaIDs: []int64{photo.medium.ID}})
	if err != nil || !created || rec.ID != inspection {
		t.Fatalf("record the suspected inspection: %+v %v %v", rec, created, err)
	}
	err = db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT site_id FROM site_inspections WHERE inspection_id = $1`, inspection).Scan(&siteID)
	})
	if err != nil {
		t.Fatalf("the inspection opened no site: %v", err)
	}
	// The worker's phone syncs before the case goes on.
	_, cursor, _, err := worker.SyncAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	coord := client.New(h.url, client.WithToken(coordTok), client.WithLanguage("en"))
	insp := client.New(h.url, client.WithToken(h.token(w.users["inspector"])), client.WithLanguage("en"))
	site, err := coord.GetSite(ctx, siteID)
	if err != nil || site.Status != sites.Suspected || site.CellID == nil || *site.CellID != w.k1b ||
		len(site.InspectionIDs) != 1 || site.InspectionIDs[0] != inspection || site.FirmName != "火龙村闲置厂房" {
		t.Fatalf("site %+v %v", site, err)
	}
	ms, err := coord.SiteMedia(ctx, siteID)
	reasons := map[int64]string{}
	for _, m := range ms {
		reasons[m.MediaID] = m.Reason
	}
	if err != nil || reasons[photo.medium.ID] != "inspection" || reasons[drone.ID] != "footprint" {
		t.Fatalf("site media %+v %v: want the inspection's photo and the drone image over it", ms, err)
	}

	if _, err := coord.MoveSite(ctx, siteID, "verified_illegal", "联合核查属实"); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.MoveSite(ctx, siteID, "closed", "跳过处置"); !client.IsCode(err, "invalid_transition") {
		t.Fatalf("closing a verified case at once: %v, want invalid_transition", err)
	}
	if _, err := coord.MoveSite(ctx, siteID, "under_disposal", "下达处置"); err != nil {
		t.Fatal(err)
	}
	opts, err := insp.SiteActionOptions(ctx, siteID)
	if err != nil || len(opts) == 0 {
		t.Fatalf("options %v %v", opts, err)
	}
	past, later := time.Now().Add(-2*time.Hour), time.Now().Add(7*24*time.Hour)
	overdue, err := insp.AddSiteAction(ctx, siteID, client.NewSiteAction{Action: sites.SealUp, Department: sites.EmergencyManagement,
		Responsible: "应急局王科长", Deadline: &past, Evidence: []int64{drone.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.AddSiteAction(ctx, siteID, client.NewSiteAction{Action: sites.DismantleByDeadline, Department: sites.Township,
		Responsible: "火龙镇李镇长", Deadline: &later}); err != nil {
		t.Fatal(err)
	}
	if _, err := insp.AddSiteAction(ctx, siteID, client.NewSiteAction{Action: sites.LandlordLiability, Department: sites.PublicSecurity,
		Responsible: "x", Deadline: &later}); !client.IsCode(err, "other_department") {
		t.Fatalf("the inspector records the police's action: %v", err)
	}
	list, err := coord.OverdueActions(ctx, w.t1, client.PageRequest{})
	listed := map[int64]bool{}
	for _, a := range list.Items {
		listed[a.ID] = a.Overdue
	}
	if err != nil || len(list.Items) != 2 || !listed[overdue.ID] || !listed[w.sites["site-actions"][0]] {
		t.Fatalf("township's overdue list %+v %v: want this one and the fixture's", list, err)
	}
	if _, err := insp.UpdateSiteAction(ctx, overdue.ID, client.SiteActionPatch{Done: ptr(true), Result: ptr("已查封")}); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.MoveSite(ctx, siteID, "rectified", "已整改"); err != nil {
		t.Fatal(err)
	}
	closed, err := coord.MoveSite(ctx, siteID, "closed", "验收销号")
	if err != nil || closed.ClosedAt == nil {
		t.Fatalf("close: %+v %v", closed, err)
	}
	// The re-inspection tasks reach the worker's phone through sync, and sit in the worker's cell.
	items, _, _, err := worker.SyncAll(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	synced := 0
	for _, it := range items {
		if it.Kind == changes.KindTask && it.Task != nil && it.Task.Kind == tasks.SiteReinspection && it.Task.SiteID != nil && *it.Task.SiteID == siteID {
			synced++
		}
	}
	if synced != 2 {
		t.Fatalf("re-inspection tasks in the worker's sync: %d, want 2 (%+v)", synced, items)
	}
	var due []time.Time
	err = db.ReadInScope(ctx, h.pool, h.actorOf(w, "worker"), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT due_at FROM tasks WHERE kind = 'site_reinspection' AND site_id = $1 AND cell_id = $2
			ORDER BY due_at`, siteID, w.k1b)
		if err != nil {
			return err
		}
		due, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		return err
	})
	if err != nil || len(due) != 2 || !due[0].Equal(closed.ClosedAt.Add(30*24*time.Hour)) || !due[1].Equal(closed.ClosedAt.Add(90*24*time.Hour)) {
		t.Fatalf("re-inspection tasks seen by the worker: %v %v", due, err)
	}
	events, err := coord.SiteTransitions(ctx, siteID)
	if err != nil || len(events) != 5 {
		t.Fatalf("history %+v %v", events, err)
	}
}

// mustJSON decodes an answer's body or fails the test.
func mustJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// TestSitesClient drives the remaining sites calls of the Go client.
func TestSitesClient(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	coord := client.New(h.url, client.WithToken(h.token(w.users["coord"])), client.WithLanguage("en"))
	s, err := coord.CreateSite(ctx, client.NewSite{Lon: ptr(113.43), Lat: ptr(34.2), Source: sites.FromTip, SourceRef: "tip-7",
		Classes: []sites.Class{sites.Unlicensed}})
	if err != nil || s.Source != sites.FromTip {
		t.Fatalf("create %+v %v", s, err)
	}
	if s, err = coord.UpdateSite(ctx, s.ID, client.SitePatch{FirmName: ptr("无名作坊")}); err != nil || s.FirmName != "无名作坊" {
		t.Fatalf("update %+v %v", s, err)
	}
	list, err := coord.ListSites(ctx, client.SiteFilter{RegionID: w.t1, Status: "suspected", Class: "unlicensed"})
	if err != nil || !listedIDs(mustMarshal(t, list), s.ID) {
		t.Fatalf("list %+v %v", list, err)
	}
	m, err := coord.LinkSiteMedia(ctx, s.ID, []int64{w.media["media"][0]}, false)
	if err != nil || len(m) != 1 || m[0].Reason != "manual" {
		t.Fatalf("link %+v %v", m, err)
	}
	if m, err = coord.LinkSiteMedia(ctx, s.ID, []int64{w.media["media"][0]}, true); err != nil || len(m) != 0 {
		t.Fatalf("unlink %+v %v", m, err)
	}
	if _, err := coord.AddSitePerson(ctx, s.ID, client.NewSitePerson{Role: sites.ActualController, Name: "赵老板"}); err != nil {
		t.Fatal(err)
	}
	if ps, err := coord.SitePersons(ctx, s.ID); err != nil || len(ps) != 1 || ps[0].Role != sites.ActualController {
		t.Fatalf("persons %+v %v", ps, err)
	}
	if as, err := coord.SiteActions(ctx, s.ID); err != nil || len(as) != 0 {
		t.Fatalf("actions %+v %v", as, err)
	}
	admin := client.New(h.url, client.WithToken(h.token(w.users["admin"])))
	if rep, err := admin.ImportExitedEnterprises(ctx, strings.NewReader("企业名称,地址\n某厂,某地\n")); err != nil || rep.Added != 1 {
		t.Fatalf("import %+v %v", rep, err)
	}
	if ex, err := coord.ExitedEnterprises(ctx); err != nil || len(ex) != 5 {
		t.Fatalf("register %+v %v", ex, err)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
