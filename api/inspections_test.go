package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/evidence"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/testenv"
)

// testInspections is the inspections service of the harness, wired to sites as the binary is
// (cmd/sieve/wiring.go); its queue only enqueues (the tests run the evidence check themselves
// with Check).
func testInspections(t testing.TB, pool *pgxpool.Pool, st *sites.Service,
	more ...func(context.Context, pgx.Tx, inspections.Recorded) error) *inspections.Service {
	t.Helper()
	q := jobs.New(pool, jobs.Options{MaxAttempts: testMaxAttempts}, testenv.Logger())
	// The hooks as cmd/sieve wires them: sites first, then the later domains' (leads).
	hooks := append([]func(context.Context, pgx.Tx, inspections.Recorded) error{sites.InspectionHook(st)}, more...)
	svc, err := inspections.New(inspections.Deps{Pool: pool, Jobs: q, Evidence: evidence.DefaultConfig(), Now: time.Now,
		Hooks: inspections.Hooks{Recorded: hooks},
		Log:   testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// The world's inspection fixtures: a city-wide round, an inspection of premise1 (k1) by the
// worker and one of premise2 (k2) by worker2, each with a re-check by the township's
// coordinator (so the re-check summary has a row on either side).
const (
	fixtureInspection1 = "11111111-1111-4111-8111-111111111111"
	fixtureInspection2 = "22222222-2222-4222-8222-222222222222"
)

func (h *harness) inspectionWorld(w *world) [2]string {
	h.t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		var round int64
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('全市第一轮', now() - interval '30 days',
			now() + interval '30 days') RETURNING id`).Scan(&round); err != nil {
			return err
		}
		const ins = `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence, recheck_of, disputed_by)
			VALUES ($1::uuid, $2, $3, $4, now() - interval '1 day', 'clear', 'flagged', $5::uuid, NULL)`
		for _, f := range []struct {
			id, recheckOf string
			premise, by   int64
		}{
			{fixtureInspection1, "", w.premise1, w.users["worker"].ID},
			{fixtureInspection2, "", w.premise2, w.users["worker2"].ID},
			{"11111111-1111-4111-8111-1111111111ff", fixtureInspection1, w.premise1, w.users["coord"].ID},
			{"22222222-2222-4222-8222-2222222222ff", fixtureInspection2, w.premise2, w.users["coord2"].ID},
		} {
			var of *string
			if f.recheckOf != "" {
				of = &f.recheckOf
			}
			if _, err := tx.Exec(ctx, ins, f.id, f.premise, round, f.by, of); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return [2]string{fixtureInspection1, fixtureInspection2}
}

// inspectionAreas are the access matrix's area cases of the inspection reads.
func inspectionAreas(w *world) map[string]map[string]areaCase {
	listed := func(body string, _ int64) bool { return strings.Contains(body, `"id":"`+w.inspections[1]+`"`) }
	worker2 := w.users["worker2"].ID
	hasInspector := func(body string, _ int64) bool {
		return strings.Contains(body, fmt.Sprintf(`"inspectorId":%d,`, worker2))
	}
	q := func(path, param string, in, out int64, shows func(string, int64) bool) areaCase {
		return areaCase{in: fmt.Sprintf("%s?%s=%d", path, param, in), out: fmt.Sprintf("%s?%s=%d", path, param, out), shows: shows}
	}
	list := v1 + "/inspections"
	return map[string]map[string]areaCase{
		"GET " + list: {
			"region": q(list, "region", w.t1, w.t2, listed),
			"cell":   q(list, "cell", w.k1, w.k2, listed),
		},
		"GET " + list + "/stats":          {"region": q(list+"/stats", "region", w.t1, w.t2, hasInspector)},
		"GET " + v1 + "/rechecks/summary": {"region": q(v1+"/rechecks/summary", "region", w.t1, w.t2, hasInspector)},
	}
}

// inspectionEnv is a harness with the map world and a current round, for the inspection tests.
type inspectionEnv struct {
	*harness
	w                 *world
	worker, coord     string // tokens
	worker2, workerB  string
	svc               *inspections.Service
	workerBID, roundN int64
}

func newInspectionEnv(t *testing.T) *inspectionEnv {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	e := &inspectionEnv{harness: h, w: w, svc: h.srv.Inspections}
	e.worker, e.coord, e.worker2 = h.token(w.users["worker"]), h.token(w.users["coord"]), h.token(w.users["worker2"])
	// A second grid worker of the same village (cell k1b), for re-checks.
	status, b := h.as(h.token(w.users["admin"]), http.MethodPost, v1+"/users",
		fmt.Sprintf(`{"username":"workerb","password":"correct horse battery","role":"grid_worker","regionId":%d,"cellIds":[%d]}`, w.v1, w.k1b))
	if status != http.StatusCreated {
		t.Fatalf("create workerb: %d %s", status, b)
	}
	var u struct{ ID int64 }
	_ = json.Unmarshal([]byte(b), &u)
	e.workerBID = u.ID
	tok, err := h.accounts.CreateSession(context.Background(), h.pool, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.workerB = tok
	return e
}

var uuidN int

// newID is a fresh phone-made id.
func newID() string {
	uuidN++
	return fmt.Sprintf("0b9e2f0c-6a53-4c1e-9a57-%012d", uuidN)
}

// body is a POST /inspections body for premise (a fix at the premise point, now).
func body(id string, premise int64, extra string) string {
	s := fmt.Sprintf(`{"id":%q,"premiseId":%d,"visitedAt":%q,"position":{"lon":113.42,"lat":34.2,"accuracyM":8,"crs":"wgs84"},
		"outcome":"clear","findings":[],"equipmentRemoved":null,"converted":null,"note":"","mediaIds":[]`,
		id, premise, time.Now().Add(-time.Hour).Format(time.RFC3339))
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func decodeInspection(t *testing.T, b string) inspections.Inspection {
	t.Helper()
	var in inspections.Inspection
	if err := json.Unmarshal([]byte(b), &in); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return in
}

func errCode(b string) string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal([]byte(b), &e)
	return e.Error.Code
}

// TestRecordInspection: a phone's visit is recorded once, pending, as the caller, in the
// premise's cell and the round in force; the same id and body again answers 200 with the
// stored record, another body 409 inspection_conflict.
func TestRecordInspection(t *testing.T) {
	e := newInspectionEnv(t)
	id := newID()
	req := body(id, e.w.premise1, `"inspectorId":999999`)
	status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", req)
	if status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	in := decodeInspection(t, b)
	if in.InspectorID != e.w.users["worker"].ID {
		t.Errorf("inspector %d, want the caller %d (the body's inspectorId is ignored)", in.InspectorID, e.w.users["worker"].ID)
	}
	if in.Evidence.Status != evidence.Pending || in.CellID == nil || *in.CellID != e.w.k1 || in.RoundID == 0 {
		t.Errorf("recorded %+v, want pending in k1 in a round", in)
	}

	status, b2 := e.as(e.worker, http.MethodPost, v1+"/inspections", req)
	if status != http.StatusOK || decodeInspection(t, b2).ReceivedAt != in.ReceivedAt {
		t.Errorf("replay: %d %s, want 200 with the stored record", status, b2)
	}
	// The same body with the ignored field left out is the same inspection.
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", strings.Replace(req, `,"inspectorId":999999`, "", 1)); status != http.StatusOK {
		t.Errorf("replay without inspectorId: %d %s, want 200", status, b)
	}
	other := strings.Replace(req, `"note":""`, `"note":"改了"`, 1)
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", other); status != http.StatusConflict || errCode(b) != "inspection_conflict" {
		t.Errorf("another body: %d %s, want 409 inspection_conflict", status, b)
	}
	// Someone else sending the same id and body: a conflict, never a view of the first one.
	if status, b := e.as(e.token(e.w.users["admin"]), http.MethodPost, v1+"/inspections", req); status != http.StatusConflict {
		t.Errorf("same id by another user: %d %s, want 409", status, b)
	}
	var n int
	if err := db.AsSystem(context.Background(), e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM inspections WHERE id = $1::uuid`, id).Scan(&n)
	}); err != nil || n != 1 {
		t.Errorf("%d rows for the id (%v), want 1", n, err)
	}
	if status, b := e.as(e.worker, http.MethodGet, v1+"/inspections/"+id, ""); status != http.StatusOK || decodeInspection(t, b).ID != id {
		t.Errorf("get: %d %s", status, b)
	}
	if status, b := e.as(e.worker2, http.MethodGet, v1+"/inspections/"+id, ""); status != http.StatusNotFound {
		t.Errorf("get by a worker of another township: %d %s, want 404", status, b)
	}
}

// TestInspectionRefusals: each refusal answers its status and code.
func TestInspectionRefusals(t *testing.T) {
	e := newInspectionEnv(t)
	// worker2's own photo, and one of the worker's.
	var theirs, mine int64
	err := db.AsSystem(context.Background(), e.pool, "test", func(tx pgx.Tx) error {
		const photo = `INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format, content_type, object_key)
			VALUES ('photo', $1, NULL, sha256($2::bytea), 10, 'jpeg', 'image/jpeg', $2) RETURNING id`
		if err := tx.QueryRow(context.Background(), photo, e.w.users["worker2"].ID, "refusal/theirs").Scan(&theirs); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), photo, e.w.users["worker"].ID, "refusal/mine").Scan(&mine)
	})
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	past := time.Now().AddDate(0, 0, -90).Format(time.RFC3339)
	p1 := e.w.premise1
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"visit time beyond the skew", setVisit(body(newID(), p1, ""), future), 422, "visit_in_future"},
		{"outside every round", setVisit(body(newID(), p1, ""), past), 422, "outside_round"},
		{"premise outside the caller's cells", body(newID(), e.w.premise2, ""), 404, "not_found"},
		{"another user's photo", strings.Replace(body(newID(), p1, ""), `"mediaIds":[]`, fmt.Sprintf(`"mediaIds":[%d]`, theirs), 1), 422, "media_not_yours"},
		{"no such photo", strings.Replace(body(newID(), p1, ""), `"mediaIds":[]`, `"mediaIds":[987654]`, 1), 422, "media_not_yours"},
		{"findings on a clear outcome", strings.Replace(body(newID(), p1, ""), `"findings":[]`, `"findings":["unlicensed"]`, 1), 422, "findings_not_suspected"},
		{"unknown outcome", strings.Replace(body(newID(), p1, ""), `"outcome":"clear"`, `"outcome":"fine"`, 1), 422, "invalid_inspection"},
		{"not a uuid", strings.Replace(body("x", p1, ""), `"id":"x"`, `"id":"abc"`, 1), 422, "invalid_inspection"},
		{"unknown crs", strings.Replace(body(newID(), p1, ""), `"crs":"wgs84"`, `"crs":"bd09"`, 1), 422, "unsupported_crs"},
		{"both premise and new premise", body(newID(), p1, `"newPremise":{"kind":"household","name":"x","position":{"lon":113.42,"lat":34.2}}`), 422, "invalid_inspection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", tt.body)
			if status != tt.status || (tt.code != "" && errCode(b) != tt.code) {
				t.Fatalf("got %d %s, want %d %s", status, b, tt.status, tt.code)
			}
		})
	}
	// The worker's own photo is accepted.
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections",
		strings.Replace(body(newID(), p1, ""), `"mediaIds":[]`, fmt.Sprintf(`"mediaIds":[%d]`, mine), 1)); status != http.StatusCreated {
		t.Errorf("own photo: %d %s", status, b)
	}
	// Findings with a suspected outcome are.
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", strings.Replace(strings.Replace(body(newID(), p1, ""),
		`"findings":[]`, `"findings":["unlicensed","factory_in_factory"]`, 1), `"outcome":"clear"`, `"outcome":"suspected"`, 1)); status != http.StatusCreated {
		t.Errorf("suspected with findings: %d %s", status, b)
	}
}

func setVisit(b, at string) string {
	i := strings.Index(b, `"visitedAt":"`) + len(`"visitedAt":"`)
	j := strings.Index(b[i:], `"`)
	return b[:i] + at + b[i+j:]
}

// TestNewPremiseAndGCJ02: a unit found in the field joins the register in its cell, marked as
// found in the field; GCJ-02 positions are stored converted to WGS-84.
func TestNewPremiseAndGCJ02(t *testing.T) {
	e := newInspectionEnv(t)
	glon, glat := gis.WGS84ToGCJ02(113.47, 34.2) // in k1b; the GCJ-02 point is ~600 m off
	id := newID()
	req := fmt.Sprintf(`{"id":%q,"newPremise":{"kind":"idle_factory","name":"废弃厂房","address":"村东","position":{"lon":%f,"lat":%f,"crs":"gcj02"}},
		"visitedAt":%q,"position":{"lon":%f,"lat":%f,"accuracyM":5,"crs":"gcj02"},"outcome":"clear"}`,
		id, glon, glat, time.Now().Add(-time.Minute).Format(time.RFC3339), glon, glat)
	// The worker of k1 cannot place it in k1b; workerb can.
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", req); status != http.StatusUnprocessableEntity {
		t.Errorf("new premise outside the caller's cells: %d %s, want 422", status, b)
	}
	status, b := e.as(e.workerB, http.MethodPost, v1+"/inspections", req)
	if status != http.StatusCreated {
		t.Fatalf("record with a new premise: %d %s", status, b)
	}
	in := decodeInspection(t, b)
	if in.CellID == nil || *in.CellID != e.w.k1b || in.SentCRS != "gcj02" {
		t.Errorf("placed in %v sent %s, want k1b and gcj02", in.CellID, in.SentCRS)
	}
	if in.Position == nil || abs(in.Position.Lon-113.47) > 1e-5 || abs(in.Position.Lat-34.2) > 1e-5 {
		t.Errorf("position %+v, want the WGS-84 point 113.47, 34.2", in.Position)
	}
	status, b = e.as(e.workerB, http.MethodGet, fmt.Sprintf("%s/premises/%d", v1, in.PremiseID), "")
	if status != http.StatusOK || !strings.Contains(b, `"source":"field"`) || !strings.Contains(b, "废弃厂房") {
		t.Errorf("new premise: %d %s, want it in the register, found in the field", status, b)
	}
	// A replay does not add the premise twice.
	if status, b := e.as(e.workerB, http.MethodPost, v1+"/inspections", req); status != http.StatusOK || decodeInspection(t, b).PremiseID != in.PremiseID {
		t.Errorf("replay: %d %s", status, b)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestEvidenceCheck: the check leaves an inspection pending while a photo is being processed,
// then stores the verdict; a processed photo enqueues the check of the inspections citing it.
func TestEvidenceCheck(t *testing.T) {
	e := newInspectionEnv(t)
	ctx := context.Background()
	var photo int64
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO media (kind, uploaded_by, sha256, size, format, content_type, object_key)
			VALUES ('photo', $1, sha256('check'::bytea), 10, 'jpeg', 'image/jpeg', 'check/1') RETURNING id`, e.w.users["worker"].ID).Scan(&photo)
	})
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	req := strings.Replace(body(id, e.w.premise1, ""), `"mediaIds":[]`, fmt.Sprintf(`"mediaIds":[%d]`, photo), 1)
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", req); status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	jobsFor := func() int {
		var n int
		if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'inspection_evidence' AND args->>'inspection_id' = $1`, id).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := jobsFor(); n != 1 {
		t.Errorf("%d evidence jobs after recording, want 1", n)
	}
	if v, err := e.svc.Check(ctx, id); err != nil || v.Status != evidence.Pending {
		t.Fatalf("check with the photo unprocessed: %+v %v, want pending", v, err)
	}
	// The media jobs finish: the hook enqueues the check again, which now judges.
	err = db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE media SET status = 'processed', taken_at = now() - interval '61 minutes',
			point = ST_SetSRID(ST_MakePoint(113.42, 34.2), 4326), phash = 12345 WHERE id = $1`, photo); err != nil {
			return err
		}
		return e.svc.MediaProcessed(ctx, tx, photo)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := jobsFor(); n != 2 {
		t.Errorf("%d evidence jobs after the photo was processed, want 2", n)
	}
	v, err := e.svc.Check(ctx, id)
	if err != nil || v.Status == evidence.Pending {
		t.Fatalf("check: %+v %v", v, err)
	}
	status, b := e.as(e.worker, http.MethodGet, v1+"/inspections/"+id, "")
	in := decodeInspection(t, b)
	if status != http.StatusOK || in.Evidence.Status != v.Status || in.Evidence.CheckedAt == nil {
		t.Errorf("stored verdict: %d %s, want %s with checkedAt", status, b, v.Status)
	}
}

// TestReview: a coordinator overrules a flagged verdict with a reason (audited, flags kept); a
// grid worker may not (403); an inspection that is not flagged answers 409.
func TestReview(t *testing.T) {
	e := newInspectionEnv(t)
	ctx := context.Background()
	id := e.w.inspections[0]
	flags := `[{"code":"photo_far","severity":"flag","detail":"photo 300 m from the premise","value":300,"threshold":100}]`
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE inspections SET evidence = 'flagged', evidence_flags = '{photo_far}', evidence_findings = $2
			WHERE id = $1::uuid`, id, flags)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	path := v1 + "/inspections/" + id + "/review"
	if status, b := e.as(e.worker, http.MethodPost, path, `{"reason":"我自己说没问题"}`); status != http.StatusForbidden {
		t.Errorf("grid worker's overrule: %d %s, want 403", status, b)
	}
	if status, b := e.as(e.coord, http.MethodPost, path, `{"reason":""}`); status != http.StatusUnprocessableEntity {
		t.Errorf("no reason: %d %s, want 422", status, b)
	}
	if status, b := e.as(e.h2coord(), http.MethodPost, path, `{"reason":"x"}`); status != http.StatusNotFound {
		t.Errorf("another township's coordinator: %d %s, want 404", status, b)
	}
	status, b := e.as(e.coord, http.MethodPost, path, `{"reason":"登记点位偏差，已核实现场照片"}`)
	in := decodeInspection(t, b)
	if status != http.StatusOK || in.Evidence.Status != evidence.Verified || in.Evidence.Review == nil ||
		len(in.Evidence.Flags) != 1 || in.Evidence.Review.By != e.w.users["coord"].ID {
		t.Fatalf("review: %d %s, want verified by review with the flag kept", status, b)
	}
	if status, b := e.as(e.coord, http.MethodPost, path, `{"reason":"again"}`); status != http.StatusConflict || errCode(b) != "not_flagged" {
		t.Errorf("second review: %d %s, want 409 not_flagged", status, b)
	}
	var audited int
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity = 'inspections' AND action = 'update'
			AND user_id = $1 AND entity_id = $2`, e.w.users["coord"].ID, id).Scan(&audited)
	}); err != nil {
		t.Logf("audit lookup: %v", err)
	}
	if audited != 1 {
		t.Errorf("%d audit entries of the review, want 1", audited)
	}
	// Stats count the overrule.
	status, b = e.as(e.coord, http.MethodGet, fmt.Sprintf("%s/inspections/stats?region=%d", v1, e.w.t1), "")
	if status != http.StatusOK || !strings.Contains(b, `"overruled":1`) {
		t.Errorf("stats: %d %s, want one overrule", status, b)
	}
}

// h2coord is a token of the other township's coordinator.
func (e *inspectionEnv) h2coord() string { return e.token(e.w.users["coord2"]) }

// TestRechecks: a re-check sample goes to another worker of the same village, never to the
// original worker; the re-check is recorded by its assignee only, closes the task, and a
// disagreement flags the original and shows in the summary.
func TestRechecks(t *testing.T) {
	e := newInspectionEnv(t)
	ctx := context.Background()
	var round int64
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM rounds LIMIT 1`).Scan(&round)
	}); err != nil {
		t.Fatal(err)
	}
	id := newID()
	if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", body(id, e.w.premise1, "")); status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	if v, err := e.svc.Check(ctx, id); err != nil {
		t.Fatal(v, err)
	}
	req := fmt.Sprintf(`{"regionId":%d,"roundId":%d,"share":1}`, e.w.t1, round)
	if status, b := e.as(e.worker, http.MethodPost, v1+"/rechecks", req); status != http.StatusForbidden {
		t.Errorf("grid worker orders re-checks: %d %s, want 403", status, b)
	}
	status, b := e.as(e.coord, http.MethodPost, v1+"/rechecks", req)
	if status != http.StatusCreated {
		t.Fatalf("rechecks: %d %s", status, b)
	}
	var rep inspections.RecheckReport
	_ = json.Unmarshal([]byte(b), &rep)
	if rep.Assigned < 1 {
		t.Fatalf("report %s, want a task assigned", b)
	}
	var assignee int64
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT assignee_id FROM tasks WHERE kind = 'recheck' AND ref = $1 AND status = 'open'`, id).Scan(&assignee)
	}); err != nil {
		t.Fatal(err)
	}
	// By construction: never the original worker, every task of the sample.
	var toOriginal int
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tasks t JOIN inspections i ON i.id::text = t.ref
			WHERE t.kind = 'recheck' AND t.assignee_id = i.inspector_id`).Scan(&toOriginal)
	}); err != nil {
		t.Fatal(err)
	}
	if assignee != e.workerBID || toOriginal != 0 {
		t.Errorf("assigned to %d (%d tasks to the original worker), want workerb %d and none", assignee, toOriginal, e.workerBID)
	}
	recheck := func(tok string) (int, string) {
		return e.as(tok, http.MethodPost, v1+"/inspections", strings.Replace(body(newID(), e.w.premise1, fmt.Sprintf(`"recheckOf":%q`, id)),
			`"outcome":"clear"`, `"outcome":"not_found"`, 1))
	}
	if status, b := recheck(e.worker); status != http.StatusUnprocessableEntity || errCode(b) != "recheck_not_assigned" {
		t.Errorf("re-check by the original worker: %d %s, want 422 recheck_not_assigned", status, b)
	}
	if status, b := recheck(e.workerB); status != http.StatusCreated {
		t.Fatalf("re-check by its assignee: %d %s", status, b)
	}
	if _, err := e.svc.Check(ctx, id); err != nil {
		t.Fatal(err)
	}
	status, b = e.as(e.coord, http.MethodGet, v1+"/inspections/"+id, "")
	in := decodeInspection(t, b)
	if in.DisputedBy == nil || in.Evidence.Status != evidence.Flagged || !strings.Contains(b, "recheck_disagrees") {
		t.Errorf("original after a disagreeing re-check: %s, want flagged recheck_disagrees", b)
	}
	status, b = e.as(e.coord, http.MethodGet, fmt.Sprintf("%s/rechecks/summary?region=%d&round=%d", v1, e.w.t1, round), "")
	if status != http.StatusOK || !strings.Contains(b, fmt.Sprintf(`{"inspectorId":%d,"username":"worker","rechecked":2,"disagreed":1,"disagreement":0.5}`, e.w.users["worker"].ID)) {
		t.Errorf("summary: %d %s, want worker 2 re-checked (fixture + this), 1 disagreed", status, b)
	}
	// The task is closed by the re-check.
	var open int
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE kind = 'recheck' AND ref = $1 AND status = 'open'`, id).Scan(&open)
	}); err != nil || open != 0 {
		t.Errorf("%d open re-check tasks after the re-check (%v), want 0", open, err)
	}
}

// TestRounds: the city office opens a city-wide round, a coordinator one of their township but
// not the city's; everyone signed in lists them.
func TestRounds(t *testing.T) {
	e := newInspectionEnv(t)
	start, end := time.Now().Format(time.RFC3339), time.Now().AddDate(0, 1, 0).Format(time.RFC3339)
	city := fmt.Sprintf(`{"name":"全市回头看","startsAt":%q,"endsAt":%q}`, start, end)
	town := fmt.Sprintf(`{"name":"火龙镇复查","startsAt":%q,"endsAt":%q,"regionId":%d}`, start, end, e.w.t1)
	if status, b := e.as(e.coord, http.MethodPost, v1+"/rounds", city); status != http.StatusNotFound && status != http.StatusUnprocessableEntity {
		t.Errorf("coordinator opens a city-wide round: %d %s, want refused", status, b)
	}
	if status, b := e.as(e.coord, http.MethodPost, v1+"/rounds", town); status != http.StatusCreated {
		t.Errorf("coordinator opens a township round: %d %s", status, b)
	}
	if status, b := e.as(e.token(e.w.users["admin"]), http.MethodPost, v1+"/rounds", city); status != http.StatusCreated {
		t.Errorf("city office opens a city-wide round: %d %s", status, b)
	}
	if status, b := e.as(e.worker, http.MethodPost, v1+"/rounds", town); status != http.StatusForbidden {
		t.Errorf("grid worker opens a round: %d %s, want 403", status, b)
	}
	status, b := e.as(e.worker, http.MethodGet, v1+"/rounds", "")
	if status != http.StatusOK || !strings.Contains(b, "火龙镇复查") || !strings.Contains(b, "全市回头看") {
		t.Errorf("rounds: %d %s", status, b)
	}
	if status, b := e.as(e.worker2, http.MethodGet, v1+"/rounds", ""); status != http.StatusOK || strings.Contains(b, "火龙镇复查") {
		t.Errorf("another township's rounds: %d %s, want 火龙镇's hidden", status, b)
	}
}

// TestClientInspections drives the inspection routes through client/.
func TestClientInspections(t *testing.T) {
	e := newInspectionEnv(t)
	ctx := context.Background()
	worker := client.New(e.url, client.WithToken(e.worker), client.WithLanguage("en"))
	coord := client.New(e.url, client.WithToken(e.coord), client.WithLanguage("en"))
	rounds, err := worker.ListRounds(ctx, client.PageRequest{})
	if err != nil || len(rounds.Items) != 1 {
		t.Fatalf("rounds: %+v %v", rounds, err)
	}
	acc := 9.0
	req := client.InspectionRequest{ID: newID(), PremiseID: &e.w.premise1, VisitedAt: time.Now().Add(-time.Hour),
		Position: &client.Position{Lon: 113.42, Lat: 34.2, AccuracyM: &acc}, Outcome: "clear"}
	in, created, err := worker.RecordInspection(ctx, req)
	if err != nil || !created || in.ID != req.ID {
		t.Fatalf("record: %+v %v %v", in, created, err)
	}
	if _, created, err := worker.RecordInspection(ctx, req); err != nil || created {
		t.Errorf("replay: created %v %v, want the stored record", created, err)
	}
	req.Note = "changed"
	var ce *client.Error
	if _, _, err := worker.RecordInspection(ctx, req); !errors.As(err, &ce) || ce.Code != "inspection_conflict" {
		t.Errorf("another body: %v, want inspection_conflict", err)
	}
	if got, err := worker.GetInspection(ctx, in.ID); err != nil || got.Evidence.Status != evidence.Pending {
		t.Errorf("get: %+v %v", got, err)
	}
	list, err := coord.ListInspections(ctx, client.InspectionFilter{CellID: e.w.k1, Evidence: "pending"})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != in.ID {
		t.Errorf("list: %+v %v", list, err)
	}
	if _, err := coord.ReviewInspection(ctx, e.w.inspections[0], "现场核实无误"); err != nil {
		t.Errorf("review: %v", err)
	}
	if stats, err := coord.InspectionStats(ctx, e.w.t1, 0); err != nil || len(stats.Items) == 0 {
		t.Errorf("stats: %+v %v", stats, err)
	}
	if _, err := coord.CreateRechecks(ctx, client.RecheckRequest{RegionID: e.w.t1, RoundID: rounds.Items[0].ID}); err != nil {
		t.Errorf("rechecks: %v", err)
	}
	if sum, err := coord.RecheckSummary(ctx, e.w.t1, 0); err != nil || len(sum.Items) != 1 {
		t.Errorf("summary: %+v %v", sum, err)
	}
	if _, err := coord.CreateRound(ctx, client.NewRound{Name: "复查", StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour), RegionID: &e.w.t1}); err != nil {
		t.Errorf("create round: %v", err)
	}
}
