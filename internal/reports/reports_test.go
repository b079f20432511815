package reports

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/testenv"
)

// clock is the injected clock of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(s string)   { c.mu.Lock(); defer c.mu.Unlock(); c.t = cst(s) }

// world is a city with three townships, a coordinator for each of the first two, the city
// office, and one verified illegal site in t1 (opened and verified in November 2026).
type world struct {
	pool           *pgxpool.Pool
	blob           *blob.Store
	clock          *clock
	svc            *Service
	city           int64
	t1, t2, t3     int64
	admin          db.Actor
	coord1, coord2 db.Actor
	site           int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{pool: testenv.DB(t), blob: testenv.Blob(t), clock: &clock{}}
	w.clock.set("2026-11-10 09:00:00")
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		region := func(parent *int64, level, code, name string) (id int64, path string) {
			if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name) VALUES ($1, $2, $3, $4)
				RETURNING id, path::text`, parent, level, code, name).Scan(&id, &path); err != nil {
				t.Fatal(err)
			}
			return id, path
		}
		var p1, p2 string
		w.city, _ = region(nil, "city", "411081", "禹州市")
		w.t1, p1 = region(&w.city, "township", "411081100", "火龙镇")
		w.t2, p2 = region(&w.city, "township", "411081101", "顺店镇")
		w.t3, _ = region(&w.city, "township", "411081102", "方山镇")
		user := func(name, role string, region *int64, scope string) db.Actor {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO users (username, password_hash, role, region_id) VALUES ($1, 'x', $2, $3)
				RETURNING id`, name, role, region).Scan(&id); err != nil {
				t.Fatal(err)
			}
			a := db.Actor{UserID: id, Username: name, Role: role}
			if scope != "" {
				a.Scope = []string{scope}
			}
			return a
		}
		w.admin = user("admin", "city_admin", nil, "")
		w.coord1 = user("coord1", "township_coordinator", &w.t1, p1)
		w.coord2 = user("coord2", "township_coordinator", &w.t2, p2)
		if err := tx.QueryRow(ctx, `INSERT INTO sites (point, source, status, classes, firm_name, address, created_at, status_at)
			VALUES (ST_SetSRID(ST_MakePoint(113.42, 34.2), 4326), 'manual', 'verified_illegal', '{unlicensed}', '甲化工作坊',
				'火龙镇东村', '2026-11-05 10:00+08', '2026-11-06 10:00+08') RETURNING id`).Scan(&w.site); err != nil {
			t.Fatal(err)
		}
		_, err := tx.Exec(ctx, `UPDATE sites SET region_path = $2::ltree WHERE id = $1`, w.site, p1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = w.service(t, w.blob, Ledgers{Service: ledgers.New(w.clock.now)})
	return w
}

// service builds the filings service on the world's database and clock, with st as its store
// and r as its renderer; its queue only enqueues.
func (w *world) service(t *testing.T, st *blob.Store, r Renderer) *Service {
	t.Helper()
	q := jobs.New(w.pool, jobs.Options{MaxAttempts: 3}, testenv.Logger())
	svc, err := New(Deps{Pool: w.pool, Blob: st, Ledgers: r, Jobs: q, Now: w.clock.now, Log: testenv.Logger()}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// sheetHas reports whether any cell of an XLSX file's sheets holds text.
func sheetHas(t *testing.T, body []byte, text string) bool {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			for _, c := range r {
				if strings.Contains(c, text) {
					return true
				}
			}
		}
	}
	return false
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// objects lists the keys under prefix in bucket.
func objects(t *testing.T, st *blob.Store, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for o := range st.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.AsSystem(context.Background(), pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFiledReportStaysByteIdentical: a filing freezes 附件2 and 附件3 as they stood; after the
// site under it changes, a fresh ledger shows the change and the filed file is still the same
// bytes, matching the SHA-256 recorded at filing time.
func TestFiledReportStaysByteIdentical(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-17 10:00:00")
	f, created, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	if err != nil || !created {
		t.Fatalf("file: %v %v", created, err)
	}
	if len(f.Files) != 2 || !f.InForce || !f.OnTime || f.TownshipName != "火龙镇" {
		t.Fatalf("filing %+v", f)
	}
	fi, filed, err := w.svc.Open(ctx, w.coord1, f.ID, PartIllegal)
	if err != nil {
		t.Fatal(err)
	}
	recorded := ""
	for _, x := range f.Files {
		if x.Part == PartIllegal {
			recorded = x.SHA256
		}
	}
	if sum(filed) != recorded || fi.SHA256 != recorded {
		t.Fatalf("sha %s, recorded %+v", sum(filed), f.Files)
	}
	if !sheetHas(t, filed, "甲化工作坊") {
		t.Fatal("the filed 附件2 does not list the site")
	}
	if _, exited, err := w.svc.Open(ctx, w.coord1, f.ID, PartExited); err != nil || len(exited) == 0 {
		t.Fatalf("附件3: %v", err)
	}

	// The data under it change.
	if err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sites SET firm_name = '乙化工作坊' WHERE id = $1`, w.site)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var fresh ledgers.File
	if err := db.ReadInScope(ctx, w.pool, w.coord1, func(tx pgx.Tx) error {
		var err error
		fresh, err = w.svc.ledgers.Render(ctx, tx, ledgers.Request{Kind: ledgers.Illegal, TownshipID: w.t1, Month: "2026-11", Format: "xlsx"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !sheetHas(t, fresh.Body, "乙化工作坊") {
		t.Fatal("a fresh 附件2 does not show the change: the test proves nothing")
	}
	_, again, err := w.svc.Open(ctx, w.coord1, f.ID, PartIllegal)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, filed) || sheetHas(t, again, "乙化工作坊") {
		t.Fatal("the filed 附件2 changed with the data")
	}

	// Stored bytes that no longer match their hash are refused, not served.
	if _, err := w.blob.Client.PutObject(ctx, w.blob.BucketMedia, fi.objectKey, bytes.NewReader(fresh.Body),
		int64(len(fresh.Body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.svc.Open(ctx, w.coord1, f.ID, PartIllegal)
	wantCode(t, err, "report_file_damaged")
}

// TestCorrections: a correction supersedes the filing in force, both stay downloadable; an old
// filing cannot be corrected again; a second first filing is refused; the same request again
// (same content, or same Idempotency-Key) answers the filing it made.
func TestCorrections(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-18 10:00:00")
	req := FilingRequest{TownshipID: w.t1, Month: "2026-11", Summary: "首次报送"}
	first, _, err := w.svc.File(ctx, w.coord1, req, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	// A retry: the same key, then the same content without a key.
	for _, key := range []string{"key-1", ""} {
		again, created, err := w.svc.File(ctx, w.coord1, req, key)
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("retry %q: %v created=%v id=%d, want %d", key, err, created, again.ID, first.ID)
		}
	}
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11", Summary: "另一份"}, "key-1")
	wantCode(t, err, "idempotency_key_reused")
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11", Summary: "另一份"}, "")
	wantCode(t, err, "already_filed")

	w.clock.set("2026-11-25 10:00:00")
	corr := FilingRequest{TownshipID: w.t1, Month: "2026-11", Summary: "更正：补充整改情况", Supersedes: first.ID}
	second, created, err := w.svc.File(ctx, w.coord1, corr, "")
	if err != nil || !created || !second.InForce || *second.SupersedesID != first.ID || second.OnTime {
		t.Fatalf("correction: %v %+v", err, second)
	}
	if again, created, err := w.svc.File(ctx, w.coord1, corr, ""); err != nil || created || again.ID != second.ID {
		t.Fatalf("correction retry: %v %v %d", err, created, again.ID)
	}
	old, err := w.svc.Get(ctx, w.coord1, first.ID)
	if err != nil || old.InForce || old.SupersededBy == nil || *old.SupersededBy != second.ID {
		t.Fatalf("old filing after the correction: %v %+v", err, old)
	}
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11", Summary: "再更正", Supersedes: first.ID}, "")
	wantCode(t, err, "not_in_force")
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-10", Supersedes: second.ID}, "")
	wantCode(t, err, "supersedes_other_filing")
	for _, id := range []int64{first.ID, second.ID} {
		for _, part := range []string{PartIllegal, PartExited} {
			if _, body, err := w.svc.Open(ctx, w.coord1, id, part); err != nil || len(body) == 0 {
				t.Fatalf("filing %d %s: %v", id, part, err)
			}
		}
	}
	if n := count(t, w.pool, `SELECT count(*) FROM report_filings`); n != 2 {
		t.Fatalf("%d filings, want 2", n)
	}
	if n := len(objects(t, w.blob, w.blob.BucketMedia, "reports/")); n != 4 {
		t.Fatalf("%d objects, want 4 (two ledgers of two filings)", n)
	}
}

// TestStatusAroundTheDeadline: with the injected clock, every township is open before the 17th,
// due (and reminded) from the 17th through the 22nd, missing from the 23rd; a filing by the 22nd
// is filed, after it late, and a later correction does not make an on-time filing late. The
// final report is due 22 October and needs its summary.
func TestStatusAroundTheDeadline(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	nov := Month{Year: 2026, Month: time.November}
	status := func(a db.Actor, m Month, k Kind) map[int64]Status {
		t.Helper()
		rep, err := w.svc.Status(ctx, a, m, k)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]Status{}
		for _, ts := range rep.Townships {
			out[ts.TownshipID] = ts.Status
			if ts.Label != ts.Status.Label() {
				t.Fatalf("label %q for %s", ts.Label, ts.Status)
			}
		}
		reminded := 0
		for _, st := range out {
			if Reminded(st) {
				reminded++
			}
		}
		if len(rep.Reminders) != reminded || rep.Counts[StatusFiled]+rep.Counts[StatusLate]+rep.Counts[StatusMissing]+
			rep.Counts[StatusDue]+rep.Counts[StatusOpen] != len(out) {
			t.Fatalf("reminders %d (want %d), counts %v", len(rep.Reminders), reminded, rep.Counts)
		}
		return out
	}
	expect := func(got map[int64]Status, want map[int64]Status) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for id, st := range want {
			if got[id] != st {
				t.Fatalf("township %d: got %s, want %s (all: %v)", id, got[id], st, got)
			}
		}
	}
	w.clock.set("2026-11-16 23:59:59")
	expect(status(w.admin, nov, Monthly), map[int64]Status{w.t1: StatusOpen, w.t2: StatusOpen, w.t3: StatusOpen})
	w.clock.set("2026-11-17 00:00:00")
	expect(status(w.admin, nov, Monthly), map[int64]Status{w.t1: StatusDue, w.t2: StatusDue, w.t3: StatusDue})

	w.clock.set("2026-11-22 23:59:59")
	first, _, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	if err != nil {
		t.Fatal(err)
	}
	expect(status(w.admin, nov, Monthly), map[int64]Status{w.t1: StatusFiled, w.t2: StatusDue, w.t3: StatusDue})

	w.clock.set("2026-11-23 00:00:00")
	expect(status(w.admin, nov, Monthly), map[int64]Status{w.t1: StatusFiled, w.t2: StatusMissing, w.t3: StatusMissing})
	w.clock.set("2026-11-23 09:30:00")
	if _, _, err := w.svc.File(ctx, w.coord2, FilingRequest{TownshipID: w.t2, Month: "2026-11"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11", Supersedes: first.ID, Summary: "更正"}, ""); err != nil {
		t.Fatal(err)
	}
	rep, err := w.svc.Status(ctx, w.admin, nov, Monthly)
	if err != nil {
		t.Fatal(err)
	}
	expect(status(w.admin, nov, Monthly), map[int64]Status{w.t1: StatusFiled, w.t2: StatusLate, w.t3: StatusMissing})
	if len(rep.Reminders) != 1 || rep.Reminders[0].TownshipID != w.t3 || rep.Reminders[0].Label != "逾期未报" {
		t.Fatalf("reminders %+v, want only 方山镇 as 逾期未报", rep.Reminders)
	}
	for _, ts := range rep.Townships {
		if ts.TownshipID == w.t1 && (ts.Filings != 2 || ts.InForceID == nil || *ts.InForceID == first.ID) {
			t.Fatalf("t1: %+v, want 2 filings with the correction in force", ts)
		}
	}
	// A coordinator sees their own township only.
	expect(status(w.coord2, nov, Monthly), map[int64]Status{w.t2: StatusLate})

	// The final report: October's, by 22 October, with its summary.
	oct := Month{Year: 2026, Month: time.October}
	w.clock.set("2026-10-20 12:00:00")
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-10", Kind: "final"}, "")
	wantCode(t, err, "summary_required")
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-09", Kind: "final", Summary: "总结"}, "")
	wantCode(t, err, "invalid_final_month")
	w.clock.set("2026-10-22 20:00:00")
	fin, _, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-10", Kind: "final",
		Summary: "专项行动总结：全面排查，分类处置，建立长效机制。"}, "")
	if err != nil || fin.Kind != Final || fin.Summary == "" || !fin.OnTime {
		t.Fatalf("final report: %v %+v", err, fin)
	}
	w.clock.set("2026-10-23 00:00:00")
	expect(status(w.admin, oct, Final), map[int64]Status{w.t1: StatusFiled, w.t2: StatusMissing, w.t3: StatusMissing})
	// October's monthly ledgers are another filing: t1 has not filed them.
	expect(status(w.admin, oct, Monthly), map[int64]Status{w.t1: StatusMissing, w.t2: StatusMissing, w.t3: StatusMissing})
}

// TestScope: a coordinator files and reads only their township; the city office reads all.
func TestScope(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-18 10:00:00")
	f1, _, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	if err != nil {
		t.Fatal(err)
	}
	f2, _, err := w.svc.File(ctx, w.coord2, FilingRequest{TownshipID: w.t2, Month: "2026-11"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = w.svc.File(ctx, w.coord2, FilingRequest{TownshipID: w.t1, Month: "2026-10"}, "")
	wantCode(t, err, "not_found")
	_, _, err = w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.city, Month: "2026-10"}, "")
	wantCode(t, err, "not_found")
	if _, err := w.svc.Get(ctx, w.coord2, f1.ID); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("coord2 reads t1's filing: %v", err)
	}
	if _, _, err := w.svc.Open(ctx, w.coord2, f1.ID, PartIllegal); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("coord2 downloads t1's 附件2: %v", err)
	}
	_, _, err = w.svc.AttachScan(ctx, w.coord2, f1.ID, bytes.NewReader(pngBytes(t)))
	wantCode(t, err, "not_found")
	ids := func(a db.Actor) []int64 {
		list, err := w.svc.List(ctx, a, Filter{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, f := range list {
			out = append(out, f.ID)
		}
		return out
	}
	if got := ids(w.coord1); len(got) != 1 || got[0] != f1.ID {
		t.Fatalf("coord1 lists %v", got)
	}
	if got := ids(w.admin); len(got) != 2 || got[0] != f1.ID || got[1] != f2.ID {
		t.Fatalf("the city lists %v", got)
	}
	// The filings are immutable even to their own township: no UPDATE or DELETE gets through.
	err = db.InScope(ctx, w.pool, w.coord1, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE report_filings SET summary = 'x' WHERE id = $1`, f1.ID)
		if err == nil && tag.RowsAffected() != 0 {
			t.Fatal("a coordinator changed a filed report")
		}
		tag, err = tx.Exec(ctx, `DELETE FROM report_files WHERE filing_id = $1`, f1.ID)
		if err == nil && tag.RowsAffected() != 0 {
			t.Fatal("a coordinator deleted a filed file")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	img.Set(3, 3, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := 0; i < 64; i++ {
		img.Set(i, i, color.RGBA{G: 200, A: 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestScan: the scan of the stamped sheets is checked like photo uploads, stored once, and
// served byte for byte.
func TestScan(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-18 10:00:00")
	f, _, err := w.svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	if err != nil {
		t.Fatal(err)
	}
	jpg := jpegBytes(t)
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	big := append(append([]byte{}, jpg...), make([]byte, DefaultConfig().ScanMaxBytes)...)
	for _, tt := range []struct {
		name string
		body []byte
		code string
	}{
		{"empty", nil, "empty_body"},
		{"text", []byte("not a scan at all"), "unsupported_scan_type"},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "unsupported_scan_type"},
		{"truncated jpeg", jpg[:len(jpg)/2], "corrupt_scan"},
		{"pdf without its end", pdf[:20], "corrupt_scan"},
		{"too large", big, "scan_too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.svc.AttachScan(ctx, w.coord1, f.ID, bytes.NewReader(tt.body))
			wantCode(t, err, tt.code)
		})
	}
	if n := len(objects(t, w.blob, w.blob.BucketMedia, "reports/")); n != 2 {
		t.Fatalf("%d objects after refused scans, want the 2 ledgers", n)
	}
	got, created, err := w.svc.AttachScan(ctx, w.coord1, f.ID, bytes.NewReader(jpg))
	if err != nil || !created || len(got.Files) != 3 {
		t.Fatalf("attach: %v %v %+v", err, created, got.Files)
	}
	if _, created, err := w.svc.AttachScan(ctx, w.coord1, f.ID, bytes.NewReader(jpg)); err != nil || created {
		t.Fatalf("same scan again: %v %v", err, created)
	}
	_, _, err = w.svc.AttachScan(ctx, w.coord1, f.ID, bytes.NewReader(pdf))
	wantCode(t, err, "scan_already_attached")
	fi, body, err := w.svc.Open(ctx, w.coord1, f.ID, PartScan)
	if err != nil || !bytes.Equal(body, jpg) || fi.ContentType != "image/jpeg" {
		t.Fatalf("scan download: %v %s", err, fi.ContentType)
	}
	if _, _, err := CheckScan(pdf); err != nil {
		t.Fatalf("pdf refused: %v", err)
	}
	if _, ct, err := CheckScan(pngBytes(t)); err != nil || ct != "image/png" {
		t.Fatalf("png: %v %s", err, ct)
	}
}

// failingRenderer renders with the real ledgers, then lets a competing filing commit (as if a
// second request had got there between the check and the insert).
type failingRenderer struct {
	Renderer
	pool    *pgxpool.Pool
	compete func(ctx context.Context, tx pgx.Tx) error
	once    sync.Once
}

func (r *failingRenderer) Render(ctx context.Context, q db.Querier, req ledgers.Request) (ledgers.File, error) {
	var err error
	r.once.Do(func() { err = db.AsSystem(ctx, r.pool, "test", func(tx pgx.Tx) error { return r.compete(ctx, tx) }) })
	if err != nil {
		return ledgers.File{}, err
	}
	return r.Renderer.Render(ctx, q, req)
}

// TestNothingHalfWritten: with MinIO away nothing is filed; when the database refuses the
// filing after its files were written (a competing filing committed first), the files go too;
// the cleanup removes objects that a crash left with no row naming them, and keeps the others.
func TestNothingHalfWritten(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-18 10:00:00")

	// MinIO away.
	cfg := testenv.BlobConfig(t)
	cfg.BucketMedia, cfg.BucketDerived = w.blob.BucketMedia, w.blob.BucketDerived
	proxy := testenv.NewProxy(t, cfg.Endpoint)
	cfg.Endpoint = proxy.Addr
	away, err := blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	svc := w.service(t, away, Ledgers{Service: ledgers.New(w.clock.now)})
	_, _, err = svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	wantCode(t, err, "storage_unavailable")
	if n := count(t, w.pool, `SELECT count(*) FROM report_filings`); n != 0 {
		t.Fatalf("%d filings recorded with MinIO away", n)
	}

	// The database refuses after the objects were written.
	fr := &failingRenderer{Renderer: Ledgers{Service: ledgers.New(w.clock.now)}, pool: w.pool,
		compete: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO report_filings (township_id, month, kind, filed_by, filed_at, request_sha256)
				VALUES ($1, '2026-11', 'monthly', $2, now(), repeat('0', 64))`, w.t1, w.coord1.UserID)
			return err
		}}
	svc = w.service(t, w.blob, fr)
	_, _, err = svc.File(ctx, w.coord1, FilingRequest{TownshipID: w.t1, Month: "2026-11"}, "")
	wantCode(t, err, "already_filed")
	if keys := objects(t, w.blob, w.blob.BucketMedia, "reports/"); len(keys) != 0 {
		t.Fatalf("objects left by a refused filing: %v", keys)
	}
	if n := count(t, w.pool, `SELECT count(*) FROM report_files`); n != 0 {
		t.Fatalf("%d files recorded for a refused filing", n)
	}

	// A crash between the object and the row: the cleanup removes the object once it is older
	// than the grace, and never a recorded one.
	f, _, err := w.svc.File(ctx, w.coord2, FilingRequest{TownshipID: w.t2, Month: "2026-11"}, "")
	if err != nil {
		t.Fatal(err)
	}
	orphan := "reports/1/2026-11/crashed-illegal.xlsx"
	if err := w.svc.put(ctx, w.blob.BucketMedia, orphan, []byte("half a filing"), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.Cleanup(ctx) // the world's clock lies before the objects were written
	if err != nil || res.Orphans != 0 {
		t.Fatalf("cleanup within the grace: %+v %v", res, err)
	}
	w.clock.mu.Lock()
	w.clock.t = time.Now().Add(2 * time.Hour)
	w.clock.mu.Unlock()
	res, err = w.svc.Cleanup(ctx)
	if err != nil || res.Orphans != 1 {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
	keys := objects(t, w.blob, w.blob.BucketMedia, "reports/")
	if len(keys) != 2 {
		t.Fatalf("after the cleanup %v, want the two recorded ledgers", keys)
	}
	for _, part := range []string{PartIllegal, PartExited} {
		if _, _, err := w.svc.Open(ctx, w.coord2, f.ID, part); err != nil {
			t.Fatalf("recorded %s after the cleanup: %v", part, err)
		}
	}
}

// TestExports: the whole city's workbook is a job for the city office only; the job stores it
// in the derived bucket, and the export then carries a working short-lived link; past its
// retention the cleanup removes the file and the link goes.
func TestExports(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	req := ExportRequest{Kind: "illegal", Month: "2026-11"}
	_, _, err := w.svc.RequestExport(ctx, w.coord1, req, "")
	wantCode(t, err, "not_found")
	_, _, err = w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "nope", Month: "2026-11"}, "")
	wantCode(t, err, "invalid_kind")
	_, _, err = w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "illegal", Month: "2026-11", Format: "pdf"}, "")
	wantCode(t, err, "invalid_format")
	_, _, err = w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "illegal", Month: "2026-12"}, "")
	wantCode(t, err, "month_not_begun")

	e, created, err := w.svc.RequestExport(ctx, w.admin, req, "exp-1")
	if err != nil || !created || e.State != ExportQueued || e.RegionID != w.city {
		t.Fatalf("request: %v %v %+v", err, created, e)
	}
	if again, created, err := w.svc.RequestExport(ctx, w.admin, req, "exp-1"); err != nil || created || again.ID != e.ID {
		t.Fatalf("retry: %v %v %d", err, created, again.ID)
	}
	if n := count(t, w.pool, `SELECT count(*) FROM river_job WHERE kind = 'report_export' AND args->>'exportId' = $1`,
		strconv.FormatInt(e.ID, 10)); n != 1 {
		t.Fatalf("%d export jobs enqueued, want 1", n)
	}
	// A coordinator's own township is theirs to export; the city's export is not theirs to see.
	own, _, err := w.svc.RequestExport(ctx, w.coord1, ExportRequest{Kind: "exited", TownshipID: w.t1, Month: "2026-11", Format: "csv"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.GetExport(ctx, w.coord1, e.ID); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("coordinator reads the city's export: %v", err)
	}

	if err := w.svc.RunExport(ctx, e.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.RunExport(ctx, own.ID, false); err != nil {
		t.Fatal(err)
	}
	got, err := w.svc.GetExport(ctx, w.admin, e.ID)
	if err != nil || got.State != ExportReady || got.DownloadURL == "" || got.LinkExpiresAt == nil {
		t.Fatalf("after the job: %v %+v", err, got)
	}
	resp, err := http.Get(got.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sum(body) != got.SHA256 {
		t.Fatalf("download %d, sha %s want %s", resp.StatusCode, sum(body), got.SHA256)
	}
	if !sheetHas(t, body, "甲化工作坊") || !sheetHas(t, body, "顺店镇") {
		t.Fatal("the city workbook lacks the site or a township's sheet")
	}
	mine, err := w.svc.GetExport(ctx, w.coord1, own.ID)
	if err != nil || mine.State != ExportReady || mine.ContentType == "" || !strings.HasPrefix(mine.Name, "附件3") {
		t.Fatalf("coordinator's export: %v %+v", err, mine)
	}
	// Past the retention.
	w.clock.mu.Lock()
	w.clock.t = got.ExpiresAt.Add(time.Minute)
	w.clock.mu.Unlock()
	res, err := w.svc.Cleanup(ctx)
	if err != nil || res.Expired != 2 {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
	gone, err := w.svc.GetExport(ctx, w.admin, e.ID)
	if err != nil || gone.State != ExportExpired || gone.DownloadURL != "" {
		t.Fatalf("expired export: %v %+v", err, gone)
	}
	if keys := objects(t, w.blob, w.blob.BucketDerived, "exports/"); len(keys) != 0 {
		t.Fatalf("expired exports' files left: %v", keys)
	}
}
