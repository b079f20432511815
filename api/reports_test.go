package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/reports"
	"github.com/sieve-city/sieve/internal/testenv"
)

// testReports is the filings service of the harness (the real ledgers, the real clock); its
// queue only enqueues (see startReportWorkers).
func testReports(t testing.TB, pool *pgxpool.Pool, store *blob.Store) *reports.Service {
	t.Helper()
	q := jobs.New(pool, jobs.Options{MaxAttempts: testMaxAttempts}, testenv.Logger())
	svc, err := reports.New(reports.Deps{Pool: pool, Blob: store, Ledgers: reports.Ledgers{Service: ledgers.New(time.Now)},
		Jobs: q, Now: time.Now, Log: testenv.Logger()}, reports.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// startReportWorkers runs the reports jobs (exports, cleanup) in the test, as a `sieve worker`.
func startReportWorkers(t testing.TB, pool *pgxpool.Pool, svc *reports.Service) {
	t.Helper()
	q := jobs.New(pool, jobs.Options{Workers: 2, MaxAttempts: testMaxAttempts, RetryBase: 10 * time.Millisecond}, testenv.Logger())
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_ = q.Stop(stop)
		cancel()
	})
}

// thisMonth is the current month in Shanghai (the ledgers refuse a month not begun).
func thisMonth() string { return reports.MonthOf(time.Now()).String() }

func testPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// reportsWorld files this month for t1 and t2 (each with its scan) and asks for an export of
// each: the access matrix's fixtures.
func (h *harness) reportsWorld(w *world) map[string][2]int64 {
	h.t.Helper()
	ctx := context.Background()
	out := map[string][2]int64{}
	var filings, exports [2]int64
	for i, x := range []struct {
		user     string
		township int64
	}{{"coord", w.t1}, {"coord2", w.t2}} {
		a := h.actorOf(w, x.user)
		f, _, err := h.srv.Reports.File(ctx, a, reports.FilingRequest{TownshipID: x.township, Month: thisMonth()}, "")
		if err != nil {
			h.t.Fatal(err)
		}
		if _, _, err := h.srv.Reports.AttachScan(ctx, a, f.ID, bytes.NewReader(testPNG(h.t))); err != nil {
			h.t.Fatal(err)
		}
		e, _, err := h.srv.Reports.RequestExport(ctx, a, reports.ExportRequest{Kind: "illegal", TownshipID: x.township, Month: thisMonth()}, "")
		if err != nil {
			h.t.Fatal(err)
		}
		filings[i], exports[i] = f.ID, e.ID
	}
	out["reports"], out["exports"] = filings, exports
	return out
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestReportsAPI: a coordinator files the month and gets the frozen ledgers back byte for byte,
// attaches the scan, sees their own township's standing; the city office exports the whole city
// through the job queue and downloads it from the link.
func TestReportsAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord, coord2, admin := h.token(w.users["coord"]), h.token(w.users["coord2"]), h.token(w.users["admin"])
	month := thisMonth()
	body := fmt.Sprintf(`{"township":%d,"month":%q}`, w.t1, month)

	status, b, hdr := h.do(http.MethodPost, v1+"/reports", body, "Authorization", "Bearer "+coord, "Idempotency-Key", "r-1")
	if status != http.StatusCreated || hdr.Get("Location") == "" {
		t.Fatalf("file: %d %s", status, b)
	}
	var f reports.Filing
	if err := json.Unmarshal([]byte(b), &f); err != nil {
		t.Fatal(err)
	}
	if status, b, _ := h.do(http.MethodPost, v1+"/reports", body, "Authorization", "Bearer "+coord, "Idempotency-Key", "r-1"); status != http.StatusOK || !strings.Contains(b, fmt.Sprintf(`"id":%d,`, f.ID)) {
		t.Fatalf("retry: %d %s", status, b)
	}
	if status, b := h.as(coord, http.MethodPost, v1+"/reports", fmt.Sprintf(`{"township":%d,"month":%q,"summary":"又一份"}`, w.t1, month)); status != http.StatusConflict || !strings.Contains(b, "already_filed") {
		t.Fatalf("second first filing: %d %s", status, b)
	}
	if status, b := h.as(coord2, http.MethodPost, v1+"/reports", body); status != http.StatusNotFound {
		t.Fatalf("another township's coordinator files t1: %d %s", status, b)
	}
	if status, b := h.as(coord, http.MethodPost, v1+"/reports", fmt.Sprintf(`{"township":%d,"month":"2026-13"}`, w.t1)); status != http.StatusBadRequest || !strings.Contains(b, "invalid_month") {
		t.Fatalf("bad month: %d %s", status, b)
	}

	// The frozen 附件2, byte for byte, with its recorded hash.
	status, xlsx, hdr := h.do(http.MethodGet, fmt.Sprintf("%s/reports/%d/illegal", v1, f.ID), "", "Authorization", "Bearer "+coord)
	if status != http.StatusOK || hdr.Get("Content-Type") != ledgers.ContentTypeXLSX || hexSHA([]byte(xlsx)) != hdr.Get("X-Content-SHA256") ||
		!strings.Contains(hdr.Get("Content-Disposition"), "filename*=") {
		t.Fatalf("附件2: %d %v", status, hdr)
	}
	if status, b := h.as(coord2, http.MethodGet, fmt.Sprintf("%s/reports/%d/illegal", v1, f.ID), ""); status != http.StatusNotFound {
		t.Fatalf("another township's coordinator downloads it: %d %s", status, b)
	}

	// The scan of the stamped sheets.
	scanURL := fmt.Sprintf("%s/reports/%d/scan", v1, f.ID)
	if status, b, _ := h.request(http.MethodPost, scanURL, strings.NewReader("hello"), "Authorization", "Bearer "+coord, "Content-Type", "application/octet-stream"); status != http.StatusUnsupportedMediaType || !strings.Contains(b, "unsupported_scan_type") {
		t.Fatalf("text scan: %d %s", status, b)
	}
	img := testPNG(t)
	if status, b, _ := h.request(http.MethodPost, scanURL, bytes.NewReader(img), "Authorization", "Bearer "+coord, "Content-Type", "image/png"); status != http.StatusCreated || !strings.Contains(b, `"part":"scan"`) {
		t.Fatalf("scan: %d %s", status, b)
	}
	if status, got, hdr := h.do(http.MethodGet, scanURL, "", "Authorization", "Bearer "+coord); status != http.StatusOK || got != string(img) || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("scan download: %d %v", status, hdr)
	}

	// The standing of the month: the coordinator sees their township, the city all.
	var rep reports.StatusReport
	status, b = h.as(coord, http.MethodGet, v1+"/reports/status?month="+month, "")
	if err := json.Unmarshal([]byte(b), &rep); status != http.StatusOK || err != nil || len(rep.Townships) != 1 ||
		rep.Townships[0].TownshipID != w.t1 || rep.Townships[0].FirstFiledAt == nil || !rep.Townships[0].Stamped {
		t.Fatalf("coordinator's status: %d %s", status, b)
	}
	status, b = h.as(admin, http.MethodGet, v1+"/reports/status?month="+month, "")
	if err := json.Unmarshal([]byte(b), &rep); status != http.StatusOK || err != nil || len(rep.Townships) != 2 {
		t.Fatalf("city status: %d %s", status, b)
	}
	if status, b := h.as(admin, http.MethodGet, v1+"/reports/status?month=11-2026", ""); status != http.StatusBadRequest {
		t.Fatalf("bad month: %d %s", status, b)
	}

	// The whole city in the background.
	if status, b := h.as(coord, http.MethodPost, v1+"/exports", fmt.Sprintf(`{"kind":"illegal","month":%q}`, month)); status != http.StatusNotFound {
		t.Fatalf("coordinator exports the city: %d %s", status, b)
	}
	status, b = h.as(admin, http.MethodPost, v1+"/exports", fmt.Sprintf(`{"kind":"illegal","month":%q}`, month))
	var e reports.Export
	if err := json.Unmarshal([]byte(b), &e); status != http.StatusAccepted || err != nil || e.State != reports.ExportQueued {
		t.Fatalf("export: %d %s", status, b)
	}
	startReportWorkers(t, h.pool, h.srv.Reports)
	for deadline := time.Now().Add(60 * time.Second); e.State != reports.ExportReady; time.Sleep(200 * time.Millisecond) {
		status, b = h.as(admin, http.MethodGet, fmt.Sprintf("%s/exports/%d", v1, e.ID), "")
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
	if resp.StatusCode != http.StatusOK || hexSHA(got) != e.SHA256 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export download: %d %v", resp.StatusCode, resp.Header)
	}
	if !titleNames("顺店镇")(string(got), 0) || !titleNames("火龙镇")(string(got), 0) {
		t.Fatal("the city workbook lacks a township's sheet")
	}
}

// TestReportsClient: the Go client files, retries, downloads byte for byte, attaches the scan,
// reads the standing and asks for an export.
func TestReportsClient(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	ctx := context.Background()
	coord := client.New(h.url, client.WithToken(h.token(w.users["coord"])), client.WithLanguage("en"))
	req := client.ReportFilingRequest{TownshipID: w.t1, Month: thisMonth()}
	f, created, err := coord.FileReport(ctx, req, "c-1")
	if err != nil || !created {
		t.Fatalf("file: %v %v", created, err)
	}
	if again, created, err := coord.FileReport(ctx, req, "c-1"); err != nil || created || again.ID != f.ID {
		t.Fatalf("retry: %v %v %d", err, created, again.ID)
	}
	data, sha, err := coord.ReportFile(ctx, f.ID, reports.PartExited)
	if err != nil || hexSHA(data) != sha {
		t.Fatalf("附件3: %v %s", err, sha)
	}
	if got, err := coord.AttachReportScan(ctx, f.ID, "image/png", testPNG(t)); err != nil || len(got.Files) != 3 {
		t.Fatalf("scan: %v %+v", err, got.Files)
	}
	if got, err := coord.GetReport(ctx, f.ID); err != nil || got.ID != f.ID {
		t.Fatalf("get: %v", err)
	}
	list, err := coord.ListReports(ctx, client.ReportFilter{Month: thisMonth()})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	st, err := coord.ReportStatus(ctx, "", "")
	if err != nil || len(st.Townships) != 1 || st.Townships[0].InForceID == nil || *st.Townships[0].InForceID != f.ID {
		t.Fatalf("status: %v %+v", err, st)
	}
	e, err := coord.CreateExport(ctx, client.ExportRequest{Kind: "exited_list", TownshipID: w.t1, Month: thisMonth()}, "")
	if err != nil || e.State != reports.ExportQueued {
		t.Fatalf("export: %v %+v", err, e)
	}
	if got, err := coord.GetExport(ctx, e.ID); err != nil || got.ID != e.ID {
		t.Fatalf("get export: %v", err)
	}
	if _, err := coord.CreateExport(ctx, client.ExportRequest{Kind: "illegal", Month: thisMonth()}, ""); !client.IsCode(err, "not_found") {
		t.Fatalf("coordinator exports the city: %v", err)
	}
}
