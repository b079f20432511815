package api

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/reports"
)

// titleNames reports whether an XLSX answer's first sheet is titled for the township name.
func titleNames(name string) func(body string, _ int64) bool {
	return func(body string, _ int64) bool {
		f, err := excelize.OpenReader(strings.NewReader(body))
		if err != nil {
			return false
		}
		defer f.Close()
		for _, sheet := range f.GetSheetList() {
			if v, _ := f.GetCellValue(sheet, "A2"); strings.HasPrefix(v, name) {
				return true
			}
		}
		return false
	}
}

// ledgerAreas are the access matrix's cases of the ledgers (issue 13): another township's ledger
// is 404; the city office's shows it (its title names the township).
func ledgerAreas(w *world) map[string]map[string]areaCase {
	out := map[string]map[string]areaCase{}
	for _, p := range []string{"/ledgers/illegal", "/ledgers/exited", "/ledgers/exited-list"} {
		out["GET "+v1+p] = map[string]areaCase{"township": {in: fmt.Sprintf("%s%s?township=%d", v1, p, w.t1),
			out: fmt.Sprintf("%s%s?township=%d", v1, p, w.t2), outObject: w.t2, notFound: true, shows: titleNames("顺店镇")}}
	}
	return out
}

// TestLedgerRoutes: the downloads' names and types, the defaults (the caller's township, this
// month, XLSX), CSV with a BOM, the whole city for the city office only, and the refusals.
func TestLedgerRoutes(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	ctx := context.Background()
	// The t1 site is verified illegal with an action, so that 附件2 lists it.
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sites SET status = 'verified_illegal', industry = '化工', created_at = now() - interval '40 days' WHERE id = $1`,
			w.sites["sites"][0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	coord, admin, coord2 := h.token(w.users["coord"]), h.token(w.users["admin"]), h.token(w.users["coord2"])
	month := ledgers.Month(time.Now())
	get := func(tok, path string) (int, string, http.Header) {
		t.Helper()
		return h.do(http.MethodGet, path, "", "Authorization", "Bearer "+tok, "Accept-Language", "en")
	}

	status, body, hdr := get(coord, v1+"/ledgers/illegal")
	if status != http.StatusOK || hdr.Get("Content-Type") != ledgers.ContentTypeXLSX {
		t.Fatalf("default: %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	wantCD := fmt.Sprintf(`attachment; filename="ledger-illegal-%s.xlsx"; filename*=UTF-8''%%E9%%99%%84%%E4%%BB%%B62_%%E7%%81%%AB%%E9%%BE%%99%%E9%%95%%87_%s.xlsx`,
		month, month)
	if cd := hdr.Get("Content-Disposition"); cd != wantCD {
		t.Errorf("Content-Disposition %q, want %q", cd, wantCD)
	}
	f, err := excelize.OpenReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.GetCellValue("火龙镇", "A2"); v != "火龙镇非法违法“小化工”清单台账" {
		t.Errorf("title %q", v)
	}
	if v, _ := f.GetCellValue("火龙镇", "B6"); v != "某作坊" {
		t.Errorf("first firm %q", v)
	}
	f.Close()

	status, body, hdr = get(coord, v1+"/ledgers/exited?format=csv&month=2026-01&township="+itoa(w.t1))
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") ||
		!bytes.HasPrefix([]byte(body), []byte("\xef\xbb\xbf序号,企业名称,地址,生产装置是否拆除,是否存在转产情况,工作参与人员,备注\r\n")) {
		t.Fatalf("csv: %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	if !strings.Contains(hdr.Get("Content-Disposition"), `filename="ledger-exited-2026-01.csv"`) {
		t.Errorf("csv name %q", hdr.Get("Content-Disposition"))
	}

	// The whole city: the city office's, a summary then a sheet per township.
	status, body, _ = get(admin, v1+"/ledgers/illegal?month="+month)
	if status != http.StatusOK {
		t.Fatalf("city: %d %s", status, body)
	}
	f, err = excelize.OpenReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.GetSheetList(), ","); got != "汇总,火龙镇,顺店镇" {
		t.Errorf("city sheets %s", got)
	}
	f.Close()
	for _, p := range []string{"/ledgers/illegal?township=0", "/ledgers/exited-list?township=0",
		"/ledgers/illegal?township=" + itoa(w.t2), "/ledgers/illegal?township=" + itoa(w.v1)} {
		if status, body, _ := get(coord, v1+p); status != http.StatusNotFound {
			t.Errorf("coordinator %s: %d %s, want 404", p, status, body)
		}
	}
	if status, body, _ := get(coord2, v1+"/ledgers/exited"); status != http.StatusOK || !titleNames("顺店镇")(body, 0) {
		t.Errorf("t2's coordinator, default township: %d", status)
	}

	for _, c := range []struct {
		query, code string
		status      int
	}{
		{"month=2026-13", "invalid_month", 400},
		{"month=202611", "invalid_month", 400},
		{"month=2099-01", "month_not_begun", 422},
		{"format=pdf", "invalid_format", 400},
		{"township=abc", "invalid_parameter", 400},
	} {
		status, body, _ := get(coord, v1+"/ledgers/illegal?"+c.query)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.query, status, body, c.status, c.code)
		}
	}
}

// TestExitedCheckParticipants: an exited firm's check sent from the phone with its
// participants and remarks (migration 0026) is the firm's line of 附件3: 是/否, the inspector and
// the participants, the date and the note.
func TestExitedCheckParticipants(t *testing.T) {
	e := newInspectionEnv(t)
	ctx := context.Background()
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO exited_enterprises (seq, name, address, township_code, premise_id)
			VALUES (9, '火龙镇原化工厂', '火龙村', '411081100', $1)`, e.w.premise1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	visited := time.Now().Add(-time.Hour)
	check := func(id, participants string) string {
		return fmt.Sprintf(`{"id":%q,"premiseId":%d,"visitedAt":%q,"position":{"lon":113.42,"lat":34.2,"accuracyM":8,"crs":"wgs84"},
			"outcome":"clear","findings":[],"equipmentRemoved":true,"converted":false,"note":"生产装置已拆除","mediaIds":[]%s}`,
			id, e.w.premise1, visited.Format(time.RFC3339), participants)
	}
	for _, bad := range []string{`,"participants":[""]`, `,"participants":["` + strings.Repeat("名", 51) + `"]`,
		`,"participants":[` + strings.Repeat(`"某人",`, 20) + `"某人"]`} {
		if status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", check(newID(), bad)); status != http.StatusUnprocessableEntity ||
			errCode(b) != "invalid_inspection" {
			t.Errorf("%s: %d %s, want 422 invalid_inspection", bad, status, b)
		}
	}
	status, b := e.as(e.worker, http.MethodPost, v1+"/inspections", check(newID(), `,"participants":[" 刘镇干部 ","赵应急"]`))
	if status != http.StatusCreated {
		t.Fatalf("check: %d %s", status, b)
	}
	if in := decodeInspection(t, b); strings.Join(in.Participants, ",") != "刘镇干部,赵应急" {
		t.Errorf("participants %q", in.Participants)
	}
	status, body, _ := e.do(http.MethodGet, v1+"/ledgers/exited?format=csv", "", "Authorization", "Bearer "+e.coord)
	want := fmt.Sprintf("1,火龙镇原化工厂,火龙村,是,否,worker、刘镇干部、赵应急,排查日期%s；生产装置已拆除\r\n",
		visited.In(time.FixedZone("CST", 8*3600)).Format("2006年01月02日"))
	if status != http.StatusOK || !strings.HasSuffix(body, want) {
		t.Errorf("附件3: %d %q, want a line %q", status, body, want)
	}
}

// TestLedgerPhotosRoute: ?photos=true on 附件2 always starts a background export (202, the
// export's Location), the same request while it is in flight answers it, and the job's ZIP holds
// the workbook with its index sheet 照片附件; the option is 附件2's only (422), and another township is
// 404 as for the ledger.
func TestLedgerPhotosRoute(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sites SET status = 'verified_illegal', created_at = now() - interval '40 days' WHERE id = $1`,
			w.sites["sites"][0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	coord := h.token(w.users["coord"])
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		return h.do(http.MethodGet, path, "", "Authorization", "Bearer "+coord, "Accept-Language", "en")
	}
	status, body, hdr := get(v1 + "/ledgers/illegal?photos=true")
	var e reports.Export
	if err := json.Unmarshal([]byte(body), &e); status != http.StatusAccepted || err != nil || !e.Photos ||
		e.RegionID != w.t1 || e.Kind != "illegal" || hdr.Get("Location") != fmt.Sprintf("%s/exports/%d", v1, e.ID) {
		t.Fatalf("photos: %d %s %v", status, body, hdr)
	}
	if status, body, _ := get(v1 + "/ledgers/illegal?photos=true"); status != http.StatusAccepted ||
		!strings.Contains(body, fmt.Sprintf(`"id":%d,`, e.ID)) {
		t.Fatalf("again while queued: %d %s, want export %d", status, body, e.ID)
	}
	for _, c := range []struct {
		path, code string
		status     int
	}{
		{"/ledgers/illegal?photos=yes", "invalid_parameter", 400},
		{"/ledgers/exited?photos=true", "photos_unsupported", 422},
		{"/ledgers/illegal?photos=true&township=" + itoa(w.t2), "not_found", 404},
	} {
		if status, body, _ := get(v1 + c.path); status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.path, status, body, c.status, c.code)
		}
	}
	startReportWorkers(t, h.pool, h.srv.Reports)
	for deadline := time.Now().Add(60 * time.Second); e.State != reports.ExportReady; time.Sleep(200 * time.Millisecond) {
		status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/exports/%d", v1, e.ID), "")
		if err := json.Unmarshal([]byte(b), &e); status != http.StatusOK || err != nil || e.State == reports.ExportFailed {
			t.Fatalf("export state: %d %s", status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("export still %s", e.State)
		}
	}
	resp, err := http.Get(e.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hexSHA(got) != e.SHA256 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := zip.NewReader(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	month := ledgers.Month(time.Now())
	r, err := zr.Open("附件2_火龙镇_" + month + ".xlsx")
	if err != nil {
		t.Fatalf("no workbook in the ZIP: %v", err)
	}
	wb, err := excelize.OpenReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if sheets := strings.Join(wb.GetSheetList(), ","); sheets != "火龙镇,照片附件" {
		t.Fatalf("sheets %s", sheets)
	}
	if v, _ := wb.GetCellValue("照片附件", "D5"); v != "某作坊" {
		t.Errorf("index's first case %q", v)
	}
}
