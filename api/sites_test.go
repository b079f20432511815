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

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/sites"
)

// sitesWorld adds the scope fixtures of the sites routes: a site in k1 (the worker's cell) and
// one in k2, each with an overdue action of 应急管理, whose department the world's inspector
// gets. The sites are placed by hand (the world's cells have no boundaries until mapWorld).
func (h *harness) sitesWorld(w *world) map[string][2]int64 {
	h.t.Helper()
	ctx := context.Background()
	fx := map[string][2]int64{}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		site := func(id, cell int64, lon float64) {
			if _, err := tx.Exec(ctx, `INSERT INTO sites (id, point, source, classes, firm_name) OVERRIDING SYSTEM VALUE
				VALUES ($1, ST_SetSRID(ST_MakePoint($2, 34.2), 4326), 'manual', '{unlicensed}', '某作坊')`, id, lon); err != nil {
				h.t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE sites SET cell_id = r.id, region_path = r.path FROM regions r
				WHERE sites.id = $1 AND r.id = $2`, id, cell); err != nil {
				h.t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO site_actions (id, site_id, action, department, responsible, deadline)
				OVERRIDING SYSTEM VALUE VALUES ($1, $1, 'stop_production', 'emergency_management', '张三', now() - interval '1 day')`,
				id); err != nil {
				h.t.Fatal(err)
			}
		}
		site(910001, w.k1, 113.42)
		site(910002, w.k2, 113.65)
		fx["sites"] = [2]int64{910001, 910002}
		fx["site-actions"] = [2]int64{910001, 910002}
		_, err := tx.Exec(ctx, `UPDATE users SET department = 'emergency_management' WHERE id = $1`, w.users["inspector"].ID)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return fx
}

// TestSitesScope: another township's coordinator gets 404 on the site, its media, its actions
// and its history, and cannot act on them; the site's own township sees them.
func TestSitesScope(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	in := w.sites["sites"][0]
	coord2, coord := h.token(w.users["coord2"]), h.token(w.users["coord"])
	deadline := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "", ""},
		{http.MethodGet, "/media", ""},
		{http.MethodGet, "/actions", ""},
		{http.MethodGet, "/actions/options", ""},
		{http.MethodGet, "/transitions", ""},
		{http.MethodGet, "/persons", ""},
		{http.MethodPatch, "", `{"note": "x"}`},
		{http.MethodPost, "/transitions", `{"to": "verified_illegal"}`},
		{http.MethodPost, "/actions", `{"action": "stop_production", "department": "township", "responsible": "李四", "deadline": "` + deadline + `"}`},
		{http.MethodPost, "/media/link", fmt.Sprintf(`{"mediaIds": [%d]}`, w.media["media"][1])},
	} {
		path := fmt.Sprintf("%s/sites/%d%s", v1, in, r.path)
		if status, body := h.as(coord2, r.method, path, r.body); status != http.StatusNotFound {
			t.Errorf("another township: %s %s: %d %s, want 404", r.method, path, status, body)
		}
		if r.method == http.MethodGet {
			if status, body := h.as(coord, r.method, path, ""); status != http.StatusOK {
				t.Errorf("own township: %s %s: %d %s", r.method, path, status, body)
			}
		}
	}
	if status, body := h.as(coord2, http.MethodPatch, fmt.Sprintf("%s/site-actions/%d", v1, w.sites["site-actions"][0]),
		`{"done": true}`); status != http.StatusNotFound {
		t.Errorf("another township's action: %d %s, want 404", status, body)
	}
}

// TestSiteCaseAPI walks a case through the API: opened at a point in k1, moved along the
// workflow (a move outside it is 409), actions by an inspector of their own department (another
// department's is 403), the overdue one in the township's list, closed with its re-inspection
// tasks in the worker's cell.
func TestSiteCaseAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord, insp := h.token(w.users["coord"]), h.token(w.users["inspector"])
	status, body := h.as(coord, http.MethodPost, v1+"/sites", `{"lon": 113.43, "lat": 34.2, "classes": ["beyond_licence"],
		"firmName": "恒信化工", "industry": "化工", "legalRep": "王建国", "contactPhone": "13800000000", "participants": ["李明", "赵强"]}`)
	var site sites.Site
	if json.Unmarshal([]byte(body), &site); status != http.StatusCreated || site.CellID == nil || *site.CellID != w.k1 ||
		site.Status != sites.Suspected || len(site.Participants) != 2 {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body := h.as(h.token(w.users["coord2"]), http.MethodPost, v1+"/sites", `{"lon": 113.43, "lat": 34.2}`); status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "outside_scope") {
		t.Errorf("another township's coordinator opens a site in t1: %d %s", status, body)
	}
	sitePath := fmt.Sprintf("%s/sites/%d", v1, site.ID)
	if status, body := h.as(coord, http.MethodPatch, sitePath, fmt.Sprintf(`{"premiseId": %d}`, w.premise2)); status != http.StatusNotFound {
		t.Errorf("linking another township's premise: %d %s, want 404", status, body)
	}
	if status, body := h.as(coord, http.MethodPatch, sitePath, fmt.Sprintf(`{"premiseId": %d, "outline": %s}`, w.premise1,
		box(113.429, 34.199, 113.431, 34.201))); status != http.StatusOK || !strings.Contains(body, `"outline":{"type":"Polygon"`) {
		t.Errorf("premise and outline: %d %s", status, body)
	}
	move := func(to string, want int) {
		t.Helper()
		if status, body := h.as(coord, http.MethodPost, sitePath+"/transitions", `{"to": "`+to+`", "reason": "现场核查"}`); status != want {
			t.Fatalf("move to %s: %d %s, want %d", to, status, body, want)
		}
	}
	move("rectified", http.StatusConflict)
	move("verified_illegal", http.StatusOK)
	move("verified_illegal", http.StatusConflict)
	move("under_disposal", http.StatusOK)

	status, body = h.as(insp, http.MethodGet, sitePath+"/actions/options", "")
	if status != 200 || !strings.Contains(body, `"suspend_rectify"`) || strings.Contains(body, `"seal_up"`) {
		t.Errorf("options: %d %s", status, body)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	action := func(act, dept, extra string) (int, string) {
		return h.as(insp, http.MethodPost, sitePath+"/actions", fmt.Sprintf(`{"action": %q, "department": %q,
			"responsible": "张三", "deadline": %q%s}`, act, dept, past, extra))
	}
	if status, body := action("suspend_rectify", "market_regulation", ""); status != http.StatusForbidden ||
		!strings.Contains(body, "other_department") {
		t.Errorf("another department's action: %d %s, want 403", status, body)
	}
	if status, body := action("seal_up", "emergency_management", ""); status != http.StatusUnprocessableEntity {
		t.Errorf("an action the class does not call for: %d %s, want 422", status, body)
	}
	status, body = action("suspend_rectify", "emergency_management", `, "evidence": []`)
	var rec sites.ActionRecord
	if json.Unmarshal([]byte(body), &rec); status != http.StatusCreated || !rec.Overdue {
		t.Fatalf("own department's action: %d %s", status, body)
	}
	if status, body := action("fine", "emergency_management", `, "amountYuan": 100000`); status != http.StatusCreated {
		t.Errorf("fine: %d %s", status, body)
	}
	status, body = h.as(coord, http.MethodGet, fmt.Sprintf("%s/overdue-actions?township=%d", v1, w.t1), "")
	if status != 200 || !listedIDs(body, rec.ID) {
		t.Errorf("township's overdue list: %d %s, want action %d", status, body, rec.ID)
	}
	status, body = h.as(coord, http.MethodGet, sitePath, "")
	if json.Unmarshal([]byte(body), &site); status != 200 || site.OverdueActions != 2 {
		t.Errorf("site's overdue count: %d %s, want 2", status, body)
	}
	if status, body := h.as(insp, http.MethodPatch, fmt.Sprintf("%s/site-actions/%d", v1, rec.ID), `{"done": true, "result": "已停产"}`); status != 200 {
		t.Errorf("done: %d %s", status, body)
	}
	if status, body := h.as(insp, http.MethodPost, sitePath+"/transitions", `{"to": "rectified"}`); status != http.StatusForbidden {
		t.Errorf("an inspector moves the case: %d %s, want 403", status, body)
	}
	if status, body := h.as(coord, http.MethodPost, sitePath+"/persons", `{"role": "landlord", "name": "刘出租", "idNumber": "410000"}`); status != http.StatusBadRequest {
		t.Errorf("an ID number is not taken: %d %s, want 400", status, body)
	}
	if status, body := h.as(coord, http.MethodPost, sitePath+"/persons", `{"role": "landlord", "name": "刘出租", "phone": "139"}`); status != http.StatusCreated {
		t.Errorf("person: %d %s", status, body)
	}
	move("rectified", http.StatusOK)
	move("closed", http.StatusOK)
	status, body = h.as(coord, http.MethodGet, sitePath+"/transitions", "")
	if status != 200 || strings.Count(body, `"to"`) != 5 {
		t.Errorf("history: %d %s", status, body)
	}
	var tasks []string
	err := db.InScope(context.Background(), h.pool, h.actorOf(w, "worker"), func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT ref FROM tasks WHERE site_id = $1 AND cell_id = $2 ORDER BY due_at`, site.ID, w.k1)
		if err != nil {
			return err
		}
		tasks, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil || fmt.Sprint(tasks) != fmt.Sprintf("[site:%d:30d site:%d:90d]", site.ID, site.ID) {
		t.Errorf("re-inspection tasks seen by the cell's worker: %v (%v)", tasks, err)
	}
}

// actorOf is the database actor of a world user, as the API would make it.
func (h *harness) actorOf(w *world, name string) db.Actor {
	h.t.Helper()
	p, err := h.accounts.Authenticate(context.Background(), h.pool, h.token(w.users[name]))
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Actor("", "")
}

// TestSiteCollectsEarlierDroneImage: a drone image uploaded before the site exists is linked
// when the site is created over it (reason footprint, drone_survey, with a thumbnail); a site
// its footprint misses does not get it.
func TestSiteCollectsEarlierDroneImage(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	startWorkers(t, h.pool, h.srv.Media)
	dtok := h.token(w.users["drone"])
	_, body := h.as(dtok, http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t1))
	var sv media.Survey
	json.Unmarshal([]byte(body), &sv)
	files := map[string][]byte{"DJI_0001.JPG": fixtureBytes(t, "dji_attr.jpg")} // nadir over 113.4721, 34.1512
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	sl := h.slotsFor(dtok, uploads, files, "DJI_0001.JPG")[0]
	putSlot(t, sl, files["DJI_0001.JPG"], -1)
	status, body := h.as(dtok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), "")
	var drone media.Medium
	json.Unmarshal([]byte(body), &drone)
	if status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	coord := h.token(w.users["coord"])
	h.waitProcessed(coord, drone.ID)
	open := func(lon, lat float64) []sites.Medium {
		status, body := h.as(coord, http.MethodPost, v1+"/sites", fmt.Sprintf(`{"lon": %v, "lat": %v, "source": "drone", "sourceRef": "%d"}`, lon, lat, drone.ID))
		var s sites.Site
		if json.Unmarshal([]byte(body), &s); status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
		status, body = h.as(coord, http.MethodGet, fmt.Sprintf("%s/sites/%d/media", v1, s.ID), "")
		var l List[sites.Medium]
		if json.Unmarshal([]byte(body), &l); status != 200 {
			t.Fatalf("media: %d %s", status, body)
		}
		return l.Items
	}
	got := open(113.47212, 34.15121)
	if len(got) != 1 || got[0].MediaID != drone.ID || got[0].Reason != "footprint" || got[0].Source != "drone_survey" ||
		got[0].SurveyID == nil || *got[0].SurveyID != sv.ID || got[0].Thumbnail == "" || got[0].TakenAt == nil {
		t.Errorf("site under the footprint: %+v", got)
	}
	if got := open(113.4921, 34.1512); len(got) != 0 {
		t.Errorf("site 2 km away: %+v, want no images", got)
	}
}

// TestUserDepartment: a user's department is set on creation and by a patch, and shown.
func TestUserDepartment(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	admin := h.token(w.users["admin"])
	status, body := h.as(admin, http.MethodPost, v1+"/users", fmt.Sprintf(`{"username": "gongan", "password": "correct horse battery",
		"role": "inspector", "regionId": %d, "department": "public_security"}`, w.t1))
	if status != http.StatusCreated || !strings.Contains(body, `"department":"public_security"`) {
		t.Fatalf("create: %d %s", status, body)
	}
	var u struct{ ID int64 }
	json.Unmarshal([]byte(body), &u)
	if status, body := h.as(admin, http.MethodPatch, fmt.Sprintf("%s/users/%d", v1, u.ID), `{"department": "transport"}`); status != 200 ||
		!strings.Contains(body, `"department":"transport"`) {
		t.Errorf("patch: %d %s", status, body)
	}
	if status, body := h.as(admin, http.MethodPatch, fmt.Sprintf("%s/users/%d", v1, u.ID), `{"department": "police"}`); status != http.StatusBadRequest &&
		status != http.StatusUnprocessableEntity {
		t.Errorf("unknown department: %d %s", status, body)
	}
}

// TestExitedEnterprisesAPI: the register lists the seed's four; the city office imports a CSV.
func TestExitedEnterprisesAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["admin"])
	status, body := h.as(tok, http.MethodGet, v1+"/exited-enterprises", "")
	if status != 200 || strings.Count(body, `"seq"`) != 4 || !strings.Contains(body, "撒尔夫(河南)农化有限公司") {
		t.Fatalf("register: %d %s", status, body)
	}
	status, body = h.send(tok, http.MethodPost, v1+"/exited-enterprises/import", "text/csv",
		[]byte("序号,企业名称,地址\n5,禹州市某化工厂,禹州市火龙镇\n"))
	if status != 200 || !strings.Contains(body, `"added":1`) {
		t.Errorf("import: %d %s", status, body)
	}
}
